//! The error of every protocol client: which call failed, and how.
//!
//! Design: one struct carrying the service's Action name plus a kind, so the
//! pipeline can add its own context ("UploadPart (part 3 at offset …)")
//! without repeating the action. Messages never contain the request URL
//! (it carries the SecretId and Signature) nor any key.

use std::time::Duration;

use super::rules::{api3, codes};

/// What went wrong in one call to the service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VodErrorKind {
    /// No HTTP response (connect, reset, timeout).
    #[error("transport error: {message}")]
    Transport { message: String, timeout: bool },
    /// An HTTP status other than 200 with no service error in the body.
    #[error("http status {status}")]
    Status { status: u16 },
    /// The service answered with an error code.
    #[error("service code {code}{}: {message}", desc_suffix(code_desc))]
    Service {
        code: i64,
        message: String,
        code_desc: String,
        can_retry: bool,
    },
    /// A REST-style service (COS XML, frontwize) refused a request with an
    /// HTTP status and a textual code.
    #[error("http status {status} {code}: {message}")]
    Rest {
        status: u16,
        code: String,
        message: String,
    },
    /// API 3.0 answered `Response.Error` (protocol-api3.md §1.5): a textual
    /// code (`AuthFailure.SignatureFailure`), its message, and the request
    /// id the service gave.
    #[error("service code {code}: {message}{}", request_suffix(request_id))]
    Api {
        code: String,
        message: String,
        request_id: String,
    },
    /// The session can no longer be used (its temporary credential runs
    /// out): the file must be started over with a new session. Never
    /// retried as is; the pipeline starts afresh.
    #[error("session expired: {0}")]
    SessionExpired(String),
    /// The answer is not what the protocol promises. `retryable` is set when
    /// the body could not even be read as JSON (a truncated or mangled
    /// response), which a second attempt may cure.
    #[error("invalid response: {reason}")]
    BadResponse { reason: String, retryable: bool },
    /// The request could not be built (bad endpoint, bad argument).
    #[error("{0}")]
    Request(String),
}

fn desc_suffix(desc: &str) -> String {
    let d = desc.trim();
    if d.is_empty() || d == "0" {
        String::new()
    } else {
        format!(" ({d})")
    }
}

fn request_suffix(id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format!(" (RequestId {id})")
    }
}

/// A failed call: the service's Action name and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{action}: {kind}")]
pub struct VodError {
    pub action: &'static str,
    pub kind: VodErrorKind,
}

/// The rate-limit code of the v2 API (`RequestLimitExceeded`).
pub const CODE_THROTTLED: i64 = codes::REQUEST_LIMIT_EXCEEDED.code;

impl VodError {
    pub fn new(action: &'static str, kind: VodErrorKind) -> Self {
        VodError { action, kind }
    }

    pub fn bad_response(action: &'static str, reason: impl Into<String>) -> Self {
        VodError::new(
            action,
            VodErrorKind::BadResponse {
                reason: reason.into(),
                retryable: false,
            },
        )
    }

