//! Disk space of the cache: how much the data files take, how much the
//! disk has left, and eviction of clean committed data to make room.
//!
//! Only data no file in the tree reads from the cache is evicted: content
//! versions kept for a `by-id` media whose file was since rewritten or
//! removed. Their reads come back from the playback URL
//! (`Backend::read_remote`). Staged, failed and current versions are never
//! evicted.

use std::os::unix::fs::MetadataExt;

use super::{Cache, CacheError};

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

    /// Deletes the data files of clean committed versions no file reads
    /// from the cache, least recently used first, until `need` bytes are
    /// freed or none is left. Returns the bytes freed.
    pub fn evict_clean(&self, need: u64) -> Result<u64, CacheError> {
        let candidates: Vec<(u64, u64)> = self.db().read(|c| {
            let mut st = c.prepare(
                "SELECT m.ino, m.version FROM media m LEFT JOIN inodes i ON i.ino = m.ino
                 WHERE i.ino IS NULL OR i.version != m.version OR i.nlink = 0",
            )?;
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        let mut files: Vec<(i64, u64, std::path::PathBuf)> = candidates
            .into_iter()
            .filter_map(|(ino, version)| {
                let p = self.data_path(ino, version);
                let m = std::fs::metadata(&p).ok()?;
                Some((m.atime().max(m.mtime()), m.blocks() * 512, p))
            })
            .collect();
        files.sort();
        let mut freed = 0;
        for (_, bytes, path) in files {
            if freed >= need {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                tracing::info!(path = %path.display(), bytes, "evicted committed data from the cache");
                freed += bytes;
            }
        }
        Ok(freed)
    }
}
