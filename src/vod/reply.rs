//! Strict reading of v2-style JSON answers (`code`, `message`, `codeDesc`,
//! `canRetry`, and per-Action fields), shared by the v4 and UGC flows.
//! Every accessor checks type and shape and returns a [`VodError`] naming
//! the field; nothing here panics.

use serde_json::{Map, Value};

use super::error::{VodError, VodErrorKind};
use super::flow::{HeldPart, Media};
use super::rules::codes;

/// A parsed answer whose envelope is valid.
#[derive(Debug, Clone)]
pub struct Reply {
    pub action: &'static str,
    pub code: i64,
    pub message: String,
    pub code_desc: String,
    pub can_retry: bool,
    obj: Map<String, Value>,
}

/// Reads the envelope of an answer. A negative code (or a v2 common code
/// ≥ 4000) becomes a service error at once; other codes are left to the
/// caller, which knows which ones its Action may return.
pub fn reply(action: &'static str, status: u16, body: &[u8]) -> Result<Reply, VodError> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) if status == 200 => {
            return Err(VodError::new(
                action,
                VodErrorKind::BadResponse {
                    reason: format!("body is not JSON ({e})"),
                    retryable: true,
                },
            ));
        }
        Err(_) => return Err(VodError::new(action, VodErrorKind::Status { status })),
    };
    let Value::Object(obj) = value else {
        return Err(VodError::bad_response(action, "body is not a JSON object"));
    };
    let code = match obj.get("code") {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| VodError::bad_response(action, "code is not an integer"))?,
        Some(_) => return Err(VodError::bad_response(action, "code is not a number")),
        None if status != 200 => {
            return Err(VodError::new(action, VodErrorKind::Status { status }));
        }
        None => return Err(VodError::bad_response(action, "code is missing")),
    };
    let message = opt_str(action, &obj, "message")?.unwrap_or_default();
    let code_desc = opt_str(action, &obj, "codeDesc")?.unwrap_or_default();
    let can_retry = match obj.get("canRetry") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(_) => return Err(VodError::bad_response(action, "canRetry is not a number")),
    };
    let reply = Reply {
        action,
        code,
        message,
        code_desc,
        can_retry,
        obj,
    };
    if !codes::is_action_code(code) {
        return Err(reply.unexpected_code());
    }
    // A success code under an error status (a proxy's page that happens to
    // be JSON) is not to be trusted.
    if !(200..300).contains(&status) {
        return Err(VodError::new(action, VodErrorKind::Status { status }));
    }
    Ok(reply)
}

