//! [`EarlyUploads`]: one background sender per file being written (see the
//! module documentation of `early`): it waits for [`START_AFTER`] sealed
//! parts, starts an open session for the job the commit will run, saves
//! it, and sends each sealed part once, until the commit stops it or an
//! unlink or rename aborts it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::queue::{self, Queue, Ready};
use crate::cache::EarlyPart;
use crate::upload::commit_job::{CacheCommitJob, final_name};
use crate::upload::error::UploadError;
use crate::upload::hash;
use crate::upload::job::UploadJob;
use crate::vod::{Part, Session};

/// Files sending early at once; more wait for their close as before.
pub const MAX_FILES: usize = 8;

/// Early parts in flight across every file.
pub const MAX_PARTS_IN_FLIGHT: usize = 16;

/// Bytes of early parts in flight (and in memory) across every file, in
/// MiB: 32 parts of 1 MiB, or fewer grown ones. A grown part larger than
/// this (64 MiB, in files past 8.875 GiB) waits for the whole budget
/// and is then alone in flight.
pub const MAX_MIB_IN_FLIGHT: u32 = 32;

/// Sealed parts a file has before its session starts: smaller files are
/// closed before an early start could pay off.
pub const START_AFTER: u64 = 4;

/// The early senders of one mount.
pub struct EarlyUploads {
    job: Arc<CacheCommitJob>,
    rt: tokio::runtime::Handle,
    files: Mutex<HashMap<u64, Arc<Sender>>>,
    slots: Arc<Semaphore>,
    parts: Arc<Semaphore>,
    /// [`MAX_MIB_IN_FLIGHT`] permits of 1 MiB.
    mib: Arc<Semaphore>,
}

/// The sender of one version of one file.
struct Sender {
    version: u64,
    state: Mutex<Queue>,
    more: Notify,
    /// Send nothing more; the parts in flight finish.
    stop: CancellationToken,
    /// Give up at once: the session is aborted.
    abort: CancellationToken,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl EarlyUploads {
    pub fn new(job: Arc<CacheCommitJob>, rt: tokio::runtime::Handle) -> Arc<Self> {
        Arc::new(EarlyUploads {
            job,
            rt,
            files: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(MAX_FILES)),
            parts: Arc::new(Semaphore::new(MAX_PARTS_IN_FLIGHT)),
            mib: Arc::new(Semaphore::new(MAX_MIB_IN_FLIGHT as usize)),
        })
    }

