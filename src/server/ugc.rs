//! Family B: InitUploadEx / UploadPartEx / FinishUploadEx (aliases
//! `*UploadUGC`), authenticated only by the UGC v4 signature.
//!
//! The signature (`signature` or `Signature`) is verified over its exact
//! embedded bytes, then its expiry `e` is enforced. File name (`f`), sha
//! (`fs`), type (`ft`), class (`cid`) and tags (`tag.n`) come from inside
//! it; a `fileSha` in the query, if present, must agree with `fs`. The same
//! signature serves all three calls of one file (no nonce). Rate limits are
//! counted against the SecretId `s` inside the signature. The check
//! ([`claims_of`]) is run by the request guard (`guard.rs`) through the
//! v2 endpoint's scheme (`v2.rs`); [`handle`] gets the verified claims.

use std::sync::Arc;

use axum::body::Body;
use serde_json::{Value, json};

use super::app::App;
use super::clock::unix_now;
use super::error::{ServerError, bad, v2_ok};
use super::params::Params;
use super::v4::{self, InitSpec};
use crate::vod::rules::names::{check_hex, check_name, check_type};
use crate::vod::sign::{self, UgcEnvelope};

type Result<T> = std::result::Result<T, ServerError>;

/// Longest validity of a UGC signature (90 days).
pub const MAX_VALIDITY: u64 = 7_776_000;

/// The verified contents of a UGC signature.
#[derive(Debug, Clone)]
pub struct UgcClaims {
    pub secret_id: String,
    pub name: String,
    pub sha: String,
    pub file_type: String,
    pub class_id: i64,
    pub tags: Vec<String>,
    pub procedure: String,
}

/// Decodes and verifies a UGC v4 signature at time `now`.
pub fn verify(app: &App, signature: &str, now: u64) -> Result<UgcClaims> {
    let env = UgcEnvelope::decode(signature).map_err(|_| ServerError::BadSignature)?;
    let fields = Params {
        pairs: env.fields(),
    };
    let secret_id = fields.req("s").map_err(|_| ServerError::BadSignature)?;
    let acct = app
        .cfg
        .account_by_id(secret_id)
        .ok_or(ServerError::UnknownSecretId)?;
    env.verify(&acct.secret_key)
        .map_err(|_| ServerError::BadSignature)?;
    let t = fields.u64("t")?;
    let e = fields.u64("e")?;
    if e <= now {
        return Err(ServerError::SignatureExpired);
    }
    // Signed in the future (beyond the clock skew the v2 window allows):
    // refused like an expired one.
    if t > now.saturating_add(app.cfg.replay_window_secs) {
        return Err(ServerError::SignatureExpired);
    }
    if e < t || e - t > MAX_VALIDITY {
        return Err(bad("signature", "expiry e must be within 90 days of t"));
    }
    let name = fields.req("f")?.to_string();
    check_name("f", &name)?;
    let class_id = fields.opt_i64("cid")?.unwrap_or(0);
    Ok(UgcClaims {
        secret_id: secret_id.to_string(),
        name,
        sha: check_hex("fs", fields.req("fs")?, 40)?,
        file_type: check_type("ft", fields.req("ft")?)?,
        class_id,
        tags: fields.tags(),
        procedure: fields.get("procedure").unwrap_or_default().to_string(),
    })
}

/// Handles a family B call of an authenticated, admitted caller (the
/// request guard checked the signature and the rate limit).
pub async fn handle(
    app: &Arc<App>,
    action: &str,
    claims: UgcClaims,
    p: &Params,
    body: Body,
) -> Result<Value> {
    let sid = claims.secret_id.clone();
    match action {
        "InitUploadEx" | "InitUploadUGC" => {
            let spec = InitSpec {
                name: claims.name,
                file_type: claims.file_type,
                sha: claims.sha,
                size: p.u64("fileSize")?,
                data_size: p.u64("dataSize")?,
                class_id: claims.class_id,
                tags: claims.tags,
                procedure: claims.procedure,
                flow: "B",
            };
            v4::init_upload(app, &sid, spec).await.map(v2_ok)
        }
        "UploadPartEx" | "UploadPartUGC" => {
            let (offset, size) = match (p.u64("offset"), p.u64("dataSize")) {
                (Ok(o), Ok(s)) => (o, s),
                (Err(e), _) | (_, Err(e)) => {
                    super::body::discard(body).await;
                    return Err(e);
                }
            };
            let md5 = p.req("dataMd5")?.to_string();
            v4::upload_part(app, &sid, &claims.sha, offset, size, &md5, body)
                .await
                .map(v2_ok)
        }
        _ => {
            let m = v4::finish_upload(app, &sid, &claims.sha).await?;
            let acct = app
                .cfg
                .account_by_id(&sid)
                .ok_or(ServerError::UnknownSecretId)?;
            let exp = unix_now() + 3600;
            Ok(v2_ok(json!({
                "fileId": m.file_id,
                "url": v4::media_url(app, &m),
                "verify_content": sign::verify_content(&acct.verify_key(), exp, &m.file_id),
            })))
        }
    }
}

/// The verified claims of a request's UGC signature, which must agree
/// with its `fileSha` if it has one.
pub fn claims_of(app: &App, p: &Params) -> Result<UgcClaims> {
    let sig = p
        .get("signature")
        .or_else(|| p.get("Signature"))
        .ok_or_else(|| ServerError::MissingParam("signature".into()))?;
    let claims = verify(app, sig, unix_now())?;
    if let Some(q) = p.get("fileSha")
        && !q.eq_ignore_ascii_case(&claims.sha)
    {
        return Err(bad("fileSha", "differs from fs in the signature"));
    }
    Ok(claims)
}