fn opt_str(
    action: &'static str,
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<String>, VodError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(VodError::bad_response(
            action,
            format!("{key} is not a string"),
        )),
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Reply {
    /// This answer's code as an error (a code the Action does not return
    /// on success, or a failure code).
    pub fn unexpected_code(&self) -> VodError {
        let message = if codes::is_action_code(self.code) && self.message.is_empty() {
            "unexpected code for this action".to_string()
        } else {
            self.message.clone()
        };
        VodError::new(
            self.action,
            VodErrorKind::Service {
                code: self.code,
                message,
                code_desc: self.code_desc.clone(),
                can_retry: self.can_retry,
            },
        )
    }

    fn bad(&self, reason: impl Into<String>) -> VodError {
        VodError::bad_response(self.action, reason)
    }

    fn u64_field(&self, obj: &Map<String, Value>, key: &str) -> Result<u64, VodError> {
        match obj.get(key) {
            Some(Value::Number(n)) => n
                .as_u64()
                .ok_or_else(|| self.bad(format!("{key} is not a non-negative integer"))),
            Some(_) => Err(self.bad(format!("{key} is not a number"))),
            None => Err(self.bad(format!("{key} is missing"))),
        }
    }

    fn str_field(&self, key: &str) -> Result<String, VodError> {
        opt_str(self.action, &self.obj, key)?.ok_or_else(|| self.bad(format!("{key} is missing")))
    }

    /// The value at `path` (`["video", "storagePath"]`), if present.
    pub fn value_at(&self, path: &[&str]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        let mut cur = self.obj.get(*first)?;
        for key in rest {
            cur = cur.as_object()?.get(*key)?;
        }
        Some(cur)
    }

    /// A required string at `path`.
    pub fn str_at(&self, path: &[&str]) -> Result<String, VodError> {
        match self.value_at(path) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.bad(format!("{} is not a string", path.join(".")))),
            None => Err(self.bad(format!("{} is missing", path.join(".")))),
        }
    }

    /// A required unsigned integer at `path` (a JSON number or a decimal string).
    pub fn u64_at(&self, path: &[&str]) -> Result<u64, VodError> {
        let v = match self.value_at(path) {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            Some(_) => None,
            None => return Err(self.bad(format!("{} is missing", path.join(".")))),
        };
        v.ok_or_else(|| self.bad(format!("{} is not an unsigned integer", path.join("."))))
    }

    /// If the answer names a `fileSha`, it must be ours.
    pub fn check_sha(&self, sha1_hex: &str) -> Result<(), VodError> {
        match opt_str(self.action, &self.obj, "fileSha")? {
            Some(s) if !s.eq_ignore_ascii_case(sha1_hex) => Err(self.bad(format!(
                "service sha {s} differs from the local sha {sha1_hex}"
            ))),
            _ => Ok(()),
        }
    }

    /// `dataSize` of a code 1 answer: the part size the service imposes.
    pub fn data_size(&self) -> Result<u32, VodError> {
        let v = self.u64_field(&self.obj, "dataSize")?;
        match u32::try_from(v) {
            Ok(v) if v > 0 && v <= 64 << 20 => Ok(v),
            _ => Err(self.bad(format!("dataSize {v} is not a usable part size"))),
        }
    }

    /// `listParts` of a code 1 answer, checked against the file geometry.
    /// A missing or null list means the service holds nothing yet.
    pub fn list_parts(&self, part_size: u32, file_size: u64) -> Result<Vec<HeldPart>, VodError> {
        let items = match self.obj.get("listParts") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(self.bad("listParts is not an array")),
        };
        let ps = u64::from(part_size);
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Value::Object(o) = item else {
                return Err(self.bad(format!("listParts[{i}] is not an object")));
            };
            let offset = self.u64_field(o, "offset")?;
            let size = self.u64_field(o, "dataSize")?;
            // One documented example keys the MD5 `dataSha`.
            let md5 = match (o.get("dataMd5"), o.get("dataSha")) {
                (Some(Value::String(s)), _) | (None, Some(Value::String(s))) => s,
                _ => return Err(self.bad(format!("listParts[{i}] has no dataMd5 string"))),
            };
            if !is_hex(md5, 32) {
                return Err(self.bad(format!("listParts[{i}] md5 {md5:?} is not 32 hex digits")));
            }
            let expected = file_size.saturating_sub(offset).min(ps);
            if !offset.is_multiple_of(ps) || offset >= file_size || size != expected {
                return Err(self.bad(format!(
                    "listParts[{i}] offset {offset} size {size} does not fit a {file_size}-byte file in {part_size}-byte parts"
                )));
            }
            out.push(HeldPart {
                offset,
                size,
                md5_hex: md5.to_ascii_lowercase(),
            });
        }
        Ok(out)
    }

    /// `fileId` and `url` of a completed media.
    pub fn media(&self) -> Result<Media, VodError> {
        let file_id = match self.obj.get("fileId") {
            Some(Value::String(s)) => s.clone(),
            // Some services send ids as JSON numbers; a u64 is exact.
            Some(Value::Number(n)) if n.is_u64() => n.to_string(),
            Some(_) => return Err(self.bad("fileId is not a string")),
            None => return Err(self.bad("fileId is missing")),
        };
        if file_id.is_empty()
            || file_id.len() > 128
            || !file_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(self.bad(format!("fileId {file_id:?} is not an id")));
        }
        let url = self.str_field("url")?;
        match url::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            _ => return Err(self.bad(format!("url {url:?} is not an http(s) URL"))),
        }
        Ok(Media {
            file_id,
            url: Some(url),
            cover_url: None,
        })
    }
}

