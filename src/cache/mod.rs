//! The SQLite staging store: files, directories, chunks, xattrs and upload
//! state of the mount.
//!
//! Layout of a cache directory: `cache.db` (SQLite, see `schema` for the
//! pragmas and migrations) and `data/<ino>-<version>`, one sparse file per
//! content version holding its bytes; part `i` of a version is the byte
//! range `[i * part_size, (i + 1) * part_size)` of that file. Chunk bytes live
//! in files beside the database rather than in blobs: `doc/staging-bench.md`
//! has the figures (files write every byte once; blobs go through the WAL
//! and are written twice, and partial-part writes need a read-modify-write).
//!
//! Concurrency: one writer connection owned by one thread, callers send it
//! work and block until it is committed (`db`); readers use pooled
//! read-only connections. Data files are read and written with positional
//! I/O from any thread.
//!
//! Durability: no fsync per write. [`Cache::seal`] (called at flush, fsync or
//! close, before a commit starts) syncs the version's data file and commits
//! its metadata with `synchronous=FULL`.
//!
//! # The API of the upload committer
//! - [`Cache::commit_info`]: name bytes and parent, size, part size, the
//!   SHA-1 if it was computed while writing, each part's MD5 if known.
//! - [`Cache::read_at`]: the bytes of (ino, version), from any thread.
//! - [`Cache::set_upload_status`]: state, parts/bytes done of total, error.
//! - [`Cache::mark_committed`]: fileId, url, sha1, service name, cover url;
//!   creates the `by-id/<fileId>` record, which keeps that version's bytes.
//!   The live file shows it only while its version is still that one.
//! - [`Cache::save_resume_token`] / [`Cache::load_resume_token`].
//! - [`Cache::pending_uploads`]: sealed versions not committed yet (resume
//!   at mount).
//! - [`Cache::dir_setting`]: the nearest ancestor directory's
//!   `user.vod.<setting>` xattr.

mod db;
pub mod hash;
mod nodes;
mod schema;
mod space;
mod unsealed;
mod uploads;
mod xattrs;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use hash::{ContentHasher, HashKinds, Hashes};
pub use nodes::{DirEntry, PartMd5s, RenameOutcome, SetAttr};
pub(crate) use uploads::read_file_at;
pub use uploads::{CommitInfo, Committed, Media, UploadRow, UploadState, UploadStatus};

/// The root directory's inode.
pub const ROOT_INO: u64 = 1;
/// The `by-id` directory's inode (reserved, never a user file).
pub const BY_ID_INO: u64 = 2;
/// `by-id/<fileId>` entries have inode `MEDIA_INO_BASE + media id`.
pub const MEDIA_INO_BASE: u64 = 1 << 48;

/// Errors of the staging store.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cache database has schema version {found}, this vodfs knows up to {known}")]
    TooNew { found: i64, known: i64 },
    #[error("no such file or directory")]
    NotFound,
    #[error("name already exists")]
    Exists,
    #[error("directory not empty")]
    NotEmpty,
    #[error("not a directory")]
    NotDir,
    #[error("is a directory")]
    IsDir,
    #[error("invalid operation: {0}")]
    Invalid(&'static str),
    #[error("no such xattr")]
    NoXattr,
    #[error("content version {version} of inode {ino} is not sealed")]
    NotSealed { ino: u64, version: u64 },
    #[error("cache writer thread is gone")]
    WriterGone,
    #[error("cache transaction did not commit: {0}")]
    Commit(String),
}

impl CacheError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        CacheError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Kind of an inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

impl Kind {
    fn to_i64(self) -> i64 {
        match self {
            Kind::File => 1,
            Kind::Dir => 2,
        }
    }
    fn from_i64(v: i64) -> Kind {
        if v == 2 { Kind::Dir } else { Kind::File }
    }
}

/// One inode as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InodeRow {
    pub ino: u64,
    pub kind: Kind,
    /// Permission bits (no file type bits).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    pub crtime: SystemTime,
    /// Content version; bumped when a sealed content is written again.
    pub version: u64,
    /// 0 once unlinked (the row stays while the file is open).
    pub nlink: u32,
}

/// Time as signed nanoseconds since the epoch (times before 1970 are legal).
pub(crate) fn to_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

pub(crate) fn from_ns(ns: i64) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}

struct Inner {
    db: db::Db,
    data_dir: PathBuf,
    part_size: u32,
    /// Last reads of committed content not yet written to the data files'
    /// atimes (see `space`): reads are recorded in memory, not in SQLite.
    last_read: space::LastRead,
}

/// The staging store of one mount. Cheap to clone; all clones share the
/// writer thread and the reader pool.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("data_dir", &self.inner.data_dir)
            .finish()
    }
}

impl Cache {
    /// Opens (creating if needed) the cache in `dir`; new versions use
    /// `part_size` byte parts. The root directory is owned by `uid`/`gid`.
    pub fn open(dir: &Path, part_size: u32, uid: u32, gid: u32) -> Result<Cache, CacheError> {
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| CacheError::io(format!("creating {}", data_dir.display()), e))?;
        let path = dir.join("cache.db");
        let mut conn = schema::connect(&path, false)?;
        schema::migrate(&mut conn, schema::MIGRATIONS)?;
        nodes::ensure_root(&conn, uid, gid)?;
        let orphans = nodes::orphans(&conn)?;
        let db = db::Db::start(&path, conn)?;
        let cache = Cache {
            inner: Arc::new(Inner {
                db,
                data_dir,
                part_size,
                last_read: space::LastRead::default(),
            }),
        };
        // Files unlinked while open when the last mount ended.
        for ino in orphans {
            cache.forget(ino)?;
        }
        Ok(cache)
    }

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

    fn db(&self) -> &db::Db {
        &self.inner.db
    }
}

#[cfg(test)]
mod tests;
