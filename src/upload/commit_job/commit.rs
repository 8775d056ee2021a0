//! The commit of one staged version, phase by phase: read what is staged,
//! prepare the job (settings, resume token, a cover sent at the start),
//! upload with progress, then record the outcome (cover settled and
//! committed, cancelled, or failed).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::cover::{LoadedCover, record_cover};
use super::job::{CacheCommitJob, blocking};
use super::progress::{Flusher, Latest};
use super::staged::StagedSource;
use crate::cache::{self, CommitInfo, UploadState, UploadStatus};
use crate::settings;
use crate::upload::backend::CommitError;
use crate::upload::committer::JobReport;
use crate::upload::error::UploadError;
use crate::upload::job::{Committed, Observer, Phase, UploadJob};
use crate::vod::rules::sniff;
use crate::vod::{Media, UploadSettings, names};

/// A cover sent with the upload (flows that take it at the start), or why
/// it could not be; `None` for the other flows.
type StartCover = Option<Result<LoadedCover, String>>;

/// What a commit reads from the cache before it starts, in one trip off
/// the async threads (a small file's commit is a chain of such trips, each
/// a wake-up of the blocking pool and one back).
enum Loaded {
    /// An image: only its path is needed (crate::settings::cover).
    Image {
        info: CommitInfo,
        path: String,
    },
    Media(Box<Staged>),
}

/// A staged media version and what its job is made of.
struct Staged {
    info: CommitInfo,
    path: String,
    token: Option<Vec<u8>>,
    settings: UploadSettings,
    /// The content's head, read when only it can tell the type.
    head: Vec<u8>,
    row: Option<cache::UploadRow>,
    /// The session its parts went up in while it was written (token,
    /// fingerprint), if any.
    early: Option<cache::EarlySession>,
}

/// A commit's input made into the job to run ([`CacheCommitJob::prepare`]).
struct Prepared {
    info: CommitInfo,
    /// The file's path, for log lines.
    path: String,
    job: UploadJob,
    cover: StartCover,
    /// What the service held when this upload last stood.
    held: Option<UploadStatus>,
}

/// Loads (ino, version) for its commit; `None` when nothing is staged.
fn load(
    cache: &cache::Cache,
    ino: u64,
    version: u64,
    defaults: &UploadSettings,
) -> Result<Option<Loaded>, cache::CacheError> {
    let Some(info) = cache.commit_info(ino, version)? else {
        return Ok(None);
    };
    let path = cache.display_path(ino);
    if settings::cover::is_image(&info.name) {
        return Ok(Some(Loaded::Image { info, path }));
    }
    // A type the service cannot take goes inside the name (vod::rules);
    // the content's container then says the type when it can (API 3.0
    // takes no generic type), so only such a file's head is read.
    let generic =
        names::ServiceFile::of(OsStr::from_bytes(&info.name)).file_type == names::GENERIC_TYPE;
    let head = match info.size.min(sniff::HEAD_LEN as u64) as usize {
        n if generic && n > 0 => cache.read_at(ino, version, 0, n).unwrap_or_default(),
        _ => Vec::new(),
    };
    let token = cache.load_resume_token(ino, version)?;
    // A token of its own (usable: UTF-8) owns the session; else the one
    // its parts went up in while it was written, if any.
    let early = match token.as_deref().map(std::str::from_utf8) {
        Some(Ok(_)) => None,
        _ => cache.load_early_session(ino, version)?,
    };
    Ok(Some(Loaded::Media(Box::new(Staged {
        settings: settings::resolve(ino, defaults, &cache.dir_settings(ino)?),
        row: cache.upload(ino, version)?,
        info,
        path,
        token,
        head,
        early,
    }))))
}

