//! Retrying one call with capped exponential backoff and jitter, by time,
//! not by count.
//!
//! Design decisions:
//! - Only errors [`VodError::is_retryable`] says may pass are retried
//!   (transport errors and stalls, 5xx, negative codes with canRetry=1,
//!   InternalError, rate limits); anything else fails at once with the
//!   service's code and message.
//! - A transient failure is retried until the call succeeds, for as long
//!   as the service stays away: an outage is waited out, not counted.
//!   [`RetryPolicy::give_up_after`] bounds that by time when set (tests,
//!   callers that must answer); the mount leaves it unset and lets the
//!   waiter decide how long a `close` waits (`--retry-for`).
//! - The delay before retry n (n ≥ 1) is drawn uniformly from
//!   `[d/2, d]` with `d = min(max_delay, base_delay × 2^(n-1))` ("equal
//!   jitter"): spread out, never zero, never above the cap (a minute).
//! - A rate-limit answer is waited out with its own delays (a floor of one
//!   second) and never counts toward waiting for the service.
//! - A call that failed [`RetryPolicy::waiting_after`] times in a row (or
//!   once by a stall or timeout, which took its whole limit) is *waiting*: the [`RetryHook`] hears it (the file shows `waiting`, the
//!   mount logs the service unreachable once), and hears again when it
//!   succeeds. The hook can also cut a wait short (the service is back).
//! - Cancellation wins over any wait. Time is tokio's, so tests run with
//!   paused virtual time.

use std::future::Future;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::vod::{VodError, VodErrorKind};

/// How a call is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base_delay: Duration,
    /// The cap of the delay between two tries.
    pub max_delay: Duration,
    /// Failures in a row after which the call counts as waiting for the
    /// service (at least 1).
    pub waiting_after: u32,
    /// Give up on a transient failure once the call has been failing this
    /// long; `None`: retry until it succeeds or is cancelled.
    pub give_up_after: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(60),
            waiting_after: 3,
            give_up_after: None,
        }
    }
}

/// Why a retried call gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryError {
    Cancelled,
    /// The last error, and how many attempts were made.
    Failed {
        error: VodError,
        attempts: u32,
    },
}

/// A call that is waiting for the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The call's last error, with its context ("UploadPart (part 3 …): …").
    pub error: String,
    /// When the call first failed.
    pub since: SystemTime,
    /// When it is tried again.
    pub next_try: SystemTime,
}

/// Hears the waits of retried calls. Every method has a do-nothing default.
pub trait RetryHook: Send + Sync {
    /// A call is waiting (again): called at every failure from the
    /// [`RetryPolicy::waiting_after`]th on; `first` is true the first time.
    fn waiting(&self, _w: &Waiting, _first: bool) {}
    /// A call ended (success, a failure for good, cancelled): `was_waiting`
    /// when it had been waiting, `answered` when the service answered it
    /// (a success or a refusal: the service is reachable).
    fn settled(&self, _was_waiting: bool, _answered: bool) {}
    /// Resolves when waits should end early (the service answers again).
    fn woken(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::pending())
    }
}

/// A hook that hears nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHook;

impl RetryHook for NoHook {}

/// What a failed call's context adds to its error ("(part 3 at offset …)").
fn describe(error: &VodError, context: &str) -> String {
    if context.is_empty() {
        error.to_string()
    } else {
        format!("{} ({context}): {}", error.action, error.kind)
    }
}

