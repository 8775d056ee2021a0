//! Family A (InitUpload / UploadPart / FinishUpload, SmallFileUpload) and
//! the upload state machine it shares with family B (`ugc.rs`).
//!
//! State is keyed by (SecretId, fileSha) as in the real service: there is
//! no upload id. InitUpload answers 0 (new), 1 (resumable, with the parts
//! held and the *original* dataSize) or 2 (a complete media with that sha
//! exists: instant upload returns the existing fileId, as the real service
//! does). FinishUpload assembles the parts under the commit lock, checks the
//! whole-file SHA-1, then records the media and forgets the upload in one
//! transaction. A SHA-1 mismatch forgets the upload too: its parts can never
//! make a valid file, so the client must start over.

use std::sync::Arc;

use axum::body::Body;
use serde_json::{Value, json};
use sha1::Digest as _;

use super::app::App;
use super::clock::unix_now;
use super::error::{ServerError, bad};
use super::params::Params;
use super::store::{MediaRow, PartRow, UploadRow};
use crate::vod::rules::names::{check_hex, check_name, check_type};
use crate::vod::rules::parts::{MAX_COVER, MAX_FILE_SIZE, PART_SIZES_TEXT, is_part_size};

type Result<T> = std::result::Result<T, ServerError>;

/// What an InitUpload asks for, from the query (A) or the signature (B).
#[derive(Debug, Clone)]
pub struct InitSpec {
    pub name: String,
    pub file_type: String,
    pub sha: String,
    pub size: u64,
    pub data_size: u64,
    pub class_id: i64,
    pub tags: Vec<String>,
    pub procedure: String,
    pub flow: &'static str,
}

pub fn media_url(app: &App, m: &MediaRow) -> String {
    format!("{}{}", app.cfg.public_url, m.url_path)
}

fn parts_json(parts: &[PartRow]) -> Value {
    Value::Array(
        parts
            .iter()
            .map(|p| json!({"offset": p.offset, "dataSize": p.size, "dataMd5": p.md5}))
            .collect(),
    )
}

/// InitUpload of family A: parameters from the query.
pub async fn init_upload_a(app: &Arc<App>, secret_id: &str, p: &Params) -> Result<Value> {
    let name = p.req("fileName")?.to_string();
    check_name("fileName", &name)?;
    let spec = InitSpec {
        name,
        file_type: check_type("fileType", p.req("fileType")?)?,
        sha: check_hex("fileSha", p.req("fileSha")?, 40)?,
        size: p.u64("fileSize")?,
        data_size: p.u64("dataSize")?,
        class_id: p.opt_i64("classId")?.unwrap_or(0),
        tags: p.tags(),
        procedure: p.get("procedure").unwrap_or_default().to_string(),
        flow: "A",
    };
    init_upload(app, secret_id, spec).await
}

/// The shared InitUpload: code 0, 1 or 2.
pub async fn init_upload(app: &Arc<App>, secret_id: &str, spec: InitSpec) -> Result<Value> {
    if !is_part_size(spec.data_size) {
        return Err(bad("dataSize", format!("must be {PART_SIZES_TEXT}")));
    }
    if spec.size > MAX_FILE_SIZE {
        return Err(bad(
            "fileSize",
            format!(
                "{} is over the largest file, {MAX_FILE_SIZE} bytes",
                spec.size
            ),
        ));
    }
    let sid = secret_id.to_string();
    let sha = spec.sha.clone();
    let (media, upload) = app
        .db(move |s| Ok((s.media_by_sha(&sid, &sha)?, s.find_upload(&sid, &sha)?)))
        .await?;
    if let Some(m) = media {
        return Ok(json!({"code": 2, "fileId": m.file_id, "url": media_url(app, &m)}));
    }
    if let Some(u) = upload {
        if u.size != spec.size {
            return Err(bad(
                "fileSize",
                format!(
                    "{} differs from the upload in progress ({})",
                    spec.size, u.size
                ),
            ));
        }
        let id = u.id;
        let parts = app.db(move |s| s.parts(id)).await?;
        return Ok(json!({"code": 1, "dataSize": u.data_size, "listParts": parts_json(&parts)}));
    }
    let row = UploadRow {
        id: 0,
        secret_id: secret_id.to_string(),
        sha: spec.sha,
        name: spec.name,
        file_type: spec.file_type,
        size: spec.size,
        data_size: spec.data_size,
        class_id: spec.class_id,
        tags: spec.tags,
        procedure: spec.procedure,
        source_context: String::new(),
        flow: spec.flow.to_string(),
        created_at: 0,
    };
    app.db(move |s| s.create_upload(&row)).await?;
    Ok(json!({"code": 0}))
}

