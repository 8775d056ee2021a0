//! Reading family D's answers (protocol.md §5.4, protocol-api3.md §2.5):
//! the envelope `{code, message, data}`, ApplyUploadUGC's storage location
//! and temporary credential, CommitUploadUGC's media.

use serde_json::Value;

use super::super::error::VodError;
use super::super::flow::Media;
use super::super::reply::{self, Reply};
use super::token::{TempCred, now};

/// Reads an answer: code 0 or the service's error (code, message,
/// canRetry), an unreadable body a retryable bad response.
pub(super) fn envelope(action: &'static str, status: u16, body: &[u8]) -> Result<Reply, VodError> {
    let r = reply::reply(action, status, body)?;
    if r.code != 0 {
        return Err(r.unexpected_code());
    }
    match r.value_at(&["data"]) {
        Some(Value::Object(_)) => Ok(r),
        _ => Err(VodError::bad_response(action, "no data object")),
    }
}

/// A bucket, app id or region name as the answer may give one.
fn ok_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A storage path made absolute; `None` when it has a `..` component.
fn storage_path(s: &str) -> Option<String> {
    let p = if s.starts_with('/') {
        s.to_string()
    } else {
        format!("/{s}")
    };
    (p.len() > 1 && !p.split('/').any(|c| c == "..")).then_some(p)
}

/// What ApplyUploadUGC answered.
#[derive(Debug, Clone)]
pub(super) struct Applied {
    pub(super) session_key: String,
    pub(super) cos_host: String,
    /// video.storagePath (absent in a cover replacement).
    pub(super) key: Option<String>,
    /// cover.storagePath, when a cover was announced.
    pub(super) cover_key: Option<String>,
    pub(super) cred: TempCred,
}

impl Applied {
    pub(super) fn read(r: &Reply, action: &'static str) -> Result<Applied, VodError> {
        let bad = |why: &str| VodError::bad_response(action, why.to_string());
        let bucket = r.str_at(&["data", "storageBucket"])?;
        let app_id = match r.value_at(&["data", "storageAppId"]) {
            Some(Value::Number(n)) => n.to_string(),
            _ => r.str_at(&["data", "storageAppId"])?,
        };
        let region = r
            .str_at(&["data", "storageRegionV5"])
            .or_else(|_| r.str_at(&["data", "StorageRegionV5"]))?;
        if !ok_name(&bucket) || !ok_name(&app_id) || !ok_name(&region) {
            return Err(bad("unusable storage location"));
        }
        let path = |which: &str| -> Result<Option<String>, VodError> {
            match r.value_at(&["data", which, "storagePath"]) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => storage_path(s)
                    .map(Some)
                    .ok_or_else(|| bad(&format!("unusable {which}.storagePath"))),
                Some(_) => Err(bad(&format!("{which}.storagePath is not a string"))),
            }
        };
        let cred = TempCred {
            secret_id: r.str_at(&["data", "tempCertificate", "secretId"])?,
            secret_key: r.str_at(&["data", "tempCertificate", "secretKey"])?,
            token: r.str_at(&["data", "tempCertificate", "token"])?,
            expired_time: r.u64_at(&["data", "tempCertificate", "expiredTime"])?,
            issued: now(),
        };
        let suffix = format!("-{app_id}");
        let bucket = if bucket.ends_with(&suffix) {
            bucket
        } else {
            format!("{bucket}{suffix}")
        };
        Ok(Applied {
            session_key: r.str_at(&["data", "vodSessionKey"])?,
            cos_host: format!("{bucket}.cos.{region}.myqcloud.com"),
            key: path("video")?,
            cover_key: path("cover")?,
            cred,
        })
    }
}

/// A URL of the answer at `path`, when it is one.
fn url_at(r: &Reply, path: &[&str], action: &'static str) -> Result<Option<String>, VodError> {
    match r.value_at(path) {
        Some(Value::String(u)) if !u.is_empty() => match url::Url::parse(u) {
            Ok(p) if matches!(p.scheme(), "http" | "https") => Ok(Some(u.clone())),
            _ => Err(VodError::bad_response(
                action,
                format!("{} {u:?} is not a URL", path.join(".")),
            )),
        },
        _ => Ok(None),
    }
}

/// CommitUploadUGC's media: `data.fileId`, `data.video.url`, `data.cover.url`.
pub(super) fn media(r: &Reply, action: &'static str) -> Result<Media, VodError> {
    let file_id = match r.value_at(&["data", "fileId"]) {
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        _ => r.str_at(&["data", "fileId"])?,
    };
    if file_id.is_empty() || !file_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(VodError::bad_response(
            action,
            format!("fileId {file_id:?} is not an id"),
        ));
    }
    Ok(Media {
        file_id,
        url: url_at(r, &["data", "video", "url"], action)?,
        cover_url: url_at(r, &["data", "cover", "url"], action)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(data: serde_json::Value) -> Reply {
        let body = serde_json::json!({"code": 0, "message": "成功", "data": data});
        envelope("ApplyUploadUGC", 200, body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn an_apply_answer_names_the_bucket_with_its_app_id() {
        let r = answer(serde_json::json!({
            "video": {"storageSignature": "x", "storagePath": "/abc/1/f0.mp4"},
            "cover": {"storagePath": "abc/1/c.jpg"},
            "storageAppId": 1250000000u64, "storageBucket": "faeed456vodcq1250000000",
            "storageRegion": "cq", "StorageRegionV5": "ap-chongqing",
            "vodSessionKey": "sk", "domain": "d",
            "tempCertificate": {"secretId": "i", "secretKey": "k", "token": "t", "expiredTime": 99},
        }));
        let a = Applied::read(&r, "ApplyUploadUGC").unwrap();
        assert_eq!(
            a.cos_host,
            "faeed456vodcq1250000000-1250000000.cos.ap-chongqing.myqcloud.com"
        );
        assert_eq!(a.key.as_deref(), Some("/abc/1/f0.mp4"));
        assert_eq!(a.cover_key.as_deref(), Some("/abc/1/c.jpg"));
        assert_eq!(a.cred.expired_time, 99);
        let e = envelope(
            "ApplyUploadUGC",
            200,
            br#"{"code":10004,"message":"ugc upload | invalid signature"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("10004") && e.to_string().contains("invalid signature"));
        assert!(!e.is_retryable());
        let r = answer(serde_json::json!({"video": {"storagePath": "/../x"},
            "storageAppId": "1", "storageBucket": "b", "storageRegionV5": "r", "vodSessionKey": "s",
            "tempCertificate": {"secretId": "i", "secretKey": "k", "token": "t", "expiredTime": 9}}));
        assert!(Applied::read(&r, "ApplyUploadUGC").is_err());
    }

    #[test]
    fn a_commit_answer_gives_the_media() {
        let r = answer(serde_json::json!({"fileId": "5285890784000000001",
            "video": {"url": "http://h/v.mp4", "verify_content": "x"}, "cover": {"url": ""}}));
        let m = media(&r, "CommitUploadUGC").unwrap();
        assert_eq!(m.file_id, "5285890784000000001");
        assert_eq!(m.url.as_deref(), Some("http://h/v.mp4"));
        assert_eq!(m.cover_url, None);
        let r = answer(serde_json::json!({"fileId": "a/b"}));
        assert!(media(&r, "CommitUploadUGC").is_err());
    }
}