impl RetryPolicy {
    /// The cap of the delay before retry `n` (1-based), jitter aside.
    pub fn ceiling(&self, n: u32) -> Duration {
        let factor = 1u32
            .checked_shl(n.saturating_sub(1).min(30))
            .unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// The delay before retry `n`, with jitter.
    pub fn delay(&self, n: u32) -> Duration {
        let d = self.ceiling(n);
        let half = d / 2;
        let span = (d - half).as_nanos().min(u128::from(u64::MAX)) as u64;
        half + Duration::from_nanos(if span == 0 {
            0
        } else {
            rand::random_range(0..=span)
        })
    }

    /// Runs `op` until it succeeds, fails for good, or `cancel` fires.
    pub async fn run<T, F, Fut>(&self, cancel: &CancellationToken, op: F) -> Result<T, RetryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, VodError>>,
    {
        self.run_with(cancel, &NoHook, "", op).await
    }

    /// [`RetryPolicy::run`], telling `hook` when the call waits for the
    /// service; `context` names the call's object in what the hook hears
    /// ("part 3 at offset 3145728"; empty for none).
    pub async fn run_with<T, F, Fut>(
        &self,
        cancel: &CancellationToken,
        hook: &dyn RetryHook,
        context: &str,
        mut op: F,
    ) -> Result<T, RetryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, VodError>>,
    {
        let mut attempts = 0u32;
        let mut failures = 0u32;
        let mut throttled = 0u32;
        let mut first_failure: Option<(tokio::time::Instant, SystemTime)> = None;
        let mut waiting = false;
        let end = |waiting: bool, answered: bool| hook.settled(waiting, answered);
        loop {
            attempts += 1;
            let result = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    end(waiting, false);
                    return Err(RetryError::Cancelled);
                }
                r = op() => r,
            };
            let error = match result {
                Ok(v) => {
                    end(waiting, true);
                    return Ok(v);
                }
                Err(e) => e,
            };
            let (t0, since) = *first_failure
                .get_or_insert_with(|| (tokio::time::Instant::now(), SystemTime::now()));
            let out_of_time = self.give_up_after.is_some_and(|l| t0.elapsed() >= l);
            if !error.is_retryable() || out_of_time {
                end(waiting, !error.is_retryable());
                return Err(RetryError::Failed { error, attempts });
            }
            let wait = if error.is_throttled() {
                throttled += 1;
                self.delay(throttled)
                    .max(error.min_backoff().unwrap_or_default())
            } else {
                failures += 1;
                self.delay(failures)
            };
            // A stall already took its whole timeout: waiting at once.
            let stalled = matches!(error.kind, VodErrorKind::Transport { timeout: true, .. });
            if !error.is_throttled() && (stalled || failures >= self.waiting_after.max(1)) {
                let w = Waiting {
                    error: describe(&error, context),
                    since,
                    next_try: SystemTime::now() + wait,
                };
                hook.waiting(&w, !waiting);
                waiting = true;
            }
            tracing::debug!(action = error.action, context, %error, ?wait, "retrying");
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    end(waiting, false);
                    return Err(RetryError::Cancelled);
                }
                _ = tokio::time::sleep(wait) => {}
                _ = hook.woken(), if waiting => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::sync::Notify;
    use tokio::time::Instant;

    fn err(code: i64, can_retry: bool) -> VodError {
        VodError::new(
            "UploadPart",
            VodErrorKind::Service {
                code,
                message: "m".into(),
                code_desc: String::new(),
                can_retry,
            },
        )
    }

