//! COS multipart completion and the listings (`GET /?uploads`, `GET
//! /<key>?uploadId=`). Completion checks the listed parts (ascending, each
//! held with a matching ETag, all but the last at least the minimum size),
//! assembles them under the commit lock into one durable object whose ETag
//! is `"<md5 of the part md5s>-<n>"` as S3/COS compute it, then drops the
//! multipart state.

use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use md5::{Digest as _, Md5};
use sha1::Sha1;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::object::{CosError, NewObject, Req, check_upload, err, store_object, xml, xml_escape};
use crate::server::app::App;
use crate::server::body;
use crate::server::error::ServerError;
use crate::server::store;

/// The text of the first `<name>…</name>` in `s`.
pub fn tag<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = s.find(&open)? + open.len();
    let len = s[start..].find(&close)?;
    Some(&s[start..start + len])
}

/// `(PartNumber, ETag)` of each `<Part>` of a CompleteMultipartUpload body.
pub fn parse_complete(xml: &str) -> Option<Vec<(u32, String)>> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find("<Part>") {
        let block_end = rest[i..].find("</Part>")? + i;
        let block = &rest[i..block_end];
        let n = tag(block, "PartNumber")?.trim().parse().ok()?;
        let etag = tag(block, "ETag")?
            .replace("&quot;", "")
            .replace('"', "")
            .trim()
            .to_ascii_lowercase();
        out.push((n, etag));
        rest = &rest[block_end + 7..];
    }
    Some(out)
}

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
    let wanted = parse_complete(&text)
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
    let _guard = app.commit_lock.lock().await;
    let tmp = app.store.tmp_dir().join(format!("mp-{id}"));
    let guard = store::persist_guard(tmp.clone());
    let mut out = tokio::fs::File::create(&tmp)
        .await
        .map_err(ServerError::from)?;
    let (mut md5, mut sha1, mut etag_md5) = (Md5::new(), Sha1::new(), Md5::new());
    let mut len = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    for (n, etag) in &wanted {
        etag_md5.update(hex::decode(etag).unwrap_or_default());
        let mut f = tokio::fs::File::open(app.store.mp_part_path(id, *n))
            .await
            .map_err(ServerError::from)?;
        loop {
            let r = f.read(&mut buf).await.map_err(ServerError::from)?;
            if r == 0 {
                break;
            }
            md5.update(&buf[..r]);
            sha1.update(&buf[..r]);
            len += r as u64;
            out.write_all(&buf[..r]).await.map_err(ServerError::from)?;
        }
    }
    out.sync_all().await.map_err(ServerError::from)?;
    drop(out);
    let etag = format!("\"{}-{}\"", hex::encode(etag_md5.finalize()), wanted.len());
    store_object(
        app,
        NewObject {
            bucket: &req.bucket,
            key: req.key(),
            len,
            md5: hex::encode(md5.finalize()),
            sha1: hex::encode(sha1.finalize()),
            etag: etag.clone(),
        },
        &tmp,
    )
    .await?;
    guard.done();
    let i = id.to_string();
    app.db(move |s| s.delete_multipart(&i)).await?;
    Ok(xml(
        StatusCode::OK,
        format!(
            "<CompleteMultipartUploadResult><Location>{}{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>",
            app.cfg.public_url,
            xml_escape(&req.path),
            xml_escape(&req.bucket),
            xml_escape(req.key()),
            xml_escape(&etag)
        ),
    ))
}

pub(super) async fn list_uploads(app: &Arc<App>, req: &Req) -> Result<Response, CosError> {
    let b = req.bucket.clone();
    let prefix = req.param("prefix").unwrap_or("").to_string();
    let all = app.db(move |s| s.list_multipart(&b)).await?;
    let mut body = format!(
        "<ListMultipartUploadsResult><Bucket>{}</Bucket>",
        xml_escape(&req.bucket)
    );
    for (key, id, created) in all.iter().filter(|(k, _, _)| k.starts_with(&prefix)) {
        body.push_str(&format!(
            "<Upload><Key>{}</Key><UploadId>{id}</UploadId><Initiated>{created}</Initiated></Upload>",
            xml_escape(key)
        ));
    }
    body.push_str("</ListMultipartUploadsResult>");
    Ok(xml(StatusCode::OK, body))
}

pub(super) async fn list_parts(app: &Arc<App>, req: &Req, id: &str) -> Result<Response, CosError> {
    check_upload(app, req, id).await?;
    let i = id.to_string();
    let parts = app.db(move |s| s.mp_parts(&i)).await?;
    let mut body = format!(
        "<ListPartsResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId>",
        xml_escape(&req.bucket),
        xml_escape(req.key())
    );
    for (n, size, md5) in parts {
        body.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>\"{md5}\"</ETag><Size>{size}</Size></Part>"
        ));
    }
    body.push_str("</ListPartsResult>");
    Ok(xml(StatusCode::OK, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_body() {
        let x = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;AB&quot;</ETag></Part><Part><ETag>\"cd\"</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>";
        assert_eq!(
            parse_complete(x).unwrap(),
            vec![(1, "ab".to_string()), (2, "cd".to_string())]
        );
        assert!(parse_complete("<Part><PartNumber>x</PartNumber></Part>").is_none());
        assert_eq!(parse_complete("garbage").unwrap(), vec![]);
    }

    proptest::proptest! {
        #[test]
        fn complete_parser_never_panics(x in "\\PC{0,200}") {
            let _ = parse_complete(&x);
            let _ = parse_complete(&format!("<Part><PartNumber>{x}</PartNumber><ETag>{x}</ETag></Part>"));
        }
    }
}
