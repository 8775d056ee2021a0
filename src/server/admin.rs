//! The loopback-only admin endpoints (documented in `mod.rs`): the media
//! records, request statistics and the live fault plan.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::app::App;
use super::config::RateLimits;
use super::faults::FaultSpec;
use super::respond::{json_response, plain};
use super::store::MediaRow;

fn media_json(app: &App, m: &MediaRow, cover: Option<&MediaRow>) -> Value {
    let mut v = serde_json::to_value(m).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "url".into(),
            json!(format!("{}{}", app.cfg.public_url, m.url_path)),
        );
        o.insert(
            "coverUrl".into(),
            json!(cover.map(|c| format!("{}{}", app.cfg.public_url, c.url_path))),
        );
    }
    v
}

pub async fn handle(app: Arc<App>, method: Method, path: &str, body: Body) -> Response {
    let json_ok = |v: Value| json_response(200, &v);
    match (method, path) {
        (Method::GET, "/admin/media") => match app.db(|s| s.list_media()).await {
            Ok(all) => {
                let list: Vec<Value> = all
                    .iter()
                    .map(|m| {
                        let cover = m
                            .cover_file_id
                            .as_ref()
                            .and_then(|c| all.iter().find(|x| &x.file_id == c));
                        media_json(&app, m, cover)
                    })
                    .collect();
                json_ok(Value::Array(list))
            }
            Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        (Method::GET, p) if p.starts_with("/admin/media/") => {
            let id = p.trim_start_matches("/admin/media/").to_string();
            let found = app
                .db(move |s| {
                    let m = s.media_by_id(&id)?;
                    let cover = match m.as_ref().and_then(|m| m.cover_file_id.clone()) {
                        Some(c) => s.media_by_id(&c)?,
                        None => None,
                    };
                    Ok(m.map(|m| (m, cover)))
                })
                .await;
            match found {
                Ok(Some((m, c))) => json_ok(media_json(&app, &m, c.as_ref())),
                Ok(None) => plain(StatusCode::NOT_FOUND, "no such media"),
                Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
        (Method::GET, "/admin/stats") => json_ok(app.stats.to_json()),
        (Method::GET, "/admin/account") => {
            let a = &app.cfg.account;
            json_ok(json!({
                "secretId": a.secret_id,
                "appId": a.app_id,
                "verifyKey": a.verify_key(),
                "bucket": format!("{}-{}", a.bucket(), a.app_id),
            }))
        }
        (Method::GET, "/admin/faults") => plain(StatusCode::OK, &app.faults.get().to_string()),
        (Method::PUT | Method::POST, "/admin/faults") => {
            let text = match super::body::read_small(body, 4096).await {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => return plain(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string()),
            };
            match text.parse::<FaultSpec>() {
                Ok(spec) => {
                    app.faults.set(spec.clone());
                    plain(StatusCode::OK, &spec.to_string())
                }
                Err(e) => plain(StatusCode::BAD_REQUEST, &e.to_string()),
            }
        }
        (Method::GET, "/admin/rate-limits") => {
            let l = app.limiter.limits();
            json_ok(json!({
                "enabled": l.enabled,
                "controlPerMin": l.control_per_min,
                "partPerMin": l.part_per_min,
                "api3PerSec": l.api3_per_sec,
                "perAction": l.per_action,
            }))
        }
        (Method::PUT | Method::POST, "/admin/rate-limits") => {
            let text = match super::body::read_small(body, 4096).await {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => return plain(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string()),
            };
            match apply_limits(app.limiter.limits(), text.trim()) {
                Ok(l) => {
                    app.limiter.set_limits(l);
                    plain(StatusCode::OK, "ok")
                }
                Err(msg) => plain(StatusCode::BAD_REQUEST, &msg),
            }
        }
        (Method::GET, "/admin/temp-credential-ttl") => {
            plain(StatusCode::OK, &app.temp_cred_ttl().to_string())
        }
        (Method::PUT | Method::POST, "/admin/temp-credential-ttl") => {
            let text = match super::body::read_small(body, 64).await {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => return plain(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string()),
            };
            match text.trim().parse::<u64>() {
                Ok(secs) => {
                    app.set_temp_cred_ttl(secs);
                    plain(StatusCode::OK, &secs.to_string())
                }
                Err(_) => plain(StatusCode::BAD_REQUEST, "the body must be seconds"),
            }
        }
        (Method::POST, "/admin/expire-credentials") => {
            let now = super::clock::unix_now();
            match app.db(move |s| s.expire_temp_creds(now)).await {
                Ok(n) => json_ok(json!({"expired": n})),
                Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
        _ => plain(StatusCode::NOT_FOUND, "no such admin endpoint"),
    }
}

/// Applies `off`, `on` or `ACTION=N,…` to the current limits.
fn apply_limits(mut l: RateLimits, text: &str) -> Result<RateLimits, String> {
    match text {
        "off" => l.enabled = false,
        "on" => l.enabled = true,
        _ => {
            for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                let (action, n) = item
                    .split_once('=')
                    .ok_or_else(|| format!("{item:?} is not ACTION=N"))?;
                let n: u32 = n
                    .trim()
                    .parse()
                    .map_err(|_| format!("{item:?}: N must be a number"))?;
                l.per_action.insert(action.trim().to_string(), n);
            }
            l.enabled = true;
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_text() {
        let l = apply_limits(RateLimits::default(), "off").unwrap();
        assert!(!l.enabled);
        let l = apply_limits(l, "InitUpload=3, UploadPart=9").unwrap();
        assert!(l.enabled);
        assert_eq!((l.quota("InitUpload"), l.quota("UploadPart")), (3, 9));
        assert!(apply_limits(l, "InitUpload").is_err());
    }
}
