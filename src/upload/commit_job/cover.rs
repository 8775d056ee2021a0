//! Covers in the commit job: what happens when an image is "committed"
//! (it never becomes a media: it is sent as the cover of its committed
//! same-stem videos, or kept), and what a video's commit does with its
//! cover between the upload and marking it committed (sent with the flow's
//! [`UploadFlow::upload_cover`], or taken from the upload itself when the
//! flow sends covers at the start), so its xattrs are final at once.
//!
//! Which image is whose cover is `crate::settings::cover`'s rule (applied
//! to the tree by `find_cover`); this file only
//! moves bytes and records outcomes. A cover failure never fails the video:
//! it is logged, stored as `user.vod.cover_error` on the video and as the
//! image's `user.vod.error` (state `failed`, so `vodfs retry` on the image
//! sends it again).
//!
//! [`UploadFlow::upload_cover`]: crate::vod::UploadFlow::upload_cover

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use bytes::Bytes;
use sha1::{Digest, Sha1};

use super::find_cover::{self, CoverFile};
use super::job::{CacheCommitJob, blocking};
use crate::cache::{self, UploadState, UploadStatus};
use crate::settings::cover::{COVER_ERROR_XATTR, image_type};
use crate::upload::backend::CommitError;
use crate::vod::{CoverRequest, MAX_COVER, Media, names};

/// A cover read from the cache.
pub(super) struct LoadedCover {
    ino: u64,
    version: u64,
    size: u64,
    /// Its path below the mount root, for messages.
    path: String,
    /// `None` when it is over [`MAX_COVER`] bytes (not read).
    pub(super) req: Option<CoverRequest>,
}

impl LoadedCover {
    fn too_big(&self) -> String {
        format!(
            "cover {} is {} bytes; at most {MAX_COVER} are accepted",
            self.path, self.size
        )
    }
}

/// What became of a video's cover in its own commit.
pub(super) enum CoverOutcome {
    /// No cover (or one still being written: its close sends it).
    None,
    Sent(LoadedCover, String),
    Failed(Option<LoadedCover>, String),
}

impl CoverOutcome {
    pub(super) fn url(&self) -> Option<String> {
        match self {
            CoverOutcome::Sent(_, url) => Some(url.clone()),
            _ => None,
        }
    }
}

/// A committed video a cover can be sent for.
struct Video {
    ino: u64,
    path: String,
    row: cache::UploadRow,
}

fn status(state: UploadState, size: u64, error: Option<String>) -> UploadStatus {
    UploadStatus {
        state,
        parts_done: 0,
        parts_total: 0,
        bytes_done: 0,
        bytes_total: size,
        error,
        waiting: None,
    }
}

impl CacheCommitJob {
    /// The commit of an image: sent as the cover of the committed videos
    /// it belongs to, else kept with state `image`. Never fails the close.
    pub(super) async fn commit_image(
        &self,
        ino: u64,
        version: u64,
        parent: u64,
        name: Vec<u8>,
        path: String,
    ) -> Result<(), CommitError> {
        let cache = self.cache.clone();
        let n = name.clone();
        let videos = blocking(move || find_cover::videos_of(&cache, ino, parent, &n)).await?;
        let mut sent = false;
        for v in videos {
            if let Some(video) = self.committed_video(v).await? {
                let file = CoverFile {
                    ino,
                    name: name.clone(),
                };
                self.send_cover(&video, &file).await;
                sent = true;
            }
        }
        if !sent {
            let cache = self.cache.clone();
            blocking(move || {
                cache.set_upload_status(ino, version, &status(UploadState::Image, 0, None))
            })
            .await?;
            tracing::info!(file = %path, "image kept, not uploaded as a media (a cover once a video with its stem commits)");
        }
        Ok(())
    }

    /// Video `ino`'s current version if it is committed.
    async fn committed_video(&self, ino: u64) -> Result<Option<Video>, CommitError> {
        let cache = self.cache.clone();
        blocking(move || {
            let Some(row) = cache.get(ino)? else {
                return Ok(None);
            };
            let up = cache.upload(ino, row.version)?;
            Ok(up
                .filter(|u| u.status.state == UploadState::Committed && u.file_id.is_some())
                .map(|row| Video {
                    ino,
                    path: cache.display_path(ino),
                    row,
                }))
        })
        .await
    }

