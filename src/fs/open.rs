//! The in-memory state of a file that is open or has unsealed changes.
//!
//! One [`OpenInode`] per inode, shared by all its handles. Its mutex orders
//! writes to the data file with the hash updates, so the incremental hashes
//! always describe the bytes on disk.

use std::fs::File;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::cache::ContentHasher;

pub(crate) struct OpenInode {
    inner: Mutex<Inner>,
}

pub(crate) struct Inner {
    /// The content version writes go to.
    pub version: u64,
    /// Its data file (opened lazily).
    pub file: Option<Arc<File>>,
    /// Live size (persisted at flush/release/fsync).
    pub size: u64,
    /// mtime of the last write, not yet persisted.
    pub pending_mtime: Option<SystemTime>,
    pub hasher: ContentHasher,
    /// `version` was handed to a commit: the next write starts a new one.
    pub sealed: bool,
    /// Content changed since the last seal.
    pub dirty: bool,
    /// Open handles with write access.
    pub writers: u32,
    /// All open handles.
    pub handles: u32,
    /// The file was unlinked while open: forget it at the last release.
    pub unlinked: bool,
}

impl OpenInode {
    pub fn new(inner: Inner) -> Arc<OpenInode> {
        Arc::new(OpenInode {
            inner: Mutex::new(inner),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
