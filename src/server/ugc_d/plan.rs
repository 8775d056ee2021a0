//! What an ApplyUploadUGC promised (the [`Plan`], kept as JSON with the
//! session) and the answer it gives: the storage location, the session
//! key and a temporary credential ([`apply_data`]), the same for a new
//! upload and a resumed one but for the credential.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::server::app::App;
use crate::server::config::Account;
use crate::server::store_api3::TempCred;
use crate::vod::sign::ugc_sign;

/// The COS region of this service (short and v5 forms).
pub const REGION: &str = "gzp";
pub const REGION_V5: &str = "ap-guangzhou";

/// One object of a plan: where it goes and what was declared.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Obj {
    /// Storage path, with its leading `/`.
    pub path: String,
    pub file_type: String,
    pub name: String,
    /// The declared size, checked at commit when given.
    pub size: Option<u64>,
}

/// What ApplyUploadUGC promised, kept with the session key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The video's fileId: a new one, or (cover replacement) the existing
    /// media's.
    pub file_id: u64,
    /// The video to upload (None: a cover replacement).
    pub video: Option<Obj>,
    pub cover: Option<Obj>,
    /// The cover's fileId when there is a cover.
    pub cover_id: Option<u64>,
    /// The account's bucket without `-<appId>`.
    pub bucket: String,
    /// The COS region (v5 form) the client was told to write to.
    #[serde(default = "default_region")]
    pub storage_region: String,
    pub class_id: i64,
    pub procedure: String,
    pub source_context: String,
    pub task_priority: Option<i64>,
    pub task_notify_mode: Option<String>,
}

fn default_region() -> String {
    REGION_V5.to_string()
}

/// The short (v4-era) name of a COS region, as `storageRegion` carries it
/// (`gzp` for ap-guangzhou, `cq` for ap-chongqing, protocol.md §5.4); the
/// v5 name for the others [INF].
pub fn short_region(v5: &str) -> &str {
    match v5 {
        REGION_V5 => REGION,
        "ap-chongqing" => "cq",
        "ap-shanghai" => "sh",
        "ap-beijing" => "bj",
        "ap-chengdu" => "cd",
        other => other,
    }
}

impl Plan {
    /// The object keys (no leading `/`) a credential of the plan may write.
    pub fn keys(&self) -> Vec<String> {
        [&self.video, &self.cover]
            .into_iter()
            .flatten()
            .map(|o| o.path.trim_start_matches('/').to_string())
            .collect()
    }

    /// `<bucket>-<appId>`, the bucket COS requests name.
    pub fn full_bucket(&self, acct: &Account) -> String {
        format!("{}-{}", self.bucket, acct.app_id)
    }
}

/// The host of the service's public URL (the answer's `domain`).
fn domain(app: &App) -> String {
    let u = &app.cfg.public_url;
    let rest = u.split_once("://").map_or(u.as_str(), |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// A COS v4 multi-effect signature of an object (the `storageSignature`
/// the SDKs of the COS v4 era used), signed with the temporary key: the
/// account's key is never in an answer.
fn storage_signature(acct: &Account, plan: &Plan, cred: &TempCred, now: u64, path: &str) -> String {
    let plain = format!(
        "a={}&b={}&k={}&e={}&t={now}&r={}&f={path}",
        acct.app_id,
        plan.bucket,
        cred.secret_id,
        cred.expires_at,
        rand::random::<u32>()
    );
    ugc_sign(&cred.secret_key, &plain)
}

/// ApplyUploadUGC's `data` (protocol.md §5.4; both `storageRegionV5`
/// spellings of protocol-api3.md §2.5).
pub fn apply_data(
    app: &App,
    acct: &Account,
    key: &str,
    plan: &Plan,
    cred: &TempCred,
    now: u64,
) -> Value {
    let obj = |o: &Obj| {
        json!({
            "storageSignature": storage_signature(acct, plan, cred, now, &o.path),
            "storagePath": o.path,
        })
    };
    let mut data = json!({
        "storageAppId": acct.app_id,
        "storageBucket": plan.bucket,
        "storageRegion": short_region(&plan.storage_region),
        "storageRegionV5": plan.storage_region,
        "StorageRegionV5": plan.storage_region,
        "domain": domain(app),
        "vodSessionKey": key,
        "tempCertificate": {
            "secretId": cred.secret_id,
            "secretKey": cred.secret_key,
            "token": cred.token,
            "expiredTime": cred.expires_at,
        },
        "appId": acct.app_id,
        "timestamp": now,
    });
    if let Some(o) = data.as_object_mut() {
        if let Some(v) = &plan.video {
            o.insert("video".into(), obj(v));
        }
        if let Some(c) = &plan.cover {
            o.insert("cover".into(), obj(c));
        }
    }
    data
}
