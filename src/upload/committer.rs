//! When commits run: the per-file scheduling behind [`Backend`].
//!
//! The filesystem says *commit this version now* (close in the default mode),
//! *commit after quiet* (write-back), *wait* (fsync, `vodfs wait`) or *cancel*
//! (unlink, rewrite). This module turns those into at most one running job
//! per inode:
//!
//! - a newer version supersedes the older one: its job is cancelled, and
//!   everyone waiting on the inode follows the newer job;
//! - asking again for a version already running or done joins it, so dup'd
//!   descriptors and repeated flushes commit once;
//! - `commit_after` re-arms a per-inode timer; the job starts once the file
//!   has been quiet that long;
//! - a global semaphore bounds how many files upload at once (parts within a
//!   file are parallel in the pipeline);
//! - a job that waits for the service says so ([`JobReport`]); a waiter
//!   (close, fsync) gives up once the file has waited `give_up_after`
//!   (`--retry-for`) and gets the last error, while the job goes on: the
//!   file commits by itself when the service is back.
//!
//! What a job *does* (read the cache, run the protocol, record the outcome)
//! is a [`CommitJob`], so this scheduling is tested here with fakes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use super::backend::{Backend, CommitError};

/// The work of committing one (ino, version); resolves with the outcome,
/// which it has already recorded in the cache. `report` is how it tells
/// waiters that it waits for the service.
pub trait CommitJob: Send + Sync + 'static {
    fn run(
        &self,
        ino: u64,
        version: u64,
        cancel: CancellationToken,
        report: JobReport,
    ) -> BoxFuture<'static, Result<(), CommitError>>;

    /// Ends the waits of running jobs: their calls try again now.
    fn wake(&self) {}

    /// How much of a file's place among the files uploaded at once the
    /// job takes, out of [`SHARES_PER_FILE`]: a file of one part (one
    /// buffer, one connection) takes one share, so `--parallel-files N`
    /// uploads N files of several parts or 4N small ones at a time.
    /// Runs on a blocking thread.
    fn shares(&self, _ino: u64, _version: u64) -> u32 {
        SHARES_PER_FILE
    }
}

/// Shares of a file of several parts (see [`CommitJob::shares`]).
pub const SHARES_PER_FILE: u32 = 4;

/// The state of an inode's latest commit, as waiters see it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Nothing asked yet in this process.
    Idle,
    /// Scheduled or running.
    Pending,
    /// Running, waiting for the service since then, with the last error.
    Waiting(tokio::time::Instant, String),
    /// Finished with this outcome.
    Done(Result<(), CommitError>),
}

struct Slot {
    /// Bumped by every new request; a job only publishes if still current.
    generation: u64,
    version: u64,
    cancel: CancellationToken,
    tx: watch::Sender<Phase>,
}

/// Schedules commit jobs per inode. Cheap to clone.
#[derive(Clone)]
pub struct Committer {
    inner: Arc<Inner>,
}

struct Inner {
    job: Arc<dyn CommitJob>,
    slots: Mutex<HashMap<u64, Slot>>,
    files_at_once: Arc<Semaphore>,
    rt: tokio::runtime::Handle,
    /// How long a waiter waits for a job that waits for the service
    /// (`None`: until it commits).
    give_up_after: Option<Duration>,
}

/// A running job's line to its waiters (cheap to clone).
#[derive(Clone)]
pub struct JobReport {
    inner: std::sync::Weak<Inner>,
    ino: u64,
    generation: u64,
}

impl JobReport {
    /// A report nobody hears (tests of a job alone).
    pub fn none() -> Self {
        JobReport {
            inner: std::sync::Weak::new(),
            ino: 0,
            generation: 0,
        }
    }

    /// The job waits for the service since `since`, its last error being
    /// `error` (`None`: it waits no more).
    pub fn waiting(&self, w: Option<(SystemTime, String)>) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let slots = inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        let Some(slot) = slots
            .get(&self.ino)
            .filter(|s| s.generation == self.generation)
        else {
            return;
        };
        let phase = match w {
            Some((since, error)) => {
                let ago = SystemTime::now().duration_since(since).unwrap_or_default();
                let now = tokio::time::Instant::now();
                Phase::Waiting(now.checked_sub(ago).unwrap_or(now), error)
            }
            None => Phase::Pending,
        };
        slot.tx.send_if_modified(|p| {
            let running = matches!(p, Phase::Pending | Phase::Waiting(..));
            if running && *p != phase {
                *p = phase;
                true
            } else {
                false
            }
        });
    }
}

