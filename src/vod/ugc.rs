//! Where a client-upload signature comes from, for both flows of a machine
//! that holds no SecretKey: family D (`--protocol ugc`, ApplyUploadUGC /
//! CommitUploadUGC, the §4 "v5" signature, made by
//! [`super::client_upload`]) and family B (`--protocol ugc-ex`, UGC v4,
//! protocol.md §3, whose calls InitUploadEx / UploadPartEx / FinishUploadEx
//! share their wire format with family A and are made by
//! [`V4Client::ugc`](super::v4::V4Client::ugc)).
//!
//! Design decisions:
//! - A UGC client holds no SecretKey: a [`SignatureProvider`] is asked for
//!   signatures. [`SignRequest::format`] says which kind: a family B one
//!   carries the file's sha, name and type and authenticates all three
//!   calls; a family D one carries the settings (classId, procedure,
//!   sourceContext) and its expiry, is asked for per call
//!   ([`SignRequest::action`]) and reused only while it is not one-time.
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

/// Which client-upload signature a flow needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureFormat {
    /// The §4 "v5" signature of ApplyUploadUGC / CommitUploadUGC (family D):
    /// `secretId, currentTimeStamp, expireTime, random, oneTimeValid` and
    /// the settings; nothing of the file.
    #[default]
    V5,
    /// The §3.1 UGC v4 signature of InitUploadEx (family B): the file's
    /// name, sha and type, and the settings.
    V4,
}

impl SignatureFormat {
    /// The name a signer is told (`VODFS_SIGNATURE`, `signature=`).
    pub fn name(self) -> &'static str {
        match self {
            SignatureFormat::V5 => "v5",
            SignatureFormat::V4 => "v4",
        }
    }

    /// The format of `name` (`v5`, `v4`).
    pub fn parse(name: &str) -> Option<Self> {
        [SignatureFormat::V5, SignatureFormat::V4]
            .into_iter()
            .find(|f| f.name() == name)
    }
}

/// What a signer is told about the file to sign for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignRequest {
    pub file_sha: String,
    pub file_name: String,
    pub file_type: String,
    pub file_size: u64,
    pub settings: UploadSettings,
    /// Which signature is wanted.
    pub format: SignatureFormat,
    /// The call the signature is for (`ApplyUploadUGC`, `CommitUploadUGC`,
    /// `InitUploadEx`): a signer making one-time signatures makes one per
    /// call.
    pub action: &'static str,
}

/// A source of UGC signatures.
pub trait SignatureProvider: Send + Sync + 'static {
    fn signature<'a>(&'a self, req: &'a SignRequest) -> BoxFuture<'a, Result<String, VodError>>;
}