impl CacheCommitJob {
    /// Commits (ino, version); the outcome is recorded in the cache.
    pub(super) async fn commit(
        self: Arc<Self>,
        ino: u64,
        version: u64,
        cancel: CancellationToken,
        report: JobReport,
    ) -> Result<(), CommitError> {
        let (cache, defaults) = (self.cache.clone(), self.settings.clone());
        let staged = match blocking(move || load(&cache, ino, version, &defaults))
            .await?
            .ok_or_else(|| CommitError::new("nothing staged for this version"))?
        {
            // An image is never a media of its own (crate::settings::cover).
            Loaded::Image { info, path } => {
                return self
                    .commit_image(ino, version, info.parent, info.name, path)
                    .await;
            }
            Loaded::Media(staged) => *staged,
        };
        let Prepared {
            info,
            path,
            job,
            cover,
            held,
        } = self.prepare(staged).await?;
        let latest = Arc::new(Latest::new(report));
        // What the service held when this upload last stood (a remount,
        // a retry): shown until the service says again, so the progress
        // never drops to zero while the parts are there.
        if let Some(p) = held {
            latest.update(|s| {
                s.parts_done = p.parts_done;
                s.bytes_done = p.bytes_done;
            });
        }
        let started = Instant::now();
        let result = self.upload(&info, &path, &job, &latest, &cancel).await;
        match result {
            Ok(c) => self.committed(&info, &path, &job, cover, c, started).await,
            Err(UploadError::Cancelled) => self.cancelled(&info, &path, &latest).await,
            Err(e) => self.failed(&info, &path, e, &latest).await,
        }
    }

    /// The job to run over the loaded input: its settings (nearest
    /// directory, else the mount's), its saved resume token, and the cover
    /// when the flow sends it with the upload.
    async fn prepare(&self, staged: Staged) -> Result<Prepared, CommitError> {
        let Staged {
            info,
            path,
            token,
            mut settings,
            head,
            row,
            early,
        } = staged;
        let (ino, mut sent) = (
            info.ino,
            names::ServiceFile::of(OsStr::from_bytes(&info.name)),
        );
        // Parts the service held last time, if there is a session to resume.
        let held = row
            .map(|r| r.status)
            .filter(|s| token.is_some() && s.parts_done > 0);
        // Flows that take the cover with the upload (apply) get it here.
        let cover = self.cover_for_start(ino, info.parent, &info.name).await;
        if let Some(Ok(c)) = &cover {
            settings.cover = c.req.clone();
        }
        sent.log_fallback(&path);
        if sent.file_type == names::GENERIC_TYPE
            && let Some(t) = sniff::media_type(&head)
        {
            tracing::info!(file = %path, file_type = t, "type told by the content");
            sent.file_type = t.to_string();
        }
        let mut job = UploadJob {
            file_name: sent.name,
            file_type: sent.file_type,
            part_size: info.part_size,
            parallel_parts: self.parallel_parts,
            settings,
            resume_token: token.and_then(|t| String::from_utf8(t).ok()),
        };
        if job.resume_token.is_none()
            && let Some(early) = early
        {
            self.adopt_early(&info, &path, &mut job, early).await;
        }
        Ok(Prepared {
            info,
            path,
            job,
            cover,
            held,
        })
    }

    /// Runs the pipeline over the staged bytes, its progress flushed to the
    /// cache as it goes.
    async fn upload(
        &self,
        info: &CommitInfo,
        path: &str,
        job: &UploadJob,
        latest: &Arc<Latest>,
        cancel: &CancellationToken,
    ) -> Result<Committed, UploadError> {
        let source = Arc::new(StagedSource::new(self.cache.clone(), info));
        // Start from the parts and bytes the file is known to have, so the
        // progress users see never drops to "0/0" before the first part.
        let (parts, size) = (source.part_count(), info.size);
        latest.update(|s| {
            s.parts_total = parts;
            s.bytes_total = size;
        });
        latest.phase(Phase::Hashing);
        tracing::info!(file = %path, size, name = %job.file_name, "upload started");
        if !info.verified {
            tracing::warn!(file = %path, "the staged bytes were not synced before the machine restarted: hashing them again from the cache before sending");
        }
        let flusher = Flusher::start(self.cache.clone(), latest.clone(), info.ino, info.version);
        let result = self
            .uploader
            .upload(source, job, latest.as_ref(), cancel)
            .await;
        flusher.stop().await;
        result
    }

