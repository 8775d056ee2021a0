//! The embedded service: a mount with no `--endpoint` runs `vodfs serve`
//! in-process, with its data under `<cache>/serve`.
//!
//! Playback URLs are stored in the cache and must stay valid across
//! remounts, so the embedded service keeps its port: the first mount binds
//! 127.0.0.1:8700 (or any free port when that is taken) and records the
//! address in `<cache>/serve/listen`; later mounts bind the same address. The
//! account is the one the mount was given, else one generated on first use
//! and kept in `<cache>/serve/account.json` (mode 0600).

use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::config::Credentials;
use crate::server::{Account, ServerConfig};

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

#[derive(Serialize, Deserialize)]
struct StoredAccount {
    secret_id: String,
    secret_key: String,
    app_id: u64,
}

/// Starts the embedded service for a cache directory, on the current runtime.
pub async fn start(cache_dir: &Path, given: Option<&Credentials>) -> anyhow::Result<Embedded> {
    let dir = cache_dir.join("serve");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let account = load_or_create_account(&dir, given)?;
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
            tracing::error!("embedded service stopped: {e:#}");
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

fn load_or_create_account(dir: &Path, given: Option<&Credentials>) -> anyhow::Result<Account> {
    let path = dir.join("account.json");
    let stored: Option<StoredAccount> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let app_id = stored.as_ref().map(|s| s.app_id).unwrap_or_else(|| {
        use rand::Rng;
        rand::rng().random_range(1_250_000_000..1_260_000_000)
    });
    let account = match (given, stored) {
        (Some(c), _) => Account {
            secret_id: c.secret_id.clone(),
            secret_key: c.secret_key().to_string(),
            app_id,
        },
        (None, Some(s)) => Account {
            secret_id: s.secret_id,
            secret_key: s.secret_key,
            app_id: s.app_id,
        },
        (None, None) => {
            use rand::Rng;
            use rand::distr::Alphanumeric;
            let mut rng = rand::rng();
            let id: String = (0..32).map(|_| rng.sample(Alphanumeric) as char).collect();
            let key: String = (0..32).map(|_| rng.sample(Alphanumeric) as char).collect();
            Account {
                secret_id: format!("AKID{id}"),
                secret_key: key,
                app_id,
            }
        }
    };
    let stored = StoredAccount {
        secret_id: account.secret_id.clone(),
        secret_key: account.secret_key.clone(),
        app_id: account.app_id,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut f, &serde_json::to_vec(&stored)?)?;
    Ok(account)
}
