//! Reading API 3.0's answers and building its requests' parameters:
//! ApplyUpload's parameters from the settings, the `Response` object or its
//! `Response.Error` (naming the parameter a code points at), the fields of
//! an answer and the session's temporary credential.

use serde_json::{Map, Value, json};

use super::super::error::{VodError, VodErrorKind};
use super::super::flow::StartRequest;
use super::super::rules::api3;
use super::actions::APPLY;
use super::session::{TempCred, now};

/// A bucket or region name as the answer may give one.
pub(super) fn ok_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A storage path: absolute, no `..` component.
pub(super) fn ok_path(s: &str) -> bool {
    s.starts_with('/') && s.len() > 1 && !s.split('/').any(|c| c == "..")
}

/// The parameters of ApplyUpload for `req` (null ones left out).
pub(super) fn apply_params(req: &StartRequest, sub_app_id: Option<u64>) -> Map<String, Value> {
    let s = &req.settings;
    let mut p = Map::new();
    p.insert("MediaType".into(), json!(req.file_type));
    p.insert("MediaName".into(), json!(req.file_name));
    if let Some(id) = sub_app_id {
        p.insert("SubAppId".into(), json!(id));
    }
    if let Some(c) = s.class_id {
        p.insert("ClassId".into(), json!(c));
    }
    let texts = [
        ("Procedure", &s.procedure),
        ("SourceContext", &s.source_context),
        ("SessionContext", &s.session_context),
        ("StorageRegion", &s.storage_region),
        ("ExpireTime", &s.expire_time),
    ];
    for (name, v) in texts {
        if let Some(v) = v {
            p.insert(name.into(), json!(v));
        }
    }
    if let Some(c) = &s.cover {
        p.insert("CoverType".into(), json!(c.file_type));
    }
    p
}

/// A required string of an answer.
pub(super) fn text(
    action: &'static str,
    r: &Map<String, Value>,
    name: &str,
) -> Result<String, VodError> {
    match r.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(VodError::bad_response(action, format!("no {name}"))),
    }
}

/// The session's temporary credential, if the answer has one.
pub(super) fn temp_cred(r: &Map<String, Value>) -> Result<Option<TempCred>, VodError> {
    let c = match r.get("TempCertificate") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(c)) => c,
        Some(_) => {
            return Err(VodError::bad_response(
                APPLY,
                "TempCertificate is not an object",
            ));
        }
    };
    let expired_time = c
        .get("ExpiredTime")
        .and_then(Value::as_u64)
        .ok_or_else(|| VodError::bad_response(APPLY, "no TempCertificate.ExpiredTime"))?;
    Ok(Some(TempCred {
        secret_id: text(APPLY, c, "SecretId")?,
        secret_key: text(APPLY, c, "SecretKey")?,
        token: text(APPLY, c, "Token")?,
        expired_time,
        issued: now(),
    }))
}

/// The error of an answer's `Response.Error`, naming the parameter a
/// parameter code points at and the value sent for it.
pub(super) fn api_error(
    action: &'static str,
    error: &Map<String, Value>,
    request_id: String,
    sent: &Map<String, Value>,
) -> VodError {
    let code = error
        .get("Code")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut message = error
        .get("Message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(p) = api3::parameter_of(&code)
        && p != "VodSessionKey"
    {
        match sent.get(p) {
            Some(v) => {
                let mut v = v.to_string();
                if v.len() > 120 {
                    let cut = (0..=117)
                        .rev()
                        .find(|&i| v.is_char_boundary(i))
                        .unwrap_or(0);
                    v.truncate(cut);
                    v.push('…');
                }
                message.push_str(&format!(" (parameter {p} = {v})"));
            }
            None => message.push_str(&format!(" (parameter {p})")),
        }
    }
    VodError::new(
        action,
        VodErrorKind::Api {
            code,
            message,
            request_id,
        },
    )
}

/// Reads an answer: the `Response` object, or its error.
pub(super) fn read_reply(
    action: &'static str,
    status: u16,
    body: &[u8],
    sent: &Map<String, Value>,
) -> Result<Map<String, Value>, VodError> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let response = parsed
        .as_ref()
        .and_then(|v| v.get("Response"))
        .and_then(Value::as_object);
    let Some(response) = response else {
        if status != 200 {
            return Err(VodError::new(action, VodErrorKind::Status { status }));
        }
        return Err(VodError::new(
            action,
            VodErrorKind::BadResponse {
                reason: "the answer is not a JSON Response object".into(),
                retryable: true,
            },
        ));
    };
    let request_id = response
        .get("RequestId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(e) = response.get("Error").and_then(Value::as_object) {
        return Err(api_error(action, e, request_id, sent));
    }
    if status != 200 {
        return Err(VodError::new(action, VodErrorKind::Status { status }));
    }
    Ok(response.clone())
}
