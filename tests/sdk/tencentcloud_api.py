"""tencentcloud-sdk-python, unpatched, against vodfs serve: ApplyUpload,
CommitUpload (idempotent), DescribeMediaInfos, DeleteMedia, over POST and
GET, TC3 and the v1 signature, and the refusals a real account meets."""

import time

from qcloud_cos import CosConfig, CosS3Client

from common import *  # noqa: F401,F403
from common import models, vod, request, check, expect_code, fetch, SUB_APP_ID, HOST, PORT


def apply(client, **kw):
    fields = {"MediaType": "mp4", "SubAppId": SUB_APP_ID, "MediaName": "sdk video"}
    fields.update(kw)
    return client.ApplyUpload(request(models.ApplyUploadRequest, **fields))


def put(applied, body, path=None):
    c = applied.TempCertificate
    cfg = CosConfig(Region=applied.StorageRegion, SecretId=c.SecretId, SecretKey=c.SecretKey,
                    Token=c.Token, IP=HOST, Port=PORT, Scheme="http")
    CosS3Client(cfg, retry=0).put_object(Bucket=applied.StorageBucket, Body=body,
                                         Key=(path or applied.MediaStoragePath)[1:])


def commit(client, key):
    return client.CommitUpload(request(models.CommitUploadRequest, VodSessionKey=key, SubAppId=SUB_APP_ID))


def describe(client, ids, filters=None):
    fields = {"FileIds": ids, "SubAppId": SUB_APP_ID}
    if filters:
        fields["Filters"] = filters
    return client.DescribeMediaInfos(request(models.DescribeMediaInfosRequest, **fields))


for method in ["POST", "GET"]:
    c = vod(method=method)
    a = apply(c, CoverType="jpg", ClassId=3, SourceContext="ctx " + method,
              StorageRegion="ap-chongqing", ExpireTime="2099-01-01T00:00:00Z")
    check(f"{method} apply answers a session", a.VodSessionKey and a.StorageBucket and a.RequestId)
    check(f"{method} apply paths", a.MediaStoragePath.startswith("/") and a.MediaStoragePath.endswith(".mp4")
          and a.CoverStoragePath.endswith(".jpg"))
    check(f"{method} apply credential", a.TempCertificate.SecretId.startswith("AKID")
          and a.TempCertificate.ExpiredTime > time.time())
    check(f"{method} apply region", a.StorageRegion == "ap-chongqing")
    e = expect_code(f"{method} commit before the object exists", lambda: commit(c, a.VodSessionKey),
                    "ResourceNotFound")
    body = b"video bytes " * 1000
    put(a, body)
    expect_code(f"{method} commit before the cover exists", lambda: commit(c, a.VodSessionKey),
                "ResourceNotFound")
    put(a, b"cover", a.CoverStoragePath)
    r = commit(c, a.VodSessionKey)
    check(f"{method} commit answers a media", r.FileId and r.MediaUrl and r.CoverUrl)
    again = commit(c, a.VodSessionKey)
    check(f"{method} double commit gives the same media",
          (again.FileId, again.MediaUrl, again.CoverUrl) == (r.FileId, r.MediaUrl, r.CoverUrl))
    check(f"{method} media url serves the bytes", fetch(r.MediaUrl) == body)
    d = describe(c, [r.FileId, "5285890784000000001"])
    check(f"{method} describe finds the media", len(d.MediaInfoSet) == 1
          and d.NotExistFileIdSet == ["5285890784000000001"])
    info = d.MediaInfoSet[0]
    b = info.BasicInfo
    check(f"{method} describe basic info", (b.Name, b.Type, b.ClassId, b.SourceInfo.SourceContext)
          == ("sdk video", "mp4", 3, "ctx " + method), str(info))
    check(f"{method} describe urls and times", b.MediaUrl == r.MediaUrl and b.CoverUrl == r.CoverUrl
          and b.ExpireTime == "2099-01-01T00:00:00Z" and b.StorageRegion == "ap-chongqing")
    check(f"{method} describe size", info.MetaData.Size == len(body))
    only = describe(c, [r.FileId], ["basicInfo"]).MediaInfoSet[0]
    check(f"{method} describe filters", only.BasicInfo is not None and only.MetaData is None)
    c.DeleteMedia(request(models.DeleteMediaRequest, FileId=r.FileId, SubAppId=SUB_APP_ID))
    check(f"{method} deleted media is gone", describe(c, [r.FileId]).NotExistFileIdSet == [r.FileId])
    expect_code(f"{method} delete twice", lambda: c.DeleteMedia(
        request(models.DeleteMediaRequest, FileId=r.FileId)), "ResourceNotFound.FileNotExist")

