//! DescribeMediaInfos and DeleteMedia (protocol-api3.md §2.4), over every
//! media of the caller's account whatever flow made it. BasicInfo comes
//! from the media row (and, for API 3.0 media, the ExpireTime, region and
//! so on ApplyUpload was given); MetaData's Size from the row, Duration,
//! Width and Height from the file's `moov` when it is an MP4 (`mp4.rs`).
//! Filters select members; those not asked for, and every member this
//! service does not produce, are `null`. An unknown id (or another
//! account's) is listed in `NotExistFileIdSet`, not an error.

use std::sync::Arc;

use serde_json::{Value, json};

use super::reply::{Api3Error, fail};
use super::request::Args;
use super::upload::{DEFAULT_STORAGE_REGION, NEVER_EXPIRES, sub_app_id};
use crate::server::app::App;
use crate::server::config::Account;
use crate::server::mp4;
use crate::server::store::MediaRow;
use crate::server::store_api3::Api3Media;
use crate::vod::rules::api3::{self as rules, codes};

type Result<T> = std::result::Result<T, Api3Error>;

/// Every filter DescribeMediaInfos knows.
pub const FILTERS: &[&str] = &[
    "basicInfo",
    "metaData",
    "transcodeInfo",
    "animatedGraphicsInfo",
    "imageSpriteInfo",
    "snapshotByTimeOffsetInfo",
    "sampleSnapshotInfo",
    "keyFrameDescInfo",
    "adaptiveDynamicStreamingInfo",
    "miniProgramReviewInfo",
    "subtitleInfo",
    "reviewInfo",
    "mpsAiMediaInfo",
    "knowledgeBasesInfo",
];

/// The members of a MediaInfo after `FileId`, by filter.
const MEMBERS: &[(&str, &str)] = &[
    ("basicInfo", "BasicInfo"),
    ("metaData", "MetaData"),
    ("transcodeInfo", "TranscodeInfo"),
    ("animatedGraphicsInfo", "AnimatedGraphicsInfo"),
    ("imageSpriteInfo", "ImageSpriteInfo"),
    ("snapshotByTimeOffsetInfo", "SnapshotByTimeOffsetInfo"),
    ("sampleSnapshotInfo", "SampleSnapshotInfo"),
    ("keyFrameDescInfo", "KeyFrameDescInfo"),
    (
        "adaptiveDynamicStreamingInfo",
        "AdaptiveDynamicStreamingInfo",
    ),
    ("miniProgramReviewInfo", "MiniProgramReviewInfo"),
    ("subtitleInfo", "SubtitleInfo"),
    ("reviewInfo", "ReviewInfo"),
    ("mpsAiMediaInfo", "MpsAiMediaInfo"),
    ("knowledgeBasesInfo", "KnowledgeBasesInfo"),
];

fn category(m: &MediaRow) -> &'static str {
    if m.kind == "cover" {
        "Image"
    } else if rules::AUDIO_TYPES.contains(&m.file_type.as_str()) {
        "Audio"
    } else {
        "Video"
    }
}

fn basic_info(app: &App, m: &MediaRow, extra: &Api3Media, cover: Option<&MediaRow>) -> Value {
    let url = |m: &MediaRow| format!("{}{}", app.cfg.public_url, m.url_path);
    let created = rules::iso8601(m.created_at);
    let class_name = if m.class_id == 0 { "其他" } else { "" };
    json!({
        "Name": m.name,
        "Description": "",
        "CreateTime": created,
        "UpdateTime": created,
        "ExpireTime": extra.expire_time,
        "ClassId": m.class_id,
        "ClassName": class_name,
        "ClassPath": class_name,
        "CoverUrl": cover.map(url).unwrap_or_default(),
        "Type": m.file_type,
        "MediaUrl": url(m),
        "SourceInfo": {
            "SourceType": "Upload",
            "SourceContext": m.source_context,
            "LiveRecordInfo": null,
            "TrtcRecordInfo": null,
            "WebPageRecordInfo": null,
        },
        "StorageRegion": extra.storage_region,
        "StoragePath": m.url_path,
        "TagSet": m.tags,
        "Vid": "",
        "Category": category(m),
        "Status": "Normal",
        "StorageClass": "STANDARD",
    })
}

