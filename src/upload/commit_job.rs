//! What committing one staged version does: read it from the cache, run the
//! pipeline over the mount's flow, record the outcome in the cache.
//!
//! This is the only place where the staging store and the protocol meet.
//! Progress reaches the cache through one ordered writer per job (the
//! observer only keeps the latest figures in memory; a flusher task writes
//! them at most every [`PROGRESS_EVERY`]), so a late progress write can never
//! overwrite the final state, and the pipeline never blocks on SQLite.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::cache::{self, Cache, UploadState, UploadStatus};
use crate::fs::CommitError;
use crate::upload::committer::CommitJob;
use crate::upload::{Observer, PartSource, Phase, Progress, UploadError, UploadJob, Uploader};
use crate::vod::playback::PlaybackReader;
use crate::vod::{UploadSettings, names};

mod cover;

/// How often progress is written to the cache while an upload runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Commits staged versions from a [`Cache`] with an [`Uploader`].
pub struct CacheCommitJob {
    cache: Cache,
    uploader: Uploader,
    parallel_parts: usize,
    reader: PlaybackReader,
    /// Upload settings where no directory sets them.
    settings: UploadSettings,
}

impl CacheCommitJob {
    pub fn new(cache: Cache, uploader: Uploader, parallel_parts: usize) -> Self {
        CacheCommitJob {
            cache,
            uploader,
            parallel_parts: parallel_parts.max(1),
            reader: PlaybackReader::default(),
            settings: UploadSettings::default(),
        }
    }

    /// The upload settings of files below no directory that sets them
    /// (the mount options).
    pub fn with_settings(mut self, defaults: UploadSettings) -> Self {
        self.settings = defaults;
        self
    }
}

/// A staged version as a [`PartSource`], with the hashes computed while it
/// was written.
struct StagedSource {
    cache: Cache,
    ino: u64,
    version: u64,
    size: u64,
    part_size: u32,
    sha1: Option<[u8; 20]>,
    md5s: Vec<Option<[u8; 16]>>,
}

impl PartSource for StagedSource {
    fn len(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Bytes> {
        self.cache
            .read_at(self.ino, self.version, offset, len)
            .map(Bytes::from)
            .map_err(std::io::Error::other)
    }

    fn sha1_hex(&self) -> Option<String> {
        self.sha1.map(hex::encode)
    }

    fn part_md5(&self, part_size: u32, index: u64) -> Option<[u8; 16]> {
        if part_size != self.part_size {
            return None;
        }
        self.md5s.get(index as usize).copied().flatten()
    }
}

/// Keeps the latest phase and progress for the flusher.
/// The status stays in place (each update changes only its own fields);
/// `dirty` says whether the flusher has written the latest figures yet.
#[derive(Default)]
struct Latest {
    status: Mutex<Option<UploadStatus>>,
    dirty: std::sync::atomic::AtomicBool,
    token: Mutex<Option<String>>,
}

impl Latest {
    fn update(&self, f: impl FnOnce(&mut UploadStatus)) {
        let mut g = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let s = g.get_or_insert_with(|| UploadStatus {
            state: UploadState::Hashing,
            parts_done: 0,
            parts_total: 0,
            bytes_done: 0,
            bytes_total: 0,
            error: None,
        });
        f(s);
        self.dirty.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The latest status if it changed since the last call.
    fn take_changed(&self) -> Option<UploadStatus> {
        if !self.dirty.swap(false, std::sync::atomic::Ordering::SeqCst) {
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
        self.update(|s| {
            s.state = match phase {
                Phase::Hashing => UploadState::Hashing,
                Phase::Uploading => UploadState::Uploading,
                Phase::Committing => UploadState::Committing,
            }
        });
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
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.to_string());
    }
}

/// The path of `ino` below the mount root, for log lines.
pub fn display_path(cache: &Cache, ino: u64) -> String {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut cur = ino;
    while cur != cache::ROOT_INO && parts.len() < 256 {
        match cache.parent_of(cur) {
            Ok(Some((parent, name))) => {
                parts.push(name);
                cur = parent;
            }
            _ => return format!("(inode {ino})"),
        }
    }
    let mut out = String::new();
    for p in parts.iter().rev() {
        out.push('/');
        out.push_str(&String::from_utf8_lossy(p));
    }
    out
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, cache::CacheError> + Send + 'static,
) -> Result<T, CommitError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CommitError::new(format!("cache task failed: {e}")))?
        .map_err(|e| CommitError::new(format!("cache: {e}")))
}

