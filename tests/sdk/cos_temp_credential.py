"""cos-python-sdk-v5 with ApplyUpload's TempCertificate, unpatched but for
its endpoint (IP/Port/Scheme, protocol-api3.md §4.2): put_object,
the low-level multipart calls, upload_file (which lists multipart uploads
first); then the refusals: an expired credential, a missing token, a wrong
token, another session's object; the account's own key still works."""

import hashlib
import os
import tempfile

from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError

from common import models, vod, request, check, admin, fetch, SUB_APP_ID, HOST, PORT, SECRET_ID, SECRET_KEY


def apply(client, **kw):
    fields = {"MediaType": "mp4", "SubAppId": SUB_APP_ID, "MediaName": "cos"}
    fields.update(kw)
    return client.ApplyUpload(request(models.ApplyUploadRequest, **fields))


def cos(a, token="same", secret_id=None, secret_key=None):
    c = a.TempCertificate
    cfg = CosConfig(Region=a.StorageRegion, SecretId=secret_id or c.SecretId,
                    SecretKey=secret_key or c.SecretKey,
                    Token=c.Token if token == "same" else token, IP=HOST, Port=PORT, Scheme="http")
    return CosS3Client(cfg, retry=0)


def header(headers, name):
    """A response header by name, whatever its case: the SDK returns the
    headers as a plain dict, and vodfs serve's HTTP stack (hyper) sends
    names in lower case where COS sends `ETag`."""
    return {k.lower(): v for k, v in headers.items()}[name.lower()]


def refused(call):
    try:
        call()
    except CosServiceError as e:
        return e
    return None


def commit(client, a):
    return client.CommitUpload(request(models.CommitUploadRequest, VodSessionKey=a.VodSessionKey))


v = vod()
MiB = 1 << 20

# put_object
a = apply(v)
body = os.urandom(300_000)
r = cos(a).put_object(Bucket=a.StorageBucket, Body=body, Key=a.MediaStoragePath[1:], EnableMD5=True)
check("put_object with the temporary credential", header(r, "ETag").strip('"') == hashlib.md5(body).hexdigest())
m = commit(v, a)
check("put_object media serves the bytes", fetch(m.MediaUrl) == body)

# The low-level multipart calls.
a = apply(v)
c, key = cos(a), a.MediaStoragePath[1:]
parts = [os.urandom(MiB), os.urandom(MiB), os.urandom(1234)]
up = c.create_multipart_upload(Bucket=a.StorageBucket, Key=key)
etags = []
for i, p in enumerate(parts, 1):
    etags.append(header(c.upload_part(Bucket=a.StorageBucket, Key=key, Body=p, PartNumber=i,
                               UploadId=up["UploadId"], EnableMD5=True), "ETag"))
listed = c.list_parts(Bucket=a.StorageBucket, Key=key, UploadId=up["UploadId"])
check("list_parts shows the parts", [int(p["PartNumber"]) for p in listed["Part"]] == [1, 2, 3])
c.complete_multipart_upload(Bucket=a.StorageBucket, Key=key, UploadId=up["UploadId"],
                            MultipartUpload={"Part": [{"PartNumber": i, "ETag": e}
                                                      for i, e in enumerate(etags, 1)]})
m = commit(v, a)
check("multipart media serves the bytes", fetch(m.MediaUrl) == b"".join(parts))

# upload_file: lists the bucket's multipart uploads, then multipart in threads.
a = apply(v)
with tempfile.NamedTemporaryFile() as f:
    big = os.urandom(3 * MiB + 4321)
    f.write(big)
    f.flush()
    cos(a).upload_file(Bucket=a.StorageBucket, Key=a.MediaStoragePath[1:], LocalFilePath=f.name,
                       PartSize=1, MAXThread=3, EnableMD5=True)
m = commit(v, a)
check("upload_file media serves the bytes", fetch(m.MediaUrl) == big)

# Refusals, each with the four XML elements the SDK needs.
a, b = apply(v), apply(v)


def refusal(name, call, status, code):
    e = refused(call)
    check(name, e is not None and e.get_status_code() == status and e.get_error_code() == code
          and e.get_error_msg() and e.get_resource_location() and e.get_request_id(),
          f"got {e and (e.get_status_code(), e.get_error_code(), e.get_origin_msg())}")


put = lambda client, s, key=None: client.put_object(Bucket=s.StorageBucket, Body=b"x",  # noqa: E731
                                                    Key=(key or s.MediaStoragePath)[1:])
refusal("missing token refused", lambda: put(cos(a, token=None), a), 403, "InvalidAccessKeyId")
refusal("wrong token refused", lambda: put(cos(a, token="not-the-token"), a), 403, "InvalidAccessKeyId")
refusal("another session's object refused", lambda: put(cos(a), a, b.MediaStoragePath), 403, "AccessDenied")
refusal("another path refused", lambda: put(cos(a), a, "/elsewhere/x.mp4"), 403, "AccessDenied")
refusal("a wrong key refused", lambda: put(cos(a, secret_key="wrong"), a), 403, "SignatureDoesNotMatch")
put(cos(a), a)
admin("/admin/expire-credentials", b"", "POST")
refusal("expired credential refused", lambda: put(cos(b), b), 403, "ExpiredToken")
# The session still commits what was sent before expiry.
check("commit after expiry", commit(v, a).FileId)
# The account's own key (the SDKs' fallback when TempCertificate is null).
own = cos(b, token=None, secret_id=SECRET_ID, secret_key=SECRET_KEY)
put(own, b)
check("the account's own key works", commit(v, b).FileId)
# A committed session's credential lives until it expires (as the cloud's:
# nothing revokes them), so a client whose CommitUpload answer was lost can
# look at its upload again; committing again gives the same media.
c2 = apply(v)
put(cos(c2), c2)
first = commit(v, c2).FileId
put(cos(c2), c2)
check("a committed session's credential still works until it expires", first == commit(v, c2).FileId)

print("done", flush=True)