fn meta_data(m: &MediaRow, probe: Option<mp4::Mp4Info>) -> Value {
    let (duration, width, height) = probe.map_or((0.0, 0, 0), |p| (p.duration, p.width, p.height));
    let bitrate = if duration > 0.0 {
        (m.size as f64 * 8.0 / duration) as u64
    } else {
        0
    };
    let video = if width > 0 {
        json!([{"Bitrate": 0, "Height": height, "Width": width, "Codec": "", "Fps": 0, "CodecTag": "", "DynamicRangeInfo": null}])
    } else {
        json!([])
    };
    json!({
        "Size": m.size,
        "Container": m.file_type,
        "Bitrate": bitrate,
        "Height": height,
        "Width": width,
        "Duration": duration,
        "Rotate": 0,
        "VideoStreamSet": video,
        "AudioStreamSet": [],
        "VideoDuration": duration,
        "AudioDuration": 0.0,
        "Md5": "",
    })
}

pub async fn describe_media_infos(app: &Arc<App>, acct: &Account, args: &Args) -> Result<Value> {
    args.only(&["FileIds", "SubAppId", "Filters"])?;
    sub_app_id(args)?;
    let Some(ids) = args.strings("FileIds")? else {
        return Err(fail(
            codes::MISSING_PARAMETER,
            "The request is missing a required parameter `FileIds`.",
        ));
    };
    if ids.is_empty() {
        return Err(fail(codes::FILE_IDS_EMPTY, "FileIds is empty."));
    }
    if ids.len() > rules::MAX_FILE_IDS {
        return Err(fail(
            codes::FILE_IDS_TOO_MANY,
            format!("FileIds has more than {} ids.", rules::MAX_FILE_IDS),
        ));
    }
    let filters = args.strings("Filters")?.unwrap_or_default();
    if let Some(f) = filters.iter().find(|f| !FILTERS.contains(&f.as_str())) {
        return Err(fail(
            codes::INVALID_PARAMETER_VALUE,
            format!(
                "The filter `{}` is not known.",
                f.chars().take(64).collect::<String>()
            ),
        ));
    }
    let wanted = |f: &str| filters.is_empty() || filters.iter().any(|x| x == f);
    let mut infos = Vec::new();
    let mut missing = Vec::new();
    for id in ids {
        let (i, owner) = (id.clone(), acct.secret_id.clone());
        let found = app
            .db(move |s| {
                let Some(m) = s.media_by_id(&i)?.filter(|m| m.secret_id == owner) else {
                    return Ok(None);
                };
                let cover = match &m.cover_file_id {
                    Some(c) => s.media_by_id(c)?,
                    None => None,
                };
                let extra = s.api3_media(&i)?.unwrap_or_else(|| Api3Media {
                    file_id: i.clone(),
                    storage_region: DEFAULT_STORAGE_REGION.into(),
                    expire_time: NEVER_EXPIRES.into(),
                    ..Api3Media::default()
                });
                let probe = mp4::probe(&s.media_path(&m.file_id));
                Ok(Some((m, cover, extra, probe)))
            })
            .await?;
        let Some((m, cover, extra, probe)) = found else {
            missing.push(id);
            continue;
        };
        let mut info = serde_json::Map::new();
        info.insert("FileId".into(), json!(m.file_id));
        for (filter, member) in MEMBERS {
            let v = match *filter {
                "basicInfo" if wanted(filter) => basic_info(app, &m, &extra, cover.as_ref()),
                "metaData" if wanted(filter) => meta_data(&m, probe),
                _ => Value::Null,
            };
            info.insert((*member).into(), v);
        }
        infos.push(Value::Object(info));
    }
    Ok(json!({"MediaInfoSet": infos, "NotExistFileIdSet": missing}))
}

pub async fn delete_media(app: &Arc<App>, acct: &Account, args: &Args) -> Result<Value> {
    args.only(&["FileId", "SubAppId", "DeleteParts"])?;
    sub_app_id(args)?;
    let id = args.req_string("FileId")?;
    let owner = acct.secret_id.clone();
    let deleted = app
        .db(move |s| match s.media_by_id(&id)? {
            Some(m) if m.secret_id == owner && m.kind == "video" => s.delete_media(&id),
            _ => Ok(Vec::new()),
        })
        .await?;
    if deleted.is_empty() {
        return Err(fail(codes::FILE_NOT_EXIST, "The media does not exist."));
    }
    Ok(json!({}))
}