    /// Reads the cover `file` from the cache: `Ok(None)` while it is still
    /// being written (its own close sends it).
    async fn load_cover(&self, file: &CoverFile) -> Result<Option<LoadedCover>, String> {
        let cache = self.cache.clone();
        let cover_ino = file.ino;
        let loaded = blocking(move || {
            let Some(row) = cache.get(cover_ino)? else {
                return Ok(None);
            };
            if !cache.is_sealed(cover_ino, row.version)? {
                return Ok(None);
            }
            let path = cache.display_path(cover_ino);
            let Some(info) = cache.commit_info(cover_ino, row.version)? else {
                return Ok(None);
            };
            let data = if info.size <= MAX_COVER {
                Some(cache.read_at(cover_ino, row.version, 0, info.size as usize)?)
            } else {
                None
            };
            Ok(Some((row.version, info.size, path, data)))
        })
        .await
        .map_err(|e| e.message)?;
        let Some((version, size, path, data)) = loaded else {
            return Ok(None);
        };
        let name = OsStr::from_bytes(&file.name);
        let req = data.map(|data| CoverRequest {
            file_name: names::service_name(name),
            file_type: image_type(&file.name).unwrap_or("jpg").to_string(),
            sha1_hex: hex::encode(Sha1::digest(&data)),
            data: Bytes::from(data),
        });
        Ok(Some(LoadedCover {
            ino: cover_ino,
            version,
            size,
            path,
            req,
        }))
    }

    /// Sends `file` as `video`'s cover and records the outcome.
    async fn send_cover(&self, video: &Video, file: &CoverFile) {
        let loaded = match self.load_cover(file).await {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(why) => return self.cover_failed(video, None, why).await,
        };
        let Some(req) = loaded.req.clone() else {
            let why = loaded.too_big();
            return self.cover_failed(video, Some(&loaded), why).await;
        };
        let media = Media {
            file_id: video.row.file_id.clone().unwrap_or_default(),
            url: video.row.url.clone(),
            cover_url: None,
        };
        match self.uploader.flow().upload_cover(&media, &req).await {
            Ok(url) => self.cover_sent(video, &loaded, url).await,
            Err(e) => {
                let why = format!("cover {}: {e}", loaded.path);
                self.cover_failed(video, Some(&loaded), why).await
            }
        }
    }

    /// Records that `cover` is `video`'s cover at `url`.
    async fn cover_sent(&self, video: &Video, cover: &LoadedCover, url: String) {
        let cache = self.cache.clone();
        let (vino, vrow, u) = (video.ino, video.row.clone(), url.clone());
        let (cino, cversion, size) = (cover.ino, cover.version, cover.size);
        let recorded = blocking(move || {
            let Some(row) = cache.get(vino)? else {
                return Ok(());
            };
            if vrow.cover_url.as_deref() != Some(u.as_str()) {
                let committed = cache::Committed {
                    file_id: vrow.file_id.unwrap_or_default(),
                    url: vrow.url.unwrap_or_default(),
                    sha1: vrow.sha1.unwrap_or_default(),
                    service_name: vrow.service_name.unwrap_or_default(),
                    cover_url: Some(u),
                };
                cache.mark_committed(vino, row.version, &committed)?;
            }
            let _ = cache.remove_xattr(vino, COVER_ERROR_XATTR);
            cache.set_upload_status(cino, cversion, &status(UploadState::Cover, size, None))
        })
        .await;
        if let Err(e) = recorded {
            tracing::warn!(file = %video.path, cover = %cover.path, "recording the cover: {}", e.message);
        }
        tracing::info!(file = %video.path, cover = %cover.path, url = %url, "cover uploaded");
    }

    /// Before the upload, for flows that take the cover with it: the cover
    /// of video `ino`, loaded (or why there is none to send).
    pub(super) async fn cover_for_start(
        &self,
        ino: u64,
        parent: u64,
        name: &[u8],
    ) -> Option<Result<LoadedCover, String>> {
        if !self.uploader.flow().cover_at_start() {
            return None;
        }
        let cache = self.cache.clone();
        let n = name.to_vec();
        let found =
            tokio::task::spawn_blocking(move || find_cover::cover_of(&cache, ino, parent, &n))
                .await
                .unwrap_or_else(|e| Err(format!("cache task failed: {e}")));
        match found {
            Ok(None) => None,
            Ok(Some(file)) => match self.load_cover(&file).await {
                Ok(Some(l)) if l.req.is_some() => Some(Ok(l)),
                Ok(Some(l)) => Some(Err(l.too_big())),
                Ok(None) => None,
                Err(why) => Some(Err(why)),
            },
            Err(why) => Some(Err(why)),
        }
    }

