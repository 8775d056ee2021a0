//! Family B, UGC v4 (protocol.md §3): where a per-file UGC signature comes
//! from. The calls themselves (InitUploadEx / UploadPartEx / FinishUploadEx)
//! share their wire format and answer handling with family A and are made by
//! [`V4Client::ugc`](super::v4::V4Client::ugc).
//!
//! Design decisions:
//! - A UGC client holds no SecretKey: a [`SignatureProvider`] is asked for
//!   one signature per file (it carries the file's sha, name and type) and
//!   the same signature authenticates all three calls, as documented.
//! - Providers: [`LocalSigner`] (a SecretId/SecretKey at hand: tests,
//!   `vodfs sign ugc`), [`UrlSigner`] (the app's signing service, a GET
//!   with fileSha, fileName, fileType, fileSize; the body is the signature)
//!   and [`CommandSigner`] (the same values in the environment of a
//!   command; its stdout is the signature).
//! - The upload settings go to the url and command signers too
//!   ([`settings_pairs`]), since they travel inside the signature.
//! - The signature is kept in the session token, so a resumed upload reuses
//!   it while it is valid for at least another minute, and asks for a new
//!   one otherwise.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;

use super::credentials::Credentials;
use super::error::{VodError, VodErrorKind};
use super::flow::UploadSettings;
use super::rules::settings::MAX_TAGS;
use super::sign::{self, UgcEnvelope};
use crate::report::chain as error_chain;

/// What a signer is told about the file to sign for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignRequest {
    pub file_sha: String,
    pub file_name: String,
    pub file_type: String,
    pub file_size: u64,
    pub settings: UploadSettings,
}

/// A source of UGC signatures.
pub trait SignatureProvider: Send + Sync + 'static {
    fn signature<'a>(&'a self, req: &'a SignRequest) -> BoxFuture<'a, Result<String, VodError>>;
}

/// The upload settings a signer signs in, as (name, value) pairs: the
/// query parameters of a [`UrlSigner`] request, and (upper-cased with a
/// `VODFS_` prefix) the environment of a [`CommandSigner`]: `classId`
/// (`VODFS_CLASS_ID`), `tags` (comma-separated), `transcode`, `screenshot`,
/// `watermark` (1 or 0).
pub fn settings_pairs(s: &UploadSettings) -> Vec<(&'static str, &'static str, String)> {
    let mut out = Vec::new();
    if let Some(c) = s.class_id {
        out.push(("classId", "VODFS_CLASS_ID", c.to_string()));
    }
    if !s.tags.is_empty() {
        let tags: Vec<&str> = s.tags.iter().take(MAX_TAGS).map(String::as_str).collect();
        out.push(("tags", "VODFS_TAGS", tags.join(",")));
    }
    for (q, env, v) in [
        ("transcode", "VODFS_TRANSCODE", s.transcode),
        ("screenshot", "VODFS_SCREENSHOT", s.screenshot),
        ("watermark", "VODFS_WATERMARK", s.watermark),
    ] {
        if let Some(v) = v {
            out.push((q, env, u8::from(v).to_string()));
        }
    }
    out
}

/// The action name used in signer errors.
const SIGNER: &str = "UGC signer";

