//! Room in the cache for a write: `--cache-size` and the disk's free
//! space; at mount start, eviction down to `--cache-size` (a remount with
//! a smaller size). A write that would pass either fails with ENOSPC at the write,
//! after clean committed data was evicted to make room (see
//! `crate::cache::space`); what was written before stays intact, and since
//! the close of a file that failed a write is not a commit of shorter
//! content by itself, nothing truncated is committed unless the writer
//! closes and keeps the file.

use std::sync::atomic::Ordering;

use super::error::FsError;
use super::filesystem::Fs;

/// Space kept free on the disk besides the data (SQLite's WAL, other users).
const DISK_RESERVE: u64 = 16 << 20;

fn no_space(why: String) -> FsError {
    FsError::io(why, std::io::Error::from_raw_os_error(libc::ENOSPC))
}

impl Fs {
    /// Evicts `need` bytes of clean committed data (see
    /// `crate::cache::space`), with a log line naming each file.
    fn evict(&self, need: u64) -> Result<u64, FsError> {
        Ok(self.cache.evict_clean_with(need, |ino, version, bytes| {
            tracing::info!(
                file = %self.cache.display_path(ino),
                version,
                bytes,
                "evicted committed data from the cache (reads come from its URL)"
            )
        })?)
    }

    /// At mount start: evicts clean committed data (least recently used
    /// first) until the cache holds at most `--cache-size`; returns the
    /// bytes freed. Staged and failed data stay even past the size.
    pub fn evict_to_limit(&self) -> Result<u64, FsError> {
        let Some(limit) = self.config.cache_size else {
            return Ok(0);
        };
        let used = self.cache.data_bytes();
        if used <= limit {
            return Ok(0);
        }
        let freed = self.evict(used - limit)?;
        let left = used - freed.min(used);
        self.space_used.store(left, Ordering::Relaxed);
        tracing::info!(
            freed,
            left,
            limit,
            "the cache was over --cache-size at mount start: evicted committed data"
        );
        if left > limit {
            tracing::warn!(
                left,
                limit,
                "the cache still holds more than --cache-size: staged or failed data is never evicted"
            );
        }
        Ok(freed)
    }

    /// Makes room for `bytes` more of file data, or answers ENOSPC.
    pub(super) fn reserve_space(&self, bytes: u64) -> Result<(), FsError> {
        if bytes == 0 {
            return Ok(());
        }
        if let Some(limit) = self.config.cache_size {
            let used = self.space_used.load(Ordering::Relaxed);
            if used + bytes > limit {
                // Recount (files were removed since), then evict.
                let mut used = self.cache.data_bytes();
                if used + bytes > limit {
                    used -= self.evict(used + bytes - limit)?.min(used);
                }
                self.space_used.store(used, Ordering::Relaxed);
                if used + bytes > limit {
                    return Err(no_space(format!(
                        "cache full: {used} of {limit} bytes (--cache-size) hold data not committed yet (never evicted)"
                    )));
                }
            }
            self.space_used.fetch_add(bytes, Ordering::Relaxed);
        }
        if let Some(free) = self.cache.free_bytes()
            && free < bytes + DISK_RESERVE
        {
            let freed = self.evict(bytes + DISK_RESERVE - free)?;
            if free + freed < bytes + DISK_RESERVE {
                return Err(no_space(format!("the cache's disk has {free} bytes free")));
            }
        }
        Ok(())
    }
}
