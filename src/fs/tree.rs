//! Namespace operations: lookup, readdir, create, mkdir, unlink, rmdir,
//! rename, setattr; `by-id/` is read-only and cannot be removed or shadowed.
//! Symlinks, hard links and special files are `links`'s.

use std::time::SystemTime;

use super::attr::{Attr, Entry, SetAttrReq};
use super::error::FsError;
use super::filesystem::Fs;
use super::names::{self, BY_ID, is_rsync_temp};
use super::reply::Reply;
use crate::cache::{BY_ID_INO, Kind, MEDIA_INO_BASE, ROOT_INO, SetAttr, UploadState};

/// Flags of `rename` (renameat2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenameFlags {
    pub noreplace: bool,
    pub exchange: bool,
    /// RENAME_WHITEOUT (overlayfs's): refused with EINVAL.
    pub whiteout: bool,
}

pub(super) fn in_by_id(ino: u64) -> bool {
    ino == BY_ID_INO || ino >= MEDIA_INO_BASE
}

impl Fs {
    /// The inode `name` in directory `parent`.
    pub fn lookup(&self, parent: u64, name: &[u8]) -> Result<Attr, FsError> {
        if name.len() > names::NAME_MAX {
            return Err(FsError::NameTooLong);
        }
        if parent == ROOT_INO && name == BY_ID {
            return Ok(self.by_id_attr());
        }
        if parent == BY_ID_INO {
            let id = std::str::from_utf8(name).map_err(|_| FsError::NotFound)?;
            let m = self.cache.media_by_file_id(id)?.ok_or(FsError::NotFound)?;
            return Ok(self.media_attr(&m));
        }
        if parent >= MEDIA_INO_BASE {
            return Err(FsError::NotDir);
        }
        let row = self.cache.lookup(parent, name)?.ok_or(FsError::NotFound)?;
        Ok(self.row_attr(row))
    }

    /// The entries of directory `ino`, with `.` and `..` first.
    pub fn readdir(&self, ino: u64) -> Result<Vec<Entry>, FsError> {
        let dot = |ino, name: &[u8]| Entry {
            ino,
            kind: Kind::Dir,
            name: name.to_vec(),
        };
        if ino == BY_ID_INO {
            let mut out = vec![dot(BY_ID_INO, b"."), dot(ROOT_INO, b"..")];
            for m in self.cache.media_list()? {
                out.push(Entry {
                    ino: MEDIA_INO_BASE + m.id,
                    kind: Kind::File,
                    name: m.file_id.into_bytes(),
                });
            }
            return Ok(out);
        }
        if ino >= MEDIA_INO_BASE {
            return Err(FsError::NotDir);
        }
        let row = self.cache.get(ino)?.ok_or(FsError::NotFound)?;
        if row.kind != Kind::Dir {
            return Err(FsError::NotDir);
        }
        let parent = if ino == ROOT_INO {
            ROOT_INO
        } else {
            self.cache.parent_of(ino)?.map_or(ROOT_INO, |(p, _)| p)
        };
        let mut out = vec![dot(ino, b"."), dot(parent, b"..")];
        if ino == ROOT_INO {
            out.push(dot(BY_ID_INO, BY_ID));
        }
        out.extend(self.cache.readdir(ino)?.into_iter().map(|e| Entry {
            ino: e.ino,
            kind: e.kind,
            name: e.name,
        }));
        Ok(out)
    }

    pub(super) fn check_new_name(&self, parent: u64, name: &[u8]) -> Result<(), FsError> {
        if in_by_id(parent) {
            return Err(FsError::ReadOnly);
        }
        names::check(name)?;
        if parent == ROOT_INO && name == BY_ID {
            return Err(FsError::Exists);
        }
        Ok(())
    }

