//! The commit job's side of parts sent while a file is written
//! (`upload::early`): the job such a file will be committed with, known
//! before its close ([`CacheCommitJob::early_job`]), and the commit's
//! adoption of the session started for it ([`CacheCommitJob::adopt_early`]):
//! resumed when the job is still the same (name, type, part size,
//! settings), aborted when it is not (renamed, a cover appeared, a
//! directory setting changed), so no session is ever left open.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use super::job::{CacheCommitJob, blocking};
use crate::cache::CommitInfo;
use crate::settings;
use crate::upload::job::UploadJob;
use crate::vod::names;

/// The final name rsync will give its temp file `.NAME.XXXXXX` (the same
/// rule as the filesystem's): `NAME`; any other name is its own.
pub fn final_name(name: &[u8]) -> &[u8] {
    let n = name.len();
    let temp = n >= 9
        && name[0] == b'.'
        && name[n - 7] == b'.'
        && name[n - 6..].iter().all(|c| c.is_ascii_alphanumeric());
    if temp { &name[1..n - 7] } else { name }
}

impl CacheCommitJob {
    /// The job file `ino` will be committed with, as far as it is known
    /// while it is written (under the final name when it has an rsync temp
    /// name), with its fingerprint; `None` for files whose start depends on
    /// what is not written yet or not part of the video: images, contents
    /// typed by their head, videos with a cover sent at the start.
    pub(crate) async fn early_job(&self, ino: u64) -> Option<(UploadJob, String)> {
        let cache = self.cache.clone();
        let defaults = self.settings.clone();
        let (names_of, settings) = blocking(move || {
            Ok((
                cache.names_of(ino)?,
                settings::resolve(ino, &defaults, &cache.dir_settings(ino)?),
            ))
        })
        .await
        .ok()?;
        // Early parts are the cache's parts, whose MD5s are known: with a
        // part size below COS's smallest the commit sends them all.
        if self.cache.part_size() < crate::vod::rules::parts::COS_MIN_PART {
            return None;
        }
        let (parent, name) = names_of.into_iter().next()?;
        let name = final_name(&name).to_vec();
        if settings::cover::is_image(&name) {
            return None;
        }
        let sent = names::ServiceFile::of(OsStr::from_bytes(&name));
        if sent.file_type == names::GENERIC_TYPE {
            return None;
        }
        if self.cover_for_start(ino, parent, &name).await.is_some() {
            return None;
        }
        let job = UploadJob {
            file_name: sent.name,
            file_type: sent.file_type,
            part_size: self.cache.part_size(),
            parallel_parts: self.parallel_parts,
            settings,
            resume_token: None,
        };
        let fp = job.fingerprint();
        Some((job, fp))
    }

    /// The commit of a version without a resume token of its own takes the
    /// session its parts went up in while it was written, when that was
    /// started for the same job; a session started for another job is
    /// aborted (the commit starts a fresh one).
    /// `early` is the session the cache holds for the version (its token
    /// and fingerprint), loaded with the rest of the commit's input.
    pub(super) async fn adopt_early(
        &self,
        info: &CommitInfo,
        path: &str,
        job: &mut UploadJob,
        early: crate::cache::EarlySession,
    ) {
        let (ino, version) = (info.ino, info.version);
        let (token, fp) = early;
        if fp == job.fingerprint() {
            tracing::info!(file = %path, "resuming the parts sent while it was written");
            job.resume_token = String::from_utf8(token).ok();
            return;
        }
        tracing::info!(file = %path, "the parts sent while it was written were for another name or settings: aborting them");
        let cache = self.cache.clone();
        let _ = blocking(move || cache.take_early_sessions(ino, Some(version))).await;
        if let Ok(t) = String::from_utf8(token)
            && let Err(e) = self.uploader.abandon(&t).await
        {
            tracing::warn!(file = %path, "aborting the parts sent while it was written: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::final_name;

    #[test]
    fn rsync_temp_names_have_their_final_name() {
        assert_eq!(final_name(b".video.mp4.a1B2c3"), b"video.mp4");
        assert_eq!(final_name(b"video.mp4"), b"video.mp4");
        assert_eq!(final_name(b".video.mp4"), b".video.mp4");
    }
}
