//! COS multipart completion and the listings (`GET /?uploads`, `GET
//! /<key>?uploadId=`). Completion checks the listed parts (ascending, each
//! held with a matching ETag, all but the last at least the minimum size),
//! links them (`span::build`, no byte copied) into one durable object whose ETag is
//! `"<md5 of the part md5s>-<n>"` as S3/COS compute it (no data pass: the
//! object records no whole-file MD5 or SHA-1), then, under the commit lock,
//! records it and drops the multipart state. The bodies are `vod::rules::cos_xml`'s types.

use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use md5::{Digest as _, Md5};

use super::object::{CosError, NewObject, Req, check_upload, err, store_object, xml};
use crate::server::app::App;
use crate::server::body;
use crate::server::error::ServerError;
use crate::server::span;
use crate::server::store;
use crate::vod::rules::cos_xml::{
    CompleteMultipartUpload, CompleteMultipartUploadResult, ListMultipartUploadsResult,
    ListPartsResult, ListedPart, ListedUpload,
};

pub(super) async fn complete(
    app: &Arc<App>,
    req: &Req,
    id: &str,
    body: Body,
) -> Result<Response, CosError> {
    if let Err(e) = check_upload(app, req, id).await {
        body::discard(body).await;
        return Err(e);
    }
    let raw = body::read_small(body, 1 << 20).await?;
    let text = String::from_utf8_lossy(&raw);
    let wanted: Vec<(u32, String)> = CompleteMultipartUpload::parse(&text)
        .map(|c| {
            c.parts
                .into_iter()
                .map(|p| (p.number, p.etag))
                .collect::<Vec<_>>()
        })
        .filter(|w| !w.is_empty())
        .ok_or_else(|| {
            err(
                400,
                "MalformedXML",
                "CompleteMultipartUpload body is not valid",
            )
        })?;
    if wanted.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(err(
            400,
            "InvalidPartOrder",
            "parts must be listed in ascending order",
        ));
    }
    let i = id.to_string();
    let held = app.db(move |s| s.mp_parts(&i)).await?;
    for (idx, (n, etag)) in wanted.iter().enumerate() {
        let Some((_, size, md5)) = held.iter().find(|(hn, _, _)| hn == n) else {
            return Err(err(
                400,
                "InvalidPart",
                format!("part {n} was not uploaded"),
            ));
        };
        if md5 != etag {
            return Err(err(
                400,
                "InvalidPart",
                format!("part {n} ETag does not match"),
            ));
        }
        if idx + 1 < wanted.len() && *size < app.cfg.cos_min_part_size {
            return Err(err(
                400,
                "EntityTooSmall",
                format!("part {n} is smaller than the minimum"),
            ));
        }
    }
    // The object is the listed parts end to end: a span directory of hard
    // links to their files (no byte copied, no hashing: the ETag is made of
    // the part MD5s, and no check needs the whole object's MD5 or SHA-1),
    // synced, all before the commit lock.
    let mut etag_md5 = Md5::new();
    let mut expected = 0u64;
    let mut paths = Vec::with_capacity(wanted.len());
    for (n, etag) in &wanted {
        etag_md5.update(hex::decode(etag).unwrap_or_default());
        expected += held.iter().find(|(hn, _, _)| hn == n).map_or(0, |p| p.1);
        paths.push(app.store.mp_part_path(id, *n));
    }
    let tmp = app
        .store
        .tmp_dir()
        .join(format!("mp-{id}-{:016x}", rand::random::<u64>()));
    let guard = store::persist_guard(tmp.clone());
    let dest = tmp.clone();
    let len = tokio::task::spawn_blocking(move || span::build(&paths, &dest))
        .await
        .map_err(|e| ServerError::Internal(format!("assembling: {e}")))?
        .map_err(ServerError::from)?;
    if len != expected {
        return Err(ServerError::Internal(format!(
            "upload {id}: the parts hold {len} bytes, {expected} were recorded"
        ))
        .into());
    }
    let _guard = app.commit_lock.lock().await;
    // A completion that ran meanwhile took the upload.
    check_upload(app, req, id).await?;
    let etag = format!("\"{}-{}\"", hex::encode(etag_md5.finalize()), wanted.len());
    store_object(
        app,
        NewObject {
            bucket: &req.bucket,
            key: req.key(),
            len,
            md5: String::new(),
            sha1: String::new(),
            etag: etag.clone(),
        },
        &tmp,
    )
    .await?;
    guard.done();
    let i = id.to_string();
    app.db(move |s| s.delete_multipart(&i)).await?;
    let result = CompleteMultipartUploadResult {
        location: format!("{}{}", app.cfg.public_url, req.path),
        bucket: req.bucket.clone(),
        key: req.key().to_string(),
        etag,
    };
    Ok(xml(StatusCode::OK, result.to_xml()))
}

pub(super) async fn list_uploads(app: &Arc<App>, req: &Req) -> Result<Response, CosError> {
    let b = req.bucket.clone();
    let prefix = req.param("prefix").unwrap_or("").to_string();
    let all = app.db(move |s| s.list_multipart(&b)).await?;
    let uploads = all
        .into_iter()
        .filter(|(k, _, _)| k.starts_with(&prefix))
        // A temporary credential sees its own session's uploads only.
        .filter(|(k, _, _)| req.scope.as_ref().is_none_or(|keys| keys.contains(k)))
        .map(|(key, upload_id, initiated)| ListedUpload {
            key,
            upload_id,
            initiated,
        })
        .collect();
    let result = ListMultipartUploadsResult {
        bucket: req.bucket.clone(),
        uploads,
    };
    Ok(xml(StatusCode::OK, result.to_xml()))
}

pub(super) async fn list_parts(app: &Arc<App>, req: &Req, id: &str) -> Result<Response, CosError> {
    check_upload(app, req, id).await?;
    let i = id.to_string();
    let parts = app.db(move |s| s.mp_parts(&i)).await?;
    let result = ListPartsResult {
        bucket: req.bucket.clone(),
        key: req.key().to_string(),
        upload_id: id.to_string(),
        parts: parts
            .into_iter()
            .map(|(number, size, etag)| ListedPart { number, etag, size })
            .collect(),
    };
    Ok(xml(StatusCode::OK, result.to_xml()))
}
