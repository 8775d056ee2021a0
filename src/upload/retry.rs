//! Retrying one call with exponential backoff and jitter.
//!
//! Design decisions:
//! - Only errors [`VodError::is_retryable`] says may pass are retried;
//!   anything else fails at once with the service's code and message.
//! - The delay before retry n (n ≥ 1) is drawn uniformly from
//!   `[d/2, d]` with `d = min(max_delay, base_delay × 2^(n-1))` ("equal
//!   jitter"): spread out, never zero, never above the cap.
//! - A 4400 (rate limited) is waited out, not surfaced: it has its own,
//!   larger budget (`max_throttle_waits`) and a floor of one second, and does
//!   not use up the attempts meant for real failures.
//! - Cancellation wins over any wait. Time is tokio's, so tests run with
//!   paused virtual time.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::vod::VodError;

/// How a call is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// 4400 answers waited out before giving up.
    pub max_throttle_waits: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            max_throttle_waits: 30,
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
    pub async fn run<T, F, Fut>(
        &self,
        cancel: &CancellationToken,
        mut op: F,
    ) -> Result<T, RetryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, VodError>>,
    {
        let mut attempts = 0u32;
        let mut failures = 0u32;
        let mut throttled = 0u32;
        loop {
            attempts += 1;
            let result = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(RetryError::Cancelled),
                r = op() => r,
            };
            let error = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let wait = if error.is_throttled() && throttled < self.max_throttle_waits {
                throttled += 1;
                self.delay(throttled)
                    .max(error.min_backoff().unwrap_or_default())
            } else {
                failures += 1;
                if !error.is_retryable() || failures >= self.max_attempts.max(1) {
                    return Err(RetryError::Failed { error, attempts });
                }
                self.delay(failures)
            };
            tracing::debug!(action = error.action, %error, ?wait, "retrying");
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(RetryError::Cancelled),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vod::VodErrorKind;
    use std::sync::atomic::{AtomicU32, Ordering};
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

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
            max_throttle_waits: 3,
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
    async fn attempts_are_bounded_and_the_last_error_returned() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = policy()
            .run(&CancellationToken::new(), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(err(-10005, true))
            })
            .await;
        assert_eq!(
            r,
            Err(RetryError::Failed {
                error: err(-10005, true),
                attempts: 4
            })
        );
        assert_eq!(calls.load(Ordering::SeqCst), 4);
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

    #[tokio::test(start_paused = true)]
    async fn throttling_is_waited_out_without_using_attempts() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        // 3 throttles (the whole throttle budget), then 3 failures, then ok:
        // 7 calls, more than max_attempts, and still a success.
        let r = policy()
            .run(&CancellationToken::new(), || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0..=2 => Err(err(4400, false)),
                    3..=5 => Err(err(-1, true)),
                    _ => Ok(()),
                }
            })
            .await;
        assert_eq!(r, Ok(()));
        assert_eq!(calls.load(Ordering::SeqCst), 7);
        // Each throttle waits at least a second.
        assert!(start.elapsed() >= Duration::from_secs(3));
        // Past its budget a 4400 counts as an ordinary retryable failure.
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = policy()
            .run(&CancellationToken::new(), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(err(4400, false))
            })
            .await;
        assert!(matches!(r, Err(RetryError::Failed { attempts: 7, .. })));
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
