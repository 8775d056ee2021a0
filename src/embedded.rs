//! The embedded service: a mount with no `--endpoint` runs `vodfs serve`
//! in-process, with its data under `<cache>/serve`.
//!
//! Playback URLs are stored in the cache and must stay valid across
//! remounts, so the embedded service keeps its port: the first mount binds
//! 127.0.0.1:8700 (or any free port when that is taken) and records the
//! address in `<cache>/serve/listen`; later mounts bind the same address. The
//! account is the one the mount was given, else the one `vodfs serve` keeps in
//! its data directory (`<cache>/serve/account.json`, see
//! `server::account_for`).

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::config::Credentials;
use crate::server::ServerConfig;

/// Default address of the embedded service.
const DEFAULT_LISTEN: &str = "127.0.0.1:8700";

/// A running embedded service; dropping it stops the service.
pub struct Embedded {
    /// Base URL clients use (`http://127.0.0.1:PORT`).
    pub url: String,
    pub data_dir: PathBuf,
    pub credentials: Credentials,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Embedded {
    /// Stops the service and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the embedded service for a cache directory, on the current runtime.
pub async fn start(cache_dir: &Path, given: Option<&Credentials>) -> anyhow::Result<Embedded> {
    let dir = cache_dir.join("serve");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let given = given.map(|c| (c.secret_id.clone(), c.secret_key().to_string()));
    let (account, _) = crate::server::account_for(&dir, given, None)?;
    let listen_file = dir.join("listen");
    let wanted: SocketAddr = std::fs::read_to_string(&listen_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default address"));
    let listener = match tokio::net::TcpListener::bind(wanted).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(
                "embedded service: {wanted} is taken ({e}); using a free port — playback URLs recorded earlier point at {wanted}"
            );
            tokio::net::TcpListener::bind("127.0.0.1:0").await?
        }
    };
    let addr = listener.local_addr()?;
    std::fs::write(&listen_file, addr.to_string())?;
    let url = format!("http://{addr}");
    let config = ServerConfig::new(dir.clone(), url.clone(), account.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(e) = crate::server::serve(listener, config, shutdown).await {
            tracing::error!(
                "embedded service stopped: {}",
                crate::report::chain(e.as_ref())
            );
        }
    });
    Ok(Embedded {
        url,
        data_dir: dir,
        credentials: Credentials::new(account.secret_id, account.secret_key),
        stop: Some(stop),
        task: Some(task),
    })
}
