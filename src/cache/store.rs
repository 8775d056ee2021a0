//! [`Cache`]: the handle of one mount's staging store (opened by `open`).
//! The operations are `impl Cache` blocks in the sibling files, by subject.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::db::Db;
use super::error::CacheError;

pub(super) struct Inner {
    pub(super) db: Db,
    pub(super) data_dir: PathBuf,
    pub(super) part_size: u32,
    /// Last reads of committed content not yet written to the data files'
    /// atimes (see `space`): reads are recorded in memory, not in SQLite.
    pub(super) last_read: LastRead,
    /// This boot's id (`/proc/sys/kernel/random/boot_id`), recorded with a
    /// seal that does not sync: while it is the same, the kernel still
    /// holds the bytes written, so a sync verifies the version (see
    /// `Cache::commit_info`). `None` when unreadable: never trusted.
    pub(super) boot_id: Option<String>,
}

/// The staging store of one mount. Cheap to clone; all clones share the
/// writer thread and the reader pool.
#[derive(Clone)]
pub struct Cache {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("data_dir", &self.inner.data_dir)
            .finish()
    }
}

impl Cache {
    /// The part size of new versions.
    pub fn part_size(&self) -> u32 {
        self.inner.part_size
    }

    /// Where the bytes of (ino, version) live.
    pub fn data_path(&self, ino: u64, version: u64) -> PathBuf {
        self.inner.data_dir.join(format!("{ino}-{version}"))
    }

    /// Opens the data file of (ino, version) for reading and writing,
    /// creating it empty when absent.
    pub fn open_data(&self, ino: u64, version: u64) -> Result<std::fs::File, CacheError> {
        let path = self.data_path(ino, version);
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| CacheError::io(format!("opening {}", path.display()), e))
    }

    /// Stops the writer thread after the queued work (also done on drop of
    /// the last clone).
    pub fn close(&self) {
        self.flush_last_reads();
        self.inner.db.close();
    }

    pub(super) fn db(&self) -> &Db {
        &self.inner.db
    }

    pub(super) fn boot_id(&self) -> Option<String> {
        self.inner.boot_id.clone()
    }
}

/// Last reads of (ino, version) since the last flush (see `space`).
#[derive(Debug, Default)]
pub(super) struct LastRead(Mutex<HashMap<(u64, u64), SystemTime>>);

impl LastRead {
    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<(u64, u64), SystemTime>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
