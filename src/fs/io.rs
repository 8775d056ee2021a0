//! Handles and content: open, read, write, flush, release, fsync, and the
//! decision of when a content version is sealed and committed.
//!
//! Commit rule: a version is committed when the last writer closes it
//! (flush of the only write handle, or release of the last one) and its
//! content changed, except for rsync temp names, which commit when renamed
//! to their final name. Empty contents are never committed.

use std::sync::Arc;
use std::time::SystemTime;

use futures::FutureExt;

use super::error::FsError;
use super::filesystem::{Fs, Handle};
use super::hashing::Hashing;
use super::names::{MAX_FILE_SIZE, is_rsync_temp};
use super::open::{Inner, OpenInode};
use super::reply::Reply;
use crate::cache::{Cache, ContentHasher, Kind, MEDIA_INO_BASE, SetAttr, UploadState};

impl Fs {
    /// The live state of file `ino`, loaded from the cache when absent.
    pub(super) fn live(&self, ino: u64) -> Result<Arc<OpenInode>, FsError> {
        let mut st = self.state();
        if let Some(l) = st.open.get(&ino) {
            return Ok(l.clone());
        }
        let row = self.cache.get(ino)?.ok_or(FsError::NotFound)?;
        match row.kind {
            Kind::File => {}
            Kind::Dir => return Err(FsError::IsDir),
            // The kernel resolves symlinks and serves special files itself.
            _ => return Err(FsError::Invalid("not a regular file")),
        }
        let sealed = self.cache.is_sealed(ino, row.version)?;
        let hasher = if row.size == 0 {
            ContentHasher::new(self.cache.part_size())
        } else {
            ContentHasher::resume(self.cache.part_size(), &[], row.size)
        };
        let live = OpenInode::new(Inner {
            version: row.version,
            file: None,
            direct: None,
            size: row.size,
            pending_mtime: None,
            hasher: Hashing::new(hasher, self.config.defer_hashing()),
            sealed,
            dirty: false,
            unlinked: row.nlink == 0,
            short: false,
            closed_mark: false,
        });
        st.open.insert(ino, live.clone());
        Ok(live)
    }

    /// Forgets the live state of `ino` when nothing needs it any more.
    pub(super) fn drop_if_idle(&self, ino: u64) {
        let mut st = self.state();
        // try_lock: never wait on an inode (it may be sealing) under the
        // state lock; a busy inode is not idle.
        let idle = st.open.get(&ino).is_some_and(|l| {
            l.handles() == 0
                && l.try_lock()
                    .is_some_and(|g| !g.dirty && g.pending_mtime.is_none())
        });
        if idle {
            st.open.remove(&ino);
        }
    }

