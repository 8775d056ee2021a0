//! The scheduler of one upload: hash → start → send the parts the service
//! lacks, `parallel_parts` at a time → finish.
//!
//! Design decisions:
//! - **Bounded memory.** A part is read from the source (on a blocking
//!   thread) only when a slot for it frees up, and kept only while it is in
//!   flight or being retried: at most `parallel_parts` parts in memory.
//! - **One task.** Parts in flight are futures polled by the caller's task
//!   (`FuturesUnordered`), not spawned tasks: dropping or cancelling the
//!   upload stops all of them, and nothing needs `'static` borrows.
//! - **Retries per call.** Each call (start, every part, finish) is retried
//!   alone under the [`RetryPolicy`], by time: an outage is waited out in
//!   place, each call keeping its session and the parts already sent, so
//!   the upload goes on from where it stood when the service answers again
//!   (never from byte zero). While a call waits, the file's observer hears
//!   it ([`crate::upload::health::FileHook`]). A part that fails for good
//!   fails the upload with its index, offset, the Action, the service code
//!   and message.
//! - **Pacing** happens before every attempt, retries included.
//! - **Expired sessions.** A start, part or finish that fails because the
//!   session can no longer be used (api3's credential runs out) starts the
//!   file over with a new session, at most [`MAX_SESSION_RESTARTS`] times:
//!   a file fails only when it cannot be sent within one session.
//! - **Grown parts refused.** A session whose parts grow (`early`) that
//!   the service refuses a part of as too large (`EntityTooLarge`: a
//!   `vodfs serve --max-body` below 64 MiB) starts the file over afresh, in
//!   the uniform parts its size needs (counted with the restarts).
//! - **Resume.** The service's list of held parts (InitUpload code 1) is
//!   checked part by part against local MD5s; only missing or mismatching
//!   parts are sent, with the service's part size. An *open* session
//!   (started while the file was written, `upload::early`) is resumed the
//!   same way once its size and SHA-1 are filled in, with the session's
//!   part layout ([`Session::layout`]: grown part sizes, so that files of
//!   hundreds of GiB fit 10,000 parts), unless the file outgrew even that
//!   (then it is aborted and uploaded afresh).
//! - **Integrity.** A part's MD5 is computed from the bytes actually sent,
//!   unless the source vouches for the MD5s it knows
//!   ([`PartSource::md5s_verified`]: the cache's staged versions whose data
//!   was synced after they were hashed while written), which spares the
//!   second MD5 pass over the file; the service checks every part against
//!   its MD5 either way. When a precomputed MD5 the source does not vouch
//!   for differs from the bytes, the staged data changed and the upload
//!   fails rather than commit something else. The service verifies the
//!   whole-file SHA-1 at finish and any sha it reports back must be ours
//!   (checked by the flow). [`Committed::parts_hashed`] counts the parts
//!   hashed here.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;

use super::error::UploadError;
use super::hash::{self, Hashes};
use super::health::{FileHook, Health};
use super::job::{Committed, Observer, Phase, Progress, UploadJob};
use super::object;
use super::pace::{PaceLimits, Pacer};
use super::retry::{RetryError, RetryHook, RetryPolicy};
use super::source::PartSource;
use crate::vod::{
    AbortReason, HeldPart, Media, Part, Session, StartRequest, Started, Step, Transfer, UploadFlow,
    VodError,
};

/// The most parts one upload keeps in flight (and in memory) whatever the
/// job asks: 64 × 1 MiB.
pub const MAX_PARALLEL_PARTS: usize = 64;

/// Parts of `session` in flight for a file of `len` bytes: what the job
/// asks, at most [`MAX_PARALLEL_PARTS`], and for a grown layout no more
/// than that many base parts' worth of its largest part (memory stays at
/// about 64 MiB whatever the part sizes).
fn parallel_for(session: &Session, len: u64, asked: usize) -> usize {
    let layout = session.layout();
    let parallel = asked.clamp(1, MAX_PARALLEL_PARTS);
    if session.growth.is_none() || len == 0 {
        return parallel;
    }
    let largest = layout.part(layout.count(len) - 1).1;
    let fits = (MAX_PARALLEL_PARTS as u64 * layout.base() / largest.max(1)).max(1);
    parallel.min(fits as usize)
}

/// How many times one upload starts over with a new session when its
/// session expires mid-file ([`VodError::is_session_expired`]: api3's
/// temporary credential runs out and the service has no refresh call).
pub const MAX_SESSION_RESTARTS: u32 = 3;

