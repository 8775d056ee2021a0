//! Family C control calls (the server side of `vod/apply.rs`): ApplyUpload →
//! (the COS XML object storage, `cos/`) → CommitUpload.
//!
//! ApplyUpload allocates the fileId(s) up front and answers the storage
//! location: bucket `<8 hex>vodgzp<appId>` (appId `storageAppId`), region
//! `gzp` / `ap-guangzhou`, keys `/<8 hex><fileId>/f0.<type>` and
//! `/<8 hex><fileId>/<fileId+1>.<coverType>` (protocol.md §6), and an
//! opaque `vodSessionKey` (base64 of 48 random bytes) stored with the plan.
//! The COS requests go to *this* service's address with the Host header
//! `<bucket>-<appId>.cos.ap-guangzhou.myqcloud.com`.
//! CommitUpload answers 31001 for an unknown, foreign or expired (default
//! one day) key, and 4000 (key still usable) while an object is missing:
//! never a half media. It is idempotent while the key lives: a key already
//! committed answers the same fileId and URLs again (a client whose first
//! answer was lost asks again; an inference, the cloud's behaviour for family C is
//! undocumented), and 31001 once that media is deleted. Committing hard-links the object files to
//! `media/`, records media and spends the key in one transaction, then
//! removes the objects. Media URL: `<public>/<bucket><storagePath>`.

use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::app::App;
use super::clock::unix_now;
use super::config::Account;
use super::error::ServerError;
use super::params::Params;
use super::store::MediaRow;
use crate::vod::rules::names::{check_name, check_type};

type Result<T> = std::result::Result<T, ServerError>;

pub const REGION: &str = "gzp";
pub const REGION_V5: &str = "ap-guangzhou";

/// The COS Host of an account's bucket.
pub fn cos_host(acct: &Account) -> String {
    format!(
        "{}-{}.cos.{REGION_V5}.myqcloud.com",
        acct.bucket(),
        acct.app_id
    )
}

/// What ApplyUpload promised, kept with the session key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Plan {
    file_id: u64,
    bucket: String,
    video_path: String,
    video_type: String,
    video_name: String,
    cover: Option<(String, String, String)>,
    class_id: i64,
    procedure: String,
    source_context: String,
}

pub async fn apply_upload(app: &Arc<App>, acct: &Account, p: &Params) -> Result<Value> {
    let video_type = check_type("videoType", p.req("videoType")?)?;
    let video_name = p.get("videoName").unwrap_or("video").to_string();
    check_name("videoName", &video_name)?;
    if let Some(s) = p.get("videoSize") {
        s.parse::<u64>()
            .map_err(|_| super::error::bad("videoSize", "must be an unsigned integer"))?;
    }
    let cover = match p.get("coverType") {
        Some(t) => {
            let t = check_type("coverType", t)?;
            let name = p.get("coverName").unwrap_or("cover").to_string();
            check_name("coverName", &name)?;
            Some((t, name))
        }
        None => None,
    };
    let n = if cover.is_some() { 2 } else { 1 };
    let file_id = app.db(move |s| s.alloc_ids(n)).await?;
    let dir = format!("{:08x}{file_id}", rand::random::<u32>());
    let plan = Plan {
        file_id,
        bucket: acct.bucket(),
        video_path: format!("/{dir}/f0.{video_type}"),
        video_type,
        video_name,
        cover: cover.map(|(t, name)| (format!("/{dir}/{}.{t}", file_id + 1), t, name)),
        class_id: p.opt_i64("classId")?.unwrap_or(0),
        procedure: p.get("procedure").unwrap_or_default().to_string(),
        source_context: p.get("sourceContext").unwrap_or_default().to_string(),
    };
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 48]>());
    let body = serde_json::to_string(&plan).map_err(|e| ServerError::Internal(e.to_string()))?;
    let expires = unix_now() + app.cfg.session_ttl_secs;
    let (k, sid) = (key.clone(), acct.secret_id.clone());
    app.db(move |s| s.insert_session(&k, &sid, &body, expires))
        .await?;
    let mut out = json!({
        "video": {"storagePath": plan.video_path},
        "storageAppId": acct.app_id,
        "storageBucket": plan.bucket,
        "storageRegion": REGION,
        "storageRegionV5": REGION_V5,
        "vodSessionKey": key,
    });
    if let Some((path, _, _)) = &plan.cover {
        out["cover"] = json!({"storagePath": path});
    }
    Ok(out)
}

