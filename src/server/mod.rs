//! `vodfs serve`: a persistent single-node implementation of the VOD upload
//! service (issue 2), speaking the protocol of `shared/protocol.md`.
//!
//! Routing is by request, in one function ([`app`]): a Host of the form
//! `<bucket>-<appId>.cos.<region>.myqcloud.com` goes to the COS XML subset
//! (`cos.rs`, the SDKs connect to our address but keep the COS Host); then
//! `/v2/index.php` and `/v3/index.php` (`v2.rs`: families A, B, C control
//! calls); `/v1/media`, `/api/v1/media/<id>/uploaded` and `/fw-upload/…`
//! (`frontwize.rs`); `/admin/…` (`admin.rs`, loopback peers only); `/` is
//! the media page (`page.rs`); anything else is looked up as a playback URL
//! path (`playback.rs`).
//!
//! Admin endpoints (JSON, loopback only, no auth):
//! - `GET /admin/media` → `[media…]`; `GET /admin/media/<fileId>` →
//!   `{fileId, name, type, size, sha1, md5, url, coverUrl, coverFileId,
//!   classId, tags, procedure, sourceContext, flow, kind, parent, createdAt,
//!   urlPath}` or 404.
//! - `GET /admin/stats` → `{actions: {<Action>: {requests, errors}},
//!   partsReceived, partBytesReceived}`: part bytes count every UploadPart
//!   (and COS multipart part) body accepted, so a test can prove a resume
//!   re-sent only what was missing.
//! - `GET /admin/faults` → the spec as text; `PUT /admin/faults` with a spec
//!   (see `faults.rs`) or `off` as the body replaces it (400 if invalid).
//! - `GET /admin/account` → `{secretId, appId, verifyKey, bucket}` (no key).
//! - `GET /admin/rate-limits` → the quotas; `PUT /admin/rate-limits` with
//!   `off`, `on` or `ACTION=N,…` changes them at run time.
//!
//! Decisions: instant upload (same account, same SHA-1 of a complete video)
//! returns the *existing* fileId, like the real service; fileIds are
//! 19-digit decimals from a persistent counter, never reused; every error is
//! HTTP 200 with a v2 body on the v2 endpoints (the SDKs ignore the status).

pub mod admin;
pub mod body;
pub mod config;
pub mod cos;
pub mod cos_multipart;
pub mod cos_xml;
pub mod error;
pub mod family_a;
pub mod faults;
pub mod frontwize;
pub mod page;
pub mod playback;
pub mod ratelimit;
pub mod running;
pub mod store;
pub mod store_objects;
pub mod ugc;
pub mod upload_data;
pub mod v2;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

pub use config::{Account, RateLimits, ServerConfig};
pub use error::ServerError;
pub use faults::{FaultKind, FaultSpec};

use crate::cli::ServeArgs;
use store::Store;

/// Unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Per-action request counters, for `/admin/stats`.
#[derive(Default)]
pub struct Stats {
    actions: Mutex<BTreeMap<String, (u64, u64)>>,
    parts: AtomicU64,
    part_bytes: AtomicU64,
}

impl Stats {
    pub fn request(&self, action: &str) {
        let mut a = self.actions.lock().unwrap_or_else(|e| e.into_inner());
        a.entry(action.to_string()).or_default().0 += 1;
    }

    pub fn error(&self, action: &str) {
        let mut a = self.actions.lock().unwrap_or_else(|e| e.into_inner());
        a.entry(action.to_string()).or_default().1 += 1;
    }

    pub fn part_received(&self, bytes: u64) {
        self.parts.fetch_add(1, Ordering::Relaxed);
        self.part_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn to_json(&self) -> serde_json::Value {
        let a = self.actions.lock().unwrap_or_else(|e| e.into_inner());
        let actions: serde_json::Map<String, serde_json::Value> = a
            .iter()
            .map(|(k, (r, e))| (k.clone(), serde_json::json!({"requests": r, "errors": e})))
            .collect();
        serde_json::json!({
            "actions": actions,
            "partsReceived": self.parts.load(Ordering::Relaxed),
            "partBytesReceived": self.part_bytes.load(Ordering::Relaxed),
        })
    }
}

/// Shared state of a running service.
pub struct App {
    pub cfg: ServerConfig,
    pub store: Arc<Store>,
    pub limiter: ratelimit::RateLimiter,
    pub nonces: ratelimit::NonceCache,
    pub faults: faults::Faults,
    pub stats: Stats,
    /// Serialises the steps that turn uploads into media (finish, commit).
    pub commit_lock: tokio::sync::Mutex<()>,
    /// Whole-content hashes of uploads whose parts arrived in order.
    pub running: running::Running,
}

impl App {
    pub fn open(cfg: ServerConfig) -> Result<App, ServerError> {
        let store = Arc::new(Store::open(&cfg.data_dir)?);
        Ok(App {
            limiter: ratelimit::RateLimiter::new(cfg.rate_limits.clone()),
            nonces: ratelimit::NonceCache::new(),
            faults: faults::Faults::new(cfg.faults.clone()),
            stats: Stats::default(),
            commit_lock: tokio::sync::Mutex::new(()),
            running: running::Running::default(),
            store,
            cfg,
        })
    }

