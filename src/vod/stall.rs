//! Stalls, not timeouts: how every request of the protocol clients is
//! bounded in time.
//!
//! A request is abandoned when it moves no byte for the stall timeout
//! (`--stall-timeout`), never for being slow: a part that crawls over a
//! 64 kbit/s link but keeps moving goes through, however long it takes.
//! Connection attempts have their own short limit (the client's connect
//! timeout, `--connect-timeout`).
//!
//! How progress is seen:
//! - the request body goes out through [`Progress::body`] (or
//!   [`Progress::stream`]) in chunks of [`CHUNK`]: each chunk the HTTP
//!   client takes (because the socket took the one before) is progress;
//! - the response headers and each chunk of the response body the caller
//!   reads ([`Progress::touch`]) are progress;
//! - once the whole body was handed over, bytes may still sit in socket
//!   buffers on their way over a slow link, unseen from here; so the wait
//!   for the answer allows, besides the stall timeout, the time the body's
//!   bytes take at [`SLOWEST_LINK`] (the slowest link promised to work).
//!
//! [`guard`] runs the request's future under a watchdog and fails it with
//! [`Stalled`] when the deadline passes with no progress.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use futures::StreamExt as _;
use tokio::time::Instant;

/// The default stall timeout.
pub const DEFAULT_STALL: Duration = Duration::from_secs(30);
/// The default limit of one connection attempt.
pub const DEFAULT_CONNECT: Duration = Duration::from_secs(10);
/// The body is handed to the HTTP client in chunks of this size.
pub const CHUNK: usize = 16 * 1024;
/// Bytes per second of the slowest link promised to work (64 kbit/s).
pub const SLOWEST_LINK: u64 = 8 * 1024;

/// The time limits of a client's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A request that moves no byte this long is abandoned.
    pub stall: Duration,
    /// One connection attempt.
    pub connect: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            stall: DEFAULT_STALL,
            connect: DEFAULT_CONNECT,
        }
    }
}

/// A request moved no byte for this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stalled: no byte moved for {} s", .0.as_secs())]
pub struct Stalled(pub Duration);

const NOT_DONE: u64 = u64::MAX;

#[derive(Debug)]
struct Inner {
    start: Instant,
    /// Milliseconds from `start` to the last progress.
    last_ms: AtomicU64,
    /// Milliseconds from `start` to the end of the body ([`NOT_DONE`]).
    body_done_ms: AtomicU64,
    /// Bytes of the body handed over.
    body_bytes: AtomicU64,
}

/// The progress of one request (cheap to clone).
#[derive(Debug, Clone)]
pub struct Progress(Arc<Inner>);

impl Default for Progress {
    fn default() -> Self {
        Progress(Arc::new(Inner {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            body_done_ms: AtomicU64::new(NOT_DONE),
            body_bytes: AtomicU64::new(0),
        }))
    }
}

impl Progress {
    fn now_ms(&self) -> u64 {
        self.0.start.elapsed().as_millis() as u64
    }

    /// Some bytes moved.
    pub fn touch(&self) {
        self.0.last_ms.fetch_max(self.now_ms(), Ordering::Relaxed);
    }

