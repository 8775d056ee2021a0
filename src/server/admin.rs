//! The loopback-only admin endpoints (documented in `mod.rs`): the media
//! records, request statistics and the live fault plan. A media made of a
//! multipart COS object records no SHA-1 (completion makes no data pass);
//! its record shows the SHA-1 of its stored bytes, hashed when asked.
//!
//! The door ([`refusal`]) is closed to web pages on the same host: a
//! request must come from a loopback peer, name a loopback Host (so a
//! DNS-rebinding page, whose Host is its own name, is refused), carry
//! [`ADMIN_HEADER`] or a JSON Content-Type (so a browser must preflight,
//! which this service never answers), and carry no Origin but the
//! service's own.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::app::App;
use super::config::RateLimits;
use super::error::ServerError;
use super::faults::FaultSpec;
use super::respond::{json_response, plain};
use super::store::{MediaRow, Store};

/// The header an admin request carries (any value).
pub const ADMIN_HEADER: &str = "x-vodfs-admin";

/// Why an admin request is refused, if it is.
pub fn refusal(peer: std::net::IpAddr, headers: &HeaderMap) -> Option<&'static str> {
    let text = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    if !peer.is_loopback() {
        return Some("admin endpoints are loopback-only");
    }
    let host = text("host").unwrap_or("");
    if !is_loopback_host(host) {
        return Some("admin endpoints answer only a loopback Host");
    }
    let json = text("content-type").is_some_and(|t| {
        t.trim()
            .to_ascii_lowercase()
            .starts_with("application/json")
    });
    if !json && !headers.contains_key(ADMIN_HEADER) {
        return Some("admin requests carry an X-Vodfs-Admin header or a JSON Content-Type");
    }
    if let Some(origin) = text("origin")
        && origin != format!("http://{host}")
    {
        return Some("admin endpoints refuse another Origin");
    }
    None
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `media` with the SHA-1 of its stored bytes where the row records none.
async fn with_sha1(
    app: &App,
    media: Result<Vec<MediaRow>, super::error::ServerError>,
) -> Result<Vec<MediaRow>, super::error::ServerError> {
    let mut media = media?;
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || {
        for m in media.iter_mut().filter(|m| m.sha1.is_empty()) {
            m.sha1 = file_sha1(&store.media_path(&m.file_id))?;
        }
        Ok(media)
    })
    .await
    .map_err(|e| super::error::ServerError::Internal(format!("hashing media: {e}")))?
}

/// The SHA-1 (hex) of a file, read in 1 MiB pieces.
fn file_sha1(path: &std::path::Path) -> Result<String, super::error::ServerError> {
    use sha1::Digest as _;
    use std::io::Read as _;
    let mut f = super::span::open(path)?;
    let (mut sha1, mut buf) = (sha1::Sha1::new(), vec![0u8; 1 << 20]);
    loop {
        match f.read(&mut buf)? {
            0 => return Ok(hex::encode(sha1.finalize())),
            n => sha1.update(&buf[..n]),
        }
    }
}

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
        (Method::GET, "/admin/media") => {
            match with_sha1(&app, app.db(|s| s.list_media()).await).await {
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
            }
        }
        (Method::GET, p) if p.starts_with("/admin/media/") => {
            let id = p.trim_start_matches("/admin/media/").to_string();
            let found = app
                .db(move |s| {
                    let m = s.media_by_id(&id)?;
                    let cover = match m.as_ref().and_then(|m| m.cover_file_id.clone()) {
                        Some(c) => s.media_by_id(&c)?,
                        None => None,
                    };
                    let d = s.ugc_d_media(&id)?;
                    Ok(m.map(|m| (m, cover, d)))
                })
                .await;
            let found = match found {
                Ok(Some((m, c, d))) => with_sha1(&app, Ok(vec![m]))
                    .await
                    .map(|mut v| v.pop().map(|m| (m, c, d))),
                other => other,
            };
            match found {
                Ok(Some((m, c, d))) => {
                    let mut v = media_json(&app, &m, c.as_ref());
                    // Family D's settings beyond the media row.
                    if let (Some(o), Some(d)) = (v.as_object_mut(), d) {
                        o.insert("taskPriority".into(), json!(d.task_priority));
                        o.insert("taskNotifyMode".into(), json!(d.task_notify_mode));
                    }
                    json_ok(v)
                }
                Ok(None) => plain(StatusCode::NOT_FOUND, "no such media"),
                Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
        (Method::GET, "/admin/stats") => {
            let mut stats = app.stats.to_json();
            stats["storeSyncs"] = json!(app.store.wal_syncs());
            json_ok(stats)
        }
        (Method::GET, "/admin/multipart") => match app.db(open_multipart).await {
            Ok(all) => json_ok(Value::Array(all)),
            Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
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
        (Method::POST, "/admin/expire-sessions") => {
            let now = super::clock::unix_now();
            match app.db(move |s| s.expire_ugc_d_sessions(now)).await {
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

#[cfg(test)]
mod door_tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("value"));
        }
        h
    }

    #[test]
    fn only_loopback_hosts_with_the_header_and_no_foreign_origin_pass() {
        let lo: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
        let ok = |pairs: &[(&'static str, &'static str)]| refusal(lo, &headers(pairs)).is_none();
        assert!(ok(&[("host", "127.0.0.1:8700"), (ADMIN_HEADER, "1")]));
        assert!(ok(&[
            ("host", "localhost"),
            ("content-type", "application/json")
        ]));
        assert!(ok(&[("host", "[::1]:80"), (ADMIN_HEADER, "1")]));
        assert!(ok(&[
            ("host", "127.0.0.1:8700"),
            (ADMIN_HEADER, "1"),
            ("origin", "http://127.0.0.1:8700")
        ]));
        assert!(!ok(&[("host", "127.0.0.1:8700")]));
        assert!(!ok(&[
            ("host", "127.0.0.1:8700"),
            ("content-type", "text/plain")
        ]));
        assert!(!ok(&[("host", "evil.example:8700"), (ADMIN_HEADER, "1")]));
        assert!(!ok(&[
            ("host", "127.0.0.1.evil.example"),
            (ADMIN_HEADER, "1")
        ]));
        assert!(!ok(&[
            ("host", "127.0.0.1:8700"),
            (ADMIN_HEADER, "1"),
            ("origin", "http://evil.example")
        ]));
        let far: std::net::IpAddr = "10.0.0.1".parse().expect("ip");
        assert!(refusal(far, &headers(&[("host", "localhost"), (ADMIN_HEADER, "1")])).is_some());
    }
}

/// Every open multipart upload with its parts' sizes in part order (a
/// test sees the layout its parts were sent in).
fn open_multipart(s: &Store) -> Result<Vec<Value>, ServerError> {
    let mut all = Vec::new();
    for (bucket, key, id, parts) in s.open_multipart()? {
        let sizes: Vec<u64> = s
            .mp_parts(&id)?
            .into_iter()
            .map(|(_, size, _)| size)
            .collect();
        all.push(
            json!({"bucket": bucket, "key": key, "uploadId": id, "parts": parts, "sizes": sizes}),
        );
    }
    Ok(all)
}
