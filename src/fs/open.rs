//! The in-memory state of a file that is open or has unsealed changes.
//!
//! One [`OpenInode`] per inode, shared by all its handles. Its mutex orders
//! writes to the data file with the hash updates, so the incremental hashes
//! always describe the bytes on disk; sealing holds it while the bytes are
//! synced, so nothing may wait for it while holding the filesystem's state
//! lock (lock order: state, then inode, and only with `try_lock` there).
//! The handle counts are atomics so that `open` and `release` never wait.

use std::fs::File;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::SystemTime;

use super::hashing::Hashing;

pub(crate) struct OpenInode {
    inner: Mutex<Inner>,
    /// Open handles with write access.
    writers: AtomicU32,
    /// All open handles.
    handles: AtomicU32,
    /// Open handles the kernel reads without the mount (FUSE passthrough
    /// of the data file, `passthrough`): while there are any, the content
    /// may not change (a write open or a truncate waits, then is refused).
    passed: AtomicU32,
    /// Signalled when the last passed-through handle goes: what a waiting
    /// write open or truncate wakes on.
    released: tokio::sync::Notify,
}

pub(crate) struct Inner {
    /// The content version writes go to.
    pub version: u64,
    /// Its data file (opened lazily).
    pub file: Option<Arc<File>>,
    /// The data file opened again with O_DIRECT for the aligned middle of
    /// each write (`crate::direct_io`): `None` until the first write,
    /// `Some(None)` where the file system refuses it.
    pub direct: Option<Option<Arc<File>>>,
    /// Live size (persisted at flush/release/fsync).
    pub size: u64,
    /// mtime of the last write, not yet persisted.
    pub pending_mtime: Option<SystemTime>,
    pub hasher: Hashing,
    /// `version` was handed to a commit: the next write starts a new one.
    pub sealed: bool,
    /// Content changed since the last seal.
    pub dirty: bool,
    /// The file was unlinked while open: forget it at the last release.
    pub unlinked: bool,
    /// A write failed for lack of space: the content is short and is not
    /// committed until the file is truncated to 0 and written again.
    pub short: bool,
    /// A write-back close persisted this version as whole (the cache's
    /// `closed_version`): the next write or truncate clears it first.
    pub closed_mark: bool,
}

impl OpenInode {
    pub fn new(inner: Inner) -> Arc<OpenInode> {
        Arc::new(OpenInode {
            inner: Mutex::new(inner),
            writers: AtomicU32::new(0),
            handles: AtomicU32::new(0),
            passed: AtomicU32::new(0),
            released: tokio::sync::Notify::new(),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lock if free now (`None` when busy).
    pub fn try_lock(&self) -> Option<MutexGuard<'_, Inner>> {
        match self.inner.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    pub fn opened(&self, write: bool) {
        self.handles.fetch_add(1, Ordering::SeqCst);
        if write {
            self.writers.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Counts a handle closed; returns (writers, handles) left.
    pub fn closed(&self, write: bool) -> (u32, u32) {
        let dec = |a: &AtomicU32| {
            a.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                Some(v.saturating_sub(1))
            })
            .map_or(0, |v| v.saturating_sub(1))
        };
        let writers = if write {
            dec(&self.writers)
        } else {
            self.writers()
        };
        (writers, dec(&self.handles))
    }

    pub fn writers(&self) -> u32 {
        self.writers.load(Ordering::SeqCst)
    }

    pub fn handles(&self) -> u32 {
        self.handles.load(Ordering::SeqCst)
    }

    /// Counts a read handle as passed through unless a writer is open. The
    /// count goes up before the writers are read, as a write open counts
    /// itself before it reads this count (both SeqCst): of a reader and a
    /// writer opening at once, at most one goes ahead.
    pub fn try_pass(&self) -> bool {
        self.passed.fetch_add(1, Ordering::SeqCst);
        if self.writers() == 0 {
            return true;
        }
        self.unpass();
        false
    }

    /// A passed-through handle is gone (or was not passed through after all).
    pub fn unpass(&self) {
        let was = self
            .passed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                Some(v.saturating_sub(1))
            });
        if was.is_ok_and(|v| v <= 1) {
            self.released.notify_waiters();
        }
    }

    /// A future that completes at the next release of the last
    /// passed-through handle after this call (even if not yet polled).
    pub fn next_release(&self) -> tokio::sync::futures::Notified<'_> {
        self.released.notified()
    }

    /// Open handles passed through.
    pub fn passed(&self) -> u32 {
        self.passed.load(Ordering::SeqCst)
    }
}
