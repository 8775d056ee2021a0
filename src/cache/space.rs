//! Disk space of the cache: how much the data files take, how much the
//! disk has left, and eviction of clean committed data to make room.
//!
//! Design decisions:
//! - **What is evicted.** The data of any committed content version (every
//!   version a media record points at): the current content of committed
//!   files as well as versions kept for a `by-id` media whose file was since
//!   rewritten or removed. Their reads then come from the playback URL
//!   (`fs::remote`). Staged, uploading and failed versions have no media
//!   record and are never evicted. An evicted version is one whose data
//!   file is absent; nothing ever creates it empty again (`fs::remote`
//!   restores it whole from the URL before a write that keeps its bytes).
//! - **Least recently used first.** A read of cached committed content is
//!   recorded in memory ([`Cache::note_read`]: a map insert, no SQLite write,
//!   no syscall); eviction orders by that time, else by the data file's
//!   atime/mtime. The recorded times are written to the files' atimes in
//!   one batch at eviction and when the cache closes, so the order
//!   survives a remount.

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::CacheError;
use super::store::Cache;

impl Cache {
    /// Bytes the data files take on disk (allocated blocks: holes are free).
    pub fn data_bytes(&self) -> u64 {
        let Ok(rd) = std::fs::read_dir(&self.inner.data_dir) else {
            return 0;
        };
        rd.flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.blocks() * 512)
            .sum()
    }

    /// Bytes an unprivileged writer may still allocate on the cache's disk.
    pub fn free_bytes(&self) -> Option<u64> {
        let path = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(
            self.inner.data_dir.as_os_str(),
        ))
        .ok()?;
        // SAFETY: statvfs writes into a zeroed struct we own; path is NUL-terminated.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
        (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
    }

    /// Records a read of the cached data of (ino, version), for eviction's
    /// least-recently-used order. In memory only; see the module docs.
    pub fn note_read(&self, ino: u64, version: u64) {
        self.inner
            .last_read
            .lock()
            .insert((ino, version), SystemTime::now());
    }

    /// Writes the recorded reads to the data files' atimes (one batch).
    pub fn flush_last_reads(&self) {
        let reads = std::mem::take(&mut *self.inner.last_read.lock());
        for ((ino, version), t) in reads {
            if let Ok(f) = std::fs::File::options()
                .write(true)
                .open(self.data_path(ino, version))
            {
                let _ = f.set_times(std::fs::FileTimes::new().set_accessed(t));
            }
        }
    }

    /// Whether the data of committed (ino, version) was evicted.
    pub fn is_evicted(&self, ino: u64, version: u64) -> bool {
        !self.data_path(ino, version).exists()
    }

    /// Deletes the data files of clean committed versions, least recently
    /// used first, until `need` bytes are freed or none is left. Returns the
    /// bytes freed.
    pub fn evict_clean(&self, need: u64) -> Result<u64, CacheError> {
        self.evict_clean_with(need, |ino, version, bytes| {
            tracing::info!(
                ino,
                version,
                bytes,
                "evicted committed data from the cache (reads come from its URL)"
            )
        })
    }

    /// [`Cache::evict_clean`], calling `evicted(ino, version, bytes)` for
    /// each data file deleted (the filesystem logs the file's path).
    pub fn evict_clean_with(
        &self,
        need: u64,
        evicted: impl Fn(u64, u64, u64),
    ) -> Result<u64, CacheError> {
        let candidates: Vec<(u64, u64)> = self.db().read(|c| {
            // Only media with a playback URL: without one (frontwize's
            // null PlayUrl) the bytes could not be read back.
            let mut st = c.prepare_cached(
                "SELECT DISTINCT ino, version FROM media WHERE url IS NOT NULL AND url <> ''",
            )?;
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        let reads = self.inner.last_read.lock().clone();
        let secs = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_nanos()
        };
        let mut files: Vec<(u128, u64, (u64, u64))> = candidates
            .into_iter()
            .filter_map(|key| {
                let m = std::fs::metadata(self.data_path(key.0, key.1)).ok()?;
                let ns = |s: i64, n: i64| (s.max(0) as u128) * 1_000_000_000 + n.max(0) as u128;
                let on_disk = ns(m.atime(), m.atime_nsec()).max(ns(m.mtime(), m.mtime_nsec()));
                let used = reads.get(&key).map_or(on_disk, |t| secs(*t).max(on_disk));
                Some((used, m.blocks() * 512, key))
            })
            .collect();
        files.sort();
        let mut freed = 0;
        for (_, bytes, (ino, version)) in files {
            if freed >= need {
                break;
            }
            let path = self.data_path(ino, version);
            if std::fs::remove_file(&path).is_ok() {
                evicted(ino, version, bytes);
                self.inner.last_read.lock().remove(&(ino, version));
                freed += bytes;
            }
        }
        self.flush_last_reads();
        Ok(freed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;

    /// Commits a file of `len` bytes named `name`; returns its inode.
    fn committed(c: &Cache, name: &str, len: usize) -> u64 {
        committed_at(c, name, len, &format!("http://x/{name}"))
    }

    /// [`committed`] with the playback URL `url` ("" = none).
    fn committed_at(c: &Cache, name: &str, len: usize, url: &str) -> u64 {
        let f = c
            .create_node(ROOT_INO, name.as_bytes(), Kind::File, 0o644, 0, 0)
            .unwrap();
        let data = vec![7u8; len];
        let file = c.open_data(f.ino, 1).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, &data, 0).unwrap();
        let mut h = ContentHasher::new(c.part_size());
        h.write(0, &data);
        c.seal(f.ino, 1, len as u64, &h.finish(len as u64)).unwrap();
        let done = Committed {
            file_id: format!("id-{name}"),
            url: url.into(),
            sha1: "ab".into(),
            service_name: name.into(),
            cover_url: None,
        };
        c.mark_committed(f.ino, 1, &done).unwrap();
        f.ino
    }

    #[test]
    fn current_committed_content_is_evicted_least_recently_read_first() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::open(dir.path(), 1024, 0, 0).unwrap();
        let (a, b, d) = (
            committed(&c, "a", 8192),
            committed(&c, "b", 8192),
            committed(&c, "d", 8192),
        );
        // A staged (sealed, not committed) version is never evicted.
        let s = c
            .create_node(ROOT_INO, b"s", Kind::File, 0o644, 0, 0)
            .unwrap();
        let file = c.open_data(s.ino, 1).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, &[1; 8192], 0).unwrap();
        let mut h = ContentHasher::new(c.part_size());
        h.write(0, &[1; 8192]);
        c.seal(s.ino, 1, 8192, &h.finish(8192)).unwrap();
        // Reads of d then a (in memory): b is the least recently used, then
        // d (an older inode would go first on a tie).
        c.note_read(d, 1);
        std::thread::sleep(std::time::Duration::from_millis(5));
        c.note_read(a, 1);
        assert!(c.evict_clean(1).unwrap() > 0);
        assert!(c.is_evicted(b, 1) && !c.is_evicted(a, 1) && !c.is_evicted(d, 1));
        // Then d, then a (their reads were written to the files' atimes
        // at the first eviction); the staged one stays whatever is asked.
        c.evict_clean(1).unwrap();
        assert!(c.is_evicted(d, 1) && !c.is_evicted(a, 1));
        c.evict_clean(u64::MAX).unwrap();
        assert!(c.is_evicted(a, 1));
        assert!(!c.is_evicted(s.ino, 1), "staged data was evicted");
        assert_eq!(c.evict_clean(u64::MAX).unwrap(), 0);
    }

    #[test]
    fn content_committed_without_a_url_is_never_evicted() {
        // frontwize may answer a null PlayUrl: the bytes could not be read
        // back from anywhere, so the cache keeps them.
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::open(dir.path(), 1024, 0, 0).unwrap();
        let kept = committed_at(&c, "no-url", 8192, "");
        let other = committed(&c, "with-url", 8192);
        c.evict_clean(u64::MAX).unwrap();
        assert!(c.is_evicted(other, 1));
        assert!(!c.is_evicted(kept, 1), "content without a URL was evicted");
    }
}
