//! A v4 service over HTTP on top of `vodfs::upload::fake::FakeFlow`: the
//! scripted server's handler turns each signed request into a call of the
//! in-memory flow and its answer into the v2 JSON body.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use vodfs::upload::fake::FakeFlow;
use vodfs::vod::{Part, Session, StartRequest, Started, UploadFlow, VodError, VodErrorKind};

use super::scripted::{Handler, Seen};

fn error_body(e: &VodError) -> Value {
    match &e.kind {
        VodErrorKind::Service {
            code,
            message,
            code_desc,
            can_retry,
        } => {
            json!({"code": code, "message": message, "codeDesc": code_desc, "canRetry": u8::from(*can_retry)})
        }
        other => json!({"code": -10003, "message": other.to_string(), "canRetry": 0}),
    }
}

fn session(s: &Seen, part_size: u32) -> Session {
    Session {
        flow: "fake".into(),
        sha1_hex: s.param("fileSha").unwrap_or("").to_string(),
        file_size: 0,
        part_size,
        token: None,
        growth: None,
    }
}

/// Family B: the UGC signature must verify with the test key and name the file's sha.
fn ugc_ok(s: &Seen) -> bool {
    let Some(sig) = s.param("signature") else {
        return false;
    };
    let Ok(env) = vodfs::vod::sign::UgcEnvelope::decode(sig) else {
        return false;
    };
    env.verify(crate::common::SECRET_KEY).is_ok()
        && env.field("fs").as_deref() == s.param("fileSha")
}

async fn answer(flow: Arc<FakeFlow>, s: Seen) -> Value {
    let ugc = s.action().ends_with("Ex");
    if (ugc && !ugc_ok(&s)) || (!ugc && !s.signed_ok) {
        return json!({"code": -10002, "message": "signature check failed", "codeDesc": "AuthFailure"});
    }
    let num = |name: &str| {
        s.param(name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let r = match s.action().trim_end_matches("Ex") {
        "InitUpload" => {
            let req = StartRequest {
                file_name: s.param("fileName").unwrap_or("").into(),
                file_type: s.param("fileType").unwrap_or("").into(),
                file_size: num("fileSize"),
                sha1_hex: s.param("fileSha").unwrap_or("").into(),
                part_size: num("dataSize") as u32,
                settings: Default::default(),
                resume: None,
            };
            flow.start(&req).await.map(|st| match st {
                Started::Upload { resumed: false, .. } => json!({"code": 0, "message": ""}),
                Started::Upload { session, held, .. } => json!({
                    "code": 1, "dataSize": session.part_size,
                    "listParts": held.iter().map(|h| json!({"offset": h.offset, "dataSize": h.size, "dataMd5": h.md5_hex})).collect::<Vec<_>>(),
                }),
                Started::Complete { media, .. } => {
                    json!({"code": 2, "fileId": media.file_id, "url": media.url})
                }
            })
        }
        "UploadPart" => {
            if num("dataSize") != s.body.len() as u64 {
                return json!({"code": -10006, "message": "invalid packet size", "canRetry": 0});
            }
            let part = Part {
                index: 0,
                offset: num("offset"),
                data: s.body.clone(),
                md5_hex: s.param("dataMd5").unwrap_or("").into(),
            };
            flow.send_part(&session(&s, 0), part)
                .await
                .map(|()| json!({"code": 0, "message": ""}))
        }
        "FinishUpload" => flow
            .finish(&session(&s, 0))
            .await
            .map(|m| json!({"code": 0, "fileId": m.file_id, "url": m.url})),
        other => return json!({"code": 4000, "message": format!("unknown action {other}")}),
    };
    r.unwrap_or_else(|e| error_body(&e))
}

/// A handler serving the v4 protocol from `flow`.
pub fn v4_service(flow: Arc<FakeFlow>) -> Handler {
    Arc::new(move |s: Seen| {
        let flow = flow.clone();
        Box::pin(async move {
            let v = answer(flow, s).await;
            (200, HeaderMap::new(), Bytes::from(v.to_string()))
        })
    })
}
