//! Covers, as far as the filesystem is concerned: `user.vod.cover` is
//! checked when it is set, and a retry of an image forgets its finished
//! commit. The rule of which image is whose cover is
//! `crate::settings::cover`'s; sending covers is the commit job's
//! (`crate::upload::commit_job`).

use super::error::FsError;
use super::filesystem::Fs;
use crate::cache::ROOT_INO;
use crate::settings::cover::{check_value, is_image};

impl Fs {
    /// Before `vodfs retry` of a failed file: an image fails in its
    /// video's commit, while its own commit ended well, and the backend
    /// joins a version's successful commit; forget that one so the retry
    /// runs the image's commit (which sends the cover) again.
    pub(super) fn before_retry(&self, ino: u64) -> Result<(), FsError> {
        if let Some((_, name)) = self.cache.parent_of(ino)?
            && is_image(&name)
        {
            self.backend.cancel(ino);
        }
        Ok(())
    }

    /// `setfattr -n user.vod.cover`: refuses (EINVAL, with a log line) an
    /// absolute path, one leading out of the mount, or a non-image.
    pub(super) fn check_cover_xattr(&self, ino: u64, value: &[u8]) -> Result<(), FsError> {
        let dir = match self.cache.parent_of(ino)? {
            Some((parent, _)) => parent,
            None => ROOT_INO,
        };
        let depth = self.cache.depth(dir)?;
        if let Err(why) = check_value(value, depth) {
            tracing::warn!("setxattr user.vod.cover on inode {ino} refused: {why}");
            return Err(FsError::Invalid("invalid user.vod.cover"));
        }
        Ok(())
    }
}
