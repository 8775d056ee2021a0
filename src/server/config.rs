//! Configuration of `vodfs serve`: the account(s), limits and fault plan.
//!
//! `ServerConfig::new` gives the documented defaults (protocol.md §2, §5):
//! 100 calls/min for control actions, 10 000/min for parts, 100/s for
//! each API 3.0 action, two-hour temporary credentials, a 5-minute replay
//! window, 64 MiB bodies, one-day sessions and 180-second presigned URLs.
//! Every field is public so tests and the embedded mode can tune them.

use std::collections::HashMap;
use std::path::PathBuf;

use super::faults::FaultSpec;
use crate::vod::sign;

/// One account of the service.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub secret_id: String,
    pub secret_key: String,
    pub app_id: u64,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never reaches a log.
        f.debug_struct("Account")
            .field("secret_id", &self.secret_id)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// The `verify_key` of this account's FinishUploadEx `verify_content`
    /// (protocol.md §3.2). The real service hands it out in its console; we
    /// derive it: `hex(HMAC-SHA1(SecretKey, "vodfs verify_key"))`.
    pub fn verify_key(&self) -> String {
        hex::encode(sign::hmac_sha1(
            self.secret_key.as_bytes(),
            b"vodfs verify_key",
        ))
    }

    /// The family C bucket name, `<8 hex>vod<region><appId>` (protocol.md §6).
    pub fn bucket(&self) -> String {
        let tag = hex::encode(&sign::hmac_sha1(self.secret_id.as_bytes(), b"bucket")[..4]);
        format!("{tag}vodgzp{}", self.app_id)
    }
}

/// Per-minute request quotas, keyed by SecretId and Action.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// `false` turns every limit off (`--no-rate-limit`).
    pub enabled: bool,
    /// Default quota of control actions (InitUpload, ApplyUpload, …).
    pub control_per_min: u32,
    /// Default quota of part uploads (UploadPart, UploadPartEx, COS parts).
    pub part_per_min: u32,
    /// Default quota of each API 3.0 action per *second* (the cloud's
    /// documented 100/s for ApplyUpload and CommitUpload).
    pub api3_per_sec: u32,
    /// Explicit quotas by Action name, winning over the defaults; API 3.0
    /// actions are named `api3.<Action>` and counted per second.
    pub per_action: HashMap<String, u32>,
}

/// The quota names of API 3.0 actions start with this; their window is
/// one second, not one minute.
pub const API3_QUOTA_PREFIX: &str = "api3.";

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            enabled: true,
            control_per_min: 100,
            part_per_min: 10_000,
            api3_per_sec: 100,
            per_action: HashMap::new(),
        }
    }
}

impl RateLimits {
    /// The length of `action`'s window: one second for API 3.0, one minute
    /// for the older families.
    pub fn window_secs(&self, action: &str) -> u64 {
        if action.starts_with(API3_QUOTA_PREFIX) {
            1
        } else {
            60
        }
    }

    /// The quota of `action` per window ([`RateLimits::window_secs`]).
    pub fn quota(&self, action: &str) -> u32 {
        if let Some(q) = self.per_action.get(action) {
            return *q;
        }
        if action.starts_with(API3_QUOTA_PREFIX) {
            return self.api3_per_sec;
        }
        match action {
            "UploadPart" | "UploadPartEx" | "UploadPartUGC" | "CosPut" => self.part_per_min,
            _ => self.control_per_min,
        }
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Media files, parts and `vodfs.sqlite3` live here.
    pub data_dir: PathBuf,
    /// Base of every playback and presigned URL, without a trailing `/`.
    pub public_url: String,
    /// The main account.
    pub account: Account,
    /// More accounts (tests of 4104 and per-account isolation).
    pub extra_accounts: Vec<Account>,
    pub rate_limits: RateLimits,
    /// Faults injected from the start (changeable at run time).
    pub faults: FaultSpec,
    /// Largest request body accepted, bytes.
    pub max_body: u64,
    /// Allowed |Timestamp - now| and nonce memory, seconds.
    pub replay_window_secs: u64,
    /// Lifetime of a vodSessionKey, seconds.
    pub session_ttl_secs: u64,
    /// Lifetime of a frontwize presigned upload URL, seconds.
    pub presign_ttl_secs: u64,
    /// Smallest COS multipart part except the last (COS: 1 MiB).
    pub cos_min_part_size: u64,
    /// Lifetime of an API 3.0 temporary credential (ApplyUpload's
    /// TempCertificate), seconds; changeable at run time
    /// (`PUT /admin/temp-credential-ttl`).
    pub temp_cred_ttl_secs: u64,
    /// Refuse a TC3 scope naming another service than `vod` (by default the
    /// declared one is used: Node's SDK names `127` for an IP endpoint).
    pub api3_strict_service: bool,
}

impl ServerConfig {
    pub fn new(data_dir: PathBuf, public_url: String, account: Account) -> Self {
        ServerConfig {
            data_dir,
            public_url: public_url.trim_end_matches('/').to_string(),
            account,
            extra_accounts: Vec::new(),
            rate_limits: RateLimits::default(),
            faults: FaultSpec::default(),
            max_body: 64 << 20,
            replay_window_secs: 300,
            session_ttl_secs: 86_400,
            presign_ttl_secs: 180,
            cos_min_part_size: u64::from(crate::vod::rules::parts::COS_MIN_PART),
            temp_cred_ttl_secs: 7200,
            api3_strict_service: false,
        }
    }

    /// The account with this SecretId.
    pub fn account_by_id(&self, secret_id: &str) -> Option<&Account> {
        std::iter::once(&self.account)
            .chain(self.extra_accounts.iter())
            .find(|a| a.secret_id == secret_id)
    }

    /// The account owning this COS bucket (`<bucket>-<appId>`).
    pub fn account_by_bucket(&self, bucket_with_app: &str) -> Option<&Account> {
        std::iter::once(&self.account)
            .chain(self.extra_accounts.iter())
            .find(|a| format!("{}-{}", a.bucket(), a.app_id) == bucket_with_app)
    }
}
