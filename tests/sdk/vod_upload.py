"""vod-python-sdk 1.4.4's whole upload (ApplyUpload → cos upload_file of
the media and the cover → CommitUpload) against vodfs serve, through the
endpoint shim of protocol-api3.md §4.3 (the SDK hard-codes its clients; no
installed file is edited). Each media is checked with the official
DescribeMediaInfos, and its MediaUrl and CoverUrl serve the exact bytes.

VODFS_MP4 is a real MP4 made by the test (320x240, 2 s)."""

import os
import tempfile

import qcloud_vod.vod_upload_client as m
from qcloud_vod.model import VodUploadRequest
from qcloud_vod.vod_upload_client import VodUploadClient
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from common import models, vod, request, check, fetch, ADDR, HOST, PORT, SECRET_ID, SECRET_KEY, SUB_APP_ID


# The shim of §4.3: the VOD client and the COS config pointed at the service.
class LocalVod(m.vod_client.VodClient):
    def __init__(self, cred, region, profile=None):
        super().__init__(cred, region, ClientProfile(httpProfile=HttpProfile(endpoint=ADDR, protocol="http")))


m.vod_client.VodClient = LocalVod
_Cos = m.CosConfig
m.CosConfig = lambda **kw: _Cos(IP=HOST, Port=PORT, Scheme="http", **kw)


def upload(media, cover=None, **kw):
    req = VodUploadRequest()
    req.MediaFilePath = media
    req.CoverFilePath = cover
    req.SubAppId = SUB_APP_ID
    for k, v in kw.items():
        setattr(req, k, v)
    return VodUploadClient(SECRET_ID, SECRET_KEY).upload("ap-guangzhou", req)


def describe(file_id):
    r = vod().DescribeMediaInfos(request(models.DescribeMediaInfosRequest, FileIds=[file_id], SubAppId=SUB_APP_ID))
    check("describe finds " + file_id, len(r.MediaInfoSet) == 1 and not r.NotExistFileIdSet)
    return r.MediaInfoSet[0]


def read(p):
    with open(p, "rb") as f:
        return f.read()


work = tempfile.mkdtemp()
cover = os.path.join(work, "cover.jpg")
with open(cover, "wb") as f:
    f.write(os.urandom(2000))

# A real MP4 with a cover: Duration, Width and Height read from its moov.
mp4 = os.environ["VODFS_MP4"]
r = upload(mp4, cover, MediaName="real video", ClassId=7, SourceContext="from the sdk", ConcurrentUploadNumber=2)
check("mp4 upload answers a media", r.FileId and r.MediaUrl and r.CoverUrl)
check("mp4 MediaUrl serves the exact bytes", fetch(r.MediaUrl) == read(mp4))
check("mp4 CoverUrl serves the exact bytes", fetch(r.CoverUrl) == read(cover))
info = describe(r.FileId)
b, md = info.BasicInfo, info.MetaData
check("mp4 name, class, source context", (b.Name, b.ClassId, b.SourceInfo.SourceContext, b.Type)
      == ("real video", 7, "from the sdk", "mp4"), str(info))
check("mp4 size", md.Size == os.path.getsize(mp4))
check("mp4 duration, width, height", abs(md.Duration - 2.0) < 0.2 and (md.Width, md.Height) == (320, 240),
      f"{md.Duration} {md.Width}x{md.Height}")
check("mp4 cover url in basic info", b.CoverUrl == r.CoverUrl)

# A large file: upload_file goes multipart (1 MiB parts, 5 threads).
big = os.path.join(work, "big film.mp4")
data = os.urandom(3_300_000)
with open(big, "wb") as f:
    f.write(data)
r = upload(big)
check("multipart upload answers a media", r.FileId and r.MediaUrl and r.CoverUrl is None)
check("multipart MediaUrl serves the exact bytes", fetch(r.MediaUrl) == data)
info = describe(r.FileId)
check("multipart name is the file stem", info.BasicInfo.Name == "big film", info.BasicInfo.Name)
check("multipart size", info.MetaData.Size == len(data))

print("done", flush=True)