impl Committer {
    /// A committer running jobs on `rt`, at most `files_at_once` at a time.
    pub fn new(job: Arc<dyn CommitJob>, files_at_once: usize, rt: tokio::runtime::Handle) -> Self {
        Committer {
            inner: Arc::new(Inner {
                job,
                slots: Mutex::new(HashMap::new()),
                files_at_once: Arc::new(Semaphore::new(
                    files_at_once.max(1) * SHARES_PER_FILE as usize,
                )),
                rt,
                give_up_after: None,
            }),
        }
    }

    /// Waiters (close, fsync) give up on a file that has waited for the
    /// service this long (`None`: they wait until it commits); the job
    /// goes on either way.
    pub fn with_give_up_after(mut self, limit: Option<Duration>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.give_up_after = limit;
        }
        self
    }

    /// Starts (or joins) the commit of (ino, version) after `delay`.
    fn schedule(&self, ino: u64, version: u64, delay: Option<Duration>) -> watch::Receiver<Phase> {
        let mut slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots.entry(ino).or_insert_with(|| Slot {
            generation: 0,
            version,
            cancel: CancellationToken::new(),
            tx: watch::channel(Phase::Idle).0,
        });
        let current = slot.tx.borrow().clone();
        let same_version = slot.version == version && current != Phase::Idle;
        // Join a job for this version that is running, or done successfully;
        // a failed one is retried when asked again. A re-armed write-back
        // timer restarts the wait instead.
        let joinable = match &current {
            Phase::Pending | Phase::Waiting(..) => delay.is_none(),
            Phase::Done(r) => r.is_ok(),
            Phase::Idle => false,
        };
        if same_version && joinable {
            return slot.tx.subscribe();
        }
        slot.cancel.cancel();
        slot.generation += 1;
        slot.version = version;
        slot.cancel = CancellationToken::new();
        slot.tx.send_replace(Phase::Pending);
        let rx = slot.tx.subscribe();
        let generation = slot.generation;
        let cancel = slot.cancel.clone();
        drop(slots);
        let this = self.clone();
        let report = JobReport {
            inner: Arc::downgrade(&self.inner),
            ino,
            generation,
        };
        self.inner.rt.spawn(async move {
            let outcome = this
                .run_job(ino, version, delay, cancel.clone(), report)
                .await;
            if let Some(outcome) = outcome {
                this.publish(ino, generation, outcome);
            }
        });
        rx
    }

    async fn run_job(
        &self,
        ino: u64,
        version: u64,
        delay: Option<Duration>,
        cancel: CancellationToken,
        report: JobReport,
    ) -> Option<Result<(), CommitError>> {
        if let Some(d) = delay {
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = cancel.cancelled() => return None,
            }
        }
        let job = self.inner.job.clone();
        let shares = tokio::task::spawn_blocking(move || job.shares(ino, version))
            .await
            .unwrap_or(SHARES_PER_FILE)
            .clamp(1, SHARES_PER_FILE);
        let _permit = tokio::select! {
            p = self.inner.files_at_once.clone().acquire_many_owned(shares) => p.ok()?,
            _ = cancel.cancelled() => return None,
        };
        if cancel.is_cancelled() {
            return None;
        }
        let fut = self.inner.job.run(ino, version, cancel.clone(), report);
        let outcome = fut.await;
        if cancel.is_cancelled() {
            return None;
        }
        Some(outcome)
    }

    fn publish(&self, ino: u64, generation: u64, outcome: Result<(), CommitError>) {
        let slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get(&ino)
            && slot.generation == generation
        {
            slot.tx.send_replace(Phase::Done(outcome));
        }
    }

    /// Waits until the inode's phase is no longer pending, or until it has
    /// waited for the service `limit` (the job goes on).
    async fn settle(
        mut rx: watch::Receiver<Phase>,
        limit: Option<Duration>,
    ) -> Result<(), CommitError> {
        loop {
            let deadline = match rx.borrow_and_update().clone() {
                Phase::Done(r) => return r,
                Phase::Idle => return Ok(()),
                Phase::Pending => None,
                Phase::Waiting(since, error) => match limit {
                    Some(l) if tokio::time::Instant::now() >= since + l => {
                        return Err(gave_up(&error, l));
                    }
                    Some(l) => Some(since + l),
                    None => None,
                },
            };
            let changed = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, rx.changed())
                        .await
                        .unwrap_or(Ok(())),
                    None => rx.changed().await,
                }
            };
            if changed.await.is_err() {
                return Err(CommitError::new(
                    "commit abandoned: the mount is shutting down",
                ));
            }
        }
    }

    /// Whether any commit is scheduled or running.
    pub fn busy(&self) -> bool {
        let slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .values()
            .any(|s| matches!(*s.tx.borrow(), Phase::Pending | Phase::Waiting(..)))
    }

    /// Waits (up to `limit`) for every scheduled or running commit.
    pub async fn drain(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.busy() {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }
}

