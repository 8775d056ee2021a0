//! The v2 error-code table (protocol.md §7): the codes both dialects answer
//! with, their `codeDesc`, whether the service sets `canRetry`, and the
//! client's reading of a code. The service picks its answers from here
//! (`server/error.rs`); the client's retry rule is [`may_retry`].
//!
//! Two dialects share the body shape `{code, message, codeDesc, canRetry}`:
//! the vod2 upload APIs answer negative codes (−10001 … −10006), the
//! vod.api ones (ApplyUpload, CommitUpload, Report) the common 4000–6200
//! codes and 31001/32001. Codes 0–3999 are an Action's own answers
//! (InitUpload's 0/1/2).

/// One entry of the table: a code, its `codeDesc` and its `canRetry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub code: i64,
    pub desc: &'static str,
    pub can_retry: bool,
}

const fn code(code: i64, desc: &'static str, can_retry: bool) -> Code {
    Code {
        code,
        desc,
        can_retry,
    }
}

impl Code {
    /// The same code with another `canRetry` (a bad part is worth sending
    /// again, a bad part size is not: both are −10006).
    pub const fn with_retry(self, can_retry: bool) -> Code {
        Code { can_retry, ..self }
    }
}

/// Success, with the `codeDesc` success bodies carry.
pub const SUCCESS: Code = code(0, "Success", false);

/// vod2: a common parameter is missing or wrong.
pub const VOD2_INVALID_ARG: Code = code(-10001, "InvalidParameter", false);
/// vod2: the signature check failed.
pub const VOD2_AUTH_FAILURE: Code = code(-10002, "AuthFailure", false);
/// vod2: a parameter of the Action is wrong.
pub const VOD2_INVALID_PARAMETER: Code = code(-10003, "InvalidParameter", false);
/// vod2: writing the upload state failed.
pub const VOD2_WRITE_FAILED: Code = code(-10004, "InternalError", true);
/// vod2: reading the upload state failed.
pub const VOD2_READ_FAILED: Code = code(-10005, "InternalError", true);
/// vod2: the body (a part) is not what was announced.
pub const VOD2_INVALID_PACKET: Code = code(-10006, "InvalidPacket", false);

/// vod.api: a parameter is missing or wrong.
pub const INVALID_PARAMETER: Code = code(4000, "InvalidParameter", false);
/// vod.api: the signature check failed.
pub const AUTH_FAILURE: Code = code(4100, "AuthFailure", false);
/// The SecretId does not exist (both dialects).
pub const SECRET_ID_NOT_FOUND: Code = code(4104, "AuthFailure.SecretIdNotFound", false);
/// The rate limit (both dialects): wait and retry.
pub const REQUEST_LIMIT_EXCEEDED: Code = code(4400, "RequestLimitExceeded", true);
/// A reused nonce or a timestamp out of the window (both dialects).
pub const REQUEST_REPLAY: Code = code(4500, "RequestReplay", false);
/// The resource does not exist.
pub const RESOURCE_NOT_FOUND: Code = code(5000, "ResourceNotFound", false);
/// vod.api: internal error.
pub const INTERNAL_ERROR: Code = code(6000, "InternalError", true);
/// ApplyUpload / CommitUpload: the vodSessionKey is not valid.
pub const INVALID_VOD_SESSION_KEY: Code = code(31001, "InvalidVodSessionKey", false);
/// ApplyUpload / CommitUpload: internal error.
pub const APPLY_INTERNAL_ERROR: Code = code(32001, "InternalError", true);

/// InitUpload (and InitUploadEx): a new upload.
pub const INIT_NEW: i64 = 0;
/// InitUpload: an upload of this content is in progress (`listParts`).
pub const INIT_RESUMABLE: i64 = 1;
/// InitUpload: the content is already a media (instant upload).
pub const INIT_INSTANT: i64 = 2;

/// Whether `code` is an Action's own answer rather than an error.
pub fn is_action_code(code: i64) -> bool {
    (0..4000).contains(&code)
}

/// Whether a call answered with `code` and `can_retry` may succeed if made
/// again: the rate limit always, a negative code when the service says so
/// ("any negative code with canRetry=1 can be retried", §7.2), and the
/// vod.api internal errors (6000, ApplyUpload/CommitUpload's 32001) when
/// they carry canRetry=1.
pub fn may_retry(code: i64, can_retry: bool) -> bool {
    let internal = code == INTERNAL_ERROR.code || code == APPLY_INTERNAL_ERROR.code;
    code == REQUEST_LIMIT_EXCEEDED.code || ((code < 0 || internal) && can_retry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_rule() {
        assert!(may_retry(VOD2_INVALID_PACKET.code, true));
        assert!(!may_retry(VOD2_INVALID_PACKET.code, false));
        assert!(!may_retry(AUTH_FAILURE.code, true));
        assert!(may_retry(REQUEST_LIMIT_EXCEEDED.code, false));
        assert!(may_retry(INTERNAL_ERROR.code, true) && may_retry(APPLY_INTERNAL_ERROR.code, true));
        assert!(!may_retry(INTERNAL_ERROR.code, false) && !may_retry(INVALID_PARAMETER.code, true));
        assert!(is_action_code(INIT_INSTANT) && !is_action_code(INVALID_PARAMETER.code));
        assert!(VOD2_INVALID_PACKET.with_retry(true).can_retry);
    }
}
