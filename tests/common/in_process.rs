//! [`TestServer`]: the real `vodfs::server` started inside the test process
//! on 127.0.0.1:0, for tests that need the service's HTTP API but no mount
//! and no separate process (the `serve` and `upload` areas). It stops when
//! dropped; [`TestServer::kill`] aborts it like a crash, and a new one on
//! the same data directory is the restart. Its tracing goes to the test's
//! captured output, so a failed test shows the service's log.
//!
//! This file is the only place the tests reach into `vodfs::server`.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::Value;
use tempfile::TempDir;
use vodfs::server::{Account, ServerConfig, serve};

use super::account::{APP_ID, SECRET_ID, SECRET_KEY};

/// The test account as the in-process service takes it.
pub fn account() -> Account {
    Account {
        secret_id: SECRET_ID.into(),
        secret_key: SECRET_KEY.into(),
        app_id: APP_ID,
    }
}

/// The service's clock (unix seconds), for timestamps it must accept.
pub fn now() -> u64 {
    vodfs::server::unix_now()
}

/// A service running in-process on a loopback port.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub http: reqwest::Client,
    /// The data directory when the server made its own.
    _data: Option<TempDir>,
}

impl TestServer {
    /// Starts on `data_dir` (which outlives the server, for restarts).
    pub async fn start(data_dir: &Path) -> TestServer {
        Self::start_with(data_dir, |_| {}).await
    }

    /// Starts on `data_dir` with the settings `tune` changes.
    pub async fn start_with(data_dir: &Path, tune: impl FnOnce(&mut ServerConfig)) -> TestServer {
        Self::start_at("127.0.0.1:0", data_dir, tune).await
    }

    /// Starts on a data directory of its own, removed when it is dropped.
    pub async fn start_temp(tune: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("data dir");
        let mut s = Self::start_with(dir.path(), tune).await;
        s._data = Some(dir);
        s
    }

    /// Starts listening on `bind` (e.g. `0.0.0.0:0`); its URL still names
    /// 127.0.0.1.
    pub async fn start_at(
        bind: &str,
        data_dir: &Path,
        tune: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        init_tracing();
        let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut cfg =
            ServerConfig::new(data_dir.to_path_buf(), format!("http://{addr}"), account());
        tune(&mut cfg);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, cfg, async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            stop: Some(tx),
            task: Some(task),
            http: reqwest::Client::new(),
            _data: None,
        }
    }

    /// A handle on a service running elsewhere (a [`super::Service`]
    /// child at `addr`, `127.0.0.1:PORT`), so the signing helpers of the
    /// serve tests talk to a real `vodfs serve` process that a test kills
    /// with SIGKILL. Nothing runs in-process; dropping it stops nothing.
    pub fn attach(addr: &str) -> TestServer {
        TestServer {
            addr: addr.parse().expect("127.0.0.1:PORT"),
            stop: None,
            task: None,
            http: reqwest::Client::new(),
            _data: None,
        }
    }

    /// Stops the service abruptly, like a crash at the request level: the
    /// accept loop is aborted without a graceful shutdown.
    pub fn kill(mut self) {
        self.stop.take();
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Stops the service, waits for it to finish and asserts it ended well.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await
                .expect("server task")
                .expect("server ended with an error");
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT{path}`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `127.0.0.1:PORT`, as a client's Host header names it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// GET an admin endpoint as JSON (whatever its status).
    pub async fn admin(&self, path: &str) -> Value {
        let r = self
            .http
            .get(self.url(path))
            .header("X-Vodfs-Admin", "1")
            .send()
            .await
            .expect("admin");
        r.json().await.expect("admin json")
    }

    /// Sets the injected faults (`PUT /admin/faults`).
    pub async fn set_faults(&self, spec: &str) {
        let r = self
            .http
            .put(self.url("/admin/faults"))
            .header("X-Vodfs-Admin", "1")
            .body(spec.to_string())
            .send()
            .await
            .expect("admin faults");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Sends the service's tracing to the test's captured output (once per
/// process; `RUST_LOG` overrides the level).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("vodfs=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
