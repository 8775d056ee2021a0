//! An in-memory [`UploadFlow`] with the v4 service's semantics, for tests of
//! the pipeline and of whatever drives it (the committer).
//!
//! It keeps uploads by sha like the real service (§2.6, §11): a start on a
//! partly uploaded sha returns its held parts and original part size, on a
//! complete one the media. Parts are checked (alignment, size, MD5) and
//! finish checks the SHA-1 of the concatenation. Tests can queue failures
//! per step, slow parts down, and read counters (calls, bytes, the most
//! parts in flight at once).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;

use super::hash;
use crate::vod::{
    HeldPart, Media, Part, Session, StartRequest, Started, Step, UploadFlow, VodError,
    VodErrorKind, part_count,
};

#[derive(Debug, Default)]
struct Upload {
    file_size: u64,
    part_size: u32,
    parts: BTreeMap<u64, Bytes>,
    media: Option<Media>,
}

/// The fake service.
#[derive(Debug, Default)]
pub struct FakeFlow {
    uploads: Mutex<HashMap<String, Upload>>,
    failures: Mutex<VecDeque<(Step, VodError)>>,
    part_delay: Mutex<Duration>,
    next_id: AtomicU64,
    pub start_calls: AtomicU64,
    pub part_calls: AtomicU64,
    pub finish_calls: AtomicU64,
    pub bytes_received: AtomicU64,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A service error with a code, as the v4 service would send it.
pub fn service_error(action: &'static str, code: i64, can_retry: bool, message: &str) -> VodError {
    VodError::new(
        action,
        VodErrorKind::Service {
            code,
            message: message.into(),
            code_desc: String::new(),
            can_retry,
        },
    )
}

impl FakeFlow {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next call of `step` fails with `error` (queued in order).
    pub fn fail_next(&self, step: Step, error: VodError) {
        lock(&self.failures).push_back((step, error));
    }

    /// Every part call takes this long (tokio time).
    pub fn set_part_delay(&self, d: Duration) {
        *lock(&self.part_delay) = d;
    }

    /// Stores a part as if an earlier upload had sent it (resume tests).
    pub fn preload(
        &self,
        sha1_hex: &str,
        file_size: u64,
        part_size: u32,
        offset: u64,
        data: Bytes,
    ) {
        let mut ups = lock(&self.uploads);
        let u = ups.entry(sha1_hex.to_string()).or_default();
        u.file_size = file_size;
        u.part_size = part_size;
        u.parts.insert(offset, data);
    }

    /// The committed content of a media, if any.
    pub fn content(&self, file_id: &str) -> Option<Vec<u8>> {
        let ups = lock(&self.uploads);
        ups.values()
            .find(|u| u.media.as_ref().is_some_and(|m| m.file_id == file_id))
            .map(|u| u.parts.values().flat_map(|b| b.iter().copied()).collect())
    }

    fn injected(&self, step: Step) -> Option<VodError> {
        let mut f = lock(&self.failures);
        let pos = f.iter().position(|(s, _)| *s == step)?;
        f.remove(pos).map(|(_, e)| e)
    }

    fn do_start(&self, req: &StartRequest) -> Result<Started, VodError> {
        self.start_calls.fetch_add(1, Ordering::SeqCst);
        if let Some(e) = self.injected(Step::Start) {
            return Err(e);
        }
        let mut ups = lock(&self.uploads);
        let u = ups.entry(req.sha1_hex.clone()).or_default();
        let resumed = u.part_size != 0;
        if !resumed {
            u.file_size = req.file_size;
            u.part_size = req.part_size;
        }
        let session = Session {
            flow: "fake".into(),
            sha1_hex: req.sha1_hex.clone(),
            file_size: u.file_size,
            part_size: u.part_size,
            token: None,
            growth: None,
        };
        if let Some(media) = &u.media {
            return Ok(Started::Complete {
                session,
                media: media.clone(),
            });
        }
        let held = u
            .parts
            .iter()
            .map(|(o, b)| HeldPart {
                offset: *o,
                size: b.len() as u64,
                md5_hex: hex::encode(hash::md5(b)),
            })
            .collect();
        Ok(Started::Upload {
            session,
            held,
            resumed,
        })
    }

