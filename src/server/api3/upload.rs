//! ApplyUpload and CommitUpload of API 3.0 (protocol-api3.md §2.1–2.3).
//!
//! ApplyUpload validates every parameter (the rules of `vod::rules::api3`),
//! allocates the FileId(s) up front and answers the storage location:
//! bucket `<8 hex>vodgzp<appId>-<appId>` (the family C bucket, so the COS
//! endpoint and the media page treat both alike), keys
//! `/<8 hex><fileId>/f0.<MediaType>` and, with a CoverType,
//! `/<8 hex><fileId>/<fileId+1>.<CoverType>`, an opaque VodSessionKey
//! (base64 of 48 random bytes) and a temporary credential minted for the
//! session (random SecretId `AKID…`, SecretKey and Token; its lifetime is
//! the service's current `temp_cred_ttl`), scoped by the COS endpoint to
//! this bucket and these two keys. Session and credential are one
//! transaction; the session lives `session_ttl_secs` (a day).
//!
//! CommitUpload is idempotent: the answer is stored with the session, and
//! the same key gets the same FileId, MediaUrl and CoverUrl again, so a
//! commit whose answer was lost can be sent again. Unknown, garbled,
//! foreign or expired keys are `InvalidParameterValue.VodSessionKey`; a
//! media (or a declared cover) not yet in COS is `ResourceNotFound` and
//! the key stays usable. Committing links the objects into `media/`,
//! records the media (flow `api3`), spends the objects and stores the
//! answer in one transaction; the credential lives until it expires (a
//! client whose answer was lost may list its upload again).

use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::reply::{Api3Error, fail};
use super::request::Args;
use crate::server::app::App;
use crate::server::clock::unix_now;
use crate::server::config::Account;
use crate::server::error::ServerError;
use crate::server::store::MediaRow;
use crate::server::store_api3::{Api3Media, Api3Session, TempCred};
use crate::vod::rules::api3::{self as rules, codes};

type Result<T> = std::result::Result<T, Api3Error>;

/// The region answered when ApplyUpload names none.
pub const DEFAULT_STORAGE_REGION: &str = "ap-guangzhou";
/// A media's ExpireTime when ApplyUpload gives none.
pub const NEVER_EXPIRES: &str = "9999-12-31T23:59:59Z";

/// What ApplyUpload promised, kept with the session key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Plan {
    file_id: u64,
    /// The account's bucket without `-<appId>` (media URLs use it).
    bucket: String,
    media_path: String,
    media_type: String,
    media_name: String,
    /// `(CoverStoragePath, CoverType)`.
    cover: Option<(String, String)>,
    class_id: i64,
    procedure: String,
    source_context: String,
    session_context: String,
    storage_region: String,
    expire_time: String,
    sub_app_id: Option<i64>,
}

fn invalid(code: &'static str, msg: impl Into<String>) -> Api3Error {
    fail(code, msg)
}

fn chars_at_most(
    args: &Args,
    name: &str,
    max: usize,
    code: &'static str,
) -> Result<Option<String>> {
    match args.string(name)? {
        Some(s) if s.chars().count() > max => Err(invalid(
            code,
            format!("The parameter `{name}` is longer than {max} characters."),
        )),
        Some(s) if s.chars().any(char::is_control) => Err(invalid(
            code,
            format!("The parameter `{name}` contains control characters."),
        )),
        other => Ok(other),
    }
}

/// `SubAppId`: a positive 32-bit id when given.
pub fn sub_app_id(args: &Args) -> Result<Option<i64>> {
    match args.int("SubAppId")? {
        Some(id) if !(1..=i64::from(u32::MAX)).contains(&id) => Err(invalid(
            codes::SUB_APP_ID,
            format!("The SubAppId {id} is not valid."),
        )),
        other => Ok(other),
    }
}

fn storage_region(args: &Args) -> Result<String> {
    let Some(r) = args.string("StorageRegion")? else {
        return Ok(DEFAULT_STORAGE_REGION.to_string());
    };
    // `ap-chongqing`, `ap-guangzhou-2`, `na-siliconvalley`.
    let mut segs = r.split('-');
    let ok = r.len() <= 32
        && segs
            .next()
            .is_some_and(|s| s.len() >= 2 && s.bytes().all(|b| b.is_ascii_lowercase()))
        && segs
            .next()
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase()))
        && segs.all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !ok {
        return Err(invalid(
            codes::STORAGE_REGION,
            format!("The StorageRegion `{r}` is not a storage region."),
        ));
    }
    Ok(r)
}