    /// The data file of the version `g` writes to. Never created for
    /// evicted content (see `remote`).
    pub(super) fn data_file(&self, ino: u64, g: &mut Inner) -> Result<Arc<std::fs::File>, FsError> {
        if let Some(f) = &g.file {
            return Ok(f.clone());
        }
        let f = if g.sealed {
            // Sealed content is never created: absent means evicted.
            let path = self.cache.data_path(ino, g.version);
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| FsError::io(format!("opening {}", path.display()), e))?
        } else {
            self.cache.open_data(ino, g.version)?
        };
        let f = Arc::new(f);
        g.file = Some(f.clone());
        Ok(f)
    }

    /// The data file of `ino`'s version opened with O_DIRECT, for staged
    /// writes: the kernel already caches what was written in the FUSE
    /// inode's pages, so the data file's copy need not fill a second page
    /// cache (on this VM, growing the page cache is most of a staged
    /// write's cost). `None` where the file system refuses it, and for a
    /// write of `len` bytes at `offset` with no aligned middle
    /// (`direct_io::has_middle`: it would go through the page cache
    /// anyway), so that small files written in small pieces never open it.
    fn direct_file_for(
        &self,
        ino: u64,
        g: &mut Inner,
        offset: u64,
        len: usize,
    ) -> Option<Arc<std::fs::File>> {
        if !crate::direct_io::has_middle(len, offset) {
            return None;
        }
        if let Some(d) = &g.direct {
            return d.clone();
        }
        let d = crate::direct_io::open_twin(&self.cache.data_path(ino, g.version)).map(Arc::new);
        g.direct = Some(d.clone());
        d
    }

    /// Before changing the content: a sealed version is never changed, a
    /// new one starts (a copy of the old bytes when `keep`).
    pub(super) fn make_writable(&self, ino: u64, g: &mut Inner, keep: bool) -> Result<(), FsError> {
        if !g.sealed {
            return Ok(());
        }
        if keep && self.evicted(ino, g) {
            self.restore_evicted(ino, g)?;
        }
        let up = self.cache.upload(ino, g.version)?;
        if up.is_some_and(|u| u.status.state != UploadState::Committed) {
            self.backend.cancel(ino);
        }
        let (version, md5s) = self.cache.new_version(ino, keep)?;
        g.version = version;
        g.file = None;
        g.direct = None;
        g.hasher.replace(if keep {
            ContentHasher::resume(self.cache.part_size(), &md5s, g.size)
        } else {
            ContentHasher::new(self.cache.part_size())
        });
        g.sealed = false;
        Ok(())
    }

    /// Opens `ino`; returns the handle.
    pub fn open(&self, ino: u64, write: bool) -> Result<u64, FsError> {
        let handle = if ino >= MEDIA_INO_BASE {
            if write {
                return Err(FsError::ReadOnly);
            }
            Some(Handle::Media(Box::new(self.media_of(ino)?)))
        } else {
            None
        };
        // Count the handle under the state lock, so `drop_if_idle` cannot
        // drop the live state between lookup and count.
        let live = match handle {
            None => Some(self.live(ino)?),
            Some(_) => None,
        };
        let mut st = self.state();
        let handle = match (handle, live) {
            (Some(h), _) => h,
            (None, Some(live)) => {
                let live = st.open.entry(ino).or_insert(live).clone();
                live.opened(write);
                // Counted first, then the readers read (`try_pass`).
                if write && live.passed() > 0 {
                    live.closed(true);
                    drop(st);
                    return Err(FsError::PassedThrough(self.cache.display_path(ino)));
                }
                Handle::File {
                    ino,
                    write,
                    passed: false,
                }
            }
            (None, None) => return Err(FsError::NotFound),
        };
        let fh = st.next_fh;
        st.next_fh += 1;
        st.handles.insert(fh, handle);
        Ok(fh)
    }

    pub(super) fn handle(&self, fh: u64) -> Result<Handle, FsError> {
        self.state()
            .handles
            .get(&fh)
            .cloned()
            .ok_or(FsError::BadHandle(fh))
    }

    /// Reads up to `len` bytes at `offset`; holes read as zeros.
    pub fn read(&self, fh: u64, offset: u64, len: u32) -> Reply<Vec<u8>> {
        match self.handle(fh) {
            Err(e) => Reply::Now(Err(e)),
            Ok(Handle::File { ino, .. }) => self.read_file(ino, offset, len),
            Ok(Handle::Media(m)) => {
                let len = (len as u64).min(m.size.saturating_sub(offset)) as u32;
                if self.cache.data_path(m.ino, m.version).exists() {
                    return Reply::Now(
                        self.cache
                            .read_at(m.ino, m.version, offset, len as usize)
                            .map_err(FsError::from),
                    );
                }
                let fut = self.remote.read_remote(&m.url, offset, len);
                Reply::Later(fut.map(|r| r.map_err(FsError::from)).boxed())
            }
        }
    }

    /// Reads a file: from its data file, or from its URL when its content
    /// was evicted (`remote`).
    fn read_file(&self, ino: u64, offset: u64, len: u32) -> Reply<Vec<u8>> {
        let live = match self.live(ino) {
            Ok(l) => l,
            Err(e) => return Reply::Now(Err(e)),
        };
        let (file, size, sealed) = {
            let mut g = live.lock();
            if self.evicted(ino, &g) {
                let (version, size) = (g.version, g.size);
                drop(g);
                return self.read_evicted(ino, version, size, offset, len as u64);
            }
            if g.sealed {
                self.cache.note_read(ino, g.version);
            }
            match self.data_file(ino, &mut g) {
                Ok(f) => (f, g.size, g.sealed),
                Err(e) => return Reply::Now(Err(e)),
            }
        };
        let len = (len as u64).min(size.saturating_sub(offset)) as usize;
        let read = crate::cache::read_file_at(&file, offset, len)
            .map_err(|e| FsError::io(format!("reading inode {ino}"), e));
        if sealed {
            forget_pages(&file, offset, len as u64);
        }
        Reply::Now(read.map(|mut buf| {
            buf.resize(len, 0);
            buf
        }))
    }

    /// Writes `data` at `offset`; returns the count written.
    pub fn write(&self, fh: u64, offset: u64, data: &[u8]) -> Result<u32, FsError> {
        let ino = match self.handle(fh)? {
            Handle::File {
                ino, write: true, ..
            } => ino,
            Handle::File { .. } => return Err(FsError::BadHandle(fh)),
            Handle::Media(_) => return Err(FsError::ReadOnly),
        };
        let end = offset.saturating_add(data.len() as u64);
        if end > MAX_FILE_SIZE {
            tracing::warn!(
                ino,
                offset,
                len = data.len(),
                "write refused: file too large"
            );
            return Err(FsError::TooBig(end));
        }
        let live = self.live(ino)?;
        let mut g = live.lock();
        let growth = (offset + data.len() as u64).saturating_sub(g.size);
        if let Err(e) = self.reserve_space(growth.max(if g.sealed { g.size } else { 0 })) {
            tracing::warn!(ino, offset, len = data.len(), "write refused: {e}");
            g.short = true;
            return Err(e);
        }
        self.make_writable(ino, &mut g, true)?;
        self.clear_closed(ino, &mut g)?;
        let file = self.data_file(ino, &mut g)?;
        let direct = self.direct_file_for(ino, &mut g, offset, data.len());
        let taken = crate::direct_io::write_at(&file, direct.as_deref(), data, offset)
            .map_err(|e| FsError::io(format!("writing inode {ino}"), e))?;
        if !taken {
            g.direct = Some(None);
        }
        if self.backend.early_parts() {
            // A rewrite of bytes a grown early part may be made of.
            self.backend
                .written(ino, g.version, offset, data.len() as u64);
            if g.hasher.wants_sink() {
                // Parts sealed while writing may go up before the close.
                let (backend, version) = (self.backend.clone(), g.version);
                g.hasher.set_sink(Some(Arc::new(move |index, md5| {
                    backend.part_sealed(ino, version, index, md5)
                })));
            }
        }
        g.hasher.write(offset, data);
        g.size = g.size.max(offset + data.len() as u64);
        g.pending_mtime = Some(SystemTime::now());
        g.dirty = true;
        Ok(data.len() as u32)
    }

    /// Persists the live size and mtime of `ino`.
    fn persist(&self, ino: u64, g: &mut Inner) -> Result<(), FsError> {
        persist(&self.cache, ino, g)
    }

    /// Before content changes: a version a write-back close left whole is
    /// no longer what was closed (cleared in the cache before the change,
    /// so a stop in the middle of it leaves the file interrupted).
    pub(super) fn clear_closed(&self, ino: u64, g: &mut Inner) -> Result<(), FsError> {
        if g.closed_mark {
            self.cache.set_attr(
                ino,
                SetAttr {
                    closed: Some(false),
                    ..SetAttr::default()
                },
            )?;
            g.closed_mark = false;
        }
        Ok(())
    }

    /// A write-back close: persists the size and mtime, and that this
    /// content is whole as closed (unless a write fell short), so that a
    /// mount stopped before the RELEASE seals it commits it at its next
    /// start (`find_interrupted`) rather than showing it interrupted.
    fn persist_closed(&self, ino: u64, g: &mut Inner) -> Result<(), FsError> {
        persist_with(&self.cache, ino, g, Some(!g.short))?;
        g.closed_mark = !g.unlinked && !g.short;
        Ok(())
    }

    /// True when every name of `ino` is an rsync temp name (a hard link
    /// under a final name commits at close as any file).
    pub(super) fn has_temp_name(&self, ino: u64) -> Result<bool, FsError> {
        let names = self.cache.names_of(ino)?;
        Ok(!names.is_empty() && names.iter().all(|(_, name)| is_rsync_temp(name)))
    }

    /// Seals the changed content of `ino` and commits it: waiting for the
    /// outcome when `wait` (default mode), scheduling it in write-back mode.
    pub(super) fn finish_content(&self, ino: u64, wait: bool) -> Reply<()> {
        let live = match self.state().open.get(&ino).cloned() {
            Some(l) => l,
            None => return Reply::Now(Ok(())),
        };
        if !wait {
            return match seal(&self.cache, ino, &mut live.lock()) {
                Ok(Some(version)) => {
                    self.commit_background(ino, version);
                    Reply::Now(Ok(()))
                }
                Ok(None) => Reply::Now(Ok(())),
                Err(e) => Reply::Now(Err(e)),
            };
        }
        // Sealing waits for the hashes (and syncs the staged bytes in the
        // default mode): off the FUSE thread, like the commit. A write-back
        // close replies without the data sync, which follows at once.
        let cache = self.cache.clone();
        let backend = self.backend.clone();
        let write_back = self.config.write_back;
        Reply::Later(
            async move {
                let c = cache.clone();
                let sync = write_back.is_none();
                let sealed =
                    tokio::task::spawn_blocking(move || seal_with(&c, ino, &mut live.lock(), sync))
                        .await
                        .map_err(|e| {
                            FsError::io("sealing task", std::io::Error::other(e.to_string()))
                        })??;
                let Some(version) = sealed else {
                    return Ok(());
                };
                match write_back {
                    Some(quiet) => {
                        tokio::task::spawn_blocking(move || {
                            if let Err(e) = cache.sync_data(ino, version) {
                                tracing::warn!(ino, version, "syncing staged bytes: {e}");
                            }
                        });
                        backend.commit_after(ino, version, quiet);
                        Ok(())
                    }
                    None => match backend.commit(ino, version).await {
                        Ok(()) => Ok(()),
                        Err(e) if e.still_waiting => {
                            // The upload goes on: say which file's close
                            // gives up (the commit job logs failures).
                            let path = tokio::task::spawn_blocking(move || cache.display_path(ino))
                                .await
                                .unwrap_or_default();
                            tracing::warn!(file = %path, "close fails with EIO, the upload stays waiting: {e}");
                            Err(e.into())
                        }
                        Err(e) => Err(e.into()),
                    },
                }
            }
            .boxed(),
        )
    }

    /// After a rename to a final name: commit a changed file nobody writes.
    pub(super) fn commit_if_closed(&self, ino: u64) -> Reply<()> {
        let live = self.state().open.get(&ino).cloned();
        let ready = live.is_some_and(|l| l.writers() == 0 && l.lock().dirty);
        if !ready {
            return Reply::Now(Ok(()));
        }
        let r = self.finish_content(ino, true);
        self.drop_if_idle(ino);
        r
    }

    /// A `close()` of a descriptor of `fh` by process `pid` (0: unknown).
    /// The last writer's close commits.
    pub fn flush(&self, fh: u64, pid: u32) -> Reply<()> {
        let ino = match self.handle(fh) {
            Ok(Handle::File {
                ino, write: true, ..
            }) => ino,
            Ok(_) => return Reply::Now(Ok(())),
            Err(e) => return Reply::Now(Err(e)),
        };
        let live = match self.live(ino) {
            Ok(l) => l,
            Err(e) => return Reply::Now(Err(e)),
        };
        {
            let mut g = live.lock();
            if !g.dirty {
                // Nothing to commit whoever still writes: no /proc scan.
                return Reply::Now(self.persist(ino, &mut g));
            }
            if self.config.write_back.is_some() {
                // Write-back: close() reports no commit, so nothing needs
                // deciding here which closes are the last. The RELEASE of
                // the last reference (it follows the last close of every
                // dup'd or inherited descriptor) seals and schedules the
                // commit, and this close waits for neither the /proc scan
                // nor the hashes: only for the size and the closed mark.
                return Reply::Now(self.persist_closed(ino, &mut g));
            }
        }
        let last = match self.written_elsewhere(ino, pid) {
            // Exact: no process has a write descriptor on the file any more
            // (dup'd, inherited, or another open). The handle count cannot
            // tell: RELEASE of an earlier open may still be on its way.
            Some(elsewhere) => !elsewhere,
            // No /proc view: the last write handle.
            None => live.writers() <= 1,
        };
        {
            let mut g = live.lock();
            if !g.dirty || !last {
                // Not the last close: the last one (or the release) commits.
                return Reply::Now(self.persist(ino, &mut g));
            }
        }
        match self.has_temp_name(ino) {
            Ok(true) => Reply::Now(self.persist(ino, &mut live.lock())),
            Ok(false) => self.finish_content(ino, true),
            Err(e) => Reply::Now(Err(e)),
        }
    }

    /// The last reference to `fh` is gone.
    pub fn release(&self, fh: u64) -> Reply<()> {
        let handle = match self.state().handles.remove(&fh) {
            Some(h) => h,
            None => return Reply::Now(Err(FsError::BadHandle(fh))),
        };
        let Handle::File { ino, write, passed } = handle else {
            return Reply::Now(Ok(()));
        };
        let Some(live) = self.state().open.get(&ino).cloned() else {
            return Reply::Now(Ok(()));
        };
        if passed {
            live.unpass();
        }
        let (writers, handles) = live.closed(write);
        let (commit, forget) = {
            let g = live.lock();
            (g.dirty && writers == 0, g.unlinked && handles == 0)
        };
        if forget {
            self.state().open.remove(&ino);
            return Reply::Now(self.cache.forget(ino).map_err(FsError::from));
        }
        let r = match commit {
            true => match self.has_temp_name(ino) {
                Ok(true) => Reply::Now(self.persist(ino, &mut live.lock())),
                Ok(false) => self.finish_content(ino, true),
                Err(e) => Reply::Now(Err(e)),
            },
            false => Reply::Now(self.persist(ino, &mut live.lock())),
        };
        self.drop_if_idle(ino);
        r
    }

    /// Makes the staged bytes durable; in write-back mode also commits what
    /// changed at once and waits for the commit. Runs off the FUSE thread.
    pub fn fsync(&self, fh: u64) -> Reply<()> {
        let ino = match self.handle(fh) {
            Ok(Handle::File { ino, .. }) => ino,
            Ok(Handle::Media(_)) => return Reply::Now(Ok(())),
            Err(e) => return Reply::Now(Err(e)),
        };
        let prepared = self.live(ino).and_then(|live| {
            let mut g = live.lock();
            if self.evicted(ino, &g) {
                // Committed and evicted: nothing in the cache to sync.
                return Ok(None);
            }
            let file = self.data_file(ino, &mut g)?;
            drop(g);
            let temp = self.has_temp_name(ino)?;
            Ok(Some((live, file, temp)))
        });
        let (live, file, temp) = match prepared {
            Ok(Some(p)) => p,
            Ok(None) => return Reply::Now(Ok(())),
            Err(e) => return Reply::Now(Err(e)),
        };
        let cache = self.cache.clone();
        let backend = self.backend.clone();
        let write_back = self.config.write_back;
        Reply::Later(
            async move {
                let sealed = tokio::task::spawn_blocking(move || {
                    let mut g = live.lock();
                    file.sync_data()
                        .map_err(|e| FsError::io(format!("syncing inode {ino}"), e))?;
                    if write_back.is_none() || temp {
                        return persist(&cache, ino, &mut g).map(|()| None);
                    }
                    if let Some(version) = seal(&cache, ino, &mut g)? {
                        return Ok(Some(version));
                    }
                    // Sealed earlier (at close) and waiting for its quiet
                    // time: fsync hurries it.
                    let pending = g.sealed
                        && cache
                            .upload(ino, g.version)?
                            .is_some_and(|u| u.status.state != UploadState::Committed);
                    Ok(pending.then_some(g.version))
                })
                .await
                .map_err(|e| FsError::io("fsync task", std::io::Error::other(e.to_string())))??;
                if write_back.is_some() {
                    if let Some(version) = sealed {
                        backend.commit_after(ino, version, std::time::Duration::ZERO);
                    }
                    backend.wait(ino).await?;
                }
                Ok(())
            }
            .boxed(),
        )
    }
}