/// The shared UploadPart. `data_size` is the request's `dataSize`.
pub async fn upload_part(
    app: &Arc<App>,
    secret_id: &str,
    sha: &str,
    offset: u64,
    data_size: u64,
    md5: &str,
    body: Body,
) -> Result<Value> {
    let md5 = check_hex("dataMd5", md5, 32)?;
    let (sid, sh) = (secret_id.to_string(), sha.to_string());
    let Some(u) = app.db(move |s| s.find_upload(&sid, &sh)).await? else {
        super::body::discard(body).await;
        return Err(ServerError::NoSuchUpload(sha.to_string()));
    };
    let checked = (|| {
        if !offset.is_multiple_of(u.data_size) {
            return Err(ServerError::Misaligned {
                offset,
                data_size: u.data_size,
            });
        }
        if offset >= u.size.max(1) {
            return Err(bad(
                "offset",
                format!("{offset} is past the end of the file ({} bytes)", u.size),
            ));
        }
        let expected = u.data_size.min(u.size - offset);
        if data_size != u.data_size && data_size != expected {
            return Err(bad(
                "dataSize",
                format!(
                    "{data_size} is neither the upload's part size {} nor this part's length {expected}",
                    u.data_size
                ),
            ));
        }
        Ok(expected)
    })();
    let expected = match checked {
        Ok(e) => e,
        Err(e) => {
            super::body::discard(body).await;
            return Err(e);
        }
    };
    let limit = expected.min(app.cfg.max_body);
    let id = u.id;
    if let Some(old) = app.db(move |s| s.part_at(id, offset)).await? {
        return resend(app, &u, old, expected, md5, limit, body).await;
    }
    let path = app.store.upload_data_path(id);
    let opened = path.clone();
    let file = tokio::task::spawn_blocking(move || super::upload_data::open_upload_data(&opened))
        .await
        .map_err(|e| ServerError::Internal(format!("opening upload data: {e}")))??;
    // Longer than the part → BodyTooLarge(expected), −10006 like a short one.
    // A refused body has overwritten the part's range: forget the part.
    let received = super::body::receive_at(
        body,
        Arc::new(file),
        &path,
        offset,
        limit,
        super::upload_data::KEEP_FOR_HASHING,
    )
    .await;
    let refused = match &received {
        Err(_) => true,
        Ok(r) => r.len != expected || r.md5 != md5,
    };
    if refused {
        forget_unless_intact(app, id, offset).await?;
    }
    let super::body::Received {
        len,
        md5: got,
        kept,
    } = received?;
    if len != expected {
        return Err(ServerError::PartSize {
            received: len,
            expected,
        });
    }
    if got != md5 {
        return Err(ServerError::Md5Mismatch {
            expected: md5,
            actual: got,
        });
    }
    let part = PartRow {
        offset,
        size: len,
        md5,
    };
    app.db(move |s| s.record_part(id, &part)).await?;
    let (a, key) = (app.clone(), (id, u.sha.clone()));
    tokio::task::spawn_blocking(move || match kept {
        Some(data) => a.running.part(key, offset, data),
        None => a.running.lost(key),
    })
    .await
    .map_err(|e| ServerError::Internal(format!("hashing: {e}")))?;
    app.stats.part_received(len);
    Ok(json!({"code": 0}))
}

/// The shared FinishUpload: the media record, or why not.
/// A refused in-place body may have written over its part's range, so the
/// part recorded there is forgotten — unless the bytes on disk still have
/// its MD5: another request for the same part (the retry of a stalled one
/// the client gave up on, which fails only now) recorded it, and it was
/// acknowledged.
async fn forget_unless_intact(app: &Arc<App>, id: i64, offset: u64) -> Result<()> {
    let Some(row) = app.db(move |s| s.part_at(id, offset)).await? else {
        return Ok(());
    };
    let path = app.store.upload_data_path(id);
    let on_disk =
        tokio::task::spawn_blocking(move || super::upload_data::range_md5(&path, offset, row.size))
            .await
            .map_err(|e| ServerError::Internal(format!("checking a part: {e}")))?;
    if on_disk.ok().as_deref() != Some(row.md5.as_str()) {
        app.db(move |s| s.forget_part(id, offset)).await?;
    }
    Ok(())
}

