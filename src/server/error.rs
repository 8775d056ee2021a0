//! The one error type of the service and its mapping to v2 JSON bodies.
//!
//! Two dialects share the v2 body shape `{code, message, codeDesc, canRetry}`
//! (protocol.md §7): the vod2 upload APIs answer negative codes (−10001 …
//! −10006), the vod.api ones (ApplyUpload, CommitUpload, Report) answer the
//! common 4000–6200 codes; the table is `vod::rules::codes`. HTTP status is always 200 for both, as the SDKs
//! never look at it. COS and frontwize render the same errors their own way
//! (`cos/object.rs`, `frontwize.rs`).

use serde_json::{Value, json};

use crate::vod::rules::codes::{self, Code};
use crate::vod::rules::names::RuleError;

/// Which family of codes a v2 action answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// vod2 upload APIs: negative codes.
    Vod2,
    /// vod.api general APIs: 4000–6200 codes.
    Api,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("missing parameter {0}")]
    MissingParam(String),
    #[error("invalid parameter {name}: {why}")]
    BadParam { name: String, why: String },
    #[error("unknown action {0}")]
    UnknownAction(String),
    #[error("signature does not match")]
    BadSignature,
    #[error("signed for {0}, a Host this service does not answer to")]
    ForeignHost(String),
    #[error("signature expired")]
    SignatureExpired,
    #[error("secret id does not exist")]
    UnknownSecretId,
    #[error("nonce {0} already used")]
    ReplayedNonce(String),
    #[error("timestamp {0} is outside the allowed window")]
    StaleTimestamp(String),
    #[error("request limit exceeded for {0}, retry later")]
    RateLimited(String),
    #[error("request body exceeds {0} bytes")]
    BodyTooLarge(u64),
    #[error("invalid packet size: received {received} bytes, expected {expected}")]
    PartSize { received: u64, expected: u64 },
    #[error("part md5 mismatch: dataMd5 {expected}, received bytes hash to {actual}")]
    Md5Mismatch { expected: String, actual: String },
    #[error("offset {offset} is not a multiple of dataSize {data_size}")]
    Misaligned { offset: u64, data_size: u64 },
    #[error("no upload in progress for fileSha {0}")]
    NoSuchUpload(String),
    /// The parts a FinishUpload lacks: their count and the first few
    /// gaps as `(offset, end)` byte ranges (bounded, whatever the size).
    #[error("missing parts: {count} parts missing, in byte ranges {}", show_ranges(.gaps))]
    MissingParts { count: u64, gaps: Vec<(u64, u64)> },
    #[error("file sha mismatch: fileSha {expected}, parts hash to {actual}")]
    ShaMismatch { expected: String, actual: String },
    #[error("invalid vodSessionKey: {0}")]
    BadSession(&'static str),
    #[error("{0} object not uploaded")]
    ObjectMissing(&'static str),
    #[error("not found")]
    NotFound,
    #[error("injected fault")]
    InjectedFault,
    #[error("storage failure")]
    Db(#[from] rusqlite::Error),
    #[error("storage failure")]
    Io(#[from] std::io::Error),
    #[error("internal failure: {0}")]
    Internal(String),
}

/// A parameter the protocol rules refuse (`vod::rules::names`).
impl From<RuleError> for ServerError {
    fn from(e: RuleError) -> Self {
        ServerError::BadParam {
            name: e.param,
            why: e.why.to_string(),
        }
    }
}

/// Shorthand for a bad-parameter error.
/// Missing byte ranges as a message says them: `[a, b)`, `…` when more.
fn show_ranges(gaps: &[(u64, u64)]) -> String {
    let shown: Vec<String> = gaps.iter().map(|(a, b)| format!("[{a}, {b})")).collect();
    shown.join(", ")
}

pub fn bad(name: &str, why: impl Into<String>) -> ServerError {
    ServerError::BadParam {
        name: name.to_string(),
        why: why.into(),
    }
}

impl ServerError {
    /// `(code, codeDesc, canRetry)` in a dialect.
    pub fn v2_code(&self, d: Dialect) -> (i64, &'static str, bool) {
        let c = self.code(d);
        (c.code, c.desc, c.can_retry)
    }

    /// The entry of the code table ([`codes`]) this error answers in a dialect.
    fn code(&self, d: Dialect) -> Code {
        use Dialect::*;
        use ServerError::*;
        match (self, d) {
            (MissingParam(_) | UnknownAction(_), Vod2) => codes::VOD2_INVALID_ARG,
            (MissingParam(_) | BadParam { .. } | UnknownAction(_), Api) => codes::INVALID_PARAMETER,
            (BadParam { .. }, Vod2) => codes::VOD2_INVALID_PARAMETER,
            (BadSignature | ForeignHost(_) | SignatureExpired, Vod2) => codes::VOD2_AUTH_FAILURE,
            (BadSignature | ForeignHost(_) | SignatureExpired, Api) => codes::AUTH_FAILURE,
            (UnknownSecretId, _) => codes::SECRET_ID_NOT_FOUND,
            (ReplayedNonce(_) | StaleTimestamp(_), _) => codes::REQUEST_REPLAY,
            (RateLimited(_), _) => codes::REQUEST_LIMIT_EXCEEDED,
            (BodyTooLarge(_) | PartSize { .. }, Vod2) => codes::VOD2_INVALID_PACKET,
            (BodyTooLarge(_) | PartSize { .. }, Api) => codes::INVALID_PARAMETER,
            // A part that hashes wrong is worth sending again.
            (Md5Mismatch { .. }, Vod2) => codes::VOD2_INVALID_PACKET.with_retry(true),
            (Md5Mismatch { .. }, Api) => codes::INVALID_PARAMETER.with_retry(true),
            (
                Misaligned { .. } | NoSuchUpload(_) | MissingParts { .. } | ShaMismatch { .. },
                Vod2,
            ) => codes::VOD2_INVALID_PARAMETER,
            (
                Misaligned { .. } | NoSuchUpload(_) | MissingParts { .. } | ShaMismatch { .. },
                Api,
            ) => codes::INVALID_PARAMETER,
            (BadSession(_), _) => codes::INVALID_VOD_SESSION_KEY,
            (ObjectMissing(_), _) => codes::INVALID_PARAMETER,
            (NotFound, _) => codes::RESOURCE_NOT_FOUND,
            (InjectedFault, Vod2) => codes::VOD2_READ_FAILED,
            (InjectedFault, Api) => codes::INTERNAL_ERROR,
            (Db(_) | Io(_) | Internal(_), Vod2) => codes::VOD2_WRITE_FAILED,
            (Db(_) | Io(_) | Internal(_), Api) => codes::APPLY_INTERNAL_ERROR,
        }
    }

    /// The v2 JSON body. Internal causes are logged, not sent.
    pub fn v2_body(&self, d: Dialect) -> Value {
        let (code, desc, retry) = self.v2_code(d);
        if matches!(self, ServerError::Db(_) | ServerError::Io(_)) {
            tracing::error!(error = ?self, "request failed");
        }
        json!({
            "code": code,
            "message": self.to_string(),
            "codeDesc": desc,
            "canRetry": i32::from(retry),
        })
    }
}

/// A success body: `code 0` merged with `fields`.
pub fn v2_ok(fields: Value) -> Value {
    let ok = codes::SUCCESS;
    let mut body = json!({"code": ok.code, "message": "", "codeDesc": ok.desc, "canRetry": 0});
    if let (Some(out), Value::Object(extra)) = (body.as_object_mut(), fields) {
        out.extend(extra);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_dialect() {
        assert_eq!(ServerError::BadSignature.v2_code(Dialect::Vod2).0, -10002);
        assert_eq!(ServerError::BadSignature.v2_code(Dialect::Api).0, 4100);
        let b = bad("fileName", "too long").v2_body(Dialect::Vod2);
        assert_eq!(b["code"], -10003);
        assert!(b["message"].as_str().unwrap().contains("fileName"));
        let r = ServerError::RateLimited("InitUpload".into()).v2_body(Dialect::Api);
        assert_eq!(
            (r["code"].as_i64(), r["canRetry"].as_i64()),
            (Some(4400), Some(1))
        );
        assert_eq!(r["codeDesc"], "RequestLimitExceeded");
    }
}