    fn store_part(&self, session: &Session, part: &Part) -> Result<(), VodError> {
        let bad = |m: &str| service_error("UploadPart", -10006, false, m);
        if hex::encode(hash::md5(&part.data)) != part.md5_hex {
            return Err(service_error("UploadPart", -10006, true, "md5 mismatch"));
        }
        let mut ups = lock(&self.uploads);
        let Some(u) = ups.get_mut(&session.sha1_hex) else {
            return Err(bad("no such upload"));
        };
        let ps = u64::from(u.part_size);
        let expected = u.file_size.saturating_sub(part.offset).min(ps);
        if !part.offset.is_multiple_of(ps)
            || part.offset >= u.file_size
            || part.data.len() as u64 != expected
        {
            return Err(bad("invalid packet size"));
        }
        self.bytes_received
            .fetch_add(part.data.len() as u64, Ordering::SeqCst);
        u.parts.insert(part.offset, part.data.clone());
        Ok(())
    }

    fn do_finish(&self, session: &Session) -> Result<Media, VodError> {
        self.finish_calls.fetch_add(1, Ordering::SeqCst);
        if let Some(e) = self.injected(Step::Finish) {
            return Err(e);
        }
        let mut ups = lock(&self.uploads);
        let Some(u) = ups.get_mut(&session.sha1_hex) else {
            return Err(service_error(
                "FinishUpload",
                -10003,
                false,
                "no such upload",
            ));
        };
        if let Some(m) = &u.media {
            return Ok(m.clone());
        }
        if (u.parts.len() as u64) != part_count(u.file_size, u.part_size) {
            return Err(service_error(
                "FinishUpload",
                -10003,
                false,
                "parts missing",
            ));
        }
        let all: Vec<u8> = u.parts.values().flat_map(|b| b.iter().copied()).collect();
        if hash::sha1_hex(&all) != session.sha1_hex {
            return Err(service_error("FinishUpload", -10003, false, "sha mismatch"));
        }
        let id = 1_000_000_000_000_000 + self.next_id.fetch_add(1, Ordering::SeqCst);
        let media = Media {
            file_id: id.to_string(),
            url: Some(format!("http://fake.invalid/vod/{id}/f0.mp4")),
            cover_url: None,
        };
        u.media = Some(media.clone());
        Ok(media)
    }
}

/// Counts a part call in flight for as long as it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(now: &'a AtomicUsize, max: &AtomicUsize) -> Self {
        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
        max.fetch_max(n, Ordering::SeqCst);
        InFlight(now)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl UploadFlow for FakeFlow {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn action(&self, step: Step) -> &'static str {
        match step {
            Step::Start => "InitUpload",
            Step::Part => "UploadPart",
            Step::Finish => "FinishUpload",
        }
    }

    fn start<'a>(&'a self, req: &'a StartRequest) -> BoxFuture<'a, Result<Started, VodError>> {
        Box::pin(async move { self.do_start(req) })
    }

    fn send_part<'a>(
        &'a self,
        session: &'a Session,
        part: Part,
    ) -> BoxFuture<'a, Result<(), VodError>> {
        Box::pin(async move {
            self.part_calls.fetch_add(1, Ordering::SeqCst);
            // Counted down on drop too: a cancelled call is no longer in flight.
            let _guard = InFlight::enter(&self.in_flight, &self.max_in_flight);
            let delay = *lock(&self.part_delay);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            match self.injected(Step::Part) {
                Some(e) => Err(e),
                None => self.store_part(session, &part),
            }
        })
    }

    fn finish<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Result<Media, VodError>> {
        Box::pin(async move { self.do_finish(session) })
    }
}