# Signature v1 (what vod-node-sdk sends by default), both hash methods.
for sm in ["HmacSHA256", "HmacSHA1"]:
    for method in ["POST", "GET"]:
        c = vod(method=method, sign_method=sm)
        a = apply(c)
        put(a, b"v1")
        check(f"v1 {sm} {method} apply and commit", commit(c, a.VodSessionKey).FileId)

c = vod()
expect_code("wrong key", lambda: apply(vod(secret_key="wrong")), "AuthFailure.SignatureFailure")
expect_code("v1 wrong key", lambda: apply(vod(secret_key="wrong", sign_method="HmacSHA256")),
            "AuthFailure.SignatureFailure")
expect_code("unknown SecretId", lambda: apply(vod(secret_id="AKIDnobody")), "AuthFailure.SecretIdNotFound")
expect_code("missing MediaType", lambda: c.ApplyUpload(request(models.ApplyUploadRequest, SubAppId=SUB_APP_ID)),
            "MissingParameter")
expect_code("bad MediaType", lambda: apply(c, MediaType="exe"), "InvalidParameterValue.MediaType")
expect_code("bad CoverType", lambda: apply(c, CoverType="mp4"), "InvalidParameterValue.CoverType")
expect_code("bad ExpireTime", lambda: apply(c, ExpireTime="tomorrow"), "InvalidParameterValue.ExpireTime")
expect_code("bad StorageRegion", lambda: apply(c, StorageRegion="Mars"), "InvalidParameterValue.StorageRegion")
expect_code("bad SubAppId", lambda: apply(c, SubAppId=-1), "InvalidParameterValue.SubAppId")
expect_code("long SessionContext", lambda: apply(c, SessionContext="x" * 1001),
            "InvalidParameterValue.SessionContextTooLong")
expect_code("long SourceContext", lambda: apply(c, SourceContext="x" * 251), "InvalidParameterValue")
expect_code("garbled session key", lambda: commit(c, "garbled+/="), "InvalidParameterValue.VodSessionKey")
expect_code("missing session key", lambda: c.CommitUpload(request(models.CommitUploadRequest)),
            "MissingParameter")
expect_code("describe without ids", lambda: c.DescribeMediaInfos(
    request(models.DescribeMediaInfosRequest, FileIds=[])), "InvalidParameterValue.FileIdsEmpty")
expect_code("describe too many ids", lambda: describe(c, [str(i) for i in range(21)]),
            "InvalidParameterValue.FileIdsTooMany")

# Wrong version, unknown action, unknown parameter: the SDK's generic call.
def raw(action, params, version="2018-07-17"):
    c = vod()
    c._apiVersion = version
    return c.call(action, params)


expect_code("wrong version", lambda: raw("ApplyUpload", {"MediaType": "mp4"}, "2017-01-01"), "NoSuchVersion")
expect_code("unknown action", lambda: raw("LaunchRocket", {}), "InvalidAction")
expect_code("unknown parameter", lambda: raw("ApplyUpload", {"MediaType": "mp4", "Colour": "red"}),
            "UnknownParameter")
expect_code("wrong JSON type", lambda: raw("ApplyUpload", {"MediaType": 4}), "InvalidParameter")

# Clock skew: the SDK signs with the time we give it.
real = time.time
time.time = lambda: real() - 3600
try:
    expect_code("clock skew", lambda: apply(vod()), "AuthFailure.SignatureExpire")
finally:
    time.time = real

# A body changed after signing (the request is signed, then altered on its
# way to the wire).
for method in ["POST", "GET"]:
    t = vod(method=method)
    send = t.request.send_request

    def tamper(req, send=send):
        d = req.data
        req.data = d.replace(b"mp4", b"mov") if isinstance(d, bytes) else d.replace("mp4", "mov")
        return send(req)

    t.request.send_request = tamper
    expect_code(f"{method} body changed after signing", lambda: apply(t), "AuthFailure.SignatureFailure")

print("done", flush=True)