/// How long a commit waits for the resume token to be saved.
const TOKEN_SAVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long reporting a failed upload to the service may take.
const ABORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Settings of an [`Uploader`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploaderConfig {
    pub retry: RetryPolicy,
    pub pace: PaceLimits,
}

/// Runs uploads over one flow, sharing one pacer between them.
#[derive(Clone)]
pub struct Uploader {
    flow: Arc<dyn UploadFlow>,
    retry: RetryPolicy,
    pacer: Arc<Pacer>,
    health: Arc<Health>,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader")
            .field("flow", &self.flow.name())
            .field("retry", &self.retry)
            .field("pace", &self.pacer.limits())
            .finish()
    }
}

fn retry_error(e: RetryError) -> UploadError {
    match e {
        RetryError::Cancelled => UploadError::Cancelled,
        RetryError::Failed { error, .. } => UploadError::Service(error),
    }
}

/// Refuses a job that cannot be uploaded, or one already cancelled.
fn check_job(job: &UploadJob, cancel: &CancellationToken) -> Result<(), UploadError> {
    if job.part_size == 0 {
        return Err(UploadError::InvalidJob("part size is 0".into()));
    }
    if job.file_name.is_empty() {
        return Err(UploadError::InvalidJob("empty file name".into()));
    }
    if cancel.is_cancelled() {
        return Err(UploadError::Cancelled);
    }
    Ok(())
}

fn committed(
    media: Media,
    sha1_hex: String,
    instant: bool,
    parts_sent: u64,
    bytes_sent: u64,
    parts_hashed: u64,
) -> Committed {
    Committed {
        file_id: media.file_id,
        url: media.url,
        cover_url: media.cover_url,
        sha1_hex,
        instant,
        parts_sent,
        bytes_sent,
        parts_hashed,
    }
}

impl Uploader {
    pub fn new(flow: Arc<dyn UploadFlow>, config: UploaderConfig) -> Self {
        Uploader {
            flow,
            retry: config.retry,
            pacer: Arc::new(Pacer::new(config.pace)),
            health: Arc::new(Health::default()),
        }
    }

    pub fn flow(&self) -> &Arc<dyn UploadFlow> {
        &self.flow
    }

    /// The service as this uploader's calls see it (unreachable since when).
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Uploads `src` and commits it; see the module documentation. The
    /// phases: check the job, hash (unless the source knows its SHA-1),
    /// start (or resume) at the service, then either the service already
    /// has the content (instant) or the parts are sent and the upload
    /// finished.
    pub async fn upload(
        &self,
        src: Arc<dyn PartSource>,
        job: &UploadJob,
        observer: &dyn Observer,
        cancel: &CancellationToken,
    ) -> Result<Committed, UploadError> {
        check_job(job, cancel)?;
        let len = src.len();
        let (sha1_hex, hashes) = Self::content_hashes(&src, job, observer, cancel).await?;
        let pass_hashed = hashes.as_ref().map_or(0, |h| h.part_md5.len() as u64);
        observer.phase(Phase::Uploading);
        let hook = FileHook::new(&self.health, observer);
        let mut restarts = 0;
        loop {
            let resume = restarts == 0;
            let started = match self
                .start(job, len, &sha1_hex, resume, observer, &hook, cancel)
                .await
            {
                Err(e) if e.is_session_expired() && restarts < MAX_SESSION_RESTARTS => {
                    restarts += 1;
                    tracing::warn!(file = %job.file_name, "{e}; applying for a new session ({restarts} of {MAX_SESSION_RESTARTS})");
                    continue;
                }
                r => r?,
            };
            let session = started.session().clone();
            let held = match started {
                Started::Complete { media, .. } => {
                    let total = session.layout().count(len);
                    observer.progress(Progress {
                        parts_done: total,
                        parts_total: total,
                        bytes_done: len,
                        bytes_total: len,
                    });
                    return Ok(committed(media, sha1_hex, true, 0, 0, pass_hashed));
                }
                Started::Upload { held, .. } => held,
            };
            let result = self
                .transfer(
                    src.clone(),
                    hashes.as_ref(),
                    session.clone(),
                    &held,
                    job,
                    observer,
                    &hook,
                    cancel,
                )
                .await;
            match &result {
                Err(e) if e.is_session_expired() && restarts < MAX_SESSION_RESTARTS => {
                    // The service has no refresh call: the file starts over
                    // with a new session; the old one is freed while it may be.
                    restarts += 1;
                    tracing::warn!(file = %job.file_name, "{e}; starting the file over with a new session ({restarts} of {MAX_SESSION_RESTARTS})");
                    let abort = self.flow.abort(&session, AbortReason::Cancelled);
                    let _ = tokio::time::timeout(ABORT_TIMEOUT, abort).await;
                    continue;
                }
                Err(e)
                    if e.is_part_too_large()
                        && session.growth.is_some()
                        && restarts < MAX_SESSION_RESTARTS =>
                {
                    // A grown part (sent while the file was written) is
                    // larger than this service takes: the file goes up
                    // afresh in uniform parts of the size its length needs.
                    restarts += 1;
                    tracing::warn!(file = %job.file_name, "{e}; the service takes no part this large: uploading afresh in uniform parts");
                    if let Err(e) = self.abort_session(&session).await {
                        tracing::warn!(file = %job.file_name, "aborting the upload in grown parts: {e}");
                    }
                    continue;
                }
                Err(UploadError::Cancelled) => {}
                Err(_) => self.report_failure(&session).await,
                Ok(_) => {}
            }
            let (media, parts_sent, bytes_sent, hashed) = result?;
            return Ok(committed(
                media,
                sha1_hex,
                false,
                parts_sent,
                bytes_sent,
                pass_hashed + hashed,
            ));
        }
    }