    /// True when the mount's flow takes parts before the whole-file hash.
    pub fn supported(job: &CacheCommitJob) -> bool {
        job.uploader().flow().parts_before_hash()
    }

    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.rt
    }

    /// Queues a sealed part; starts the file's sender at [`START_AFTER`].
    pub fn part_sealed(self: &Arc<Self>, ino: u64, version: u64, index: u64, md5: [u8; 16]) {
        let layout = queue::layout(self.job.cache().part_size());
        let sender = {
            let mut files = lock(&self.files);
            let s = files
                .entry(ino)
                .or_insert_with(|| Sender::new(version, layout));
            if s.version != version {
                // A new version while the old one's sender lives (never
                // committed): the old one is superseded.
                s.abort.cancel();
                *s = Sender::new(version, layout);
            }
            s.clone()
        };
        let start = {
            let mut q = lock(&sender.state);
            q.seal(index, md5);
            let start = !q.started && q.count >= START_AFTER;
            q.started |= start;
            start
        };
        sender.more.notify_one();
        if !start {
            return;
        }
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            tracing::debug!(
                ino,
                "early uploads are all busy: this file waits for its close"
            );
            return;
        };
        let task = self.rt.spawn(self.clone().run(ino, sender.clone(), slot));
        *lock(&sender.task) = Some(task);
    }

    /// Bytes `[offset, offset + len)` of (ino, version) were written: a
    /// rewrite of sealed bytes keeps the grown parts made of them from
    /// being recorded (the commit checks them by reading).
    pub fn written(&self, ino: u64, version: u64, offset: u64, len: u64) {
        if let Some(s) = self.sender_of(ino, version) {
            lock(&s.state).written(offset, len);
        }
    }

    /// (ino, version) was cut to `size` bytes.
    pub fn truncated(&self, ino: u64, version: u64, size: u64) {
        if let Some(s) = self.sender_of(ino, version) {
            lock(&s.state).truncated(size);
        }
    }

    fn sender_of(&self, ino: u64, version: u64) -> Option<Arc<Sender>> {
        let files = lock(&self.files);
        files.get(&ino).filter(|s| s.version == version).cloned()
    }

    /// True while `ino` has a sender (its commit must stop it first).
    pub fn sending(&self, ino: u64) -> bool {
        lock(&self.files).contains_key(&ino)
    }

    /// Stops the sender of `ino` (the commit is about to run): resolves
    /// once its parts in flight are done.
    pub fn stop(&self, ino: u64) -> BoxFuture<'static, ()> {
        let sender = lock(&self.files).remove(&ino);
        Box::pin(async move {
            let Some(s) = sender else { return };
            s.stop.cancel();
            s.more.notify_one();
            let task = lock(&s.task).take();
            if let Some(t) = task {
                let _ = t.await;
            }
        })
    }

    /// `ino` lost its last name: abort its sender's session and any saved
    /// early session of it (a mount killed mid-write saved one).
    pub fn removed(self: &Arc<Self>, ino: u64) {
        let sender = lock(&self.files).remove(&ino);
        self.rt.spawn(self.clone().abort(ino, None, sender));
    }

    /// `ino` was renamed: a session started under another media name, or
    /// a file renamed to an rsync temp name, is aborted.
    pub fn renamed(self: &Arc<Self>, ino: u64) {
        let Some(sender) = lock(&self.files).get(&ino).cloned() else {
            return;
        };
        let me = self.clone();
        self.rt.spawn(async move {
            let job = me.job.early_job(ino).await;
            let names = me.job.cache().names_of(ino).unwrap_or_default();
            let temp = names.iter().all(|(_, n)| final_name(n) != n.as_slice());
            let started = lock(&sender.state).name.clone();
            let same = job.is_some_and(|(j, _)| Some(j.file_name) == started);
            if same && !temp {
                return;
            }
            let removed = {
                let mut files = lock(&me.files);
                match files.get(&ino) {
                    Some(s) if Arc::ptr_eq(s, &sender) => files.remove(&ino),
                    _ => None,
                }
            };
            if removed.is_some() {
                tracing::info!(ino, "renamed while written: aborting the parts sent early");
                me.abort(ino, Some(sender.version), removed).await;
            }
        });
    }

    /// Stops `sender` at once and aborts the early sessions of `ino`
    /// (of `version`, or all).
    async fn abort(self: Arc<Self>, ino: u64, version: Option<u64>, sender: Option<Arc<Sender>>) {
        if let Some(s) = sender {
            s.abort.cancel();
            s.stop.cancel();
            s.more.notify_one();
            let task = lock(&s.task).take();
            if let Some(t) = task {
                let _ = t.await;
            }
        }
        let cache = self.job.cache().clone();
        let tokens = tokio::task::spawn_blocking(move || cache.take_early_sessions(ino, version))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        for t in tokens {
            let Ok(t) = String::from_utf8(t) else {
                continue;
            };
            if let Err(e) = self.job.uploader().abandon(&t).await {
                tracing::warn!(ino, "aborting the parts sent early: {e}");
            }
        }
    }

    /// The sender's task: start, save, send until stopped.
    async fn run(self: Arc<Self>, ino: u64, s: Arc<Sender>, _slot: OwnedSemaphorePermit) {
        let Some((job, fp)) = self.job.early_job(ino).await else {
            return;
        };
        if s.stop.is_cancelled() {
            return;
        }
        // A session an earlier mount saved for an older version of this
        // file will never be committed.
        let cache = self.job.cache().clone();
        let version = s.version;
        let stale = tokio::task::spawn_blocking(move || {
            let all = cache.take_early_sessions(ino, None)?;
            Ok::<_, crate::cache::CacheError>(all)
        })
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
        for t in stale.into_iter().filter_map(|t| String::from_utf8(t).ok()) {
            let _ = self.job.uploader().abandon(&t).await;
        }
        let mut session = tokio::select! {
            _ = s.stop.cancelled() => return,
            r = self.job.uploader().open_session(&job) => match r {
                Ok(session) => session,
                Err(e) => {
                    tracing::info!(ino, "no early start, the close uploads it all: {e}");
                    return;
                }
            },
        };
        // The parts go up in the grown layout over the cache's parts,
        // whose numbering holds whatever the final size.
        let layout = lock(&s.state).layout();
        if u64::from(session.part_size) != layout.base() {
            tracing::info!(
                ino,
                part_size = session.part_size,
                "the early session's part size is not the cache's: the close uploads it all"
            );
            let _ = self.job.uploader().abort_session(&session).await;
            return;
        }
        session.growth = Some(queue::growth());
        let Ok(token) = serde_json::to_string(&session) else {
            return;
        };
        let cache = self.job.cache().clone();
        let saved = tokio::task::spawn_blocking(move || {
            cache.save_early_session(ino, version, token.as_bytes(), &fp)
        })
        .await;
        if !matches!(saved, Ok(Ok(()))) {
            tracing::warn!(ino, "the early session could not be saved: aborting it");
            let _ = self.job.uploader().abort_session(&session).await;
            return;
        }
        lock(&s.state).name = Some(job.file_name.clone());
        tracing::debug!(ino, version, "sending parts while the file is written");
        let sent = self.send(ino, &s, &session, &job).await;
        tracing::debug!(ino, version, sent, "early sender stopped");
        if s.abort.is_cancelled() {
            let _ = self.job.uploader().abort_session(&session).await;
        }
    }

    /// Sends queued parts, a few at a time, until stopped; returns how
    /// many went up.
    async fn send(&self, ino: u64, s: &Sender, session: &Session, job: &UploadJob) -> u64 {
        let per_file = job.parallel_parts.clamp(1, MAX_PARTS_IN_FLIGHT);
        let mut in_flight = FuturesUnordered::new();
        let mut sent = 0;
        loop {
            while in_flight.len() < per_file && !s.stop.is_cancelled() {
                let Some(ready) = lock(&s.state).next_ready() else {
                    break;
                };
                in_flight.push(self.send_part(ino, s, session, ready));
            }
            if in_flight.is_empty() {
                if s.stop.is_cancelled() {
                    return sent;
                }
                tokio::select! {
                    _ = s.stop.cancelled() => return sent,
                    _ = s.more.notified() => continue,
                }
            }
            tokio::select! {
                biased;
                _ = s.abort.cancelled() => return sent,
                r = in_flight.next() => match r {
                    Some(Ok(())) => sent += 1,
                    Some(Err(e)) => {
                        // Nothing early is retried: the service in trouble
                        // (down, refusing, the session expired) is the
                        // commit's to ride out, with its retries; trying
                        // the next parts meanwhile would only send bytes
                        // for nothing.
                        tracing::info!(ino, "an early part failed; the commit sends the rest: {e}");
                        s.stop.cancel();
                    }
                    None => {}
                },
                _ = s.more.notified(), if in_flight.len() < per_file => {}
            }
        }
    }

    /// Reads and sends one part of the layout whose cache parts are all
    /// sealed (one try; the commit sends what failed). A part of one cache
    /// part goes with its sealed MD5 (the service checks the bytes against
    /// it); a grown part is hashed as read, and recorded once sent with the
    /// sealed MD5s it was made of, unless its bytes were written again
    /// meanwhile.
    async fn send_part(
        &self,
        ino: u64,
        s: &Sender,
        session: &Session,
        ready: Ready,
    ) -> Result<(), UploadError> {
        let _permit = self
            .parts
            .acquire()
            .await
            .map_err(|_| UploadError::Cancelled)?;
        let mib = ready
            .size
            .div_ceil(1 << 20)
            .min(u64::from(MAX_MIB_IN_FLIGHT)) as u32;
        let _bytes = self
            .mib
            .acquire_many(mib.max(1))
            .await
            .map_err(|_| UploadError::Cancelled)?;
        let Ready {
            index,
            offset,
            size,
            md5s,
        } = ready;
        let sealed = (md5s.len() == 1).then(|| md5s[0]);
        let (cache, version) = (self.job.cache().clone(), s.version);
        let source_error = |e: String| UploadError::Source {
            offset,
            source: std::io::Error::other(e),
        };
        let (data, md5) = tokio::task::spawn_blocking(move || {
            let data = cache.read_part(ino, version, offset, size as usize)?;
            let md5 = sealed.unwrap_or_else(|| hash::md5(&data));
            Ok::<_, crate::cache::CacheError>((data, md5))
        })
        .await
        .map_err(|e| source_error(e.to_string()))?
        .map_err(|e| source_error(e.to_string()))?;
        if data.len() as u64 != size {
            return Err(UploadError::SourceChanged(format!(
                "part {index} is no longer whole"
            )));
        }
        let part = Part {
            index,
            offset,
            data,
            md5_hex: hex::encode(md5),
        };
        self.job
            .uploader()
            .send_open_part(session, part)
            .await
            .map_err(UploadError::Service)?;
        if sealed.is_none() {
            self.record(ino, s, offset, size, md5, &md5s).await;
        }
        Ok(())
    }

    /// Records a grown part sent (see [`crate::cache::EarlyPart`]) when
    /// none of its cache parts was written again since it was sealed.
    async fn record(
        &self,
        ino: u64,
        s: &Sender,
        offset: u64,
        size: u64,
        md5: [u8; 16],
        md5s: &[[u8; 16]],
    ) {
        let b = lock(&s.state).layout().base();
        if !lock(&s.state).untouched(offset / b..(offset + size) / b) {
            tracing::debug!(
                ino,
                offset,
                "a grown early part was written again: the commit checks it"
            );
            return;
        }
        let p = EarlyPart {
            offset,
            len: size,
            md5,
            parts_digest: hash::parts_digest(md5s),
        };
        let (cache, version) = (self.job.cache().clone(), s.version);
        let saved =
            tokio::task::spawn_blocking(move || cache.save_early_part(ino, version, &p)).await;
        if !matches!(saved, Ok(Ok(()))) {
            tracing::warn!(
                ino,
                offset,
                "a grown early part could not be recorded: the commit checks it"
            );
        }
    }
}

impl Sender {
    fn new(version: u64, layout: crate::vod::rules::layout::Layout) -> Arc<Self> {
        Arc::new(Sender {
            version,
            state: Mutex::new(Queue::new(layout)),
            more: Notify::new(),
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
            task: Mutex::new(None),
        })
    }
}