/// A part sent again over a recorded one: received aside, so that a body
/// that turns out wrong never overwrites recorded bytes; the same bytes
/// change nothing, different (verified) ones replace the recorded part.
async fn resend(
    app: &Arc<App>,
    u: &UploadRow,
    old: PartRow,
    expected: u64,
    md5: String,
    limit: u64,
    body: Body,
) -> Result<Value> {
    let incoming = super::body::receive_hashed(body, &app.store.tmp_dir(), limit, false).await?;
    if incoming.len != expected {
        return Err(ServerError::PartSize {
            received: incoming.len,
            expected,
        });
    }
    if incoming.md5 != md5 {
        return Err(ServerError::Md5Mismatch {
            expected: md5,
            actual: incoming.md5.clone(),
        });
    }
    let (id, offset, len) = (u.id, old.offset, incoming.len);
    if old.md5 != md5 || old.size != len {
        let (src, data) = (incoming.path.clone(), app.store.upload_data_path(id));
        tokio::task::spawn_blocking(move || super::upload_data::copy_into(&src, &data, offset))
            .await
            .map_err(|e| ServerError::Internal(format!("writing part: {e}")))??;
        let part = PartRow {
            offset,
            size: len,
            md5,
        };
        app.db(move |s| s.record_part(id, &part)).await?;
        app.running.lost((id, u.sha.clone()));
    }
    drop(incoming);
    app.stats.part_received(len);
    Ok(json!({"code": 0}))
}

/// How many gaps a FinishUpload answer names at most.
const MAX_GAPS_SHOWN: usize = 8;

/// The parts of a `size`-byte upload cut in `data_size` pieces that `held`
/// (sorted by offset) lacks, as a count and the first gaps. Walks the parts
/// held, never the parts declared, so neither time nor memory grows with
/// the declared size.
fn missing_parts(size: u64, data_size: u64, held: &[PartRow]) -> Option<ServerError> {
    let ds = data_size.max(1);
    let (mut count, mut gaps, mut next) = (0u64, Vec::new(), 0u64);
    let ends = held
        .iter()
        .filter(|p| p.offset.is_multiple_of(ds) && p.offset < size)
        .map(|p| p.offset)
        .chain(std::iter::once(size.div_ceil(ds).saturating_mul(ds)));
    for off in ends {
        if off > next {
            count += (off - next) / ds;
            if gaps.len() < MAX_GAPS_SHOWN {
                gaps.push((next, off.min(size)));
            }
        }
        next = next.max(off.saturating_add(ds));
    }
    (count > 0).then_some(ServerError::MissingParts { count, gaps })
}

/// An upload's data hashed before the commit lock (no per-byte work is
/// done under it), with the parts it was hashed over.
struct Hashed {
    id: i64,
    parts: Vec<PartRow>,
    sha1: sha1::Sha1,
}

/// The running hashes of a complete upload, or its data file hashed when
/// its parts came out of order; None when there is nothing to hash (no
/// upload, parts missing, a media already, a store from before the data
/// file) or it fails: finish then does it under the lock as before.
async fn hash_ahead(app: &Arc<App>, secret_id: &str, sha: &str) -> Option<Hashed> {
    let (sid, sh) = (secret_id.to_string(), sha.to_string());
    let (media, upload) = app
        .db(move |s| Ok((s.media_by_sha(&sid, &sh)?, s.find_upload(&sid, &sh)?)))
        .await
        .ok()?;
    let u = upload.filter(|_| media.is_none())?;
    let id = u.id;
    let parts = app.db(move |s| s.parts(id)).await.ok()?;
    let data = app.store.upload_data_path(id);
    if missing_parts(u.size, u.data_size, &parts).is_some() || !data.exists() {
        return None;
    }
    let (a, key, size) = (app.clone(), (id, u.sha.clone()), u.size);
    let sha1 = tokio::task::spawn_blocking(move || match a.running.take(&key, size) {
        Some(h) => super::upload_data::trim(&data, size).map(|()| h),
        None => super::upload_data::hash_data(&data, size),
    })
    .await
    .ok()?
    .ok()?;
    Some(Hashed { id, parts, sha1 })
}

