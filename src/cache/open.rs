//! Opening a cache directory: the database (migrated), the root
//! directory, the writer thread, and the files unlinked while open when the
//! last mount ended.

use std::path::Path;
use std::sync::Arc;

use super::db::Db;
use super::error::CacheError;
use super::store::{Cache, Inner, LastRead};
use super::{nodes, schema};

impl Cache {
    /// Opens (creating if needed) the cache in `dir`; new versions use
    /// `part_size` byte parts. The root directory is owned by `uid`/`gid`.
    pub fn open(dir: &Path, part_size: u32, uid: u32, gid: u32) -> Result<Cache, CacheError> {
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| CacheError::io(format!("creating {}", data_dir.display()), e))?;
        let path = dir.join("cache.db");
        let conn = schema::open(&path)?;
        nodes::ensure_root(&conn, uid, gid)?;
        let orphans = nodes::orphans(&conn)?;
        let db = Db::start(&path, conn)?;
        let cache = Cache {
            inner: Arc::new(Inner {
                db,
                data_dir,
                part_size,
                last_read: LastRead::default(),
                boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty()),
            }),
        };
        // Files unlinked while open when the last mount ended.
        for ino in orphans {
            cache.forget(ino)?;
        }
        Ok(cache)
    }
}