    /// The cover of video `ino`, just uploaded as `media` and not marked
    /// committed yet, so its xattrs are final when the state turns
    /// `committed`: `start` is the cover sent with the upload (apply), else
    /// the cover is looked up and sent now (v4).
    pub(super) async fn video_cover(
        &self,
        ino: u64,
        parent: u64,
        name: &[u8],
        media: &Media,
        start: Option<Result<LoadedCover, String>>,
    ) -> CoverOutcome {
        if let Some(start) = start {
            return match (start, media.cover_url.clone()) {
                (Ok(c), Some(url)) => CoverOutcome::Sent(c, url),
                (Ok(c), None) => {
                    let why = format!(
                        "cover {}: the service did not take it (see the log)",
                        c.path
                    );
                    CoverOutcome::Failed(Some(c), why)
                }
                (Err(why), _) => CoverOutcome::Failed(None, why),
            };
        }
        if self.uploader.flow().cover_at_start() {
            return CoverOutcome::None;
        }
        let cache = self.cache.clone();
        let n = name.to_vec();
        let found =
            tokio::task::spawn_blocking(move || find_cover::cover_of(&cache, ino, parent, &n))
                .await
                .unwrap_or_else(|e| Err(format!("cache task failed: {e}")));
        let file = match found {
            Ok(Some(f)) => f,
            Ok(None) => return CoverOutcome::None,
            Err(why) => return CoverOutcome::Failed(None, why),
        };
        let loaded = match self.load_cover(&file).await {
            Ok(Some(l)) => l,
            Ok(None) => return CoverOutcome::None,
            Err(why) => return CoverOutcome::Failed(None, why),
        };
        let Some(req) = loaded.req.clone() else {
            let why = loaded.too_big();
            return CoverOutcome::Failed(Some(loaded), why);
        };
        match self.uploader.flow().upload_cover(media, &req).await {
            Ok(url) => CoverOutcome::Sent(loaded, url),
            Err(e) => {
                let why = format!("cover {}: {e}", loaded.path);
                CoverOutcome::Failed(Some(loaded), why)
            }
        }
    }

    /// Records a cover failure of committed `video`: a log line,
    /// `user.vod.cover_error` on the video and, when the image is known,
    /// its `user.vod.error`.
    async fn cover_failed(&self, video: &Video, image: Option<&LoadedCover>, why: String) {
        tracing::warn!(file = %video.path, error = %why, "cover failed (the video stays committed)");
        let cache = self.cache.clone();
        let vino = video.ino;
        let image = image.map(|c| (c.ino, c.version, c.size));
        let _ = blocking(move || record_failure(&cache, vino, image, why)).await;
    }
}

/// Records the cover `outcome` of video `ino` (`path` for the log): on the
/// blocking thread that marks the video committed, just before the mark,
/// so every xattr is final when the state turns committed (`vodfs wait`
/// in write-back mode) and a file costs no trip of its own for it.
pub(super) fn record_cover(cache: &cache::Cache, ino: u64, path: &str, outcome: CoverOutcome) {
    let recorded = match outcome {
        // No cover (any more): no stale cover error either.
        CoverOutcome::None => cache.get_xattr(ino, COVER_ERROR_XATTR).map(|stale| {
            if stale.is_some() {
                let _ = cache.remove_xattr(ino, COVER_ERROR_XATTR);
            }
        }),
        CoverOutcome::Sent(c, url) => {
            tracing::info!(file = %path, cover = %c.path, url = %url, "cover uploaded");
            let _ = cache.remove_xattr(ino, COVER_ERROR_XATTR);
            cache.set_upload_status(c.ino, c.version, &status(UploadState::Cover, c.size, None))
        }
        CoverOutcome::Failed(c, why) => {
            tracing::warn!(file = %path, error = %why, "cover failed (the video stays committed)");
            let image = c.map(|c| (c.ino, c.version, c.size));
            record_failure(cache, ino, image, why)
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(file = %path, "recording the cover: {e}");
    }
}

/// `user.vod.cover_error` on the video; state `failed` and `user.vod.error`
/// on the image `(ino, version, size)` when known.
fn record_failure(
    cache: &cache::Cache,
    video: u64,
    image: Option<(u64, u64, u64)>,
    why: String,
) -> Result<(), cache::CacheError> {
    cache.set_xattr(video, COVER_ERROR_XATTR, why.as_bytes(), false, false)?;
    if let Some((ino, version, size)) = image {
        cache.set_upload_status(ino, version, &status(UploadState::Failed, size, Some(why)))?;
    }
    Ok(())
}
