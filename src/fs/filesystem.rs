//! [`Fs`]: the state of one mount's filesystem, building it, and the
//! operations on inodes as a whole (attributes, statfs, resuming commits
//! after a restart). The other operations are `impl Fs` blocks in the
//! sibling files, by subject.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::attr::{Attr, StatFs};
use super::error::FsError;
use super::open::OpenInode;
use super::procfd::open_for_write_elsewhere_within;
use super::read_ahead::ReadAhead;
use crate::cache::{BY_ID_INO, Cache, InodeRow, Kind, MEDIA_INO_BASE, Media, ROOT_INO};
use crate::upload::{Backend, RemoteRead};

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
    /// List the computed `user.vod.*` attributes in listxattr
    /// (`--list-vod-xattrs`). Off by default: they are readable by name
    /// (`getfattr -n user.vod.url`) but not listed, as CephFS and
    /// GlusterFS treat their virtual attributes, so `rsync -X`, `cp -a`
    /// and `tar --xattrs` neither copy the mount's own state out nor see it
    /// as a difference from the source.
    pub list_vod_xattrs: bool,
    /// Let the kernel read files of the tree straight from their data files
    /// (FUSE passthrough, `--passthrough-reads`; see `passthrough`).
    pub passthrough_reads: bool,
}

impl FsConfig {
    /// No hashing while written: a write-back quiet time delays the upload
    /// anyway, and the commit hashes the staged bytes when it starts
    /// (`--write-back=0` keeps hashing while written: its upload starts at
    /// the close, with the hashes ready).
    pub fn defer_hashing(&self) -> bool {
        self.write_back.is_some_and(|quiet| !quiet.is_zero())
    }
}

/// An open file handle.
#[derive(Debug, Clone)]
pub(super) enum Handle {
    /// `passed`: the kernel reads it without the mount (`passthrough`).
    File {
        ino: u64,
        write: bool,
        passed: bool,
    },
    Media(Box<Media>),
}

#[derive(Default)]
pub(super) struct State {
    pub(super) handles: HashMap<u64, Handle>,
    pub(super) next_fh: u64,
    pub(super) open: HashMap<u64, Arc<OpenInode>>,
}

/// The filesystem of one mount.
pub struct Fs {
    pub(super) cache: Cache,
    pub(super) backend: Arc<dyn Backend>,
    /// Where reads of content evicted from the cache go (see `remote`).
    pub(super) remote: Arc<dyn RemoteRead>,
    pub(super) config: FsConfig,
    /// Where background commits (release, truncate without a handle) run.
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) state: Mutex<State>,
    /// The kernel's id of the mount (0: unknown), to find descriptors
    /// still open on a file at FLUSH (see `procfd`).
    pub(super) mnt_id: AtomicU64,
    /// Bytes the data files take, as last counted plus writes since
    /// (recounted when a write would pass `--cache-size`).
    pub(super) space_used: AtomicU64,
    /// Files whose writer never closed them, found at mount start: inode →
    /// the version then current (see `interrupted`).
    pub(super) interrupted: Mutex<HashMap<u64, u64>>,
    /// Read-ahead of content evicted from the cache (see `remote`).
    pub(super) read_ahead: Arc<ReadAhead>,
}

impl std::fmt::Debug for Fs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fs").field("config", &self.config).finish()
    }
}

impl Fs {
    /// The filesystem over `cache`, scheduling commits with `backend` and
    /// reading evicted content through `remote`.
    pub fn new(
        cache: Cache,
        backend: Arc<dyn Backend>,
        remote: Arc<dyn RemoteRead>,
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
            remote,
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
    pub(super) fn written_elsewhere(&self, ino: u64, pid: u32) -> Option<bool> {
        match self.mnt_id.load(Ordering::Relaxed) {
            0 => None,
            id => Some(open_for_write_elsewhere_within(
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

    /// The runtime the adapter runs [`Reply::Later`](crate::fs::Reply::Later) futures on.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    pub(super) fn state(&self) -> MutexGuard<'_, State> {
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
    pub(super) fn commit_background(&self, ino: u64, version: u64) {
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

    pub(super) fn by_id_attr(&self) -> Attr {
        let t = SystemTime::UNIX_EPOCH;
        Attr {
            ino: BY_ID_INO,
            kind: Kind::Dir,
            size: 0,
            mode: 0o555,
            uid: self.config.uid,
            gid: self.config.gid,
            nlink: 2,
            rdev: 0,
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
        }
    }

    pub(super) fn media_attr(&self, m: &Media) -> Attr {
        Attr {
            ino: MEDIA_INO_BASE + m.id,
            kind: Kind::File,
            size: m.size,
            mode: 0o444,
            uid: self.config.uid,
            gid: self.config.gid,
            nlink: 1,
            rdev: 0,
            atime: m.mtime,
            mtime: m.mtime,
            ctime: m.mtime,
            crtime: m.mtime,
        }
    }

    pub(super) fn media_of(&self, ino: u64) -> Result<Media, FsError> {
        self.cache
            .media(ino - MEDIA_INO_BASE)?
            .ok_or(FsError::NotFound)
    }

    /// The attributes of a stored inode, with the live size and mtime of a
    /// file being written.
    pub(super) fn row_attr(&self, row: InodeRow) -> Attr {
        let mut attr = Attr {
            ino: row.ino,
            kind: row.kind,
            size: row.size,
            mode: row.mode,
            uid: row.uid,
            gid: row.gid,
            nlink: row.nlink,
            rdev: row.rdev,
            atime: row.atime,
            mtime: row.mtime,
            ctime: row.ctime,
            crtime: row.crtime,
        };
        if row.ino == ROOT_INO {
            // `by-id` is a subdirectory too, though not a stored entry.
            attr.nlink += 1;
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
