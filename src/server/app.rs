//! The shared state of a running service ([`App`]): configuration, the
//! store (whose [`App::db`] answers only durable state), rate limiter (the quotas; counts and nonces are in the store), fault injector, counters, the commit
//! lock and the running upload hashes. Every handler receives an
//! `Arc<App>`; this file imports only the server's leaf modules (config,
//! store, ratelimit, faults, stats, running, error).

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::clock::unix_now;
use super::config::ServerConfig;
use super::error::ServerError;
use super::faults::Faults;
use super::ratelimit::RateLimiter;
use super::running::Running;
use super::stats::Stats;
use super::store::Store;

tokio::task_local! {
    /// Inside [`App::one_wait`]: the store's change mark that the request's
    /// one wait for durability must cover (the highest of its operations').
    static PENDING: Cell<u64>;
}

/// Shared state of a running service.
pub struct App {
    pub cfg: ServerConfig,
    pub store: Arc<Store>,
    pub limiter: RateLimiter,
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
            faults: Faults::new(cfg.faults.clone()),
            stats: Stats::default(),
            commit_lock: tokio::sync::Mutex::new(()),
            running: Running::default(),
            temp_cred_ttl: AtomicU64::new(cfg.temp_cred_ttl_secs),
            store,
            cfg,
        })
    }

    /// Runs a store operation off the async threads; what it wrote or read
    /// is durable before the request answers (group commit: one WAL sync
    /// for all the requests waiting at the time, never one synced
    /// transaction each). Inside a request's [`App::one_wait`] the wait is
    /// the request's one wait before its answer; elsewhere it is made here.
    pub async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, ServerError> + Send + 'static,
    ) -> Result<T, ServerError> {
        if PENDING.try_with(|_| ()).is_ok() {
            return self.db_unsynced(f).await;
        }
        self.run_blocking(move |s| {
            let out = f(s);
            s.wait_durable()?;
            out
        })
        .await
    }

    /// [`App::db`] without the wait for durability: for a step whose
    /// request calls [`App::durable`] (or `db`) before it answers, e.g. to
    /// wait outside a lock the step runs under. Inside [`App::one_wait`]
    /// it notes what the request's one wait must cover.
    pub async fn db_unsynced<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, ServerError> + Send + 'static,
    ) -> Result<T, ServerError> {
        let (out, mark) = self
            .run_blocking(move |s| {
                let out = f(s);
                Ok((out, s.change_mark()))
            })
            .await?;
        let _ = PENDING.try_with(|p| p.set(p.get().max(mark)));
        out
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, ServerError> + Send + 'static,
    ) -> Result<T, ServerError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| ServerError::Internal(format!("store task failed: {e}")))?
    }

    /// Waits until everything committed so far is durable (inside
    /// [`App::one_wait`]: the request's one wait does, and covers all its
    /// operations noted so far).
    pub async fn durable(&self) -> Result<(), ServerError> {
        if PENDING.try_with(|_| ()).is_ok() {
            // What the request wrote or read is noted already.
            return Ok(());
        }
        self.run_blocking(|s| s.wait_durable()).await
    }

    /// Runs a request's work (`fut`: its authentication, bookkeeping and
    /// handler) so that its store operations do not wait for durability
    /// one by one: the request waits once, after `fut`, for everything they
    /// wrote or read, before its answer leaves. `Err` when that sync
    /// failed (the answer must then not be given).
    pub async fn one_wait<T>(&self, fut: impl Future<Output = T>) -> Result<T, ServerError> {
        let (out, mark) = PENDING
            .scope(Cell::new(0), async {
                let out = fut.await;
                (out, PENDING.with(Cell::get))
            })
            .await;
        if mark > 0 && !self.store.settled_at(mark) {
            self.run_blocking(move |s| s.wait_durable_upto(mark))
                .await?;
        }
        Ok(out)
    }

    /// Lifetime of the temporary credentials ApplyUpload mints now.
    pub fn temp_cred_ttl(&self) -> u64 {
        self.temp_cred_ttl.load(Ordering::Relaxed)
    }

    pub fn set_temp_cred_ttl(&self, secs: u64) {
        self.temp_cred_ttl.store(secs, Ordering::Relaxed);
    }

    /// Counts a request of `secret_id` against the quota of `action`:
    /// false when over it. The window's count is in the database, so a
    /// restart does not reset it; a store failure admits (and is logged).
    pub async fn admit(&self, secret_id: &str, action: &str) -> bool {
        let Some((quota, len)) = self.limiter.quota_of(action) else {
            return true;
        };
        let now = unix_now();
        let window_end = (now / len + 1) * len;
        let (id, a) = (secret_id.to_string(), action.to_string());
        self.db(move |s| s.count_request(&id, &a, now, window_end, quota))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "counting a request");
                true
            })
    }

    /// Spends a signed request's nonce: false when it was spent within the
    /// replay window (before a restart too).
    pub async fn spend_nonce(&self, secret_id: &str, nonce: &str) -> Result<bool, ServerError> {
        let (id, n, window) = (
            secret_id.to_string(),
            nonce.to_string(),
            self.cfg.replay_window_secs,
        );
        self.db(move |s| s.spend_nonce(&id, &n, unix_now(), window))
            .await
    }

    /// The appId of an account (the main one's if unknown).
    pub fn account_app_id(&self, secret_id: &str) -> u64 {
        self.cfg
            .account_by_id(secret_id)
            .unwrap_or(&self.cfg.account)
            .app_id
    }
}
