//! ApplyUploadUGC in its three forms (protocol.md §5.4, protocol-api3.md
//! §2.5), and PrepareUploadUGC.
//!
//! - New upload `{signature, videoName, videoType, videoSize[, coverName,
//!   coverType, coverSize]}`: every declared size and name checked before
//!   anything is allocated; then the fileId(s), the keys
//!   `/<8 hex><fileId>/f0.<videoType>` and `/<8 hex><fileId>/<coverId>.<coverType>`
//!   in the account's bucket and the region asked for (`storageRegion`,
//!   default the service's), the signature's settings (classId,
//!   procedure, taskPriority, taskNotifyMode, sourceContext) in the plan,
//!   a session of a day and its first temporary credential, in one
//!   transaction.
//! - Resume `{signature, vodSessionKey}`: the session's plan again (same
//!   storage paths, so COS ListParts finds the parts sent before) with a
//!   fresh credential; an unknown, foreign, expired or committed key is
//!   31001.
//! - Cover replacement `{signature, fileId, coverName, coverType,
//!   coverSize}`: a session for a new cover of an existing video of the
//!   account (5000 if there is none); the commit replaces its cover.
//!
//! Credentials are API 3.0's (`store_api3::TempCred`): scoped by the COS
//! endpoint to these keys, expiring after the service's
//! `temp_cred_ttl`, token required.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::plan::{Obj, Plan, REGION_V5, apply_data};
use super::reply::{UgcDError, bad_session, fail, invalid};
use crate::server::app::App;
use crate::server::clock::unix_now;
use crate::server::error::ServerError;
use crate::server::store_api3::TempCred;
use crate::server::store_ugc_d::UgcDSession;
use crate::vod::rules::api3::{check_storage_region, is_cover_type, is_media_type};
use crate::vod::rules::ugc_d as rules;

type Result<T> = std::result::Result<T, UgcDError>;

/// A string parameter (absent or null: None).
pub fn string(body: &Map<String, Value>, name: &str) -> Result<Option<String>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("{name} must be a string"))),
    }
}

/// A declared size: a non-negative integer (or its decimal text) ≤ `max`.
fn size(body: &Map<String, Value>, name: &str, max: u64) -> Result<Option<u64>> {
    let n = match body.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        Some(_) => None,
    };
    match n {
        Some(n) if n <= max => Ok(Some(n)),
        Some(n) => Err(invalid(format!(
            "{name} {n} is over the largest this service takes, {max} bytes"
        ))),
        None => Err(invalid(format!(
            "{name} must be a non-negative integer of at most {max}"
        ))),
    }
}

/// A name parameter: at most [`rules::MAX_NAME_CHARS`], no control chars.
fn name(body: &Map<String, Value>, field: &str, default: &str) -> Result<String> {
    let Some(n) = string(body, field)? else {
        return Ok(default.to_string());
    };
    if n.chars().count() > rules::MAX_NAME_CHARS {
        return Err(invalid(format!(
            "{field} is longer than {} characters",
            rules::MAX_NAME_CHARS
        )));
    }
    if n.chars().any(char::is_control) {
        return Err(invalid(format!("{field} contains control characters")));
    }
    Ok(if n.is_empty() { default.into() } else { n })
}

/// The declared cover, if the body declares one (coverType required then).
fn cover(body: &Map<String, Value>) -> Result<Option<(String, String, Option<u64>)>> {
    let ty = string(body, "coverType")?;
    let declared = ["coverName", "coverSize"]
        .iter()
        .any(|f| body.contains_key(*f));
    let Some(ty) = ty else {
        return if declared {
            Err(invalid("a cover needs its coverType"))
        } else {
            Ok(None)
        };
    };
    if !is_cover_type(&ty) {
        return Err(invalid(format!(
            "coverType {:?} is not a supported image type",
            ty.chars().take(16).collect::<String>()
        )));
    }
    let name = name(body, "coverName", "cover")?;
    let size = size(body, "coverSize", rules::MAX_COVER_SIZE)?;
    Ok(Some((ty.to_ascii_lowercase(), name, size)))
}

/// The COS region of a new upload: `storageRegion` when given (any region
/// name, as API 3.0's StorageRegion: one service stands for every region),
/// else the service's.
fn region(body: &Map<String, Value>) -> Result<String> {
    match string(body, "storageRegion")? {
        Some(r) if !r.is_empty() => {
            check_storage_region(&r).map_err(|why| invalid(format!("storageRegion {why}")))?;
            Ok(r)
        }
        _ => Ok(REGION_V5.to_string()),
    }
}

/// Handles ApplyUploadUGC: a resume, a cover replacement or a new upload.
pub async fn apply(app: &Arc<App>, caller: &Caller, body: &Map<String, Value>) -> Result<Value> {
    if let Some(key) = string(body, "vodSessionKey")? {
        return resume(app, caller, key).await;
    }
    if let Some(file_id) = body.get("fileId").filter(|v| !v.is_null()) {
        return replace_cover(app, caller, file_id, body).await;
    }
    new_upload(app, caller, body).await
}

fn settings(caller: &Caller, file_id: u64, bucket: String, storage_region: String) -> Plan {
    let sig = &caller.sig;
    Plan {
        file_id,
        storage_region,
        video: None,
        cover: None,
        cover_id: None,
        bucket,
        class_id: sig.class_id.unwrap_or(0),
        procedure: sig.procedure.clone().unwrap_or_default(),
        source_context: sig.source_context.clone().unwrap_or_default(),
        task_priority: sig.task_priority,
        task_notify_mode: sig.task_notify_mode.clone(),
    }
}