    /// Runs a store operation off the async threads.
    pub async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, ServerError> + Send + 'static,
    ) -> Result<T, ServerError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| ServerError::Internal(format!("store task failed: {e}")))?
    }

    /// The appId of an account (the main one's if unknown).
    pub fn account_app_id(&self, secret_id: &str) -> u64 {
        self.cfg
            .account_by_id(secret_id)
            .unwrap_or(&self.cfg.account)
            .app_id
    }
}

/// Turns a complete response into one that declares its full length, sends
/// half of the body and then breaks the connection (the "dropped mid-body"
/// fault).
pub async fn drop_mid_body(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let half = bytes.slice(..bytes.len() / 2);
    let stream = futures::stream::iter(vec![
        Ok(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected drop",
        )),
    ]);
    let mut resp = Response::from_parts(parts, Body::from_stream(stream));
    if let Ok(v) = axum::http::HeaderValue::from_str(&bytes.len().to_string()) {
        resp.headers_mut()
            .insert(axum::http::header::CONTENT_LENGTH, v);
    }
    resp
}

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

pub fn plain(code: StatusCode, msg: &str) -> Response {
    Response::builder()
        .status(code)
        .header(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )
        .body(Body::from(format!("{msg}\n")))
        .unwrap_or_default()
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

/// The generated account persisted in the data dir (mode 0600).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredAccount {
    secret_id: String,
    secret_key: String,
    app_id: u64,
}

const DEFAULT_APP_ID: u64 = 1_400_000_000;

fn random_text(len: usize) -> String {
    use rand::Rng as _;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// The account to serve, and whether it was just generated (print it).
fn resolve_account(args: &ServeArgs) -> anyhow::Result<(Account, bool)> {
    let given = match (&args.secret_id, &args.secret_key) {
        (Some(id), Some(key)) => Some((id.clone(), key.clone())),
        (None, None) => None,
        _ => anyhow::bail!("give both --secret-id and --secret-key, or neither"),
    };
    account_for(&args.data, given, args.app_id)
}

/// The account of a data directory: the given SecretId/SecretKey, else the
/// one stored in `DATA/account.json` (mode 0600), else a new one generated
/// and stored there. The flag says whether it was just generated. Used by
/// `vodfs serve` and by the mount's embedded service.
pub fn account_for(
    data: &Path,
    given: Option<(String, String)>,
    app_id: Option<u64>,
) -> anyhow::Result<(Account, bool)> {
    if let Some((secret_id, secret_key)) = given {
        return Ok((
            Account {
                secret_id,
                secret_key,
                app_id: app_id.unwrap_or(DEFAULT_APP_ID),
            },
            false,
        ));
    }
    let path = data.join("account.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let s: StoredAccount =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        return Ok((
            Account {
                secret_id: s.secret_id,
                secret_key: s.secret_key,
                app_id: app_id.unwrap_or(s.app_id),
            },
            false,
        ));
    }
    let acct = Account {
        secret_id: format!("AKID{}", random_text(32)),
        secret_key: random_text(32),
        app_id: app_id.unwrap_or(DEFAULT_APP_ID),
    };
    write_account(&path, &acct)?;
    Ok((acct, true))
}

fn write_account(path: &Path, a: &Account) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string(&StoredAccount {
        secret_id: a.secret_id.clone(),
        secret_key: a.secret_key.clone(),
        app_id: a.app_id,
    })?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Builds the config from the command line (the account resolved apart).
pub fn config_from_args(
    args: &ServeArgs,
    account: Account,
    bound: SocketAddr,
) -> anyhow::Result<ServerConfig> {
    let public = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"));
    let mut cfg = ServerConfig::new(args.data.clone(), public, account);
    cfg.rate_limits.enabled = !args.no_rate_limit;
    for item in &args.rate_limit {
        let (action, n) = item
            .split_once('=')
            .with_context(|| format!("--rate-limit {item:?} is not ACTION=N"))?;
        let n: u32 = n
            .parse()
            .with_context(|| format!("--rate-limit {item:?}: N must be a number"))?;
        cfg.rate_limits.per_action.insert(action.to_string(), n);
    }
    if let Some(spec) = &args.faults {
        cfg.faults = spec.parse().context("--faults")?;
    }
    cfg.max_body = args.max_body;
    Ok(cfg)
}

/// `vodfs serve`: binds, prints the address (and a generated account), and
/// serves until SIGINT or SIGTERM.
pub fn run_cli(args: &ServeArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async {
        // Reject bad options before anything is written to the data dir.
        let placeholder = Account {
            secret_id: String::new(),
            secret_key: String::new(),
            app_id: 0,
        };
        config_from_args(args, placeholder, args.listen)?;
        std::fs::create_dir_all(&args.data)
            .with_context(|| format!("creating {}", args.data.display()))?;
        let (account, generated) = resolve_account(args)?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let bound = listener.local_addr()?;
        let cfg = config_from_args(args, account.clone(), bound)?;
        // Handlers go in before the address is printed: whoever reads that
        // line may signal us at once.
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "vodfs serve: listening on http://{bound}")?;
            if generated {
                writeln!(
                    out,
                    "SecretId={} SecretKey={} AppId={}",
                    account.secret_id, account.secret_key, account.app_id
                )?;
            }
            out.flush()?;
        }
        let shutdown = async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        };
        serve(listener, cfg, shutdown).await
    })
}