fn expire_time(args: &Args) -> Result<String> {
    let Some(t) = args.string("ExpireTime")? else {
        return Ok(NEVER_EXPIRES.to_string());
    };
    match rules::parse_iso8601(&t) {
        Some(at) if at > unix_now() => Ok(rules::iso8601(at)),
        Some(_) => Err(invalid(
            codes::EXPIRE_TIME,
            format!("The ExpireTime `{t}` is in the past."),
        )),
        None => Err(invalid(
            codes::EXPIRE_TIME,
            format!("The ExpireTime `{t}` is not ISO 8601 (2030-01-01T00:00:00Z)."),
        )),
    }
}

const APPLY_PARAMS: &[&str] = &[
    "MediaType",
    "SubAppId",
    "MediaName",
    "CoverType",
    "Procedure",
    "ExpireTime",
    "StorageRegion",
    "ClassId",
    "SourceContext",
    "SessionContext",
    "ExtInfo",
    "MediaStoragePath",
];

pub async fn apply_upload(app: &Arc<App>, acct: &Account, args: &Args) -> Result<Value> {
    args.only(APPLY_PARAMS)?;
    let media_type = args.req_string("MediaType")?;
    if !rules::is_media_type(&media_type) {
        return Err(invalid(
            codes::MEDIA_TYPE,
            format!("The MediaType `{media_type}` is not a supported media type."),
        ));
    }
    let media_type = media_type.to_ascii_lowercase();
    let cover_type = match args.string("CoverType")? {
        Some(t) if !rules::is_cover_type(&t) => {
            return Err(invalid(
                codes::COVER_TYPE,
                format!("The CoverType `{t}` is not a supported image type."),
            ));
        }
        t => t.map(|t| t.to_ascii_lowercase()),
    };
    let media_name = chars_at_most(
        args,
        "MediaName",
        rules::MAX_MEDIA_NAME_CHARS,
        codes::INVALID_PARAMETER_VALUE,
    )?
    .unwrap_or_else(|| "video".to_string());
    let class_id = match args.int("ClassId")? {
        Some(c) if !(0..=i64::from(i32::MAX)).contains(&c) => {
            return Err(invalid(
                codes::CLASS_ID,
                format!("The ClassId {c} does not exist."),
            ));
        }
        c => c.unwrap_or(0),
    };
    let procedure = chars_at_most(
        args,
        "Procedure",
        rules::MAX_SHORT_STRING_CHARS,
        codes::PROCEDURE,
    )?;
    let source_context = chars_at_most(
        args,
        "SourceContext",
        rules::MAX_SOURCE_CONTEXT_CHARS,
        codes::INVALID_PARAMETER_VALUE,
    )?;
    let session_context = chars_at_most(
        args,
        "SessionContext",
        rules::MAX_SESSION_CONTEXT_CHARS,
        codes::SESSION_CONTEXT_TOO_LONG,
    )?;
    chars_at_most(
        args,
        "ExtInfo",
        rules::MAX_SHORT_STRING_CHARS,
        codes::INVALID_PARAMETER_VALUE,
    )?;
    if args.has("MediaStoragePath") {
        return Err(invalid(
            codes::MEDIA_STORAGE_PATH,
            "MediaStoragePath is only for sub-apps in FileID + Path mode, which this service does not have.",
        ));
    }
    let sub_app_id = sub_app_id(args)?;
    let storage_region = storage_region(args)?;
    let expire_time = expire_time(args)?;

    let n = if cover_type.is_some() { 2 } else { 1 };
    // Made durable by the session's insert below, before the answer.
    let file_id = app.db_unsynced(move |s| s.alloc_ids(n)).await?;
    let dir = format!("{:08x}{file_id}", rand::random::<u32>());
    let plan = Plan {
        file_id,
        bucket: acct.bucket(),
        media_path: format!("/{dir}/f0.{media_type}"),
        media_type,
        media_name,
        cover: cover_type.map(|t| (format!("/{dir}/{}.{t}", file_id + 1), t)),
        class_id,
        procedure: procedure.unwrap_or_default(),
        source_context: source_context.unwrap_or_default(),
        session_context: session_context.unwrap_or_default(),
        storage_region,
        expire_time,
        sub_app_id,
    };
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 48]>());
    let now = unix_now();
    let bucket_full = format!("{}-{}", plan.bucket, acct.app_id);
    let mut keys = vec![plan.media_path.trim_start_matches('/').to_string()];
    if let Some((p, _)) = &plan.cover {
        keys.push(p.trim_start_matches('/').to_string());
    }
    let cred = TempCred::mint(
        &key,
        &acct.secret_id,
        &bucket_full,
        keys,
        now + app.temp_cred_ttl(),
    );
    let session = Api3Session {
        secret_id: acct.secret_id.clone(),
        body: serde_json::to_string(&plan).map_err(|e| ServerError::Internal(e.to_string()))?,
        expires_at: now + app.cfg.session_ttl_secs,
        result: None,
    };
    let (k, c) = (key.clone(), cred.clone());
    app.db(move |s| s.insert_api3_session(&k, &session, &c))
        .await?;
    Ok(json!({
        "StorageBucket": bucket_full,
        "StorageRegion": plan.storage_region,
        "VodSessionKey": key,
        "MediaStoragePath": plan.media_path,
        "CoverStoragePath": plan.cover.as_ref().map(|(p, _)| p),
        "TempCertificate": {
            "SecretId": cred.secret_id,
            "SecretKey": cred.secret_key,
            "Token": cred.token,
            "ExpiredTime": cred.expires_at,
        },
    }))
}