async fn new_upload(app: &Arc<App>, caller: &Caller, body: &Map<String, Value>) -> Result<Value> {
    let ty = string(body, "videoType")?.ok_or_else(|| invalid("missing parameter videoType"))?;
    if !is_media_type(&ty) {
        return Err(invalid(format!(
            "videoType {:?} is not a supported media type",
            ty.chars().take(16).collect::<String>()
        )));
    }
    let ty = ty.to_ascii_lowercase();
    let video_name = name(body, "videoName", "video")?;
    let video_size = size(body, "videoSize", rules::MAX_VIDEO_SIZE)?;
    let cover = cover(body)?;
    let region = region(body)?;
    let n = if cover.is_some() { 2 } else { 1 };
    let file_id = app.db(move |s| s.alloc_ids(n)).await?;
    let dir = format!("{:08x}{file_id}", rand::random::<u32>());
    let mut plan = settings(caller, file_id, caller.acct.bucket(), region);
    plan.video = Some(Obj {
        path: format!("/{dir}/f0.{ty}"),
        file_type: ty,
        name: video_name,
        size: video_size,
    });
    if let Some((cty, cname, csize)) = cover {
        plan.cover_id = Some(file_id + 1);
        plan.cover = Some(Obj {
            path: format!("/{dir}/{}.{cty}", file_id + 1),
            file_type: cty,
            name: cname,
            size: csize,
        });
    }
    open_session(app, caller, plan).await
}

async fn replace_cover(
    app: &Arc<App>,
    caller: &Caller,
    file_id: &Value,
    body: &Map<String, Value>,
) -> Result<Value> {
    let text = match file_id {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(invalid("fileId must be a string of digits")),
    };
    let id: u64 = text
        .parse()
        .map_err(|_| invalid("fileId must be a string of digits"))?;
    let cover = cover(body)?.ok_or_else(|| invalid("a cover replacement needs coverType"))?;
    let region = region(body)?;
    let t = text.clone();
    let found = app.db(move |s| s.media_by_id(&t)).await?;
    if !found.is_some_and(|m| m.secret_id == caller.acct.secret_id && m.kind == "video") {
        return Err(fail(
            rules::NOT_FOUND,
            format!("no video with fileId {text} in this account"),
        ));
    }
    let cover_id = app.db(|s| s.alloc_ids(1)).await?;
    let dir = format!("{:08x}{cover_id}", rand::random::<u32>());
    let mut plan = settings(caller, id, caller.acct.bucket(), region);
    let (cty, cname, csize) = cover;
    plan.cover_id = Some(cover_id);
    plan.cover = Some(Obj {
        path: format!("/{dir}/{cover_id}.{cty}"),
        file_type: cty,
        name: cname,
        size: csize,
    });
    open_session(app, caller, plan).await
}

/// Records a new session for `plan` with its first credential; the answer.
async fn open_session(app: &Arc<App>, caller: &Caller, plan: Plan) -> Result<Value> {
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 48]>());
    let now = unix_now();
    let acct = &caller.acct;
    let cred = TempCred::mint(
        &key,
        &acct.secret_id,
        &plan.full_bucket(acct),
        plan.keys(),
        now + app.temp_cred_ttl(),
    );
    let session = UgcDSession {
        secret_id: acct.secret_id.clone(),
        body: serde_json::to_string(&plan).map_err(|e| ServerError::Internal(e.to_string()))?,
        expires_at: now + app.cfg.session_ttl_secs,
        result: None,
    };
    let (k, c) = (key.clone(), cred.clone());
    app.db(move |s| s.insert_ugc_d_session(&k, &session, &c))
        .await?;
    Ok(apply_data(app, acct, &key, &plan, &cred, now))
}

/// The live session of `key` owned by the caller (committed or not), and
/// its plan.
pub async fn live_session(
    app: &Arc<App>,
    caller: &Caller,
    key: &str,
) -> Result<(UgcDSession, Plan)> {
    if key.len() > 256 {
        return Err(bad_session("no such upload session"));
    }
    let k = key.to_string();
    let session = app
        .db(move |s| s.ugc_d_session(&k))
        .await?
        .filter(|s| s.secret_id == caller.acct.secret_id)
        .ok_or_else(|| bad_session("no such upload session"))?;
    if session.expires_at <= unix_now() {
        return Err(bad_session(
            "the upload session has expired (sessions last a day); start the upload again",
        ));
    }
    let plan: Plan =
        serde_json::from_str(&session.body).map_err(|e| ServerError::Internal(e.to_string()))?;
    Ok((session, plan))
}

async fn resume(app: &Arc<App>, caller: &Caller, key: String) -> Result<Value> {
    let (session, plan) = live_session(app, caller, &key).await?;
    if session.result.is_some() {
        return Err(bad_session("the upload session was committed already"));
    }
    let now = unix_now();
    let acct = &caller.acct;
    let cred = TempCred::mint(
        &key,
        &acct.secret_id,
        &plan.full_bucket(acct),
        plan.keys(),
        now + app.temp_cred_ttl(),
    );
    let c = cred.clone();
    app.db(move |s| s.add_temp_cred(&c)).await?;
    Ok(apply_data(app, acct, &key, &plan, &cred, now))
}

/// PrepareUploadUGC `{signature}`: the app and the COS regions to race
/// (protocol-api3.md §2.5); this service has one.
pub fn prepare(caller: &Caller) -> Value {
    let acct = &caller.acct;
    json!({
        "appId": acct.app_id,
        "cosRegionList": [{
            "region": REGION_V5,
            "domain": format!("{}-{}.cos.{REGION_V5}.myqcloud.com", acct.bucket(), acct.app_id),
        }],
    })
}