    fn refused() -> VodError {
        VodError::new(
            "UploadPart",
            VodErrorKind::Transport {
                message: "connection refused".into(),
                timeout: false,
            },
        )
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
            waiting_after: 3,
            give_up_after: None,
        }
    }

    #[test]
    fn delays_grow_are_jittered_and_capped() {
        let p = policy();
        assert_eq!(p.ceiling(1), Duration::from_millis(100));
        assert_eq!(p.ceiling(2), Duration::from_millis(200));
        assert_eq!(p.ceiling(3), Duration::from_millis(250));
        assert_eq!(p.ceiling(60), Duration::from_millis(250));
        for n in 1..8 {
            for _ in 0..50 {
                let d = p.delay(n);
                assert!(d >= p.ceiling(n) / 2 && d <= p.ceiling(n), "{n}: {d:?}");
            }
        }
        let d = RetryPolicy::default();
        assert_eq!(d.ceiling(100), Duration::from_secs(60), "the default cap");
    }

    #[tokio::test(start_paused = true)]
    async fn retryable_errors_are_retried_with_backoff_then_succeed() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let r = policy()
            .run(&CancellationToken::new(), || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(err(-10004, true))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(r, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // Waited 50..=100 ms, then 100..=200 ms.
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(150) && waited <= Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_is_waited_out_whatever_the_count_and_ends_within_the_cap() {
        // The service is away for 30 minutes, then answers: the call
        // succeeds, at most one capped delay after it came back.
        let p = RetryPolicy::default();
        let start = Instant::now();
        let outage = Duration::from_secs(30 * 60);
        let calls = AtomicU32::new(0);
        let r = p
            .run(&CancellationToken::new(), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                if start.elapsed() < outage {
                    Err(refused())
                } else {
                    Ok(())
                }
            })
            .await;
        assert_eq!(r, Ok(()));
        let over = start.elapsed() - outage;
        assert!(over <= p.max_delay, "back after {over:?}");
        // Far more tries than any count-based policy made, far fewer than
        // a tight loop: about one a minute once capped.
        let n = calls.load(Ordering::SeqCst);
        assert!((30..=80).contains(&n), "{n} calls");
    }

    #[tokio::test(start_paused = true)]
    async fn give_up_after_bounds_the_retries_by_time() {
        let p = RetryPolicy {
            give_up_after: Some(Duration::from_secs(10)),
            ..policy()
        };
        let start = Instant::now();
        let r: Result<(), _> = p
            .run(&CancellationToken::new(), || async {
                Err(err(-10005, true))
            })
            .await;
        let Err(RetryError::Failed { error, attempts }) = r else {
            panic!("{r:?}")
        };
        assert_eq!(error, err(-10005, true));
        assert!(attempts > 10, "{attempts}");
        let t = start.elapsed();
        assert!(t >= Duration::from_secs(10) && t <= Duration::from_secs(10) + p.max_delay);
    }

    #[tokio::test(start_paused = true)]
    async fn non_retryable_errors_fail_at_once() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let r: Result<(), _> = policy()
            .run(&CancellationToken::new(), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(err(-10006, false))
            })
            .await;
        assert!(matches!(r, Err(RetryError::Failed { attempts: 1, .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[derive(Default)]
    struct Heard {
        waits: Mutex<Vec<(Waiting, bool)>>,
        recovered: AtomicU32,
        back: Notify,
    }

    impl RetryHook for Heard {
        fn waiting(&self, w: &Waiting, first: bool) {
            self.waits.lock().unwrap().push((w.clone(), first));
        }
        fn settled(&self, was_waiting: bool, answered: bool) {
            if was_waiting && answered {
                self.recovered.fetch_add(1, Ordering::SeqCst);
            }
        }
        fn woken(&self) -> BoxFuture<'_, ()> {
            Box::pin(self.back.notified())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_is_waited_out_and_never_counts_as_waiting() {
        let calls = AtomicU32::new(0);
        let heard = Heard::default();
        let start = Instant::now();
        let r = policy()
            .run_with(&CancellationToken::new(), &heard, "", || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0..=9 => Err(err(4400, false)),
                    _ => Ok(()),
                }
            })
            .await;
        assert_eq!(r, Ok(()));
        assert_eq!(calls.load(Ordering::SeqCst), 11);
        // Each throttle waits at least a second.
        assert!(start.elapsed() >= Duration::from_secs(10));
        assert!(heard.waits.lock().unwrap().is_empty());
        assert_eq!(heard.recovered.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_hook_hears_the_wait_with_context_then_the_recovery() {
        let calls = AtomicU32::new(0);
        let heard = Heard::default();
        let before = SystemTime::now();
        let r = policy()
            .run_with(
                &CancellationToken::new(),
                &heard,
                "part 3 at offset 30",
                || async {
                    match calls.fetch_add(1, Ordering::SeqCst) {
                        0..=4 => Err(refused()),
                        _ => Ok(()),
                    }
                },
            )
            .await;
        assert_eq!(r, Ok(()));
        let waits = heard.waits.lock().unwrap().clone();
        // Failures 3, 4 and 5 are waits; the first of them says so.
        let firsts: Vec<bool> = waits.iter().map(|(_, f)| *f).collect();
        assert_eq!(firsts, vec![true, false, false]);
        let (w, _) = &waits[0];
        assert_eq!(
            w.error,
            "UploadPart (part 3 at offset 30): transport error: connection refused"
        );
        assert!(w.since >= before && w.next_try > w.since);
        assert!(
            waits.iter().all(|(x, _)| x.since == w.since),
            "since is the first failure"
        );
        assert_eq!(heard.recovered.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_makes_the_call_wait_at_its_first_failure() {
        let heard = Heard::default();
        let calls = AtomicU32::new(0);
        let r = policy()
            .run_with(&CancellationToken::new(), &heard, "", || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(VodError::new(
                        "UploadPart",
                        VodErrorKind::Transport {
                            message: "stalled: no byte moved for 30 s".into(),
                            timeout: true,
                        },
                    )),
                    _ => Ok(()),
                }
            })
            .await;
        assert_eq!(r, Ok(()));
        let waits = heard.waits.lock().unwrap().clone();
        assert_eq!(waits.len(), 1);
        assert!(waits[0].1, "the first failure is the first wait");
        assert_eq!(heard.recovered.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_call_is_woken_early_when_the_service_is_back() {
        let p = RetryPolicy {
            base_delay: Duration::from_secs(3600),
            max_delay: Duration::from_secs(3600),
            waiting_after: 1,
            give_up_after: None,
        };
        let heard = std::sync::Arc::new(Heard::default());
        let h2 = heard.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            h2.back.notify_waiters();
        });
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let r = p
            .run_with(&CancellationToken::new(), heard.as_ref(), "", || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(refused()),
                    _ => Ok(()),
                }
            })
            .await;
        assert_eq!(r, Ok(()));
        let t = start.elapsed();
        assert!(
            t >= Duration::from_secs(5) && t < Duration::from_secs(6),
            "{t:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_interrupts_the_wait() {
        let cancel = CancellationToken::new();
        let p = RetryPolicy {
            base_delay: Duration::from_secs(3600),
            max_delay: Duration::from_secs(3600),
            ..policy()
        };
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            c2.cancel();
        });
        let start = Instant::now();
        let r: Result<(), _> = p.run(&cancel, || async { Err(err(-1, true)) }).await;
        assert_eq!(r, Err(RetryError::Cancelled));
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