/// The outcome of a mount-time account check (`UploadFlow::check_account`)
/// from the answer to a harmless signed call: refused credentials and
/// transport failures are errors; any other answer, even a refusal of the
/// call itself, says the credentials hold.
pub fn account_check(answer: Result<Reply, VodError>) -> Result<(), VodError> {
    let err = match answer {
        Ok(r) if r.code == 0 => return Ok(()),
        Ok(r) => r.unexpected_code(),
        Err(e) => e,
    };
    if err.is_credential_refusal() || err.is_transport() {
        Err(err)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Result<Reply, VodError> {
        reply("InitUpload", 200, body.as_bytes())
    }

    fn reason(e: VodError) -> String {
        match e.kind {
            VodErrorKind::BadResponse { reason, .. } => reason,
            other => panic!("not a bad response: {other:?}"),
        }
    }

    #[test]
    fn garbage_bodies_are_errors() {
        for body in [
            "",
            "not json",
            "{",
            "[1,2]",
            "\"x\"",
            "null",
            "{\"code\":\"0\"}",
            "{}",
        ] {
            let e = ok(body).unwrap_err();
            assert!(
                matches!(e.kind, VodErrorKind::BadResponse { .. }),
                "{body}: {e}"
            );
        }
        assert!(ok("{\"code\":1.5}").is_err());
        assert!(ok("{\"code\":0,\"message\":5}").is_err());
        assert!(ok("{\"code\":0,\"canRetry\":\"yes\"}").is_err());
        // Unreadable JSON with a 200 may be a mangled body: retryable.
        assert!(ok("<html>").unwrap_err().is_retryable());
        // A success code under an error status is the status's error.
        let e = reply("UploadPart", 500, br#"{"code":0}"#).unwrap_err();
        assert_eq!(e.kind, VodErrorKind::Status { status: 500 });
        // A service error under an error status keeps the service's code.
        let e = reply("UploadPart", 500, br#"{"code":-10004,"canRetry":1}"#).unwrap_err();
        assert_eq!(e.code(), Some(-10004));
        // A 502 page from a proxy is a status error, retryable.
        let e = reply("UploadPart", 502, b"<html>bad gateway</html>").unwrap_err();
        assert_eq!(e.kind, VodErrorKind::Status { status: 502 });
        assert!(e.is_retryable());
    }

    #[test]
    fn service_errors_carry_code_message_desc_and_retry() {
        let e = ok(r#"{"code":-10006,"message":"invalid packet size","codeDesc":"","canRetry":1}"#)
            .unwrap_err();
        assert_eq!(e.code(), Some(-10006));
        assert!(e.is_retryable());
        assert_eq!(
            e.to_string(),
            "InitUpload: service code -10006: invalid packet size"
        );
        let e = ok(r#"{"code":4100,"message":"鉴权失败","codeDesc":"AuthFailure"}"#).unwrap_err();
        assert_eq!(e.code(), Some(4100));
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("AuthFailure"));
        // Extra fields (sessionInfo) are ignored.
        let r = ok(r#"{"canRetry":0,"code":0,"codeDesc":" 0\n","message":"","sessionInfo":"{}"}"#)
            .unwrap();
        assert_eq!(r.code, 0);
    }

    #[test]
    fn list_parts_accepts_data_sha_and_checks_geometry() {
        let r = ok(r#"{"code":1,"dataSize":524288,"listParts":[
            {"offset":0,"dataSize":524288,"dataMd5":"0BEE89B07A248E27C83FC3D5951213C1"},
            {"offset":524288,"dataSize":10,"dataSha":"900150983cd24fb0d6963f7d28e17f72"}]}"#)
        .unwrap();
        assert_eq!(r.data_size().unwrap(), 524288);
        let parts = r.list_parts(524288, 524298).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].md5_hex, "0bee89b07a248e27c83fc3d5951213c1");
        assert_eq!(parts[1].offset, 524288);
        assert_eq!(parts[1].size, 10);
        // Misaligned, past the end, wrong size, bad md5: errors.
        assert!(r.list_parts(1048576, 524298).is_err());
        assert!(r.list_parts(524288, 100).is_err());
        for bad in [
            r#"{"code":1,"listParts":[{"offset":1,"dataSize":5,"dataMd5":"900150983cd24fb0d6963f7d28e17f72"}]}"#,
            r#"{"code":1,"listParts":[{"offset":0,"dataSize":5,"dataMd5":"xyz"}]}"#,
            r#"{"code":1,"listParts":[{"offset":-1,"dataSize":5,"dataMd5":"900150983cd24fb0d6963f7d28e17f72"}]}"#,
            r#"{"code":1,"listParts":[7]}"#,
            r#"{"code":1,"listParts":{}}"#,
        ] {
            assert!(ok(bad).unwrap().list_parts(524288, 5).is_err(), "{bad}");
        }
        assert!(ok(r#"{"code":1}"#).unwrap().data_size().is_err());
        assert!(
            ok(r#"{"code":1,"dataSize":0}"#)
                .unwrap()
                .data_size()
                .is_err()
        );
        assert!(
            ok(r#"{"code":1}"#)
                .unwrap()
                .list_parts(524288, 5)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn media_requires_an_id_and_a_url() {
        let m = ok(r#"{"code":0,"fileId":"7031868222808505913","url":"http://10013.vod2.myqcloud.com/vod10013/7031868222808505913/f0.mp4"}"#)
            .unwrap()
            .media()
            .unwrap();
        assert_eq!(m.file_id, "7031868222808505913");
        for bad in [
            r#"{"code":0,"url":"http://x/y"}"#,
            r#"{"code":0,"fileId":"","url":"http://x/y"}"#,
            r#"{"code":0,"fileId":"1 2","url":"http://x/y"}"#,
            r#"{"code":0,"fileId":[1],"url":"http://x/y"}"#,
            r#"{"code":0,"fileId":"12"}"#,
            r#"{"code":0,"fileId":"12","url":"not a url"}"#,
            r#"{"code":0,"fileId":"12","url":"file:///etc/passwd"}"#,
            r#"{"code":0,"fileId":"12","url":7}"#,
        ] {
            let e = ok(bad).unwrap().media().unwrap_err();
            assert!(!reason(e).is_empty(), "{bad}");
        }
    }

    #[test]
    fn nested_fields_are_typed() {
        let r = ok(r#"{"code":0,"video":{"storagePath":"/a/f0.mp4","n":5},"id":"7"}"#).unwrap();
        assert_eq!(r.str_at(&["video", "storagePath"]).unwrap(), "/a/f0.mp4");
        assert_eq!(r.u64_at(&["video", "n"]).unwrap(), 5);
        assert_eq!(r.u64_at(&["id"]).unwrap(), 7);
        assert!(r.str_at(&["video", "n"]).is_err());
        assert!(r.str_at(&["video", "x"]).is_err());
        assert!(r.str_at(&["id", "x"]).is_err());
        assert!(r.u64_at(&["video"]).is_err());
    }

    #[test]
    fn a_different_sha_is_an_error() {
        let r = ok(r#"{"code":0,"fileSha":"A9993E364706816ABA3E25717850C26C9CD0D89D"}"#).unwrap();
        assert!(
            r.check_sha("a9993e364706816aba3e25717850c26c9cd0d89d")
                .is_ok()
        );
        assert!(
            r.check_sha("0000000000000000000000000000000000000000")
                .is_err()
        );
    }
}
