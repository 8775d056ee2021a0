//! The read-ahead state of evicted files (see `remote`, which fills and
//! reads it): windows of content fetched from the playback URL, by inode.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::{BoxFuture, Shared};

/// A window's bytes as they arrive: shared by every read waiting on it.
pub(super) type Fetch = Shared<BoxFuture<'static, Result<Arc<Vec<u8>>, String>>>;

/// One window of a file's content: fetched, or on its way.
#[derive(Clone)]
pub(super) struct Window {
    pub(super) start: u64,
    pub(super) len: u64,
    pub(super) bytes: Fetch,
}

impl Window {
    pub(super) fn covers(&self, offset: u64, len: u64) -> bool {
        offset >= self.start && offset + len <= self.start + self.len
    }
}

/// One file's read-ahead: the window reads are served from, the one
/// before it (the kernel's parallel reads may arrive a little out of
/// order) and the next one, fetched ahead while the current is read.
pub(super) struct Buffer {
    pub(super) version: u64,
    pub(super) prev: Option<Window>,
    pub(super) current: Window,
    pub(super) next: Option<Window>,
    /// The window after `next`, so that two fetches overlap: one request
    /// at a time left each sequential read waiting on a whole round trip.
    pub(super) after: Option<Window>,
}

/// Read-ahead buffers of evicted files, by inode.
///
/// Sequential reads move from a window to the next, each twice the size of
/// the one before up to `remote::MAX_WINDOW`; when a read reaches the
/// second half of a window, the next two not yet on their way are
/// requested, so the reader finds them (mostly) there. A read elsewhere
/// starts over with a `remote::READ_AHEAD` window.
#[derive(Default)]
pub(super) struct ReadAhead(Mutex<HashMap<u64, Buffer>>);

impl ReadAhead {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Buffer>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
