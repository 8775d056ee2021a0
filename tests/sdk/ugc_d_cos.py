"""Family D with cos-python-sdk-v5 as the COS client, unpatched but for its
endpoint (IP/Port/Scheme): the client signature is made here from
protocol.md §4 (HMAC-SHA1 over a query string of URL-encoded values,
Base64(HMAC || original)), the calls are plain JSON POSTs of §5.4.
A new upload with its cover (upload_file, multipart in threads), then a
resume: two parts sent, the session applied again by vodSessionKey, the
fresh tempCertificate's list_parts shows them, the rest sent, completed and
committed; a cover replaced by fileId; the refusals of an expired
credential, a missing token and another session's object."""

import base64
import hashlib
import hmac
import json
import os
import random
import tempfile
import time
import urllib.parse
import urllib.request

from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError

from common import check, admin, fetch, models, request, vod, HOST, PORT, ADDR, SECRET_ID, SECRET_KEY


def signature(**extra):
    now = int(time.time())
    fields = {"secretId": SECRET_ID, "currentTimeStamp": now, "expireTime": now + 3600,
              "random": random.randint(0, 2**32 - 1)}
    fields.update(extra)
    original = urllib.parse.urlencode(fields).encode()
    mac = hmac.new(SECRET_KEY.encode(), original, hashlib.sha1).digest()
    return base64.b64encode(mac + original).decode()