    /// The content's SHA-1 (lower-case hex), and the part hashes when they
    /// had to be computed here (the source did not know its SHA-1).
    async fn content_hashes(
        src: &Arc<dyn PartSource>,
        job: &UploadJob,
        observer: &dyn Observer,
        cancel: &CancellationToken,
    ) -> Result<(String, Option<Hashes>), UploadError> {
        match src.sha1_hex() {
            Some(s) if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok((s.to_ascii_lowercase(), None))
            }
            _ => {
                observer.phase(Phase::Hashing);
                let h = hash::hash(src.clone(), src.len(), job.part_size, cancel.clone()).await?;
                Ok((h.sha1_hex.clone(), Some(h)))
            }
        }
    }

    /// Starts the upload at the service (resuming the job's session when
    /// `resume` and it still describes this content), checks the session it
    /// answers, and hands it to the observer as the resume token.
    #[allow(clippy::too_many_arguments)]
    async fn start(
        &self,
        job: &UploadJob,
        len: u64,
        sha1_hex: &str,
        resume: bool,
        observer: &dyn Observer,
        hook: &dyn RetryHook,
        cancel: &CancellationToken,
    ) -> Result<Started, UploadError> {
        let resume = job
            .resume_token
            .as_deref()
            .filter(|_| resume)
            .and_then(|t| serde_json::from_str::<Session>(t).ok())
            .filter(|s| s.flow == self.flow.name());
        let resume = match resume {
            Some(s) if s.is_open() => self.close_open_session(s, len, sha1_hex).await,
            r => r.filter(|s| s.sha1_hex == sha1_hex && s.file_size == len),
        };
        let req = StartRequest {
            file_name: job.file_name.clone(),
            file_type: job.file_type.clone(),
            file_size: len,
            sha1_hex: sha1_hex.to_string(),
            part_size: job.part_size,
            settings: job.settings.clone(),
            resume,
        };
        let started = self
            .retry
            .run_with(cancel, hook, "", || async {
                self.pacer.acquire(Step::Start).await;
                self.flow.start(&req).await
            })
            .await
            .map_err(retry_error)?;
        let session = started.session();
        if session.sha1_hex != sha1_hex || session.file_size != len || session.part_size == 0 {
            return Err(UploadError::Service(VodError::bad_response(
                self.flow.action(Step::Start),
                "session does not describe the file being uploaded",
            )));
        }
        if let Ok(token) = serde_json::to_string(session) {
            observer.resume_token(&token);
        }
        Ok(started)
    }

    /// An open session (started while the file was written, `early`) now
    /// that the content is known: its size and SHA-1 filled in, or `None`
    /// (and the session aborted) when the file no longer fits its
    /// layout's 10,000 parts (a grown layout holds hundreds of GiB).
    async fn close_open_session(
        &self,
        mut s: Session,
        len: u64,
        sha1_hex: &str,
    ) -> Option<Session> {
        let max_parts = crate::vod::rules::api3::MAX_PARTS;
        if s.layout().count(len) > max_parts {
            tracing::info!(
                len,
                part_size = s.part_size,
                max_size = s.layout().max_size(max_parts),
                "the file outgrew what the parts sent while writing can hold in 10,000 parts: uploading afresh"
            );
            let abort = self.flow.abort(&s, AbortReason::Cancelled);
            let _ = tokio::time::timeout(ABORT_TIMEOUT, abort).await;
            return None;
        }
        s.sha1_hex = sha1_hex.to_string();
        s.file_size = len;
        Some(s)
    }

    /// Starts an open session (the flow takes parts before the hash): the
    /// file `job` names is still being written. One paced try, no retry:
    /// the commit uploads everything itself when this fails.
    pub async fn open_session(&self, job: &UploadJob) -> Result<Session, VodError> {
        let req = StartRequest {
            file_name: job.file_name.clone(),
            file_type: job.file_type.clone(),
            file_size: 0,
            sha1_hex: String::new(),
            part_size: job.part_size,
            settings: job.settings.clone(),
            resume: None,
        };
        self.pacer.acquire(Step::Start).await;
        match self.flow.start(&req).await? {
            Started::Upload { session, .. } if session.is_open() => Ok(session),
            Started::Upload { session, .. } | Started::Complete { session, .. } => {
                let abort = self.flow.abort(&session, AbortReason::Cancelled);
                let _ = tokio::time::timeout(ABORT_TIMEOUT, abort).await;
                Err(VodError::bad_response(
                    self.flow.action(Step::Start),
                    "an open start answered a closed session",
                ))
            }
        }
    }

    /// Sends one part of an open session: one paced try (a part that fails
    /// is sent by the commit).
    pub async fn send_open_part(&self, session: &Session, part: Part) -> Result<(), VodError> {
        self.pacer.acquire(Step::Part).await;
        self.flow.send_part(session, part).await
    }

    /// Gives up an open session for good (the file was removed, renamed to
    /// a temporary name, or its session does not fit the commit), within
    /// [`ABORT_TIMEOUT`]; an error worth another try (a pooled connection
    /// the service had just closed, after refusing a part unread) is tried
    /// again, up to three tries.
    pub async fn abort_session(&self, session: &Session) -> Result<(), VodError> {
        let tries = async {
            let mut last = None;
            for _ in 0..3 {
                match self.flow.abort(session, AbortReason::Cancelled).await {
                    Err(e) if e.is_retryable() => last = Some(e),
                    r => return r,
                }
            }
            last.map_or(Ok(()), Err)
        };
        match tokio::time::timeout(ABORT_TIMEOUT, tries).await {
            Ok(r) => r,
            Err(_) => Err(VodError::new(
                self.flow.action(Step::Part),
                crate::vod::VodErrorKind::Request("abort timed out".into()),
            )),
        }
    }

    /// Best effort: tell the service an upload failed (frontwize FAILED);
    /// flows that resume keep their state.
    async fn report_failure(&self, session: &Session) {
        let abort = self.flow.abort(session, AbortReason::Failed);
        if let Ok(Err(err)) = tokio::time::timeout(ABORT_TIMEOUT, abort).await {
            tracing::warn!(%err, "could not report the failed upload");
        }
    }

    /// Sends what the service lacks and finishes: (media, parts sent, bytes
    /// sent, parts hashed).
    #[allow(clippy::too_many_arguments)]
    async fn transfer(
        &self,
        src: Arc<dyn PartSource>,
        hashes: Option<&Hashes>,
        mut session: Session,
        held: &[HeldPart],
        job: &UploadJob,
        observer: &dyn Observer,
        hook: &dyn RetryHook,
        cancel: &CancellationToken,
    ) -> Result<(Media, u64, u64, u64), UploadError> {
        let len = src.len();
        let (parts_sent, bytes_sent, parts_hashed) = match self.flow.transfer() {
            Transfer::Parts => {
                let ctx = PartCtx {
                    src,
                    hashes,
                    session: &session,
                    len,
                    hook,
                    hashed: AtomicU64::new(0),
                };
                let parallel = parallel_for(&session, len, job.parallel_parts);
                let (parts, bytes) = self
                    .send_parts(&ctx, held, parallel, observer, cancel)
                    .await?;
                (parts, bytes, ctx.hashed.load(Ordering::Relaxed))
            }
            Transfer::Object => {
                session = self.send_object(src, session, hook, cancel).await?;
                let total = session.layout().count(len);
                observer.progress(Progress {
                    parts_done: total,
                    parts_total: total,
                    bytes_done: len,
                    bytes_total: len,
                });
                (1, len, 0)
            }
        };
        observer.phase(Phase::Committing);
        // The session must survive a crash before the service commits it.
        if tokio::time::timeout(TOKEN_SAVE_TIMEOUT, observer.token_saved())
            .await
            .is_err()
        {
            tracing::warn!("the resume token was not saved in time; committing anyway");
        }
        let media = self
            .retry
            .run_with(cancel, hook, "", || async {
                self.pacer.acquire(Step::Finish).await;
                self.flow.finish(&session).await
            })
            .await
            .map_err(retry_error)?;
        Ok((media, parts_sent, bytes_sent, parts_hashed))
    }

    /// Streams the whole content (with retries, a fresh stream each time);
    /// returns the session as the flow left it.
    async fn send_object(
        &self,
        src: Arc<dyn PartSource>,
        session: Session,
        hook: &dyn RetryHook,
        cancel: &CancellationToken,
    ) -> Result<Session, UploadError> {
        let len = src.len();
        let cell = std::sync::Mutex::new(session);
        let current = || cell.lock().unwrap_or_else(|p| p.into_inner()).clone();
        self.retry
            .run_with(cancel, hook, "the whole file", || async {
                self.pacer.acquire(Step::Part).await;
                let mut s = current();
                let body = object::body(src.clone(), len, s.sha1_hex.clone());
                let r = self.flow.send_object(&mut s, body).await;
                *cell.lock().unwrap_or_else(|p| p.into_inner()) = s;
                r
            })
            .await
            .map_err(|e| match e {
                RetryError::Cancelled => UploadError::Cancelled,
                RetryError::Failed { error, .. } => UploadError::Part {
                    action: error.action,
                    index: 0,
                    offset: 0,
                    kind: error.kind,
                },
            })?;
        Ok(current())
    }

    /// Gives up for good the unfinished upload a resume token describes
    /// (the file was unlinked or replaced): the flow frees what the service
    /// holds, where its protocol allows (a COS multipart upload is aborted;
    /// v4 and UGC have nothing to free). Not for unmount or failures: those
    /// keep the token to resume. A token this flow did not make is ignored.
    pub async fn abandon(&self, resume_token: &str) -> Result<(), UploadError> {
        let Ok(session) = serde_json::from_str::<Session>(resume_token) else {
            return Ok(());
        };
        if session.flow != self.flow.name() {
            return Ok(());
        }
        self.flow
            .abort(&session, AbortReason::Cancelled)
            .await
            .map_err(UploadError::Service)
    }

    /// Sends every part the service lacks; returns (parts, bytes) sent.
    async fn send_parts(
        &self,
        ctx: &PartCtx<'_>,
        held: &[HeldPart],
        parallel: usize,
        observer: &dyn Observer,
        cancel: &CancellationToken,
    ) -> Result<(u64, u64), UploadError> {
        let layout = ctx.session.layout();
        let total = layout.count(ctx.len);
        let held: HashMap<u64, &HeldPart> = held.iter().map(|h| (h.offset, h)).collect();
        let mut progress = Progress {
            parts_total: total,
            bytes_total: ctx.len,
            ..Progress::default()
        };
        let mut todo = Vec::new();
        for index in 0..total {
            let (offset, size) = layout.range(ctx.len, index);
            if let Some(h) = held.get(&offset).filter(|h| h.size == size) {
                if cancel.is_cancelled() {
                    return Err(UploadError::Cancelled);
                }
                if hex::encode(ctx.local_md5(index).await?) == h.md5_hex {
                    progress.parts_done += 1;
                    progress.bytes_done += size;
                    continue;
                }
                tracing::info!(
                    index,
                    offset,
                    "service holds a different part; sending it again"
                );
            }
            todo.push(index);
        }
        observer.progress(progress);
        let (mut parts_sent, mut bytes_sent) = (0u64, 0u64);
        let mut pending = todo.into_iter();
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < parallel {
                let Some(index) = pending.next() else { break };
                in_flight.push(self.send_part(ctx, index, cancel));
            }
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(UploadError::Cancelled),
                r = in_flight.next() => r,
            };
            match next {
                None => break,
                Some(Err(e)) => return Err(e),
                Some(Ok(size)) => {
                    parts_sent += 1;
                    bytes_sent += size;
                    progress.parts_done += 1;
                    progress.bytes_done += size;
                    observer.progress(progress);
                }
            }
        }
        Ok((parts_sent, bytes_sent))
    }

    /// Reads, checks and sends part `index` (with retries); returns its size.
    async fn send_part(
        &self,
        ctx: &PartCtx<'_>,
        index: u64,
        cancel: &CancellationToken,
    ) -> Result<u64, UploadError> {
        let (offset, size) = ctx.session.layout().range(ctx.len, index);
        let known = ctx.known_md5(index);
        let vouched = known.filter(|_| ctx.src.md5s_verified());
        let (data, md5) = ctx.read(offset, size, vouched).await?;
        if vouched.is_none()
            && let Some(expected) = known
            && expected != md5
        {
            return Err(UploadError::SourceChanged(format!(
                "part {index} md5 is {}, hashed as {}",
                hex::encode(md5),
                hex::encode(expected)
            )));
        }
        let part = Part {
            index,
            offset,
            data,
            md5_hex: hex::encode(md5),
        };
        let context = format!("part {index} at offset {offset}");
        self.retry
            .run_with(cancel, ctx.hook, &context, || async {
                self.pacer.acquire(Step::Part).await;
                self.flow.send_part(ctx.session, part.clone()).await
            })
            .await
            .map_err(|e| match e {
                RetryError::Cancelled => UploadError::Cancelled,
                RetryError::Failed { error, .. } => UploadError::Part {
                    action: error.action,
                    index,
                    offset,
                    kind: error.kind,
                },
            })?;
        Ok(size)
    }
}