/// What a waiter hears when it stops waiting for a file that waits.
fn gave_up(error: &str, limit: Duration) -> CommitError {
    CommitError {
        still_waiting: true,
        ..CommitError::new(format!(
            "{error}; the service has not answered for {} (--retry-for): the upload stays waiting and commits by itself when the service is back",
            humantime_secs(limit)
        ))
    }
}

/// `90 s`, `10 min`, `2 h`: a limit as a person reads it.
pub fn humantime_secs(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{:.0} s", d.as_secs_f64())
    }
}

impl Backend for Committer {
    fn commit(&self, ino: u64, version: u64) -> BoxFuture<'static, Result<(), CommitError>> {
        let rx = self.schedule(ino, version, None);
        Box::pin(Self::settle(rx, self.inner.give_up_after))
    }

    fn commit_after(&self, ino: u64, version: u64, quiet: Duration) {
        self.schedule(ino, version, Some(quiet));
    }

    fn wait(&self, ino: u64) -> BoxFuture<'static, Result<(), CommitError>> {
        let slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.get(&ino) {
            Some(slot) => {
                let rx = slot.tx.subscribe();
                drop(slots);
                Box::pin(Self::settle(rx, self.inner.give_up_after))
            }
            None => Box::pin(async { Ok(()) }),
        }
    }

    fn retry_now(&self) {
        self.inner.job.wake();
    }

    fn cancel(&self, ino: u64) {
        let mut slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.remove(&ino) {
            slot.cancel.cancel();
            slot.tx
                .send_replace(Phase::Done(Err(CommitError::new("upload cancelled"))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Records runs; each takes `work` and fails for versions in `fail`.
    struct FakeJob {
        runs: Mutex<Vec<(u64, u64)>>,
        finished: AtomicUsize,
        work: Duration,
        fail: Vec<u64>,
        /// Says it waits for the service as soon as it runs.
        wait_for_service: bool,
    }

    impl FakeJob {
        fn new(work_ms: u64, fail: Vec<u64>) -> Arc<Self> {
            Arc::new(FakeJob {
                runs: Mutex::new(Vec::new()),
                finished: AtomicUsize::new(0),
                work: Duration::from_millis(work_ms),
                fail,
                wait_for_service: false,
            })
        }
        fn runs(&self) -> Vec<(u64, u64)> {
            self.runs.lock().unwrap().clone()
        }
    }

    impl CommitJob for Arc<FakeJob> {
        fn run(
            &self,
            ino: u64,
            version: u64,
            cancel: CancellationToken,
            report: JobReport,
        ) -> BoxFuture<'static, Result<(), CommitError>> {
            self.runs.lock().unwrap().push((ino, version));
            if self.wait_for_service {
                let start = SystemTime::now();
                report.waiting(Some((start, format!("v{version}: connection refused"))));
            }
            let me = self.clone();
            Box::pin(async move {
                tokio::select! {
                    _ = tokio::time::sleep(me.work) => {}
                    _ = cancel.cancelled() => return Err(CommitError::new("cancelled")),
                }
                me.finished.fetch_add(1, Ordering::SeqCst);
                if me.fail.contains(&version) {
                    Err(CommitError::new(format!("v{version} failed")))
                } else {
                    Ok(())
                }
            })
        }
    }

    fn committer(job: &Arc<FakeJob>, files: usize) -> Committer {
        Committer::new(
            Arc::new(job.clone()),
            files,
            tokio::runtime::Handle::current(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn repeated_commits_of_one_version_run_once() {
        let job = FakeJob::new(100, vec![]);
        let c = committer(&job, 4);
        let a = c.commit(1, 1);
        let b = c.commit(1, 1);
        assert_eq!(a.await, Ok(()));
        assert_eq!(b.await, Ok(()));
        assert_eq!(c.commit(1, 1).await, Ok(()));
        assert_eq!(job.runs(), vec![(1, 1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn newer_version_supersedes_and_waiters_follow() {
        let job = FakeJob::new(100, vec![]);
        let c = committer(&job, 4);
        let old = c.commit(1, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let new = c.commit(1, 2);
        assert_eq!(old.await, Ok(()), "the old waiter follows the newer job");
        assert_eq!(new.await, Ok(()));
        assert_eq!(job.runs(), vec![(1, 1), (1, 2)]);
        assert_eq!(job.finished.load(Ordering::SeqCst), 1, "v1 was cancelled");
    }

    #[tokio::test(start_paused = true)]
    async fn failure_is_reported_and_retried_on_request() {
        let job = FakeJob::new(10, vec![1]);
        let c = committer(&job, 4);
        let e = c.commit(1, 1).await.unwrap_err();
        assert_eq!(e.message, "v1 failed");
        assert_eq!(c.wait(1).await, Err(CommitError::new("v1 failed")));
        let _ = c.commit(1, 1).await;
        assert_eq!(job.runs().len(), 2, "asking again retries a failed commit");
    }

    #[tokio::test(start_paused = true)]
    async fn write_back_timer_rearms_and_wait_covers_it() {
        let job = FakeJob::new(10, vec![]);
        let c = committer(&job, 4);
        c.commit_after(5, 1, Duration::from_secs(2));
        tokio::time::sleep(Duration::from_secs(1)).await;
        c.commit_after(5, 2, Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(job.runs().is_empty(), "timer was re-armed");
        assert!(c.busy());
        assert_eq!(c.wait(5).await, Ok(()));
        assert_eq!(job.runs(), vec![(5, 2)]);
        assert!(!c.busy());
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_stops_a_pending_commit() {
        let job = FakeJob::new(10, vec![]);
        let c = committer(&job, 4);
        c.commit_after(3, 1, Duration::from_secs(1));
        c.cancel(3);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(job.runs().is_empty());
        assert_eq!(c.wait(3).await, Ok(()), "nothing left to wait for");
    }

    #[tokio::test(start_paused = true)]
    async fn files_at_once_is_bounded() {
        let job = FakeJob::new(1000, vec![]);
        let c = committer(&job, 2);
        let waits: Vec<_> = (1..=5).map(|i| c.commit(i, 1)).collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(job.runs().len(), 2);
        for w in waits {
            assert_eq!(w.await, Ok(()));
        }
        assert_eq!(job.runs().len(), 5);
    }

    fn waiting_job(work: Duration) -> Arc<FakeJob> {
        Arc::new(FakeJob {
            runs: Mutex::new(Vec::new()),
            finished: AtomicUsize::new(0),
            work,
            fail: vec![],
            wait_for_service: true,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_gives_up_after_the_limit_and_the_job_goes_on() {
        // The job waits for the service for an hour, then commits.
        let job = waiting_job(Duration::from_secs(3600));
        let c = committer(&job, 4).with_give_up_after(Some(Duration::from_secs(600)));
        let start = tokio::time::Instant::now();
        let e = c.commit(1, 1).await.unwrap_err();
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(600) && waited < Duration::from_secs(601),
            "{waited:?}"
        );
        assert!(
            e.message.starts_with("v1: connection refused; "),
            "{}",
            e.message
        );
        assert!(e.message.contains("10 min (--retry-for)"), "{}", e.message);
        assert!(c.busy(), "the job goes on");
        // fsync and vodfs wait give up the same way while it waits...
        assert!(c.wait(1).await.is_err());
        assert_eq!(job.finished.load(Ordering::SeqCst), 0);
        // ...and the job commits by itself.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(job.finished.load(Ordering::SeqCst), 1);
        assert_eq!(c.wait(1).await, Ok(()));
        assert_eq!(job.runs(), vec![(1, 1)], "never restarted");
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_limit_a_waiter_waits_until_the_commit() {
        let job = waiting_job(Duration::from_secs(3600));
        let c = committer(&job, 4);
        let start = tokio::time::Instant::now();
        assert_eq!(c.commit(1, 1).await, Ok(()));
        assert!(start.elapsed() >= Duration::from_secs(3600));
        assert_eq!(humantime_secs(Duration::from_secs(90)), "90 s");
        assert_eq!(humantime_secs(Duration::from_secs(7200)), "2 h");
    }

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_everything() {
        let job = FakeJob::new(300, vec![]);
        let c = committer(&job, 4);
        c.commit_after(1, 1, Duration::from_millis(100));
        drop(c.commit(2, 1));
        assert!(c.drain(Duration::from_secs(5)).await);
        assert_eq!(job.finished.load(Ordering::SeqCst), 2);
    }
}