pub async fn commit_upload(app: &Arc<App>, acct: &Account, p: &Params) -> Result<Value> {
    let key = p.req("vodSessionKey")?.to_string();
    let _guard = app.commit_lock.lock().await;
    let k = key.clone();
    let Some((owner, body, expires, used)) = app.db(move |s| s.session(&k)).await? else {
        return Err(ServerError::BadSession("unknown key"));
    };
    if owner != acct.secret_id {
        return Err(ServerError::BadSession("unknown key"));
    }
    if expires <= unix_now() {
        return Err(ServerError::BadSession("key expired"));
    }
    let plan: Plan =
        serde_json::from_str(&body).map_err(|e| ServerError::Internal(e.to_string()))?;
    if used {
        // Committed already: a client whose first answer was lost asks
        // again, and gets the same media while the key lives.
        return committed_answer(app, acct, &plan).await;
    }
    let bucket = format!("{}-{}", plan.bucket, acct.app_id);
    let mut wanted = vec![("video", plan.video_path.clone())];
    if let Some((path, _, _)) = &plan.cover {
        wanted.push(("cover", path.clone()));
    }
    let mut objects = Vec::new();
    for (what, path) in &wanted {
        let (b, k) = (bucket.clone(), path.trim_start_matches('/').to_string());
        match app.db(move |s| s.object(&b, &k)).await? {
            Some(o) => objects.push(o),
            None => return Err(ServerError::ObjectMissing(what)),
        }
    }
    let now = unix_now();
    let video_id = plan.file_id.to_string();
    let cover_id = plan.cover.as_ref().map(|_| (plan.file_id + 1).to_string());
    let mut media = vec![
        MediaRow {
            file_id: video_id.clone(),
            secret_id: acct.secret_id.clone(),
            kind: "video".into(),
            parent: None,
            name: plan.video_name.clone(),
            file_type: plan.video_type.clone(),
            size: 0,
            sha1: String::new(),
            md5: String::new(),
            class_id: plan.class_id,
            tags: Vec::new(),
            procedure: plan.procedure.clone(),
            source_context: plan.source_context.clone(),
            flow: "C".into(),
            created_at: now,
            url_path: format!("/{}{}", plan.bucket, plan.video_path),
            cover_file_id: cover_id.clone(),
        }
        .sized_by(&objects[0]),
    ];
    if let (Some((path, ty, name)), Some(cid), Some(o)) = (&plan.cover, &cover_id, objects.get(1)) {
        let url_path = format!("/{}{}", plan.bucket, path);
        let cover = media[0].cover_row(cid.clone(), name.clone(), ty.clone(), url_path);
        media.push(cover.sized_by(o));
    }
    let (m2, objs) = (media.clone(), objects.clone());
    app.db(move |s| {
        s.link_objects(&m2, &objs)?;
        let ids: Vec<i64> = objs.iter().map(|o| o.id).collect();
        s.commit_session(&key, &m2, &ids)?;
        s.remove_object_files(&objs);
        Ok(())
    })
    .await?;
    Ok(answer(app, &media[0], media.get(1)))
}

/// CommitUpload's answer for a video and its cover.
fn answer(app: &App, video: &MediaRow, cover: Option<&MediaRow>) -> Value {
    let url = |m: &MediaRow| format!("{}{}", app.cfg.public_url, m.url_path);
    let mut out = json!({"fileId": video.file_id, "video": {"url": url(video)}});
    if let Some(c) = cover {
        out["cover"] = json!({"url": url(c)});
    }
    out
}

/// The answer of a session committed before, from its media records; a
/// media deleted since (or never this account's) is an unknown key.
async fn committed_answer(app: &Arc<App>, acct: &Account, plan: &Plan) -> Result<Value> {
    let video_id = plan.file_id.to_string();
    let cover_id = plan.cover.as_ref().map(|_| (plan.file_id + 1).to_string());
    let (found_video, found_cover) = app
        .db(move |s| {
            let cover = match &cover_id {
                Some(id) => s.media_by_id(id)?,
                None => None,
            };
            Ok((s.media_by_id(&video_id)?, cover))
        })
        .await?;
    match found_video {
        Some(v) if v.secret_id == acct.secret_id => Ok(answer(app, &v, found_cover.as_ref())),
        _ => Err(ServerError::BadSession("key already used")),
    }
}
