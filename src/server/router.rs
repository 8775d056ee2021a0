//! The router ([`app`]: one fallback that routes by Host and path, see the
//! table in `server/mod.rs`) and [`serve`]: a bound listener and a shutdown
//! future in, the service running until the future resolves. Imports the
//! flow files (`v2`, `ugc_d`, `api3`, `cos`, `frontwize`) and the shared pieces (`admin`,
//! `page`, `playback`, `app`, `respond`); nothing imports this file but
//! `mod.rs`'s re-exports.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::app::App;
use super::config::ServerConfig;
use super::respond::plain;
use super::{admin, api3, body, cos, frontwize, page, playback, ugc_d, v2};

/// The router: one fallback that routes by Host and path.
pub fn app(state: Arc<App>) -> Router {
    Router::new().fallback(route).with_state(state)
}

async fn route(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let limit = body_limit(&app, &parts.headers);
    // Every family's body: refused unread when it declares more than its
    // endpoint takes, an error once it stalls past the body timeout.
    let whole = Arc::new(AtomicBool::new(false));
    let body = match declared_length(&parts.headers) {
        Some(n) if n > limit => body::declared_too_large(n),
        _ => body::with_timeout(body, app.cfg.body_timeout, whole.clone()),
    };
    let mut response = dispatch(app, peer, parts, body).await;
    if !whole.load(Ordering::Relaxed) {
        // The body was not read to its end (refused unread, or answered
        // early): the connection cannot carry another request, so say so,
        // or a client's pool sends its next call into a connection the
        // service is closing (IncompleteMessage).
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// The Content-Length a request declares, if any.
fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// The largest body the request's endpoint takes: COS's object bound on a
/// COS host, the VOD API's elsewhere.
fn body_limit(app: &App, headers: &axum::http::HeaderMap) -> u64 {
    match cos::is_cos_host(host_of(headers)) {
        true => app.cfg.max_object_body,
        false => app.cfg.max_body,
    }
}

fn host_of(headers: &axum::http::HeaderMap) -> &str {
    headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn dispatch(
    app: Arc<App>,
    peer: SocketAddr,
    parts: axum::http::request::Parts,
    body: axum::body::Body,
) -> Response {
    if cos::is_cos_host(host_of(&parts.headers)) {
        return cos::handle(app, parts, body).await;
    }
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    match path.as_str() {
        "/" if api3::is_api3(&parts.method, &parts.headers, query.as_deref()) => {
            api3::handle(app, parts, body).await
        }
        "/" => page::handle(app, &parts.method).await,
        "/v2/index.php" | "/v3/index.php" if ugc_d::action_of(query.as_deref()).is_some() => {
            let action = ugc_d::action_of(query.as_deref()).unwrap_or_default();
            ugc_d::handle(app, action, parts, body).await
        }
        "/v2/index.php" | "/v3/index.php" => {
            v2::handle(app, parts.method, parts.headers, path, query, body).await
        }
        p if frontwize::owns(p) => frontwize::handle(app, parts, body).await,
        p if p == "/admin" || p.starts_with("/admin/") => {
            if let Some(why) = admin::refusal(peer.ip(), &parts.headers) {
                return plain(StatusCode::FORBIDDEN, why);
            }
            admin::handle(app, parts.method, &path, body).await
        }
        _ => match playback::serve(&app, &parts.method, &parts.headers, &path).await {
            Some(r) => r,
            None => plain(StatusCode::NOT_FOUND, "not found"),
        },
    }
}

/// Serves on `listener` until `shutdown` resolves; then stops accepting,
/// lets in-flight requests run on for the configured grace and cuts the
/// connections left, so the service stops within seconds whatever its
/// clients do (an acknowledged part was synced before its answer).
///
/// One task per connection (HTTP/1.1, hyper): at most `max_connections`
/// at once (the rest wait in the kernel's backlog), each given
/// `header_timeout` to send a request's headers (which also closes idle
/// kept-alive connections); bodies time out in `route`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let limits = ConnLimits {
        header_timeout: config.header_timeout,
        grace: config.shutdown_grace,
    };
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let state = Arc::new(App::open(config).context("opening the data directory")?);
    let router = app(state);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => p.context("connection permits")?,
        };
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // No Nagle: a reply's last segment must not wait for the client's
        // delayed ACK (~40 ms per playback Range request otherwise).
        let _ = tcp.set_nodelay(true);
        let (router, stop) = (router.clone(), stop_rx.clone());
        conns.spawn(async move {
            connection(tcp, peer, router, limits, stop).await;
            drop(permit);
        });
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all_done = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.grace + Duration::from_secs(1), all_done)
        .await
        .is_err()
    {
        tracing::warn!(left = conns.len(), "cutting connections still open");
    }
    conns.shutdown().await;
    Ok(())
}

/// What one connection task needs of the configuration.
#[derive(Clone, Copy)]
struct ConnLimits {
    header_timeout: Duration,
    grace: Duration,
}

/// Serves one connection until it closes, or until a shutdown: then its
/// in-flight request gets `grace` to finish before the connection is cut.
async fn connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) {
    let tower = TowerToHyperService::new(router);
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        hyper::service::Service::call(&tower, req)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let conn = builder.serve_connection(TokioIo::new(tcp), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            return;
        }
        _ = stop.wait_for(|s| *s) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(limits.grace, conn).await;
}
