"""tencentcloud-sdk-python, unpatched, checks media a vodfs mount uploaded
with --protocol api3: DescribeMediaInfos answers each FileId with the
expected name, class, source context and size (and a duration for a real
video). The expectations come as JSON in VODFS_EXPECT:
[{"FileId", "Name", "ClassId", "SourceContext", "Size", "Video", and
optionally "ExpireTime", "StorageRegion"}]."""

import json
import os

from common import models, vod, request, check, SUB_APP_ID

expected = json.loads(os.environ["VODFS_EXPECT"])
c = vod()
r = c.DescribeMediaInfos(request(models.DescribeMediaInfosRequest,
                                 FileIds=[e["FileId"] for e in expected], SubAppId=SUB_APP_ID))
got = {m.FileId: m for m in r.MediaInfoSet}
check("every media is described", set(got) == {e["FileId"] for e in expected} and not r.NotExistFileIdSet,
      f"{sorted(got)} / {r.NotExistFileIdSet}")
for e in expected:
    m = got[e["FileId"]]
    b = m.BasicInfo
    check(f"{e['Name']} name", b.Name == e["Name"], b.Name)
    check(f"{e['Name']} class", b.ClassId == e["ClassId"], b.ClassId)
    check(f"{e['Name']} source context", b.SourceInfo.SourceContext == e["SourceContext"],
          b.SourceInfo.SourceContext)
    check(f"{e['Name']} size", m.MetaData.Size == e["Size"], m.MetaData.Size)
    if e.get("ExpireTime"):
        check(f"{e['Name']} expire time", b.ExpireTime == e["ExpireTime"], b.ExpireTime)
    if e.get("StorageRegion"):
        check(f"{e['Name']} storage region", b.StorageRegion == e["StorageRegion"], b.StorageRegion)
    if e.get("Video"):
        check(f"{e['Name']} duration", (m.MetaData.Duration or 0) > 0.5, m.MetaData.Duration)
print("done", flush=True)
