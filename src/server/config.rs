//! Configuration of `vodfs serve`: the account(s), limits and fault plan.
//!
//! `ServerConfig::new` gives the documented defaults (protocol.md §2, §5):
//! 100 calls/min for control actions, 10 000/min for parts, 100/s for
//! each API 3.0 action, two-hour temporary credentials, a 5-minute replay
//! window, 64 MiB bodies, one-day sessions and 180-second presigned URLs;
//! 20 s to send headers (and idle), 30 s between body bytes, 256
//! connections, 3 s of grace at shutdown (README "Limits").
//! Every field is public so tests and the embedded mode can tune them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Largest request body accepted by the VOD API endpoints, bytes.
    pub max_body: u64,
    /// Largest object body (COS PutObject, UploadPart) accepted, bytes:
    /// COS's own bound, 5 GiB. Bodies go to a file as they arrive, so it
    /// bounds disk, not memory.
    pub max_object_body: u64,
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
    /// How long a connection may take to send a request's headers, counted
    /// from the end of the previous answer (so also the idle timeout of a
    /// kept-alive connection).
    pub header_timeout: Duration,
    /// Longest wait for the next bytes of a request body.
    pub body_timeout: Duration,
    /// Most connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// How long in-flight requests may run on after a shutdown is asked
    /// before their connections are cut.
    pub shutdown_grace: Duration,
    /// More Host names a signed request may name (`--host`; the listen
    /// address is added by `vodfs serve`). See [`ServerConfig::answers_to`].
    pub hosts: Vec<String>,
}

/// The cloud endpoints the service emulates: a request signed for one of
/// them is one for this service (protocol.md §1, §8).
pub const CLOUD_HOSTS: &[&str] = &[
    "vod2.qcloud.com",
    "vod.api.qcloud.com",
    "vod2.dnsv1.com",
    "vod.tencentcloudapi.com",
    "api.vod.frontwize.com",
];

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
            max_object_body: crate::vod::rules::parts::COS_MAX_PART,
            replay_window_secs: 300,
            session_ttl_secs: crate::vod::rules::ugc_d::SESSION_SECS,
            presign_ttl_secs: 180,
            cos_min_part_size: u64::from(crate::vod::rules::parts::COS_MIN_PART),
            temp_cred_ttl_secs: 7200,
            api3_strict_service: false,
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(30),
            max_connections: 256,
            shutdown_grace: Duration::from_secs(3),
            hosts: Vec::new(),
        }
    }

    /// Whether a request signed for `host` (a Host header) is one for this
    /// service: a loopback name (any port: a local proxy in front), the
    /// public URL's host, a configured name ([`ServerConfig::hosts`]) or an
    /// emulated cloud endpoint ([`CLOUD_HOSTS`]); names compare without
    /// case, a name given without a port matches any port.
    pub fn answers_to(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let (name, _) = split_port(&host);
        if name == "localhost"
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
        {
            return true;
        }
        let public = self
            .public_url
            .split_once("://")
            .map_or(self.public_url.as_str(), |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or("");
        std::iter::once(public)
            .chain(self.hosts.iter().map(String::as_str))
            .chain(CLOUD_HOSTS.iter().copied())
            .map(str::to_ascii_lowercase)
            .any(|known| match split_port(&known) {
                (n, None) => n == name,
                _ => known == host,
            })
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

/// `name[:port]` or `[v6][:port]` → the name (brackets stripped) and port.
fn split_port(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[') {
        let (name, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (name, after.strip_prefix(':'));
    }
    match host.rsplit_once(':') {
        Some((n, p)) if !n.contains(':') => (n, Some(p)),
        _ => (host, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_to_its_own_names_only() {
        let acct = Account {
            secret_id: "a".into(),
            secret_key: "k".into(),
            app_id: 1,
        };
        let mut c = ServerConfig::new("/tmp".into(), "http://vod.example:8700".into(), acct);
        c.hosts.push("192.0.2.7:8700".into());
        c.hosts.push("nas".into());
        for ok in [
            "127.0.0.1:8700",
            "localhost:9",
            "[::1]:8700",
            "vod.example:8700",
            "VOD.example:8700",
            "192.0.2.7:8700",
            "nas:1234",
            "vod2.qcloud.com",
            "vod.api.qcloud.com:443",
        ] {
            assert!(c.answers_to(ok), "{ok}");
        }
        for no in [
            "evil.example",
            "vod.example:8701",
            "192.0.2.7:8701",
            "127.0.0.1.evil.example",
        ] {
            assert!(!c.answers_to(no), "{no}");
        }
    }
}
