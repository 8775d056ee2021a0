//! CommitUploadUGC `{signature, vodSessionKey}` (protocol.md §5.4):
//! `data{fileId, video{url, verify_content}, cover{url, verify_content}}`.
//!
//! Idempotent while the session lives: the answer is stored with the
//! session and a repeated commit gets it again (a commit whose answer was
//! lost). An object of the plan not in COS yet is 5000 and an object whose
//! size differs from the declared videoSize / coverSize is 10001 — the
//! session stays usable either way, never a half media. Committing links
//! the objects into `media/`, records the media (flow `D`, the
//! signature's settings), forgets a replaced cover, spends the objects and
//! stores the answer in one transaction.

use std::sync::Arc;

use serde_json::{Value, json};

use super::apply::live_session;
use super::auth::Caller;
use super::plan::{Obj, Plan};
use super::reply::{UgcDError, fail, invalid};
use crate::server::app::App;
use crate::server::clock::unix_now;
use crate::server::error::ServerError;
use crate::server::store::{MediaRow, ObjectRow};
use crate::server::store_ugc_d::{UgcDCommit, UgcDMedia};
use crate::vod::rules::ugc_d as rules;
use crate::vod::sign;

type Result<T> = std::result::Result<T, UgcDError>;

/// Lifetime of a `verify_content`, seconds.
const VERIFY_SECS: u64 = 3600;

/// The stored object of `o`, of the declared size.
async fn object_of(app: &Arc<App>, bucket: &str, what: &str, o: &Obj) -> Result<ObjectRow> {
    let (b, k) = (
        bucket.to_string(),
        o.path.trim_start_matches('/').to_string(),
    );
    let Some(obj) = app.db(move |s| s.object(&b, &k)).await? else {
        return Err(fail(
            rules::NOT_FOUND,
            format!(
                "the {what} has not been uploaded to COS ({bucket}{})",
                o.path
            ),
        ));
    };
    if let Some(want) = o.size
        && want != obj.size
    {
        return Err(invalid(format!(
            "the {what} in COS is {} bytes, but ApplyUploadUGC declared {want}",
            obj.size
        )));
    }
    Ok(obj)
}

fn row(caller: &Caller, plan: &Plan, id: u64, o: &Obj, obj: &ObjectRow, now: u64) -> MediaRow {
    MediaRow {
        file_id: id.to_string(),
        secret_id: caller.acct.secret_id.clone(),
        kind: "video".into(),
        parent: None,
        name: o.name.clone(),
        file_type: o.file_type.clone(),
        size: obj.size,
        sha1: obj.sha1.clone(),
        md5: obj.md5.clone(),
        class_id: plan.class_id,
        tags: Vec::new(),
        procedure: plan.procedure.clone(),
        source_context: plan.source_context.clone(),
        flow: "D".into(),
        created_at: now,
        url_path: format!("/{}{}", plan.bucket, o.path),
        cover_file_id: None,
    }
}

pub async fn commit(app: &Arc<App>, caller: &Caller, key: &str) -> Result<Value> {
    let _guard = app.commit_lock.lock().await;
    let (session, plan) = live_session(app, caller, key).await?;
    if let Some(done) = &session.result {
        return serde_json::from_str(done).map_err(|e| ServerError::Internal(e.to_string()).into());
    }
    let bucket = plan.full_bucket(&caller.acct);
    let now = unix_now();
    let mut media = Vec::new();
    let mut objects = Vec::new();
    if let Some(v) = &plan.video {
        let obj = object_of(app, &bucket, "video", v).await?;
        media.push(row(caller, &plan, plan.file_id, v, &obj, now));
        objects.push(obj);
    }
    // A replacement's video must still be there, and its cover goes.
    let mut replaced = None;
    let mut video_url = None;
    if plan.video.is_none() {
        let id = plan.file_id.to_string();
        let found = app.db(move |s| s.media_by_id(&id)).await?;
        let Some(video) = found.filter(|m| m.secret_id == caller.acct.secret_id) else {
            return Err(fail(
                rules::NOT_FOUND,
                format!("the video {} no longer exists", plan.file_id),
            ));
        };
        replaced = video.cover_file_id.clone();
        video_url = Some(format!("{}{}", app.cfg.public_url, video.url_path));
    }
    if let (Some(c), Some(cid)) = (&plan.cover, plan.cover_id) {
        let obj = object_of(app, &bucket, "cover", c).await?;
        let mut m = row(caller, &plan, cid, c, &obj, now);
        m.kind = "cover".into();
        m.parent = Some(plan.file_id.to_string());
        m.class_id = 0;
        media.push(m);
        objects.push(obj);
    }
    if let Some(first) = media.first_mut()
        && first.kind == "video"
    {
        first.cover_file_id = plan.cover_id.map(|c| c.to_string());
    }
    let result = answer(app, caller, &plan, &media, video_url);
    let extra = plan.video.as_ref().map(|_| UgcDMedia {
        file_id: plan.file_id.to_string(),
        task_priority: plan.task_priority,
        task_notify_mode: plan.task_notify_mode.clone(),
    });
    let (k, text) = (key.to_string(), result.to_string());
    app.db(move |s| {
        for (m, o) in media.iter().zip(&objects) {
            let dest = s.media_path(&m.file_id);
            let _ = std::fs::remove_file(&dest);
            std::fs::hard_link(s.object_path(o.id), &dest)?;
            std::fs::File::open(dest.parent().unwrap_or(s.root()))?.sync_all()?;
        }
        let ids: Vec<i64> = objects.iter().map(|o| o.id).collect();
        s.commit_ugc_d(&UgcDCommit {
            key: &k,
            media: &media,
            extra: extra.as_ref(),
            replaced: replaced.as_deref(),
            objects: &ids,
            result: &text,
        })?;
        for o in &objects {
            let _ = std::fs::remove_file(s.object_path(o.id));
        }
        Ok(())
    })
    .await?;
    Ok(result)
}

/// The commit's `data`: the video's fileId, and url + verify_content of
/// the video and the cover.
fn answer(
    app: &App,
    caller: &Caller,
    plan: &Plan,
    media: &[MediaRow],
    video_url: Option<String>,
) -> Value {
    let vk = caller.acct.verify_key();
    let exp = unix_now() + VERIFY_SECS;
    let entry = |url: String, id: &str| json!({"url": url, "verify_content": sign::verify_content(&vk, exp, id)});
    let video_id = plan.file_id.to_string();
    let mut data = json!({"fileId": video_id});
    let url = |m: &MediaRow| format!("{}{}", app.cfg.public_url, m.url_path);
    if let Some(o) = data.as_object_mut() {
        let video = media
            .iter()
            .find(|m| m.kind == "video")
            .map(url)
            .or(video_url);
        if let Some(v) = video {
            o.insert("video".into(), entry(v, &video_id));
        }
        if let Some(c) = media.iter().find(|m| m.kind == "cover") {
            o.insert("cover".into(), entry(url(c), &c.file_id));
        }
    }
    data
}
