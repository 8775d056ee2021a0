//! File semantics of the mount (inodes, handles, xattrs, by-id), over the
//! staging cache. Knows nothing of the kernel (see `crate::fuse`) nor of the
//! protocol (see `crate::upload`): it reaches the service only through
//! [`Backend`].
//!
//! Design (see `doc/SEMANTICS.md` for the behaviour of each operation):
//! - Metadata lives in the cache; every namespace change is a cache write.
//! - A file being written has an `open::OpenInode` in memory: its data file,
//!   size, pending mtime, incremental hashes and writer count. Size and mtime
//!   are persisted at flush/release/fsync, not per write. Hashes are
//!   computed by a per-file worker fed in write order (`hashing`), so a
//!   write replies once its bytes are in the data file.
//! - **Content versions.** Sealing a version (at the last writer's close, or
//!   when an rsync temp file is renamed to its final name) hands it to the
//!   backend; writing to a sealed version starts a new one, so each content
//!   version is committed exactly once.
//! - Operations that may wait (flush, release, fsync, rename, read of remote
//!   media) return [`Reply`]: either an immediate result or a future the
//!   adapter runs off the FUSE thread, moving the kernel's reply with it.

pub mod backend;
pub mod cover;
mod error;
mod hashing;
mod interrupted;
mod io;
mod names;
mod open;
mod procfd;
mod remote;
pub mod settings;
mod space;
pub mod testing;
mod tree;
mod xattr;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;

pub use backend::{Backend, CommitError};
pub use error::FsError;
pub use names::is_rsync_temp;
pub use procfd::mount_id;
pub use tree::RenameFlags;

use crate::cache::{BY_ID_INO, Cache, InodeRow, Kind, MEDIA_INO_BASE, Media, ROOT_INO};

/// Configuration of a mount's semantics.
#[derive(Debug, Clone, Default)]
pub struct FsConfig {
    /// `None`: close waits for the commit. `Some(quiet)`: close returns once
    /// staged and the backend commits after `quiet`.
    pub write_back: Option<Duration>,
    /// Owner of new files when the caller is unknown, and of `by-id`.
    pub uid: u32,
    pub gid: u32,
    /// Most bytes of file data the cache may hold (`--cache-size`); the
    /// disk's free space limits it in any case.
    pub cache_size: Option<u64>,
}

/// The attributes of an inode as the kernel sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub kind: Kind,
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    pub crtime: SystemTime,
}

/// One entry of a directory listing (including `.` and `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ino: u64,
    pub kind: Kind,
    pub name: Vec<u8>,
}

/// Filesystem statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
}

/// Attribute changes of `setattr`.
#[derive(Debug, Clone, Default)]
pub struct SetAttrReq {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<SystemTime>,
    pub mtime: Option<SystemTime>,
    /// The handle the change came through (ftruncate), if any.
    pub fh: Option<u64>,
}

/// The result of an operation that may have to wait: the adapter replies
/// at once for `Now`, and runs `Later` on the runtime with the reply.
pub enum Reply<T> {
    Now(Result<T, FsError>),
    Later(BoxFuture<'static, Result<T, FsError>>),
}

impl<T: Send + 'static> Reply<T> {
    /// Waits for the result (tests and simple callers).
    pub async fn wait(self) -> Result<T, FsError> {
        match self {
            Reply::Now(r) => r,
            Reply::Later(f) => f.await,
        }
    }
}

impl<T> From<Result<T, FsError>> for Reply<T> {
    fn from(r: Result<T, FsError>) -> Self {
        Reply::Now(r)
    }
}

/// An open file handle.
#[derive(Debug, Clone)]
enum Handle {
    File { ino: u64, write: bool },
    Media(Box<Media>),
}

#[derive(Default)]
struct State {
    handles: HashMap<u64, Handle>,
    next_fh: u64,
    open: HashMap<u64, Arc<open::OpenInode>>,
}

/// The filesystem of one mount.
pub struct Fs {
    cache: Cache,
    backend: Arc<dyn Backend>,
    config: FsConfig,
    /// Where background commits (release, truncate without a handle) run.
    runtime: tokio::runtime::Handle,
    state: Mutex<State>,
    /// The kernel's id of the mount (0: unknown), to find descriptors
    /// still open on a file at FLUSH (see `procfd`).
    mnt_id: AtomicU64,
    /// Bytes the data files take, as last counted plus writes since
    /// (recounted when a write would pass `--cache-size`).
    space_used: AtomicU64,
    /// Files whose writer never closed them, found at mount start: inode →
    /// the version then current (see `interrupted`).
    interrupted: Mutex<HashMap<u64, u64>>,
    /// Read-ahead of content evicted from the cache (see `remote`).
    read_ahead: Arc<remote::ReadAhead>,
}

impl std::fmt::Debug for Fs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fs").field("config", &self.config).finish()
    }
}

impl Fs {
    pub fn new(
        cache: Cache,
        backend: Arc<dyn Backend>,
        config: FsConfig,
        runtime: tokio::runtime::Handle,
    ) -> Fs {
        let used = if config.cache_size.is_some() {
            cache.data_bytes()
        } else {
            0
        };
        Fs {
            cache,
            backend,
            config,
            runtime,
            state: Mutex::new(State {
                next_fh: 1,
                ..State::default()
            }),
            mnt_id: AtomicU64::new(0),
            space_used: AtomicU64::new(used),
            interrupted: Mutex::new(HashMap::new()),
            read_ahead: Arc::default(),
        }
    }

