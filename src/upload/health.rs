//! Whether the service answers, as the mount's uploads see it, and what a
//! file shows while its calls wait for it.
//!
//! Design decisions:
//! - **One [`Health`] per mount** (per [`crate::upload::Uploader`]): it hears
//!   every retried call ([`RetryHook`]) and logs exactly one line (warn) when
//!   the service becomes unreachable — the first call that starts waiting —
//!   and one (info) when it answers again — the first call that gets an
//!   answer after that. The per-try lines stay at debug.
//! - **The service back wakes every wait.** When a call gets an answer
//!   after an outage, every call sleeping in its backoff is woken and tries
//!   at once, so a long outage costs no extra minute of backoff.
//! - **Per file, a [`FileHook`]** turns the waits of the file's calls (its
//!   parts in flight, its start or finish) into one [`Observer::waiting`]:
//!   the file waits while any of its calls waits, since the earliest of
//!   their first failures, and stops waiting when none does.

use std::sync::Mutex;
use std::time::SystemTime;

use futures::future::BoxFuture;
use tokio::sync::Notify;

use super::job::Observer;
use super::retry::{RetryHook, Waiting};

/// The mount's view of the service: unreachable since when, if it is.
#[derive(Debug, Default)]
pub struct Health {
    state: Mutex<State>,
    back: Notify,
}

#[derive(Debug, Default)]
struct State {
    down_since: Option<SystemTime>,
    /// Calls waiting now.
    waiting: usize,
}

/// `HH:MM:SS` (UTC) of a time, for messages.
pub fn clock(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

/// Whole seconds from now to `t` (0 when past).
pub fn secs_until(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::now())
        .map(|d| d.as_secs_f64().ceil() as u64)
        .unwrap_or(0)
}

impl Health {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Since when the service has been unreachable (`None`: it answers).
    pub fn unreachable_since(&self) -> Option<SystemTime> {
        self.lock().down_since
    }

    /// Ends every wait now: the waiting calls try again at once.
    pub fn wake(&self) {
        self.back.notify_waiters();
    }

    /// How many calls are waiting for the service now.
    pub fn waiting_calls(&self) -> usize {
        self.lock().waiting
    }
}

impl RetryHook for Health {
    fn waiting(&self, w: &Waiting, first: bool) {
        if !first {
            return;
        }
        let mut s = self.lock();
        s.waiting += 1;
        if s.down_since.is_none() {
            s.down_since = Some(w.since);
            drop(s);
            tracing::warn!(
                "service unreachable since {}: {}; uploads wait and retry by themselves (next try in {} s)",
                clock(w.since),
                w.error,
                secs_until(w.next_try)
            );
        }
    }

    fn settled(&self, was_waiting: bool, answered: bool) {
        let mut s = self.lock();
        if was_waiting {
            s.waiting = s.waiting.saturating_sub(1);
        }
        if answered && let Some(since) = s.down_since.take() {
            drop(s);
            let secs = SystemTime::now()
                .duration_since(since)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            tracing::info!(
                "service reachable again (unreachable since {}, {secs} s); waiting uploads go on",
                clock(since)
            );
            self.back.notify_waiters();
        }
    }

    fn woken(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.back.notified())
    }
}

/// The waits of one file's calls, told to its observer as one.
pub struct FileHook<'a> {
    health: &'a Health,
    observer: &'a dyn Observer,
    /// Calls of this file waiting now, and since when the file waits.
    state: Mutex<(usize, Option<SystemTime>)>,
}

impl<'a> FileHook<'a> {
    pub fn new(health: &'a Health, observer: &'a dyn Observer) -> Self {
        FileHook {
            health,
            observer,
            state: Mutex::new((0, None)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, Option<SystemTime>)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl RetryHook for FileHook<'_> {
    fn waiting(&self, w: &Waiting, first: bool) {
        self.health.waiting(w, first);
        let mut s = self.lock();
        if first {
            s.0 += 1;
        }
        let since = s.1.map_or(w.since, |t| t.min(w.since));
        s.1 = Some(since);
        drop(s);
        self.observer.waiting(Some(&Waiting { since, ..w.clone() }));
    }

    fn settled(&self, was_waiting: bool, answered: bool) {
        self.health.settled(was_waiting, answered);
        if !was_waiting {
            return;
        }
        let mut s = self.lock();
        s.0 = s.0.saturating_sub(1);
        if s.0 == 0 {
            s.1 = None;
            drop(s);
            self.observer.waiting(None);
        }
    }

    fn woken(&self) -> BoxFuture<'_, ()> {
        self.health.woken()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Default)]
    struct Seen(Mutex<Vec<Option<Waiting>>>);

    impl Observer for Seen {
        fn waiting(&self, w: Option<&Waiting>) {
            self.0.lock().unwrap().push(w.cloned());
        }
    }

    fn wait(since_secs: u64) -> Waiting {
        let since = SystemTime::UNIX_EPOCH + Duration::from_secs(since_secs);
        Waiting {
            error: format!("e{since_secs}"),
            since,
            next_try: since + Duration::from_secs(5),
        }
    }

    #[test]
    fn clock_and_seconds_until() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 12 * 3600 + 31 * 60 + 5);
        assert_eq!(clock(t), "12:31:05");
        assert_eq!(secs_until(SystemTime::UNIX_EPOCH), 0);
        let s = secs_until(SystemTime::now() + Duration::from_secs(40));
        assert!((39..=40).contains(&s), "{s}");
    }

    #[test]
    fn the_service_is_down_from_the_first_wait_until_an_answer() {
        let h = Health::default();
        assert_eq!(h.unreachable_since(), None);
        h.waiting(&wait(100), true);
        h.waiting(&wait(90), true);
        h.waiting(&wait(90), false);
        assert_eq!(
            h.unreachable_since(),
            Some(wait(100).since),
            "the first one says since when"
        );
        assert_eq!(h.waiting_calls(), 2);
        // A call given up (cancelled) is no answer: still down.
        h.settled(true, false);
        assert!(h.unreachable_since().is_some());
        assert_eq!(h.waiting_calls(), 1);
        // Any answer, even to a call that never waited, means it is back.
        h.settled(false, true);
        assert_eq!(h.unreachable_since(), None);
        assert_eq!(h.waiting_calls(), 1);
    }

    #[tokio::test]
    async fn an_answer_wakes_the_waits() {
        let h = std::sync::Arc::new(Health::default());
        h.waiting(&wait(1), true);
        let woken = h.woken();
        let h2 = h.clone();
        let t = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            h2.settled(false, true);
        });
        tokio::time::timeout(Duration::from_secs(30), woken)
            .await
            .expect("woken");
        t.await.unwrap();
    }

    #[test]
    fn a_file_waits_while_any_of_its_calls_waits_since_the_earliest() {
        let h = Health::default();
        let seen = Seen::default();
        let f = FileHook::new(&h, &seen);
        f.waiting(&wait(50), true);
        f.waiting(&wait(40), true);
        f.waiting(&wait(50), false);
        f.settled(true, true);
        assert!(
            seen.0.lock().unwrap().iter().all(Option::is_some),
            "one call still waits"
        );
        f.settled(true, true);
        let seen = seen.0.into_inner().unwrap();
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[0].as_ref().unwrap().since, wait(50).since);
        assert_eq!(seen[1].as_ref().unwrap().since, wait(40).since);
        assert_eq!(
            seen[2].as_ref().unwrap().since,
            wait(40).since,
            "the earliest stays"
        );
        assert_eq!(seen[2].as_ref().unwrap().error, "e50", "the latest error");
        assert_eq!(seen[3], None, "no call waits: the file waits no more");
    }
}