/// The upload settings a signer signs in, as (name, value) pairs: the
/// query parameters of a [`UrlSigner`] request, and (upper-cased with a
/// `VODFS_` prefix) the environment of a [`CommandSigner`]: `classId`
/// (`VODFS_CLASS_ID`), `procedure`, `sourceContext`
/// (`VODFS_SOURCE_CONTEXT`), `tags` (comma-separated), `transcode`,
/// `screenshot`, `watermark` (1 or 0). Family D signs classId, procedure
/// and sourceContext; family B classId, tags and the three flags.
pub fn settings_pairs(s: &UploadSettings) -> Vec<(&'static str, &'static str, String)> {
    let mut out = Vec::new();
    if let Some(c) = s.class_id {
        out.push(("classId", "VODFS_CLASS_ID", c.to_string()));
    }
    if let Some(p) = &s.procedure {
        out.push(("procedure", "VODFS_PROCEDURE", p.clone()));
    }
    if let Some(c) = &s.source_context {
        out.push(("sourceContext", "VODFS_SOURCE_CONTEXT", c.clone()));
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

/// What a family D client reads of a "v5" signature it was given (it
/// cannot check the HMAC: it holds no key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V5Terms {
    /// `expireTime`, Unix seconds.
    pub expire_time: u64,
    /// `oneTimeValid=1`: good for one call only.
    pub one_time: bool,
}

impl V5Terms {
    /// The terms of `signature`, or why it is not a "v5" signature.
    pub fn read(signature: &str) -> Result<Self, String> {
        let env = UgcEnvelope::decode(signature).map_err(|e| e.to_string())?;
        let expire_time = env
            .field("expireTime")
            .and_then(|v| v.parse().ok())
            .ok_or("it has no expireTime (a v4 signature? the signer must make v5 ones)")?;
        Ok(V5Terms {
            expire_time,
            one_time: env.field("oneTimeValid").as_deref() == Some("1"),
        })
    }

    /// Whether it may be used again (not one-time, valid another minute).
    pub fn reusable(&self) -> bool {
        !self.one_time && self.expire_time > now() + 60
    }
}

/// Signs with a SecretId/SecretKey at hand.
#[derive(Debug, Clone)]
pub struct LocalSigner {
    creds: Credentials,
    /// How long a signature lives (at most 90 days).
    pub validity: Duration,
    /// The `uid` field: the app's user id (v4 signatures).
    pub uid: String,
    /// `oneTimeValid=1` in v5 signatures.
    pub one_time: bool,
    /// `taskPriority` of v5 signatures (−10 … 10).
    pub task_priority: Option<i8>,
    /// `taskNotifyMode` of v5 signatures (`Finish`, `Change`, `None`).
    pub task_notify_mode: Option<String>,
}

impl LocalSigner {
    pub fn new(creds: Credentials) -> Self {
        LocalSigner {
            creds,
            validity: Duration::from_secs(24 * 3600),
            uid: "vodfs".into(),
            one_time: false,
            task_priority: None,
            task_notify_mode: None,
        }
    }

    /// The signature `req.format` asks for, made at time `t` with random `r`.
    pub fn sign_for_at(&self, req: &SignRequest, t: u64, r: u32) -> String {
        match req.format {
            SignatureFormat::V4 => self.sign_at(req, t, r),
            SignatureFormat::V5 => self.sign_v5_at(&req.settings, t, r),
        }
    }

    /// The §4 "v5" signature (family D) with `settings` made at time `t`
    /// with random `r`: secretId, currentTimeStamp, expireTime, random,
    /// then classId, procedure, taskPriority, taskNotifyMode, sourceContext
    /// when set, and oneTimeValid; values URL-encoded.
    pub fn sign_v5_at(&self, settings: &UploadSettings, t: u64, r: u32) -> String {
        let e = t + self.validity.as_secs().min(7_776_000);
        let mut fields: Vec<(String, String)> = vec![
            ("secretId".into(), self.creds.secret_id.clone()),
            ("currentTimeStamp".into(), t.to_string()),
            ("expireTime".into(), e.to_string()),
            ("random".into(), r.to_string()),
        ];
        if let Some(c) = settings.class_id {
            fields.push(("classId".into(), c.to_string()));
        }
        if let Some(p) = &settings.procedure {
            fields.push(("procedure".into(), p.clone()));
        }
        if let Some(p) = self.task_priority {
            fields.push(("taskPriority".into(), p.to_string()));
        }
        if let Some(m) = &self.task_notify_mode {
            fields.push(("taskNotifyMode".into(), m.clone()));
        }
        if let Some(c) = &settings.source_context {
            fields.push(("sourceContext".into(), c.clone()));
        }
        fields.push(("oneTimeValid".into(), u8::from(self.one_time).to_string()));
        sign::ugc_sign(self.creds.secret_key(), &sign::encode_query(&fields))
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
        let sig = self.sign_for_at(req, now(), rand::random_range(1..=u32::MAX));
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

/// Asks the app's signing service: `GET URL?signature=v5|v4&action=…&fileSha=…&fileName=…&fileType=…&fileSize=…`
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
                .append_pair("signature", req.format.name())
                .append_pair("action", req.action)
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

/// Runs a command with `VODFS_SIGNATURE` (`v5` or `v4`), `VODFS_UGC_ACTION`
/// (the call), `VODFS_FILE_SHA`, `VODFS_FILE_NAME`,
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
                .env("VODFS_SIGNATURE", req.format.name())
                .env("VODFS_UGC_ACTION", req.action)
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
            format: SignatureFormat::V4,
            action: "InitUploadEx",
        }
    }

    #[test]
    fn v5_signatures_carry_every_field_and_verify() {
        let mut signer = LocalSigner::new(Credentials::new("AKIDx", KEY));
        signer.validity = Duration::from_secs(86_400);
        signer.one_time = true;
        signer.task_priority = Some(-3);
        signer.task_notify_mode = Some("Finish".into());
        let settings = UploadSettings {
            class_id: Some(0),
            procedure: Some("QCVB_SimpleProcessFile(1, 1)".into()),
            source_context: Some("a&b=c".into()),
            ..Default::default()
        };
        let sig = signer.sign_v5_at(&settings, 1_500_000_000, 12345);
        let env = UgcEnvelope::decode(&sig).unwrap();
        env.verify(KEY).unwrap();
        assert_eq!(
            env.original,
            "secretId=AKIDx&currentTimeStamp=1500000000&expireTime=1500086400&random=12345\
             &classId=0&procedure=QCVB_SimpleProcessFile%281%2C%201%29&taskPriority=-3\
             &taskNotifyMode=Finish&sourceContext=a%26b%3Dc&oneTimeValid=1"
        );
        let terms = V5Terms::read(&sig).unwrap();
        assert_eq!(
            terms,
            V5Terms {
                expire_time: 1_500_086_400,
                one_time: true
            }
        );
        assert!(!terms.reusable());
        signer.one_time = false;
        let fresh = signer.sign_v5_at(&UploadSettings::default(), now(), 1);
        assert!(V5Terms::read(&fresh).unwrap().reusable());
        assert!(
            UgcEnvelope::decode(&fresh)
                .unwrap()
                .original
                .ends_with("&oneTimeValid=0")
        );
        // A v4 signature is not what a family D client can use.
        let v4 = signer.sign_at(&req(), now(), 1);
        assert!(V5Terms::read(&v4).unwrap_err().contains("expireTime"));
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