    /// The service's code, when the service answered with one.
    pub fn code(&self) -> Option<i64> {
        match &self.kind {
            VodErrorKind::Service { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The service asked us to slow down (4400, `RequestLimitExceeded*`).
    pub fn is_throttled(&self) -> bool {
        match &self.kind {
            VodErrorKind::Api { code, .. } => api3::is_throttled(code),
            _ => self.code() == Some(CODE_THROTTLED),
        }
    }

    /// The service was not reached, or stopped answering mid-call.
    pub fn is_transport(&self) -> bool {
        matches!(self.kind, VodErrorKind::Transport { .. })
    }

    /// The service refused the credentials themselves (v2 4100–4104,
    /// vod2 −10002, API 3.0 `AuthFailure*`, REST 401/403).
    pub fn is_credential_refusal(&self) -> bool {
        match &self.kind {
            VodErrorKind::Service { code, .. } => {
                (codes::AUTH_FAILURE.code..=codes::SECRET_ID_NOT_FOUND.code).contains(code)
                    || *code == codes::VOD2_AUTH_FAILURE.code
            }
            VodErrorKind::Api { code, .. } => code.starts_with("AuthFailure"),
            VodErrorKind::Rest { status, .. } => matches!(*status, 401 | 403),
            _ => false,
        }
    }

    /// The session must be started over ([`VodErrorKind::SessionExpired`]).
    pub fn is_session_expired(&self) -> bool {
        matches!(self.kind, VodErrorKind::SessionExpired(_))
    }

    /// Whether the same call may succeed if made again: transport errors
    /// (but a certificate nothing vouches for: that is the setup, not an
    /// outage), 5xx (and 429), negative codes with canRetry=1, 4400,
    /// unreadable bodies.
    pub fn is_retryable(&self) -> bool {
        match &self.kind {
            VodErrorKind::Transport { message, .. } => !is_certificate_refusal(message),
            VodErrorKind::Status { status } => *status >= 500 || *status == 429,
            VodErrorKind::Service {
                code, can_retry, ..
            } => codes::may_retry(*code, *can_retry),
            VodErrorKind::Rest { status, code, .. } => {
                *status >= 500
                    || *status == 429
                    || matches!(code.as_str(), "RequestTimeout" | "SlowDown")
            }
            VodErrorKind::Api { code, .. } => api3::is_retryable(code),
            VodErrorKind::BadResponse { retryable, .. } => *retryable,
            VodErrorKind::Request(_) | VodErrorKind::SessionExpired(_) => false,
        }
    }

    /// A lower bound for the wait before retrying, when the error implies one.
    pub fn min_backoff(&self) -> Option<Duration> {
        self.is_throttled().then_some(Duration::from_secs(1))
    }
}

/// A TLS peer whose certificate was refused (OpenSSL's and rustls's words).
fn is_certificate_refusal(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("certificate verify failed") || m.contains("invalid peer certificate")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(code: i64, can_retry: bool) -> VodError {
        VodError::new(
            "UploadPart",
            VodErrorKind::Service {
                code,
                message: "m".into(),
                code_desc: String::new(),
                can_retry,
            },
        )
    }

    #[test]
    fn classification() {
        assert!(service(-10006, true).is_retryable());
        assert!(!service(-10006, false).is_retryable());
        assert!(!service(4100, true).is_retryable());
        assert!(service(4100, false).is_credential_refusal());
        assert!(service(4104, false).is_credential_refusal());
        assert!(!service(4000, false).is_credential_refusal());
        assert!(!service(-10006, true).is_credential_refusal());
        assert!(service(4400, false).is_retryable());
        assert!(service(4400, false).is_throttled());
        let t = VodError::new(
            "InitUpload",
            VodErrorKind::Transport {
                message: "reset".into(),
                timeout: false,
            },
        );
        assert!(t.is_retryable());
        let cert = VodError::new(
            "InitUpload",
            VodErrorKind::Transport {
                message: "error trying to connect: certificate verify failed".into(),
                timeout: false,
            },
        );
        assert!(!cert.is_retryable(), "a refused certificate is no outage");
        assert!(VodError::new("X", VodErrorKind::Status { status: 503 }).is_retryable());
        assert!(!VodError::new("X", VodErrorKind::Status { status: 404 }).is_retryable());
        assert!(!VodError::bad_response("X", "no fileId").is_retryable());
    }

    #[test]
    fn message_names_action_code_desc_and_message() {
        let e = VodError::new(
            "InitUpload",
            VodErrorKind::Service {
                code: 4100,
                message: "authentication failed".into(),
                code_desc: "AuthFailure".into(),
                can_retry: false,
            },
        );
        assert_eq!(
            e.to_string(),
            "InitUpload: service code 4100 (AuthFailure): authentication failed"
        );
        assert_eq!(
            service(-10006, false).to_string(),
            "UploadPart: service code -10006: m"
        );
    }
}