impl CacheCommitJob {
    async fn commit(
        self: Arc<Self>,
        ino: u64,
        version: u64,
        cancel: CancellationToken,
    ) -> Result<(), CommitError> {
        let cache = self.cache.clone();
        let info = blocking(move || cache.commit_info(ino, version))
            .await?
            .ok_or_else(|| CommitError::new("nothing staged for this version"))?;
        if crate::fs::cover::is_image(&info.name) {
            // An image is never a media of its own (crate::fs::cover).
            let cache = self.cache.clone();
            let path = blocking(move || Ok(display_path(&cache, ino))).await?;
            return self
                .commit_image(ino, version, info.parent, info.name.clone(), path)
                .await;
        }
        let cache = self.cache.clone();
        let defaults = self.settings.clone();
        let (path, token, settings) = blocking(move || {
            Ok((
                display_path(&cache, ino),
                cache.load_resume_token(ino, version)?,
                crate::fs::settings::resolve(&cache, ino, &defaults)?,
            ))
        })
        .await?;
        let mut settings = settings;
        // Flows that take the cover with the upload (apply) get it here.
        let cover = self.cover_for_start(ino, info.parent, &info.name).await;
        if let Some(Ok(c)) = &cover {
            settings.cover = c.req.clone();
        }
        // A type the service cannot take goes inside the name (vod::rules).
        let sent = names::ServiceFile::of(OsStr::from_bytes(&info.name));
        sent.log_fallback(&path);
        let job = UploadJob {
            file_name: sent.name,
            file_type: sent.file_type,
            part_size: info.part_size,
            parallel_parts: self.parallel_parts,
            settings,
            resume_token: token.and_then(|t| String::from_utf8(t).ok()),
        };
        let size = info.size;
        let source = Arc::new(StagedSource {
            cache: self.cache.clone(),
            ino,
            version,
            size,
            part_size: info.part_size,
            sha1: info.sha1,
            md5s: info.md5s,
        });
        let latest = Arc::new(Latest::default());
        // Start from the parts and bytes the file is known to have, so the
        // progress users see never drops to "0/0" before the first part.
        let part_count = source.md5s.len() as u64;
        latest.update(|s| {
            s.parts_total = part_count;
            s.bytes_total = size;
        });
        latest.phase(Phase::Hashing);
        tracing::info!(file = %path, size, name = %job.file_name, "upload started");
        let started = Instant::now();

        // The flusher: writes the latest progress (and resume token) in order.
        let stop_flush = CancellationToken::new();
        let flusher = {
            let (cache, latest, stop) = (self.cache.clone(), latest.clone(), stop_flush.clone());
            tokio::spawn(async move {
                loop {
                    let snapshot = latest.take_changed();
                    let token = latest
                        .token
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take();
                    if snapshot.is_some() || token.is_some() {
                        let cache = cache.clone();
                        let _ = blocking(move || {
                            if let Some(s) = snapshot {
                                cache.set_upload_status(ino, version, &s)?;
                            }
                            if let Some(t) = token {
                                cache.save_resume_token(ino, version, t.as_bytes())?;
                            }
                            Ok(())
                        })
                        .await;
                    }
                    if stop.is_cancelled() {
                        break;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(PROGRESS_EVERY) => {}
                        _ = stop.cancelled() => {}
                    }
                }
            })
        };

        let result = self
            .uploader
            .upload(source, &job, latest.as_ref(), &cancel)
            .await;
        stop_flush.cancel();
        let _ = flusher.await;

        let cache = self.cache.clone();
        match result {
            Ok(c) => {
                let secs = started.elapsed().as_secs_f64();
                // The cover is settled before the state turns committed.
                let media = crate::vod::Media {
                    file_id: c.file_id.clone(),
                    url: c.url.clone(),
                    cover_url: c.cover_url.clone(),
                };
                let cover = self
                    .video_cover(ino, info.parent, &info.name, &media, cover)
                    .await;
                let cover_url = cover.url();
                // Recorded first too, so every xattr is final when the
                // state turns committed (`vodfs wait` in write-back mode).
                self.record_video_cover(ino, &path, cover).await;
                let committed = cache::Committed {
                    file_id: c.file_id.clone(),
                    // A flow may commit without a playback URL (frontwize's null
                    // PlayUrl): committed, with an empty user.vod.url.
                    url: c.url.clone().unwrap_or_default(),
                    sha1: c.sha1_hex.clone(),
                    service_name: job.file_name.clone(),
                    cover_url,
                };
                let marked = tokio::task::spawn_blocking(move || {
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
                    instant = c.instant,
                    secs = format!("{secs:.3}"),
                    mb_per_s = format!("{:.1}", size as f64 / secs.max(1e-6) / 1e6),
                    "upload committed"
                );
                Ok(())
            }
            Err(UploadError::Cancelled) => {
                // Cancelled means unlinked or superseded by a newer version
                // (never unmount): this upload will not resume, so let the
                // flow release what it holds at the service.
                tracing::info!(file = %path, "upload cancelled");
                let token = latest
                    .token
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                let token = match token {
                    Some(t) => Some(t),
                    None => {
                        let cache = self.cache.clone();
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
            Err(e) => {
                let message = e.to_string();
                tracing::warn!(file = %path, error = %message, "upload failed");
                let status = UploadStatus {
                    state: UploadState::Failed,
                    parts_done: 0,
                    parts_total: 0,
                    bytes_done: 0,
                    bytes_total: size,
                    error: Some(message.clone()),
                };
                blocking(move || cache.set_upload_status(ino, version, &status)).await?;
                Err(CommitError::new(message))
            }
        }
    }
}

impl CommitJob for Arc<CacheCommitJob> {
    fn run(
        &self,
        ino: u64,
        version: u64,
        cancel: CancellationToken,
    ) -> BoxFuture<'static, Result<(), CommitError>> {
        Box::pin(self.clone().commit(ino, version, cancel))
    }

    fn read_remote(
        &self,
        url: &str,
        offset: u64,
        len: u32,
    ) -> BoxFuture<'static, Result<Vec<u8>, CommitError>> {
        let me = self.clone();
        let url = url.to_string();
        Box::pin(async move {
            me.reader
                .read(&url, offset, len)
                .await
                .map(|b| b.to_vec())
                .map_err(|e| CommitError::new(format!("reading {url}: {e}")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