/// The hashes of an upload's data under the commit lock: a store from
/// before the data file assembles its part files; otherwise the running
/// hashes, or the data file read.
async fn hash_under_lock(
    dest: std::path::PathBuf,
    paths: Vec<std::path::PathBuf>,
    size: u64,
    a: Arc<App>,
    key: super::running::Key,
) -> Result<sha1::Sha1> {
    tokio::task::spawn_blocking(move || {
        if !dest.ends_with("data") {
            return super::upload_data::assemble(&paths, &dest);
        }
        match a.running.take(&key, size) {
            // Parts came in order: hashed already, no second read.
            Some(h) => super::upload_data::trim(&dest, size).map(|()| h),
            None => super::upload_data::hash_data(&dest, size),
        }
    })
    .await
    .map_err(|e| ServerError::Internal(format!("assembling: {e}")))?
    .map_err(ServerError::from)
}

pub async fn finish_upload(app: &Arc<App>, secret_id: &str, sha: &str) -> Result<MediaRow> {
    let sha = check_hex("fileSha", sha, 40)?;
    let ahead = hash_ahead(app, secret_id, &sha).await;
    let _guard = app.commit_lock.lock().await;
    let (sid, sh) = (secret_id.to_string(), sha.clone());
    let (media, upload) = app
        .db(move |s| Ok((s.media_by_sha(&sid, &sh)?, s.find_upload(&sid, &sh)?)))
        .await?;
    if let Some(m) = media {
        // Instant upload (or a retried finish): the existing media.
        if let Some(u) = upload {
            app.db(move |s| s.delete_upload(u.id)).await?;
        }
        return Ok(m);
    }
    let Some(u) = upload else {
        return Err(ServerError::NoSuchUpload(sha));
    };
    let id = u.id;
    let parts = app.db(move |s| s.parts(id)).await?;
    if let Some(e) = missing_parts(u.size, u.data_size, &parts) {
        return Err(e);
    }
    // The parts are in the upload's data file: hash it (on a blocking
    // thread, 1 MiB reads); it becomes the media file by a rename. A store
    // from before the data file has part files: assemble them.
    let data = app.store.upload_data_path(id);
    let tmp = if data.exists() {
        data
    } else {
        app.store.tmp_dir().join(format!("assemble-{id}"))
    };
    let paths: Vec<_> = parts
        .iter()
        .map(|p| app.store.part_path(id, p.offset))
        .collect();
    let (dest, size, a, key) = (tmp.clone(), u.size, app.clone(), (id, u.sha.clone()));
    // Hashed ahead over exactly these parts (none sent again since): done.
    let ahead = ahead.filter(|h| h.id == id && h.parts == parts);
    let sha1 = match ahead {
        Some(h) => h.sha1,
        None => hash_under_lock(dest, paths, size, a, key).await?,
    };
    let actual = hex::encode(sha1.finalize());
    if actual != u.sha {
        let _ = tokio::fs::remove_file(&tmp).await;
        app.db(move |s| s.delete_upload(id)).await?;
        return Err(ServerError::ShaMismatch {
            expected: u.sha,
            actual,
        });
    }
    let file_id = app.db(|s| s.alloc_ids(1)).await?.to_string();
    let media = MediaRow {
        url_path: format!(
            "/vod{}/{}/f0.{}",
            app.account_app_id(secret_id),
            file_id,
            u.file_type
        ),
        file_id,
        secret_id: secret_id.to_string(),
        kind: "video".into(),
        parent: None,
        name: u.name,
        file_type: u.file_type,
        size: u.size,
        sha1: actual,
        // No whole-content MD5: nothing checks one, and it cost a third of
        // the service's hashing per upload (the playback ETag of a media
        // without it is `"<fileId>-<size>"`, whose bytes never change).
        md5: String::new(),
        class_id: u.class_id,
        tags: u.tags,
        procedure: u.procedure,
        source_context: u.source_context,
        flow: u.flow,
        created_at: unix_now(),
        cover_file_id: None,
    };
    let m = media.clone();
    app.db(move |s| {
        super::store::persist(&tmp, &s.media_path(&m.file_id))?;
        s.insert_media(&m, Some(id))
    })
    .await?;
    Ok(media)
}

