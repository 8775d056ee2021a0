//! Which open files the kernel may read without the mount (FUSE
//! passthrough, asked by `fuse` at open): a `by-id/` media whose bytes are
//! in the cache. Such a file is committed content that never changes and
//! can never be opened for writing, so nothing the mount does on a read
//! (versions, hashing, eviction's last-read time, which by-id reads do not
//! record) is bypassed. Files of the tree are never passed through: the
//! kernel requires every later open of a passed-through inode to use the
//! same backing file, so a write open, which must start a new version,
//! could not be served.

use super::filesystem::{Fs, Handle};

impl Fs {
    /// The data file the kernel may read directly for handle `fh`: the
    /// cached bytes of a by-id media; `None` for any other handle, and for
    /// a media whose bytes were evicted (read from its URL by the mount).
    pub fn passthrough_file(&self, fh: u64) -> Option<std::fs::File> {
        match self.handle(fh).ok()? {
            Handle::Media(m) => std::fs::File::open(self.cache.data_path(m.ino, m.version)).ok(),
            Handle::File { .. } => None,
        }
    }
}