def call(action, body):
    req = urllib.request.Request(f"http://{ADDR}/v3/index.php?Action={action}",
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def data(answer):
    check(f"code 0 ({answer.get('message')})", answer["code"] == 0, answer)
    return answer["data"]


def cos(d, token="same"):
    c = d["tempCertificate"]
    cfg = CosConfig(Region=d["storageRegionV5"], SecretId=c["secretId"], SecretKey=c["secretKey"],
                    Token=c["token"] if token == "same" else token, IP=HOST, Port=PORT, Scheme="http")
    return CosS3Client(cfg, retry=0)


def bucket(d):
    return f"{d['storageBucket']}-{d['storageAppId']}"


def key(d, what):
    return d[what]["storagePath"][1:]


MiB = 1 << 20

# A new upload with its cover, through upload_file (lists the bucket's
# multipart uploads first, then multipart in threads).
video, cover = os.urandom(3 * MiB + 777), os.urandom(5000)
d = data(call("ApplyUploadUGC", {"signature": signature(classId=2, sourceContext="py"),
                                 "videoName": "sdk", "videoType": "mp4", "videoSize": len(video),
                                 "coverName": "sdk", "coverType": "jpg", "coverSize": len(cover),
                                 "uploadFromWeb": True}))
with tempfile.NamedTemporaryFile() as f:
    f.write(video)
    f.flush()
    cos(d).upload_file(Bucket=bucket(d), Key=key(d, "video"), LocalFilePath=f.name,
                       PartSize=1, MAXThread=3, EnableMD5=True)
cos(d).put_object(Bucket=bucket(d), Key=key(d, "cover"), Body=cover)
c = data(call("CommitUploadUGC", {"signature": signature(), "vodSessionKey": d["vodSessionKey"]}))
check("upload_file video serves its bytes", fetch(c["video"]["url"]) == video)
check("its cover serves its bytes", fetch(c["cover"]["url"]) == cover)
m = json.loads(admin(f"/admin/media/{c['fileId']}"))
check("the signature's settings are on the media", m["classId"] == 2 and m["sourceContext"] == "py"
      and m["flow"] == "D", m)
info = vod().DescribeMediaInfos(request(models.DescribeMediaInfosRequest, FileIds=[c["fileId"]]))
basic = info.MediaInfoSet[0].BasicInfo
check("DescribeMediaInfos shows the signature's settings", basic.ClassId == 2 and basic.StorageRegion == "ap-guangzhou"
      and basic.SourceInfo.SourceContext == "py" and basic.CoverUrl == c["cover"]["url"]
      and info.MediaInfoSet[0].MetaData.Size == len(video), basic)

# Resume: two parts, then the session again by its key.
parts = [os.urandom(MiB), os.urandom(MiB), os.urandom(4321)]
d = data(call("ApplyUploadUGC", {"signature": signature(), "videoName": "resumed",
                                 "videoType": "mp4", "videoSize": sum(map(len, parts))}))
first, k = cos(d), key(d, "video")
up = first.create_multipart_upload(Bucket=bucket(d), Key=k)["UploadId"]
for n in (1, 2):
    first.upload_part(Bucket=bucket(d), Key=k, Body=parts[n - 1], PartNumber=n, UploadId=up)
before = json.loads(admin("/admin/stats"))["partBytesReceived"]
r = data(call("ApplyUploadUGC", {"signature": signature(), "vodSessionKey": d["vodSessionKey"],
                                 "uploadFromWeb": True}))
check("resume answers the same storagePath", r["video"]["storagePath"] == d["video"]["storagePath"])
check("resume answers a fresh credential",
      r["tempCertificate"]["secretId"] != d["tempCertificate"]["secretId"])
again = cos(r)
listed = again.list_multipart_uploads(Bucket=bucket(r), Prefix=k)
check("the fresh credential finds the upload", any(u["UploadId"] == up for u in listed.get("Upload", [])))
lp = again.list_parts(Bucket=bucket(r), Key=k, UploadId=up)
check("list_parts shows the parts sent before", [int(p["PartNumber"]) for p in lp["Part"]] == [1, 2])
again.upload_part(Bucket=bucket(r), Key=k, Body=parts[2], PartNumber=3, UploadId=up)
after = json.loads(admin("/admin/stats"))["partBytesReceived"]
check("only the missing part was sent again", after - before == len(parts[2]), after - before)
etags = [p["ETag"] for p in again.list_parts(Bucket=bucket(r), Key=k, UploadId=up)["Part"]]
again.complete_multipart_upload(Bucket=bucket(r), Key=k, UploadId=up, MultipartUpload={
    "Part": [{"PartNumber": i, "ETag": e} for i, e in enumerate(etags, 1)]})
c2 = data(call("CommitUploadUGC", {"signature": signature(), "vodSessionKey": d["vodSessionKey"]}))
check("the resumed upload commits whole", fetch(c2["video"]["url"]) == b"".join(parts))

# A cover replaced by fileId.
new_cover = os.urandom(3000)
rc = data(call("ApplyUploadUGC", {"signature": signature(), "fileId": c["fileId"],
                                  "coverName": "new", "coverType": "png", "coverSize": len(new_cover),
                                  "uploadFromWeb": True}))
cos(rc).put_object(Bucket=bucket(rc), Key=key(rc, "cover"), Body=new_cover)
cc = data(call("CommitUploadUGC", {"signature": signature(), "vodSessionKey": rc["vodSessionKey"]}))
check("the new cover replaces the old", cc["fileId"] == c["fileId"] and fetch(cc["cover"]["url"]) == new_cover)
m = json.loads(admin(f"/admin/media/{c['fileId']}"))
check("the media shows the new cover", m["coverUrl"] == cc["cover"]["url"], m)


# Refusals, each with the four XML elements the SDK needs.
def refusal(name, call_, status, code):
    try:
        call_()
        e = None
    except CosServiceError as err:
        e = err
    check(name, e is not None and e.get_status_code() == status and e.get_error_code() == code
          and e.get_error_msg() and e.get_resource_location() and e.get_request_id(),
          f"got {e and (e.get_status_code(), e.get_error_code())}")


a = data(call("ApplyUploadUGC", {"signature": signature(), "videoType": "mp4"}))
b = data(call("ApplyUploadUGC", {"signature": signature(), "videoType": "mp4"}))
refusal("missing token refused", lambda: cos(a, token=None).put_object(
    Bucket=bucket(a), Key=key(a, "video"), Body=b"x"), 403, "InvalidAccessKeyId")
refusal("another session's object refused", lambda: cos(a).put_object(
    Bucket=bucket(a), Key=key(b, "video"), Body=b"x"), 403, "AccessDenied")
admin("/admin/expire-credentials", b"", "POST")
refusal("expired credential refused", lambda: cos(a).put_object(
    Bucket=bucket(a), Key=key(a, "video"), Body=b"x"), 403, "ExpiredToken")
fresh = data(call("ApplyUploadUGC", {"signature": signature(), "vodSessionKey": a["vodSessionKey"]}))
cos(fresh).put_object(Bucket=bucket(fresh), Key=key(fresh, "video"), Body=b"x")
check("a resume after expiry writes again", data(call("CommitUploadUGC", {
    "signature": signature(), "vodSessionKey": a["vodSessionKey"]}))["fileId"])

print("done", flush=True)