    fn body_done(&self) {
        self.touch();
        let _ = self.0.body_done_ms.compare_exchange(
            NOT_DONE,
            self.now_ms(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// `data` as a request body whose chunks count as progress.
    pub fn body(&self, data: Bytes) -> reqwest::Body {
        let len = data.len() as u64;
        let chunks = (0..data.len().div_ceil(CHUNK)).map(move |i| {
            Ok::<_, std::io::Error>(data.slice(i * CHUNK..((i + 1) * CHUNK).min(data.len())))
        });
        reqwest::Body::wrap_stream(self.stream(futures::stream::iter(chunks), len))
    }

    /// A body stream of `len` bytes whose items count as progress (and
    /// its last byte, or its end, as the end of the body: an HTTP client
    /// that knows the length stops polling after the last byte).
    pub fn stream<S, E>(
        &self,
        s: S,
        len: u64,
    ) -> impl Stream<Item = Result<Bytes, E>> + Send + 'static
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    {
        let p = self.clone();
        futures::stream::unfold((Box::pin(s), p), move |(mut s, p)| async move {
            match s.next().await {
                Some(item) => {
                    p.touch();
                    if let Ok(b) = &item {
                        let sent = p.0.body_bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                        if sent + b.len() as u64 >= len {
                            p.body_done();
                        }
                    }
                    Some((item, (s, p)))
                }
                None => {
                    p.body_done();
                    None
                }
            }
        })
    }

    /// When the request counts as stalled, as things stand.
    fn deadline(&self, stall: Duration) -> Instant {
        let last = self.0.start + Duration::from_millis(self.0.last_ms.load(Ordering::Relaxed));
        let done = self.0.body_done_ms.load(Ordering::Relaxed);
        let draining = if done == NOT_DONE {
            Duration::ZERO
        } else {
            Duration::from_secs(self.0.body_bytes.load(Ordering::Relaxed) / SLOWEST_LINK)
        };
        last + stall + draining
    }
}

/// The error of a stalled call.
pub fn error(action: &'static str, s: Stalled) -> super::error::VodError {
    super::error::VodError::new(
        action,
        super::error::VodErrorKind::Transport {
            message: s.to_string(),
            timeout: true,
        },
    )
}

/// Runs `fut` (a request and the reading of its answer) until it ends or
/// moves no byte for `stall` (see the module documentation).
pub async fn guard<T>(
    p: &Progress,
    stall: Duration,
    fut: impl Future<Output = T>,
) -> Result<T, Stalled> {
    let mut fut = pin!(fut);
    loop {
        let deadline = p.deadline(stall);
        tokio::select! {
            r = &mut fut => return Ok(r),
            _ = tokio::time::sleep_until(deadline) => {
                if p.deadline(stall) <= Instant::now() {
                    return Err(Stalled(stall));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_request_that_moves_nothing_is_abandoned_after_the_stall_timeout() {
        let p = Progress::default();
        let start = Instant::now();
        let r = guard(&p, Duration::from_secs(30), std::future::pending::<()>()).await;
        assert_eq!(r, Err(Stalled(Duration::from_secs(30))));
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        assert_eq!(
            r.unwrap_err().to_string(),
            "stalled: no byte moved for 30 s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_request_that_keeps_moving_never_times_out() {
        // Ten minutes of a byte every 20 s: slow, never stalled.
        let p = Progress::default();
        let p2 = p.clone();
        let slow = async move {
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                p2.touch();
            }
            "done"
        };
        let start = Instant::now();
        assert_eq!(guard(&p, Duration::from_secs(30), slow).await, Ok("done"));
        assert_eq!(start.elapsed(), Duration::from_secs(600));
    }

    #[tokio::test(start_paused = true)]
    async fn the_body_chunks_are_progress_and_its_end_allows_for_draining() {
        let p = Progress::default();
        let data = Bytes::from(vec![7u8; 1 << 20]);
        let chunks: Vec<_> = p
            .stream(
                futures::stream::iter(
                    (0..64).map(move |i| Ok::<_, ()>(data.slice(i * CHUNK..(i + 1) * CHUNK))),
                ),
                1 << 20,
            )
            .collect()
            .await;
        assert_eq!(chunks.len(), 64);
        // The whole MiB handed over at once (into socket buffers): the
        // answer may take 128 s of a 64 kbit/s link beyond the stall.
        let start = Instant::now();
        let r = guard(&p, Duration::from_secs(30), std::future::pending::<()>()).await;
        assert!(r.is_err());
        assert_eq!(start.elapsed(), Duration::from_secs(30 + 128));
    }

    #[test]
    fn bodies_are_cut_in_chunks() {
        let p = Progress::default();
        let _ = p.body(Bytes::from(vec![0u8; CHUNK * 2 + 1]));
        assert_eq!(Timeouts::default().stall, Duration::from_secs(30));
    }
}
