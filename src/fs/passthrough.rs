//! Which open files the kernel may read without the mount (FUSE
//! passthrough, asked by `fuse` at open), and what that forbids meanwhile.
//!
//! - A `by-id/` media whose bytes are in the cache: committed content that
//!   never changes and can never be opened for writing, so nothing the
//!   mount does on a read (versions, hashing, eviction's last-read time,
//!   which by-id reads do not record) is bypassed.
//! - With `--passthrough-reads`, a read-only open of a file of the tree
//!   whose content is sealed, whole in its data file and has no writer.
//!   The kernel requires every later open of a passed-through inode to be
//!   passed through to the same backing file (any other open fails with
//!   EIO), and a write must start a new version, so while such readers are
//!   open the content may not change: a write open or a truncate waits
//!   [`RELEASE_WAIT`] for them (a reader's RELEASE reaches the mount after
//!   its close returned, so `cat f; cp g f` must not fail), then gets
//!   ETXTBSY (`FsError::PassedThrough`). That is why it is not the default:
//!   `rsync --inplace` reads its basis file while it writes the same file.
//!   Eviction's last-read time is recorded at the open.

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use super::attr::{Attr, SetAttrReq};
use super::error::FsError;
use super::filesystem::{Fs, Handle};
use super::reply::Reply;

/// How long a change waits for passed-through readers to be released.
pub const RELEASE_WAIT: Duration = Duration::from_secs(2);

/// How many times (1 ms apart) an open tries the inode's lock before it
/// leaves the reads to the mount.
const LOCK_TRIES: u32 = 20;

impl Fs {
    /// The data file the kernel may read directly for handle `fh`: the
    /// cached bytes of a by-id media, or (`--passthrough-reads`) of a
    /// file of the tree opened for reading (see the module doc); `None`
    /// for any other handle, for evicted content (read from its URL by the
    /// mount), for content being written or not yet sealed. A `Some` for
    /// a file of the tree counts the handle as passed through: when the
    /// kernel does not take it, [`Fs::passthrough_refused`] says so.
    pub fn passthrough_file(&self, fh: u64) -> Option<std::fs::File> {
        match self.handle(fh).ok()? {
            Handle::Media(m) => std::fs::File::open(self.cache.data_path(m.ino, m.version)).ok(),
            Handle::File {
                ino, write: false, ..
            } if self.config.passthrough_reads => self.pass_tree_file(fh, ino),
            Handle::File { .. } => None,
        }
    }

    fn pass_tree_file(&self, fh: u64, ino: u64) -> Option<std::fs::File> {
        let live = self.state().open.get(&ino).cloned()?;
        if !live.try_pass() {
            return None;
        }
        // A sealing inode is not waited for on the FUSE thread; a release
        // persisting a handle's times holds the lock briefly (a `cat` just
        // closed: its RELEASE may run beside this open).
        let locked = (0..LOCK_TRIES).find_map(|i| {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            live.try_lock()
        });
        let file = locked.and_then(|g| {
            if !g.sealed || g.dirty || g.short || g.pending_mtime.is_some() {
                return None;
            }
            if self.evicted(ino, &g) {
                return None;
            }
            self.cache.note_read(ino, g.version);
            let f = std::fs::File::open(self.cache.data_path(ino, g.version)).ok()?;
            // Holes past the data file's end read as zeros through the
            // mount; the kernel would stop at its end.
            (f.metadata().ok()?.size() == g.size).then_some(f)
        });
        let marked = file.is_some() && self.mark_passed(fh, true);
        if !marked {
            live.unpass();
            return None;
        }
        file
    }

    /// The kernel did not take the passthrough offered for `fh`: the mount
    /// serves its reads.
    pub fn passthrough_refused(&self, fh: u64) {
        if self.mark_passed(fh, false) {
            let ino = match self.handle(fh) {
                Ok(Handle::File { ino, .. }) => ino,
                _ => return,
            };
            if let Some(live) = self.state().open.get(&ino).cloned() {
                live.unpass();
            }
        }
    }

    /// Sets the passed-through mark of tree handle `fh`; whether it
    /// changed.
    fn mark_passed(&self, fh: u64, to: bool) -> bool {
        match self.state().handles.get_mut(&fh) {
            Some(Handle::File { passed, .. }) if *passed != to => {
                *passed = to;
                true
            }
            _ => false,
        }
    }

    /// [`Fs::open`], waiting up to [`RELEASE_WAIT`] for passed-through
    /// readers to be released before a write open.
    pub fn open_when_free(self: &Arc<Self>, ino: u64, write: bool) -> Reply<u64> {
        self.when_free(ino, move |fs| fs.open(ino, write))
    }

    /// [`Fs::setattr`], waiting like [`Fs::open_when_free`] before a
    /// change of size.
    pub fn setattr_when_free(self: &Arc<Self>, ino: u64, req: SetAttrReq) -> Reply<Attr> {
        self.when_free(ino, move |fs| fs.setattr(ino, req.clone()))
    }

    /// `op` on `ino`; while it is refused for passed-through readers, tried
    /// again at each release of the last of them, for up to
    /// [`RELEASE_WAIT`].
    fn when_free<T: Send + 'static>(
        self: &Arc<Self>,
        ino: u64,
        op: impl Fn(&Fs) -> Result<T, FsError> + Send + Sync + 'static,
    ) -> Reply<T> {
        match op(self) {
            Err(FsError::PassedThrough(_)) => {}
            r => return Reply::Now(r),
        }
        let (fs, op) = (self.clone(), Arc::new(op));
        Reply::Later(
            async move {
                let deadline = tokio::time::Instant::now() + RELEASE_WAIT;
                loop {
                    let live = fs.state().open.get(&ino).cloned();
                    if let Some(live) = &live {
                        let released = live.next_release();
                        if live.passed() > 0 {
                            // A wake-up is also taken now and then, in case
                            // the readers went by another way.
                            let wait = tokio::time::timeout(RECHECK, released);
                            if tokio::time::timeout_at(deadline, wait).await.is_err() {
                                // Past the deadline: the last try below.
                            }
                        }
                    }
                    // Off the runtime's threads: an op may block (a truncate
                    // restoring evicted content downloads it).
                    let (fs, op) = (fs.clone(), op.clone());
                    let r = tokio::task::spawn_blocking(move || op(&fs))
                        .await
                        .map_err(|e| FsError::io("open", std::io::Error::other(e.to_string())))?;
                    match r {
                        Err(FsError::PassedThrough(_))
                            if tokio::time::Instant::now() < deadline => {}
                        r => return r,
                    }
                }
            }
            .boxed(),
        )
    }
}

/// How often a waiting change looks again without a release signalled.
const RECHECK: Duration = Duration::from_millis(100);