/// What every part of one upload needs.
struct PartCtx<'a> {
    src: Arc<dyn PartSource>,
    hashes: Option<&'a Hashes>,
    session: &'a Session,
    len: u64,
    hook: &'a dyn RetryHook,
    /// Parts read and hashed so far (see [`Committed::parts_hashed`]).
    hashed: AtomicU64,
}

impl PartCtx<'_> {
    /// A precomputed MD5 of part `index` of the session's layout, if any:
    /// a part of the base size by its index in base parts; a grown one
    /// (sent while the file was written) by its record, while the base
    /// parts' MD5s known now are those it was made of.
    fn known_md5(&self, index: u64) -> Option<[u8; 16]> {
        let layout = self.session.layout();
        let (offset, size) = layout.range(self.len, index);
        let base = layout.base();
        if size <= base {
            return self.base_md5(offset / base);
        }
        let (md5, digest) = self.src.sent_part(offset, size)?;
        let now: Option<Vec<[u8; 16]>> = layout
            .base_parts(self.len, index)
            .map(|i| self.base_md5(i))
            .collect();
        (hash::parts_digest(&now?) == digest).then_some(md5)
    }

    /// A precomputed MD5 of base part `i` (of the session's part size).
    fn base_md5(&self, i: u64) -> Option<[u8; 16]> {
        let ps = self.session.part_size;
        self.src
            .part_md5(ps, i)
            .or_else(|| self.hashes.and_then(|h| h.md5(ps, i)))
    }

    /// The local MD5 of a part: precomputed, or read and computed.
    async fn local_md5(&self, index: u64) -> Result<[u8; 16], UploadError> {
        if let Some(m) = self.known_md5(index) {
            return Ok(m);
        }
        let (offset, size) = self.session.layout().range(self.len, index);
        Ok(self.read(offset, size, None).await?.1)
    }

    /// Reads exactly one part off the async threads, with its MD5: `known`
    /// when given (the bytes are not hashed), else computed from them.
    async fn read(
        &self,
        offset: u64,
        size: u64,
        known: Option<[u8; 16]>,
    ) -> Result<(bytes::Bytes, [u8; 16]), UploadError> {
        let size = usize::try_from(size)
            .map_err(|_| UploadError::InvalidJob(format!("part of {size} bytes")))?;
        let src = self.src.clone();
        if known.is_none() {
            self.hashed.fetch_add(1, Ordering::Relaxed);
        }
        let (data, md5) = tokio::task::spawn_blocking(move || {
            src.read_at(offset, size).map(|b| {
                let m = known.unwrap_or_else(|| hash::md5(&b));
                (b, m)
            })
        })
        .await
        .map_err(|e| UploadError::Source {
            offset,
            source: std::io::Error::other(e.to_string()),
        })?
        .map_err(|source| UploadError::Source { offset, source })?;
        if data.len() != size {
            return Err(UploadError::SourceChanged(format!(
                "read {} bytes at offset {offset}, expected {size}",
                data.len()
            )));
        }
        Ok((data, md5))
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
