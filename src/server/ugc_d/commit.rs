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
use crate::server::api3::upload::NEVER_EXPIRES;
use crate::server::app::App;
use crate::server::clock::unix_now;
use crate::server::error::ServerError;
use crate::server::store::{MediaRow, ObjectRow};
use crate::server::store_api3::Api3Media;
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

fn row(caller: &Caller, plan: &Plan, o: &Obj, obj: &ObjectRow, now: u64) -> MediaRow {
    MediaRow {
        file_id: plan.file_id.to_string(),
        secret_id: caller.acct.secret_id.clone(),
        kind: "video".into(),
        parent: None,
        name: o.name.clone(),
        file_type: o.file_type.clone(),
        size: 0,
        sha1: String::new(),
        md5: String::new(),
        class_id: plan.class_id,
        tags: Vec::new(),
        procedure: plan.procedure.clone(),
        source_context: plan.source_context.clone(),
        flow: "D".into(),
        created_at: now,
        url_path: format!("/{}{}", plan.bucket, o.path),
        cover_file_id: plan.cover_id.map(|c| c.to_string()),
    }
    .sized_by(obj)
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
    // The video: a new one, or (a cover replacement) the one that must
    // still be there, whose cover goes.
    let (video, replaced) = match &plan.video {
        Some(v) => {
            let obj = object_of(app, &bucket, "video", v).await?;
            media.push(row(caller, &plan, v, &obj, now));
            objects.push(obj);
            (media[0].clone(), None)
        }
        None => {
            let id = plan.file_id.to_string();
            let found = app.db(move |s| s.media_by_id(&id)).await?;
            let Some(video) = found.filter(|m| m.secret_id == caller.acct.secret_id) else {
                return Err(fail(
                    rules::NOT_FOUND,
                    format!("the video {} no longer exists", plan.file_id),
                ));
            };
            let old = video.cover_file_id.clone();
            (video, old)
        }
    };
    if let (Some(c), Some(cid)) = (&plan.cover, plan.cover_id) {
        let obj = object_of(app, &bucket, "cover", c).await?;
        let url_path = format!("/{}{}", plan.bucket, c.path);
        let cover = video.cover_row(
            cid.to_string(),
            c.name.clone(),
            c.file_type.clone(),
            url_path,
        );
        // A replacement's cover is made now, whatever the video's time.
        media.push(MediaRow {
            created_at: now,
            ..cover.sized_by(&obj)
        });
        objects.push(obj);
    }
    let result = answer(
        app,
        caller,
        &video,
        media.iter().find(|m| m.kind == "cover"),
    );
    let extra = plan.video.as_ref().map(|_| UgcDMedia {
        file_id: plan.file_id.to_string(),
        task_priority: plan.task_priority,
        task_notify_mode: plan.task_notify_mode.clone(),
    });
    let api3 = plan.video.as_ref().map(|_| Api3Media {
        file_id: plan.file_id.to_string(),
        storage_region: plan.storage_region.clone(),
        expire_time: NEVER_EXPIRES.to_string(),
        ..Api3Media::default()
    });
    let (k, text) = (key.to_string(), result.to_string());
    app.db(move |s| {
        s.link_objects(&media, &objects)?;
        let ids: Vec<i64> = objects.iter().map(|o| o.id).collect();
        s.commit_ugc_d(&UgcDCommit {
            key: &k,
            media: &media,
            extra: extra.as_ref(),
            api3: api3.as_ref(),
            replaced: replaced.as_deref(),
            objects: &ids,
            result: &text,
        })?;
        s.remove_object_files(&objects);
        Ok(())
    })
    .await?;
    Ok(result)
}

/// The commit's `data`: the video's fileId, and url + verify_content of
/// the video and the cover.
fn answer(app: &App, caller: &Caller, video: &MediaRow, cover: Option<&MediaRow>) -> Value {
    let vk = caller.acct.verify_key();
    let exp = unix_now() + VERIFY_SECS;
    let entry = |m: &MediaRow| {
        json!({
            "url": format!("{}{}", app.cfg.public_url, m.url_path),
            "verify_content": sign::verify_content(&vk, exp, &m.file_id),
        })
    };
    let mut data = json!({"fileId": video.file_id, "video": entry(video)});
    if let Some(c) = cover {
        data["cover"] = entry(c);
    }
    data
}