    /// Creates directory `name` in `parent`.
    pub fn mkdir(
        &self,
        parent: u64,
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<Attr, FsError> {
        self.check_new_name(parent, name)?;
        let row = self
            .cache
            .create_node(parent, name, Kind::Dir, mode, uid, gid)?;
        Ok(self.row_attr(row))
    }

    /// Creates file `name` in `parent` and opens it; returns its attributes
    /// and the new handle.
    pub fn create(
        &self,
        parent: u64,
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
        write: bool,
    ) -> Result<(Attr, u64), FsError> {
        self.check_new_name(parent, name)?;
        let row = self
            .cache
            .create_node(parent, name, Kind::File, mode, uid, gid)?;
        let fh = self.open(row.ino, write)?;
        Ok((self.row_attr(row), fh))
    }

    /// Removes file `name` from `parent`. An upload under way is cancelled;
    /// a committed media keeps its by-id entry.
    pub fn unlink(&self, parent: u64, name: &[u8]) -> Result<(), FsError> {
        if in_by_id(parent) {
            return Err(FsError::ReadOnly);
        }
        if parent == ROOT_INO && name == BY_ID {
            return Err(FsError::NotPermitted("by-id cannot be removed"));
        }
        let ino = self.cache.unlink(parent, name)?;
        self.after_unlink(ino)
    }

    /// A non-directory lost a name. When it was the last: cancel its
    /// upload, forget it unless open. Another name keeps everything.
    pub(super) fn after_unlink(&self, ino: u64) -> Result<(), FsError> {
        if let Some(row) = self.cache.get(ino)? {
            if row.nlink > 0 {
                return Ok(());
            }
            self.backend.removed(ino);
            let up = self.cache.upload(ino, row.version)?;
            if up.is_some_and(|u| u.status.state != UploadState::Committed) {
                self.backend.cancel(ino);
            }
        }
        let live = self.state().open.get(&ino).cloned();
        if let Some(live) = live {
            {
                let mut g = live.lock();
                g.unlinked = true;
                g.dirty = false;
            }
            if live.handles() > 0 {
                // The last release forgets it.
                return Ok(());
            }
            self.state().open.remove(&ino);
        }
        self.cache.forget(ino)?;
        Ok(())
    }

    /// Removes the empty directory `name` from `parent`.
    pub fn rmdir(&self, parent: u64, name: &[u8]) -> Result<(), FsError> {
        if in_by_id(parent) {
            return Err(FsError::ReadOnly);
        }
        if parent == ROOT_INO && name == BY_ID {
            return Err(FsError::NotPermitted("by-id cannot be removed"));
        }
        Ok(self.cache.rmdir(parent, name)?)
    }

    /// Renames a file or directory, over an existing target. Renaming an
    /// rsync temp file to its final name commits it before replying.
    pub fn rename(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
        flags: RenameFlags,
    ) -> Reply<()> {
        let out = (|| {
            if flags.whiteout {
                return Err(FsError::Invalid("RENAME_WHITEOUT is not supported"));
            }
            if flags.exchange && flags.noreplace {
                return Err(FsError::Invalid("RENAME_EXCHANGE with RENAME_NOREPLACE"));
            }
            if in_by_id(parent) || in_by_id(new_parent) {
                return Err(FsError::ReadOnly);
            }
            if parent == ROOT_INO && name == BY_ID {
                return Err(FsError::NotPermitted("by-id cannot be renamed"));
            }
            if new_parent == ROOT_INO && new_name == BY_ID {
                return Err(FsError::NotPermitted("by-id cannot be shadowed"));
            }
            names::check(new_name)?;
            if flags.exchange {
                // Both names stay: nothing is unlinked, nothing to commit.
                let (a, _) = self.cache.exchange(parent, name, new_parent, new_name)?;
                return Ok(a);
            }
            if flags.noreplace && self.cache.lookup(new_parent, new_name)?.is_some() {
                return Err(FsError::Exists);
            }
            let out = self.cache.rename(parent, name, new_parent, new_name)?;
            if let Some(r) = out.replaced {
                self.after_unlink(r)?;
            }
            Ok(out.ino)
        })();
        let ino = match out {
            Ok(ino) => ino,
            Err(e) => return Reply::Now(Err(e)),
        };
        self.backend.renamed(ino);
        if !flags.exchange && is_rsync_temp(name) && !is_rsync_temp(new_name) {
            return self.commit_if_closed(ino);
        }
        Reply::Now(Ok(()))
    }

    /// Changes attributes; a size change truncates or extends the content.
    pub fn setattr(&self, ino: u64, req: SetAttrReq) -> Result<Attr, FsError> {
        if in_by_id(ino) {
            return Err(FsError::ReadOnly);
        }
        let row = self.cache.get(ino)?.ok_or(FsError::NotFound)?;
        let mut a = SetAttr {
            mode: req.mode,
            uid: req.uid,
            gid: req.gid,
            size: None,
            atime: req.atime,
            mtime: req.mtime,
            closed: None,
        };
        let mut kick = false;
        if let Some(size) = req.size {
            if row.kind == Kind::Dir {
                return Err(FsError::IsDir);
            }
            if size > names::MAX_FILE_SIZE {
                tracing::warn!(
                    "truncate of {} to {size} bytes refused: past the largest file vodfs holds",
                    self.cache.display_path(ino)
                );
                return Err(FsError::TooBig(size));
            }
            let live = self.live(ino)?;
            let mut g = live.lock();
            if size != g.size {
                if live.passed() > 0 {
                    return Err(FsError::PassedThrough(self.cache.display_path(ino)));
                }
                self.make_writable(ino, &mut g, size > 0)?;
                self.clear_closed(ino, &mut g)?;
                let file = self.data_file(ino, &mut g)?;
                file.set_len(size)
                    .map_err(|e| FsError::io(format!("truncating inode {ino}"), e))?;
                let old = g.size;
                g.hasher.truncate(old, size);
                if self.backend.early_parts() {
                    self.backend.truncated(ino, g.version, size);
                }
                g.size = size;
                g.dirty = true;
                if size == 0 {
                    g.short = false;
                }
                if req.mtime.is_none() {
                    g.pending_mtime = Some(SystemTime::now());
                }
            }
            if req.mtime.is_some() {
                g.pending_mtime = None;
            }
            a.size = Some(g.size);
            a.mtime = a.mtime.or(g.pending_mtime.take());
            kick = g.dirty && live.writers() == 0;
        } else if req.mtime.is_some() {
            let live = self.state().open.get(&ino).cloned();
            if let Some(live) = live {
                live.lock().pending_mtime = None;
            }
        }
        let row = self.cache.set_attr(ino, a)?;
        if kick {
            // truncate(2) with no writer open: this is the last "close".
            if let Reply::Now(Err(e)) = self.finish_content(ino, false) {
                return Err(e);
            }
        }
        self.drop_if_idle(ino);
        Ok(self.row_attr(row))
    }
}
