//! The shared state of a running service ([`App`]): configuration, the
//! store, rate limiter and nonce cache, fault injector, counters, the commit
//! lock and the running upload hashes. Every handler receives an
//! `Arc<App>`; this file imports only the server's leaf modules (config,
//! store, ratelimit, faults, stats, running, error).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::config::ServerConfig;
use super::error::ServerError;
use super::faults::Faults;
use super::ratelimit::{NonceCache, RateLimiter};
use super::running::Running;
use super::stats::Stats;
use super::store::Store;

/// Shared state of a running service.
pub struct App {
    pub cfg: ServerConfig,
    pub store: Arc<Store>,
    pub limiter: RateLimiter,
    pub nonces: NonceCache,
    pub faults: Faults,
    pub stats: Stats,
    /// Serialises the steps that turn uploads into media (finish, commit).
    pub commit_lock: tokio::sync::Mutex<()>,
    /// Whole-content hashes of uploads whose parts arrived in order.
    pub running: Running,
    /// Lifetime of the next API 3.0 temporary credentials, seconds
    /// (`cfg.temp_cred_ttl_secs` at start, changeable at run time).
    temp_cred_ttl: AtomicU64,
}

impl App {
    pub fn open(cfg: ServerConfig) -> Result<App, ServerError> {
        let store = Arc::new(Store::open(&cfg.data_dir)?);
        Ok(App {
            limiter: RateLimiter::new(cfg.rate_limits.clone()),
            nonces: NonceCache::new(),
            faults: Faults::new(cfg.faults.clone()),
            stats: Stats::default(),
            commit_lock: tokio::sync::Mutex::new(()),
            running: Running::default(),
            temp_cred_ttl: AtomicU64::new(cfg.temp_cred_ttl_secs),
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

    /// Lifetime of the temporary credentials ApplyUpload mints now.
    pub fn temp_cred_ttl(&self) -> u64 {
        self.temp_cred_ttl.load(Ordering::Relaxed)
    }

    pub fn set_temp_cred_ttl(&self, secs: u64) {
        self.temp_cred_ttl.store(secs, Ordering::Relaxed);
    }

    /// The appId of an account (the main one's if unknown).
    pub fn account_app_id(&self, secret_id: &str) -> u64 {
        self.cfg
            .account_by_id(secret_id)
            .unwrap_or(&self.cfg.account)
            .app_id
    }
}