fn bad_key(why: &str) -> Api3Error {
    invalid(
        codes::VOD_SESSION_KEY,
        format!("The VodSessionKey is not valid: {why}."),
    )
}

pub async fn commit_upload(app: &Arc<App>, acct: &Account, args: &Args) -> Result<Value> {
    args.only(&["VodSessionKey", "SubAppId"])?;
    let key = args.req_string("VodSessionKey")?;
    let sub = sub_app_id(args)?;
    let guard = app.commit_lock.lock().await;
    let k = key.clone();
    let Some(session) = app.db_unsynced(move |s| s.api3_session(&k)).await? else {
        return Err(bad_key("no such upload session"));
    };
    if session.secret_id != acct.secret_id {
        return Err(bad_key("no such upload session"));
    }
    let plan: Plan =
        serde_json::from_str(&session.body).map_err(|e| ServerError::Internal(e.to_string()))?;
    if let (Some(want), Some(got)) = (plan.sub_app_id, sub)
        && want != got
    {
        return Err(invalid(
            codes::SUB_APP_ID,
            format!("The SubAppId {got} is not the one the upload was applied with."),
        ));
    }
    if let Some(done) = &session.result {
        // The same key, the same answer: a commit whose reply was lost
        // (or whose first answer is still waiting for its sync).
        drop(guard);
        app.durable().await?;
        return serde_json::from_str(done).map_err(|e| ServerError::Internal(e.to_string()).into());
    }
    if session.expires_at <= unix_now() {
        return Err(bad_key("the upload session has expired"));
    }
    let bucket = format!("{}-{}", plan.bucket, acct.app_id);
    let mut wanted = vec![("media", plan.media_path.clone())];
    if let Some((path, _)) = &plan.cover {
        wanted.push(("cover", path.clone()));
    }
    let mut objects = Vec::new();
    for (what, path) in &wanted {
        let (b, k) = (bucket.clone(), path.trim_start_matches('/').to_string());
        match app.db_unsynced(move |s| s.object(&b, &k)).await? {
            Some(o) => objects.push(o),
            None => {
                return Err(invalid(
                    codes::RESOURCE_NOT_FOUND,
                    format!("The {what} object {path} has not been uploaded to {bucket}."),
                ));
            }
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
            name: plan.media_name.clone(),
            file_type: plan.media_type.clone(),
            size: 0,
            sha1: String::new(),
            md5: String::new(),
            class_id: plan.class_id,
            tags: Vec::new(),
            procedure: plan.procedure.clone(),
            source_context: plan.source_context.clone(),
            flow: "api3".into(),
            created_at: now,
            url_path: format!("/{}{}", plan.bucket, plan.media_path),
            cover_file_id: cover_id.clone(),
        }
        .sized_by(&objects[0]),
    ];
    if let (Some((path, ty)), Some(cid), Some(o)) = (&plan.cover, &cover_id, objects.get(1)) {
        let url_path = format!("/{}{}", plan.bucket, path);
        let name = plan.media_name.clone();
        let cover = media[0].cover_row(cid.clone(), name, ty.clone(), url_path);
        media.push(cover.sized_by(o));
    }
    let url = |m: &MediaRow| format!("{}{}", app.cfg.public_url, m.url_path);
    let result = json!({
        "FileId": video_id,
        "MediaUrl": url(&media[0]),
        "CoverUrl": media.get(1).map(url),
    });
    let extra = Api3Media {
        file_id: video_id,
        sub_app_id: plan.sub_app_id,
        storage_region: plan.storage_region.clone(),
        expire_time: plan.expire_time.clone(),
        session_context: plan.session_context.clone(),
    };
    let (m2, objs, text) = (media, objects, result.to_string());
    app.db_unsynced(move |s| {
        s.link_objects(&m2, &objs)?;
        let ids: Vec<i64> = objs.iter().map(|o| o.id).collect();
        s.commit_api3(&key, &m2, &extra, &ids, &text)?;
        s.remove_object_files(&objs);
        Ok(())
    })
    .await?;
    // Durable before the answer, but synced outside the commit lock: the
    // commits of concurrent requests share one sync.
    drop(guard);
    app.durable().await?;
    Ok(result)
}
