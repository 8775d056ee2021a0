//! Family D's rules (protocol.md §4, §5.4, §7; protocol-api3.md §2.5),
//! obeyed by the client-upload flow and enforced by `vodfs serve`: the
//! actions, the client signature's limits, the declared sizes and name
//! lengths ApplyUploadUGC takes, and the answer codes with their retry rule.
//!
//! Codes (`{"code", "message", "canRetry"}`, HTTP 200; success is code 0
//! with message `成功` and a `data` object). The cloud's own numbers are
//! only partly documented; the choice here [INF] keeps the documented ones
//! (§7.3: 10001 invalid request, 10004 invalid signature, 31001 bad
//! vodSessionKey, 32001 internal; §7.1: 4400 rate limit, 5000 not found)
//! and gives a client one rule: **[`is_signature_refusal`] means "ask the
//! signer for a new signature, then retry"** (bad, tampered, expired, not
//! yet valid, over 90 days, foreign SecretId, or a one-time signature
//! already used: the message says which); [`may_retry`] means "the same
//! call may succeed again".

use super::codes::Code;

/// The actions of family D.
pub const APPLY: &str = "ApplyUploadUGC";
pub const COMMIT: &str = "CommitUploadUGC";
pub const PREPARE: &str = "PrepareUploadUGC";
pub const ACTIONS: &[&str] = &[APPLY, COMMIT, PREPARE];

/// Success message of every family D answer.
pub const OK_MESSAGE: &str = "成功";

/// Longest validity of a client signature, seconds (90 days, §4).
pub const MAX_VALIDITY: u64 = 7_776_000;
/// How far in the future `currentTimeStamp` may be (clock skew), seconds.
pub const MAX_CLOCK_SKEW: u64 = 300;
/// `sourceContext`: at most this many characters (as API 3.0's).
pub const MAX_SOURCE_CONTEXT_CHARS: usize = 250;
/// `procedure`: at most this many characters [INF].
pub const MAX_PROCEDURE_CHARS: usize = 256;
/// `taskPriority` range (§4).
pub const TASK_PRIORITY: std::ops::RangeInclusive<i64> = -10..=10;
/// `taskNotifyMode` values (§4).
pub const TASK_NOTIFY_MODES: &[&str] = &["Finish", "Change", "None"];
/// The longest signature accepted, bytes of base64 [INF].
pub const MAX_SIGNATURE_BYTES: usize = 4096;

/// `videoName` / `coverName`: at most this many characters (as API 3.0's
/// MediaName).
pub const MAX_NAME_CHARS: usize = super::api3::MAX_MEDIA_NAME_CHARS;
/// Largest `videoSize`, bytes (COS: 10 000 parts of 5 GiB).
pub const MAX_VIDEO_SIZE: u64 = super::parts::MAX_FILE_SIZE;
/// Largest `coverSize`, bytes [INF: undocumented for this family].
pub const MAX_COVER_SIZE: u64 = 10 << 20;
/// Largest request body of a family D call, bytes.
pub const MAX_BODY: u64 = 64 << 10;
/// Lifetime of an upload session (a vodSessionKey), seconds: one day
/// [DOC 客户端上传指引].
pub const SESSION_SECS: u64 = 86_400;

const fn code(code: i64, desc: &'static str, can_retry: bool) -> Code {
    Code {
        code,
        desc,
        can_retry,
    }
}

/// A parameter is missing or wrong.
pub const INVALID_REQUEST: Code = code(10001, "InvalidRequest", false);
/// The signature is refused: ask the signer for a new one.
pub const INVALID_SIGNATURE: Code = code(10004, "InvalidSignature", false);
/// The vodSessionKey is unknown, foreign, expired or committed already.
pub const INVALID_SESSION: Code = code(31001, "InvalidVodSessionKey", false);
/// The fileId (cover replacement) or an object to commit does not exist.
pub const NOT_FOUND: Code = code(5000, "ResourceNotFound", false);
/// Over the rate limit: wait and retry.
pub const RATE_LIMITED: Code = code(4400, "RequestLimitExceeded", true);
/// Internal failure: retry.
pub const INTERNAL: Code = code(32001, "InternalError", true);
/// A transient failure (the negative codes of §7.2): retry.
pub const TRANSIENT: Code = code(-10005, "InternalError", true);

/// Whether an answer's code means "get a new signature, then retry".
pub fn is_signature_refusal(code: i64) -> bool {
    code == INVALID_SIGNATURE.code
}

/// Whether the same call may succeed if made again.
pub fn may_retry(code: i64, can_retry: bool) -> bool {
    code == RATE_LIMITED.code || can_retry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_rules() {
        assert!(is_signature_refusal(INVALID_SIGNATURE.code));
        assert!(!is_signature_refusal(INVALID_SESSION.code));
        assert!(may_retry(RATE_LIMITED.code, false) && may_retry(INTERNAL.code, true));
        assert!(!may_retry(INVALID_REQUEST.code, false));
        assert_eq!(MAX_VALIDITY, 90 * 86_400);
    }
}
