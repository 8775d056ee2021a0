//! Progress of a running upload on its way to the cache: the observer
//! keeps only the latest figures in memory ([`Latest`]); one flusher task
//! per job writes them, and the resume token, at most every
//! [`PROGRESS_EVERY`], in order, so a late write never overwrites the final
//! state and the pipeline never blocks on SQLite. A new resume token is
//! written at once, and [`Observer::token_saved`] lets the pipeline wait for
//! it before it commits.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::job::blocking;
use crate::cache::{Cache, UploadState, UploadStatus, WaitTimes};
use crate::upload::committer::JobReport;
use crate::upload::job::{Observer, Phase, Progress};
use crate::upload::retry::Waiting;

/// How often progress is written to the cache while an upload runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Keeps the latest phase and progress for the flusher.
/// The status stays in place (each update changes only its own fields);
/// `dirty` says whether the flusher has written the latest figures yet.
pub(super) struct Latest {
    status: Mutex<Option<UploadStatus>>,
    /// The phase's state, shown again when a wait ends.
    phase: Mutex<UploadState>,
    report: JobReport,
    dirty: AtomicBool,
    /// The latest token not yet written, with its sequence number.
    token: Mutex<Option<(String, u64)>>,
    /// Tokens given so far, and the sequence number of the last written.
    token_seq: AtomicU64,
    token_written: AtomicU64,
    /// Wakes [`Observer::token_saved`] waiters after a write.
    written: Notify,
    /// Wakes the flusher when a token arrives (it is written at once).
    wake: Notify,
}

impl Default for Latest {
    fn default() -> Self {
        Latest::new(JobReport::none())
    }
}

impl Latest {
    pub(super) fn new(report: JobReport) -> Self {
        Latest {
            status: Mutex::new(None),
            phase: Mutex::new(UploadState::Hashing),
            report,
            dirty: AtomicBool::new(false),
            token: Mutex::new(None),
            token_seq: AtomicU64::new(0),
            token_written: AtomicU64::new(0),
            written: Notify::new(),
            wake: Notify::new(),
        }
    }

