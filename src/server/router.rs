//! The router ([`app`]: one fallback that routes by Host and path, see the
//! table in `server/mod.rs`) and [`serve`]: a bound listener and a shutdown
//! future in, the service running until the future resolves. Imports the
//! flow files (`v2`, `api3`, `cos`, `frontwize`) and the shared pieces (`admin`,
//! `page`, `playback`, `app`, `respond`); nothing imports this file but
//! `mod.rs`'s re-exports.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::app::App;
use super::config::ServerConfig;
use super::respond::plain;
use super::{admin, api3, cos, frontwize, page, playback, v2};

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
    let host = parts
        .headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if cos::is_cos_host(&host) {
        return cos::handle(app, parts, body).await;
    }
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    match path.as_str() {
        "/" if api3::is_api3(&parts.method, &parts.headers, query.as_deref()) => {
            api3::handle(app, parts, body).await
        }
        "/" => page::handle(app, &parts.method).await,
        "/v2/index.php" | "/v3/index.php" => {
            v2::handle(app, parts.method, parts.headers, path, query, body).await
        }
        p if frontwize::owns(p) => frontwize::handle(app, parts, body).await,
        p if p == "/admin" || p.starts_with("/admin/") => {
            if !peer.ip().is_loopback() {
                return plain(StatusCode::FORBIDDEN, "admin endpoints are loopback-only");
            }
            admin::handle(app, parts.method, &path, body).await
        }
        _ => match playback::serve(&app, &parts.method, &parts.headers, &path).await {
            Some(r) => r,
            None => plain(StatusCode::NOT_FOUND, "not found"),
        },
    }
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = Arc::new(App::open(config).context("opening the data directory")?);
    // No Nagle: a reply's last segment must not wait for the client's
    // delayed ACK (~40 ms per playback Range request otherwise).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("serving")?;
    Ok(())
}