    /// The upload committed: settle the cover, then mark the version
    /// committed (so every xattr is final when the state turns committed).
    async fn committed(
        &self,
        info: &CommitInfo,
        path: &str,
        job: &UploadJob,
        cover: StartCover,
        c: Committed,
        started: Instant,
    ) -> Result<(), CommitError> {
        let (ino, version, size) = (info.ino, info.version, info.size);
        let secs = started.elapsed().as_secs_f64();
        // The cover is settled before the state turns committed.
        let media = Media {
            file_id: c.file_id.clone(),
            url: c.url.clone(),
            cover_url: c.cover_url.clone(),
        };
        let cover = self
            .video_cover(ino, info.parent, &info.name, &media, cover)
            .await;
        let cover_url = cover.url();
        let committed = cache::Committed {
            file_id: c.file_id.clone(),
            // A flow may commit without a playback URL (frontwize's null
            // PlayUrl): committed, with an empty user.vod.url.
            url: c.url.clone().unwrap_or_default(),
            sha1: c.sha1_hex.clone(),
            service_name: job.file_name.clone(),
            cover_url,
        };
        let (cache, file) = (self.cache.clone(), path.to_string());
        let marked = tokio::task::spawn_blocking(move || {
            record_cover(&cache, ino, &file, cover);
            cache.mark_committed(ino, version, &committed)
        })
        .await
        .map_err(|e| CommitError::new(format!("cache task failed: {e}")))?;
        match marked {
            Ok(_) => {}
            // The file was rewritten meanwhile and this version
            // dropped: the newer version has its own commit.
            Err(cache::CacheError::NotSealed { .. }) => {
                tracing::info!(file = %path, file_id = %c.file_id, "committed a version that was since replaced");
                return Err(CommitError::new("superseded by a newer version"));
            }
            Err(e) => return Err(CommitError::new(format!("cache: {e}"))),
        }
        tracing::info!(
            file = %path,
            file_id = %c.file_id,
            url = c.url.as_deref().unwrap_or("(none)"),
            size,
            sent = c.bytes_sent,
            parts_hashed = c.parts_hashed,
            instant = c.instant,
            secs = format!("{secs:.3}"),
            mb_per_s = format!("{:.1}", size as f64 / secs.max(1e-6) / 1e6),
            "upload committed"
        );
        Ok(())
    }

    /// Cancelled means unlinked or superseded by a newer version (never
    /// unmount): this upload will not resume, so let the flow release what
    /// it holds at the service.
    async fn cancelled(
        &self,
        info: &CommitInfo,
        path: &str,
        latest: &Latest,
    ) -> Result<(), CommitError> {
        tracing::info!(file = %path, "upload cancelled");
        let token = match latest.take_token() {
            Some((t, _)) => Some(t),
            None => {
                let (cache, ino, version) = (self.cache.clone(), info.ino, info.version);
                blocking(move || cache.load_resume_token(ino, version))
                    .await
                    .ok()
                    .flatten()
                    .and_then(|t| String::from_utf8(t).ok())
            }
        };
        if let Some(token) = token
            && let Err(e) = self.uploader.abandon(&token).await
        {
            tracing::warn!(file = %path, "releasing the cancelled upload: {e}");
        }
        Err(CommitError::new("upload cancelled"))
    }

    /// The upload failed for good: state `failed` with the message, the
    /// progress kept as it stood (what the service holds stays shown).
    async fn failed(
        &self,
        info: &CommitInfo,
        path: &str,
        e: UploadError,
        latest: &Latest,
    ) -> Result<(), CommitError> {
        let message = e.to_string();
        tracing::warn!(file = %path, error = %message, "upload failed");
        let p = latest.snapshot();
        let status = UploadStatus {
            state: UploadState::Failed,
            parts_done: p.as_ref().map_or(0, |p| p.parts_done),
            parts_total: p.as_ref().map_or(0, |p| p.parts_total),
            bytes_done: p.as_ref().map_or(0, |p| p.bytes_done),
            bytes_total: info.size,
            error: Some(message.clone()),
            waiting: None,
        };
        let (cache, ino, version) = (self.cache.clone(), info.ino, info.version);
        blocking(move || cache.set_upload_status(ino, version, &status)).await?;
        Err(CommitError::new(message))
    }
}