fn signer_error(why: impl Into<String>) -> VodError {
    VodError::new(SIGNER, VodErrorKind::Request(why.into()))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The expiry (`e`) inside a signature, if it can be read.
pub fn expiry(signature: &str) -> Option<u64> {
    UgcEnvelope::decode(signature)
        .ok()?
        .field("e")?
        .parse()
        .ok()
}

/// Whether a saved signature may still be used for a while.
pub fn still_valid(signature: &str) -> bool {
    expiry(signature).is_some_and(|e| e > now() + 60)
}

/// Signs with a SecretId/SecretKey at hand.
#[derive(Debug, Clone)]
pub struct LocalSigner {
    creds: Credentials,
    /// How long a signature lives (at most 90 days).
    pub validity: Duration,
    /// The `uid` field: the app's user id.
    pub uid: String,
}

impl LocalSigner {
    pub fn new(creds: Credentials) -> Self {
        LocalSigner {
            creds,
            validity: Duration::from_secs(24 * 3600),
            uid: "vodfs".into(),
        }
    }

    /// The signature for `req` made at time `t` with random `r`.
    pub fn sign_at(&self, req: &SignRequest, t: u64, r: u32) -> String {
        let e = t + self.validity.as_secs().min(7_776_000);
        let mut fields: Vec<(String, String)> = vec![
            ("s".into(), self.creds.secret_id.clone()),
            ("t".into(), t.to_string()),
            ("e".into(), e.to_string()),
            ("r".into(), r.to_string()),
            ("f".into(), req.file_name.clone()),
            ("fs".into(), req.file_sha.clone()),
            ("ft".into(), req.file_type.clone()),
            ("uid".into(), self.uid.clone()),
        ];
        let s = &req.settings;
        if let Some(tc) = s.transcode {
            fields.push(("tc".into(), u8::from(tc).to_string()));
            if tc {
                if let Some(v) = s.screenshot {
                    fields.push(("ss".into(), u8::from(v).to_string()));
                }
                if let Some(v) = s.watermark {
                    fields.push(("wm".into(), u8::from(v).to_string()));
                }
            }
        }
        if let Some(c) = s.class_id {
            fields.push(("cid".into(), c.to_string()));
        }
        for (i, tag) in s.tags.iter().take(MAX_TAGS).enumerate() {
            fields.push((format!("tag.{}", i + 1), tag.clone()));
        }
        sign::ugc_sign(self.creds.secret_key(), &sign::encode_query(&fields))
    }
}

impl SignatureProvider for LocalSigner {
    fn signature<'a>(&'a self, req: &'a SignRequest) -> BoxFuture<'a, Result<String, VodError>> {
        let sig = self.sign_at(req, now(), rand::random_range(1..=u32::MAX));
        Box::pin(async move { Ok(sig) })
    }
}

fn check_signature(body: &str) -> Result<String, VodError> {
    let sig = body.trim().to_string();
    match UgcEnvelope::decode(&sig) {
        Ok(_) => Ok(sig),
        Err(e) => Err(signer_error(format!("answer is not a UGC signature: {e}"))),
    }
}

/// Asks the app's signing service: `GET URL?fileSha=…&fileName=…&fileType=…&fileSize=…`
/// (and the settings of [`settings_pairs`]).
#[derive(Debug, Clone)]
pub struct UrlSigner {
    url: url::Url,
    http: reqwest::Client,
}

impl UrlSigner {
    pub fn new(url: &str) -> Result<Self, VodError> {
        let url = url::Url::parse(url).map_err(|e| signer_error(format!("signer url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(signer_error("signer url must be http or https"));
        }
        let http = super::tls::client_builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| signer_error(format!("http client: {e}")))?;
        Ok(UrlSigner { url, http })
    }
}

impl SignatureProvider for UrlSigner {
    fn signature<'a>(&'a self, req: &'a SignRequest) -> BoxFuture<'a, Result<String, VodError>> {
        Box::pin(async move {
            let mut url = self.url.clone();
            url.query_pairs_mut()
                .append_pair("fileSha", &req.file_sha)
                .append_pair("fileName", &req.file_name)
                .append_pair("fileType", &req.file_type)
                .append_pair("fileSize", &req.file_size.to_string());
            for (name, _, value) in settings_pairs(&req.settings) {
                url.query_pairs_mut().append_pair(name, &value);
            }
            let transport = |e: reqwest::Error| {
                VodError::new(
                    SIGNER,
                    VodErrorKind::Transport {
                        timeout: e.is_timeout(),
                        message: error_chain(&e.without_url()),
                    },
                )
            };
            let resp = self.http.get(url).send().await.map_err(transport)?;
            let status = resp.status().as_u16();
            if status != 200 {
                return Err(VodError::new(SIGNER, VodErrorKind::Status { status }));
            }
            let body = resp.text().await.map_err(transport)?;
            check_signature(&body)
        })
    }
}

/// Runs a command with `VODFS_FILE_SHA`, `VODFS_FILE_NAME`,
/// `VODFS_FILE_TYPE`, `VODFS_FILE_SIZE` (and the settings of
/// [`settings_pairs`]) in its environment (through `sh -c`); its stdout is
/// the signature.
#[derive(Debug, Clone)]
pub struct CommandSigner {
    pub command: String,
}

impl SignatureProvider for CommandSigner {
    fn signature<'a>(&'a self, req: &'a SignRequest) -> BoxFuture<'a, Result<String, VodError>> {
        Box::pin(async move {
            let mut cmd = tokio::process::Command::new("sh");
            for (_, env, value) in settings_pairs(&req.settings) {
                cmd.env(env, value);
            }
            let out = cmd
                .arg("-c")
                .arg(&self.command)
                .env("VODFS_FILE_SHA", &req.file_sha)
                .env("VODFS_FILE_NAME", &req.file_name)
                .env("VODFS_FILE_TYPE", &req.file_type)
                .env("VODFS_FILE_SIZE", req.file_size.to_string())
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output()
                .await
                .map_err(|e| signer_error(format!("running the signer command: {e}")))?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                let first = err.lines().next().unwrap_or("").trim();
                return Err(signer_error(format!(
                    "signer command failed ({}): {first}",
                    out.status
                )));
            }
            check_signature(&String::from_utf8_lossy(&out.stdout))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "bLcPnl88WU30VY57ipRhSePfPdOfSruK";

    fn req() -> SignRequest {
        SignRequest {
            file_sha: "a9993e364706816aba3e25717850c26c9cd0d89d".into(),
            file_name: "tencent test".into(),
            file_type: "mp4".into(),
            file_size: 3,
            settings: UploadSettings {
                class_id: Some(3),
                tags: vec!["a&b".into()],
                ..Default::default()
            },
        }
    }

    #[test]
    fn local_signatures_verify_and_carry_the_file() {
        let signer = LocalSigner::new(Credentials::new("AKIDx", KEY));
        let sig = signer.sign_at(&req(), 1_500_000_000, 12345);
        let env = UgcEnvelope::decode(&sig).unwrap();
        env.verify(KEY).unwrap();
        assert_eq!(env.field("s").as_deref(), Some("AKIDx"));
        assert_eq!(env.field("f").as_deref(), Some("tencent test"));
        assert_eq!(env.field("fs").as_deref(), Some(req().file_sha.as_str()));
        assert_eq!(env.field("ft").as_deref(), Some("mp4"));
        assert_eq!(env.field("cid").as_deref(), Some("3"));
        assert_eq!(env.field("tag.1").as_deref(), Some("a&b"));
        assert_eq!(env.field("r").as_deref(), Some("12345"));
        assert_eq!(expiry(&sig), Some(1_500_000_000 + 24 * 3600));
        assert!(!still_valid(&sig));
        assert!(still_valid(&signer.sign_at(&req(), now(), 1)));
        assert!(!still_valid("garbage"));
    }

    #[tokio::test]
    async fn command_signer_passes_the_file_and_checks_the_answer() {
        let good = LocalSigner::new(Credentials::new("AKIDx", KEY)).sign_at(&req(), now(), 7);
        let cmd = CommandSigner {
            command: format!(
                "test \"$VODFS_FILE_NAME\" = 'tencent test' && test \"$VODFS_FILE_SIZE\" = 3 && echo '{good}'"
            ),
        };
        assert_eq!(cmd.signature(&req()).await.unwrap(), good);
        let bad = CommandSigner {
            command: "echo nope".into(),
        };
        assert!(bad.signature(&req()).await.is_err());
        let failing = CommandSigner {
            command: "echo broken >&2; exit 3".into(),
        };
        let e = failing.signature(&req()).await.unwrap_err();
        assert!(e.to_string().contains("broken"), "{e}");
    }
}