    /// Tells the filesystem its mount id (the adapter does, after mounting).
    pub fn set_mount_id(&self, id: u64) {
        self.mnt_id.store(id, Ordering::Relaxed);
    }

    /// Whether a descriptor (dup'd, forked, or another open) still writes
    /// to `ino`; `None` when the mount id is unknown.
    fn written_elsewhere(&self, ino: u64, pid: u32) -> Option<bool> {
        match self.mnt_id.load(Ordering::Relaxed) {
            0 => None,
            id => Some(procfd::open_for_write_elsewhere_within(
                id,
                ino,
                pid,
                std::time::Duration::from_secs(2),
            )),
        }
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    pub fn config(&self) -> &FsConfig {
        &self.config
    }

    /// The runtime the adapter runs [`Reply::Later`] futures on.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain maps behind; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Schedules the commit of every sealed version not committed yet
    /// (after a restart), and records the files whose writer never closed
    /// them (`interrupted`); returns how many commits it scheduled.
    pub fn resume_pending(&self) -> Result<usize, FsError> {
        let interrupted = self.find_interrupted()?;
        if interrupted > 0 {
            tracing::warn!(
                "{interrupted} file(s) interrupted while being written: not committed (see user.vod.error)"
            );
        }
        let pending = self.cache.pending_uploads()?;
        for (ino, version) in &pending {
            self.commit_background(*ino, *version);
        }
        Ok(pending.len())
    }

    /// Commits (ino, version) without anyone waiting on the outcome.
    fn commit_background(&self, ino: u64, version: u64) {
        match self.config.write_back {
            Some(quiet) => self.backend.commit_after(ino, version, quiet),
            None => {
                let fut = self.backend.commit(ino, version);
                self.runtime.spawn(async move {
                    if let Err(e) = fut.await {
                        tracing::warn!(ino, version, "background commit failed: {e}");
                    }
                });
            }
        }
    }

    fn by_id_attr(&self) -> Attr {
        let t = SystemTime::UNIX_EPOCH;
        Attr {
            ino: BY_ID_INO,
            kind: Kind::Dir,
            size: 0,
            mode: 0o555,
            uid: self.config.uid,
            gid: self.config.gid,
            nlink: 2,
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
        }
    }

    fn media_attr(&self, m: &Media) -> Attr {
        Attr {
            ino: MEDIA_INO_BASE + m.id,
            kind: Kind::File,
            size: m.size,
            mode: 0o444,
            uid: self.config.uid,
            gid: self.config.gid,
            nlink: 1,
            atime: m.mtime,
            mtime: m.mtime,
            ctime: m.mtime,
            crtime: m.mtime,
        }
    }

    fn media_of(&self, ino: u64) -> Result<Media, FsError> {
        self.cache
            .media(ino - MEDIA_INO_BASE)?
            .ok_or(FsError::NotFound)
    }

    /// The attributes of a stored inode, with the live size and mtime of a
    /// file being written.
    fn row_attr(&self, row: InodeRow) -> Attr {
        let mut attr = Attr {
            ino: row.ino,
            kind: row.kind,
            size: row.size,
            mode: row.mode,
            uid: row.uid,
            gid: row.gid,
            nlink: row.nlink,
            atime: row.atime,
            mtime: row.mtime,
            ctime: row.ctime,
            crtime: row.crtime,
        };
        if row.ino == ROOT_INO {
            attr.nlink = 3;
        }
        let live = self.state().open.get(&row.ino).cloned();
        if let Some(live) = live {
            let inner = live.lock();
            attr.size = inner.size;
            if let Some(m) = inner.pending_mtime {
                attr.mtime = m;
                attr.ctime = m;
            }
        }
        attr
    }

    /// Attributes of `ino`.
    pub fn getattr(&self, ino: u64) -> Result<Attr, FsError> {
        if ino == BY_ID_INO {
            return Ok(self.by_id_attr());
        }
        if ino >= MEDIA_INO_BASE {
            return Ok(self.media_attr(&self.media_of(ino)?));
        }
        let row = self.cache.get(ino)?.ok_or(FsError::NotFound)?;
        Ok(self.row_attr(row))
    }

    /// Filesystem statistics, from the filesystem holding the cache.
    pub fn statfs(&self) -> Result<StatFs, FsError> {
        let path = self.cache.data_path(0, 0);
        let dir = path.parent().unwrap_or(&path);
        let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| FsError::Invalid("cache path has a NUL byte"))?;
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a valid NUL-terminated path, `st` a valid out pointer.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(FsError::io(
                "statvfs of the cache",
                std::io::Error::last_os_error(),
            ));
        }
        Ok(StatFs {
            blocks: st.f_blocks,
            bfree: st.f_bfree,
            bavail: st.f_bavail,
            files: st.f_files,
            ffree: st.f_ffree,
            bsize: st.f_bsize as u32,
            namelen: 255,
        })
    }
}

#[cfg(test)]
mod tests;