/// Persists the live size and mtime of `ino`.
fn persist(cache: &Cache, ino: u64, g: &mut Inner) -> Result<(), FsError> {
    persist_with(cache, ino, g, None)
}

/// [`persist`], setting (or clearing) the closed mark too when `closed`.
fn persist_with(
    cache: &Cache,
    ino: u64,
    g: &mut Inner,
    closed: Option<bool>,
) -> Result<(), FsError> {
    if g.unlinked {
        return Ok(());
    }
    let mtime = g.pending_mtime;
    cache.set_attr(
        ino,
        SetAttr {
            size: Some(g.size),
            mtime,
            closed,
            ..SetAttr::default()
        },
    )?;
    if g.pending_mtime == mtime {
        g.pending_mtime = None;
    }
    Ok(())
}

/// Seals the changed content of `ino` (bytes synced, size and hashes
/// recorded durably); returns the version to commit, `None` when there is
/// nothing to commit (unchanged, unlinked or empty).
pub(super) fn seal(cache: &Cache, ino: u64, g: &mut Inner) -> Result<Option<u64>, FsError> {
    seal_with(cache, ino, g, true)
}

/// [`seal`], syncing the data file only when `sync`.
fn seal_with(cache: &Cache, ino: u64, g: &mut Inner, sync: bool) -> Result<Option<u64>, FsError> {
    persist(cache, ino, g)?;
    if !g.dirty || g.unlinked {
        return Ok(None);
    }
    if g.size == 0 {
        g.dirty = false;
        return Ok(None);
    }
    if g.short {
        tracing::warn!(
            ino,
            size = g.size,
            "not committed: a write to it failed for lack of space (truncate and write it again)"
        );
        return Ok(None);
    }
    let hashes = g.hasher.finish(g.size);
    cache.seal_with(ino, g.version, g.size, &hashes, sync)?;
    g.sealed = true;
    g.dirty = false;
    Ok(Some(g.version))
}

/// Lets the data file's pages of a range just read for the kernel go: the
/// kernel caches what it read in the file's own pages, so the bytes would
/// otherwise sit in memory twice, and filling two page caches halves a cold
/// read's speed on a VM whose new pages are slow to get. Sealed content
/// only (bytes being written may still be hashed or sent from the page
/// cache). Advice: a failure changes nothing.
fn forget_pages(file: &std::fs::File, offset: u64, len: u64) {
    crate::fadvise::dont_need(file, offset, len);
}