/// SmallFileUpload: a cover (≤ 1 MiB) for an existing video (`extra.fileId`).
pub async fn small_file_upload(
    app: &Arc<App>,
    secret_id: &str,
    p: &Params,
    body: Body,
) -> Result<Value> {
    let checked = (|| -> Result<_> {
        let name = p.req("fileName")?.to_string();
        check_name("fileName", &name)?;
        let ty = check_type("fileType", p.req("fileType")?)?;
        let sha = check_hex("fileSha", p.req("fileSha")?, 40)?;
        let size = p.u64("fileSize")?;
        if size > MAX_COVER {
            return Err(bad(
                "fileSize",
                format!("a cover is at most {MAX_COVER} bytes"),
            ));
        }
        let video = p.req("extra.fileId")?.to_string();
        Ok((name, ty, sha, size, video))
    })();
    let (name, ty, sha, size, video) = match checked {
        Ok(v) => v,
        Err(e) => {
            super::body::discard(body).await;
            return Err(e);
        }
    };
    let (sid, vid) = (secret_id.to_string(), video.clone());
    let parent = app.db(move |s| s.media_by_id(&vid)).await?;
    let Some(parent) = parent.filter(|m| m.secret_id == sid && m.kind == "video") else {
        super::body::discard(body).await;
        return Err(bad("extra.fileId", format!("no video {video}")));
    };
    let inc = super::body::receive(body, &app.store.tmp_dir(), size.min(app.cfg.max_body)).await?;
    if inc.len != size {
        return Err(ServerError::PartSize {
            received: inc.len,
            expected: size,
        });
    }
    if inc.sha1 != sha {
        return Err(ServerError::ShaMismatch {
            expected: sha,
            actual: inc.sha1.clone(),
        });
    }
    let file_id = app.db(|s| s.alloc_ids(1)).await?.to_string();
    let media = MediaRow {
        url_path: format!(
            "/vod{}/{}/{}.{}",
            app.account_app_id(secret_id),
            parent.file_id,
            file_id,
            ty
        ),
        file_id,
        secret_id: secret_id.to_string(),
        kind: "cover".into(),
        parent: Some(parent.file_id.clone()),
        name,
        file_type: ty,
        size,
        sha1: inc.sha1.clone(),
        md5: inc.md5.clone(),
        class_id: 0,
        tags: Vec::new(),
        procedure: String::new(),
        source_context: String::new(),
        flow: "A".into(),
        created_at: unix_now(),
        cover_file_id: None,
    };
    let m = media.clone();
    app.db(move |s| {
        inc.persist_to(&s.media_path(&m.file_id))?;
        s.insert_media(&m, None)
    })
    .await?;
    Ok(json!({"code": 0, "fileId": media.file_id, "url": media_url(app, &media)}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(offsets: &[u64]) -> Vec<PartRow> {
        offsets
            .iter()
            .map(|&offset| PartRow {
                offset,
                size: 4,
                md5: String::new(),
            })
            .collect()
    }

    fn missing(size: u64, offsets: &[u64]) -> Option<(u64, Vec<(u64, u64)>)> {
        match missing_parts(size, 4, &held(offsets))? {
            ServerError::MissingParts { count, gaps } => Some((count, gaps)),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn missing_parts_are_counted_and_named_as_ranges() {
        assert_eq!(missing(0, &[]), None);
        assert_eq!(missing(10, &[0, 4, 8]), None);
        assert_eq!(missing(10, &[4]), Some((2, vec![(0, 4), (8, 10)])));
        assert_eq!(missing(10, &[]), Some((3, vec![(0, 10)])));
    }

    #[test]
    fn a_huge_declared_size_costs_nothing() {
        let (count, gaps) = missing(u64::MAX, &[0, 8]).expect("missing");
        assert_eq!(gaps.len(), 2);
        assert!(count > 1 << 60);
        let many: Vec<u64> = (0..100).map(|i| i * 8).collect();
        let (_, gaps) = missing(1 << 40, &many).expect("missing");
        assert_eq!(gaps.len(), MAX_GAPS_SHOWN);
    }
}