    /// The latest figures, written or not.
    pub(super) fn snapshot(&self) -> Option<UploadStatus> {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut UploadStatus)) {
        let mut g = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let s = g.get_or_insert_with(|| UploadStatus {
            state: UploadState::Hashing,
            parts_done: 0,
            parts_total: 0,
            bytes_done: 0,
            bytes_total: 0,
            error: None,
            waiting: None,
        });
        f(s);
        self.dirty.store(true, Ordering::SeqCst);
    }

    /// The resume token heard since the last call, if any, and its
    /// sequence number (for [`Latest::token_written`]).
    pub(super) fn take_token(&self) -> Option<(String, u64)> {
        self.token.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The token of sequence number `seq` was written (or its write was
    /// attempted: a failed write never leaves a waiter hanging).
    fn token_written(&self, seq: u64) {
        self.token_written.fetch_max(seq, Ordering::SeqCst);
        self.written.notify_waiters();
    }

    /// The latest status if it changed since the last call.
    fn take_changed(&self) -> Option<UploadStatus> {
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return None;
        }
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Observer for Latest {
    fn phase(&self, phase: Phase) {
        let state = match phase {
            Phase::Hashing => UploadState::Hashing,
            Phase::Uploading => UploadState::Uploading,
            Phase::Committing => UploadState::Committing,
        };
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = state;
        self.update(|s| {
            if s.state != UploadState::Waiting {
                s.state = state;
            }
        });
    }

    fn waiting(&self, w: Option<&Waiting>) {
        let phase = *self.phase.lock().unwrap_or_else(|e| e.into_inner());
        self.update(|s| match w {
            Some(w) => {
                s.state = UploadState::Waiting;
                s.error = Some(w.error.clone());
                s.waiting = Some(WaitTimes {
                    since: w.since,
                    next_try: w.next_try,
                });
            }
            None => {
                s.state = phase;
                s.error = None;
                s.waiting = None;
            }
        });
        // Shown at once, not at the next flush.
        self.wake.notify_one();
        self.report.waiting(w.map(|w| (w.since, w.error.clone())));
    }

    fn progress(&self, p: Progress) {
        self.update(|s| {
            s.parts_done = p.parts_done;
            s.parts_total = p.parts_total;
            s.bytes_done = p.bytes_done;
            s.bytes_total = p.bytes_total;
        });
    }

    fn resume_token(&self, token: &str) {
        let seq = self.token_seq.fetch_add(1, Ordering::SeqCst) + 1;
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some((token.to_string(), seq));
        self.wake.notify_one();
    }

    fn token_saved(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async move {
            loop {
                let written = self.written.notified();
                if self.token_written.load(Ordering::SeqCst)
                    >= self.token_seq.load(Ordering::SeqCst)
                {
                    return;
                }
                written.await;
            }
        })
    }
}

/// The flusher of one job: writes the latest progress (and resume token)
/// of (ino, version) in order until stopped.
pub(super) struct Flusher {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Flusher {
    pub(super) fn start(
        cache: Cache,
        latest: std::sync::Arc<Latest>,
        ino: u64,
        version: u64,
    ) -> Self {
        let stop = CancellationToken::new();
        let task = tokio::spawn(flush_loop(cache, latest, ino, version, stop.clone()));
        Flusher { stop, task }
    }

    /// Stops after one last write of what changed.
    pub(super) async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn flush_loop(
    cache: Cache,
    latest: std::sync::Arc<Latest>,
    ino: u64,
    version: u64,
    stop: CancellationToken,
) {
    loop {
        let snapshot = latest.take_changed();
        let token = latest.take_token();
        let seq = token.as_ref().map(|(_, seq)| *seq);
        if snapshot.is_some() || token.is_some() {
            let cache = cache.clone();
            // One writer trip for both.
            let token = token.map(|(t, _)| t.into_bytes());
            let _ = blocking(move || cache.save_progress(ino, version, snapshot, token)).await;
        }
        if let Some(seq) = seq {
            latest.token_written(seq);
        }
        if stop.is_cancelled() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(PROGRESS_EVERY) => {}
            _ = latest.wake.notified() => {}
            _ = stop.cancelled() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn token_saved_waits_until_the_token_is_written() {
        let l = Latest::default();
        l.token_saved().await; // nothing given: nothing to wait for
        l.resume_token("t1");
        let mut wait = l.token_saved();
        assert!(futures::poll!(&mut wait).is_pending());
        let (t, seq) = l.take_token().expect("token");
        assert_eq!(t, "t1");
        l.token_written(seq);
        wait.await;
    }

    #[test]
    fn a_wait_shows_waiting_with_its_error_and_then_the_phase_again() {
        let l = Latest::default();
        l.phase(Phase::Uploading);
        l.progress(Progress {
            parts_done: 2,
            parts_total: 5,
            bytes_done: 2 << 20,
            bytes_total: 5 << 20,
        });
        let since = std::time::SystemTime::now();
        let w = Waiting {
            error: "UploadPart (part 2 at offset 2097152): transport error: connection refused"
                .into(),
            since,
            next_try: since + Duration::from_secs(40),
        };
        l.waiting(Some(&w));
        // A phase heard while waiting does not hide the wait.
        l.phase(Phase::Uploading);
        let s = l.take_changed().expect("changed");
        assert_eq!(s.state, UploadState::Waiting);
        assert_eq!(s.error.as_deref(), Some(w.error.as_str()));
        assert_eq!(s.waiting.map(|t| t.next_try), Some(w.next_try));
        assert_eq!((s.parts_done, s.parts_total), (2, 5), "progress kept");
        l.waiting(None);
        let s = l.take_changed().expect("changed");
        assert_eq!(
            (s.state, s.error, s.waiting),
            (UploadState::Uploading, None, None)
        );
        assert_eq!(s.parts_done, 2);
    }

    #[test]
    fn progress_and_phase_accumulate_and_flush_once() {
        let l = Latest::default();
        l.phase(Phase::Uploading);
        l.progress(Progress {
            parts_done: 2,
            parts_total: 5,
            bytes_done: 2 << 20,
            bytes_total: 5 << 20,
        });
        let s = l.take_changed().expect("changed");
        assert_eq!(
            (s.state, s.parts_done, s.parts_total),
            (UploadState::Uploading, 2, 5)
        );
        assert!(l.take_changed().is_none(), "nothing new since");
        l.progress(Progress {
            parts_done: 3,
            parts_total: 5,
            bytes_done: 3 << 20,
            bytes_total: 5 << 20,
        });
        let s = l.take_changed().expect("changed");
        assert_eq!(s.state, UploadState::Uploading, "phase kept across flushes");
        assert_eq!(s.parts_done, 3);
        l.phase(Phase::Committing);
        let s = l.take_changed().expect("changed");
        assert_eq!((s.state, s.parts_done), (UploadState::Committing, 3));
    }
}
