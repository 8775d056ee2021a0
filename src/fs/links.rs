//! Symlinks, hard links and special files (fifos, sockets, device nodes).
//!
//! None of them is ever uploaded: a symlink is its target, stored in the
//! cache; a special file is its attributes (and `rdev`), and the kernel
//! serves it once opened (a fifo is a kernel pipe; the mount is `nodev`, so
//! a device node cannot be opened; a socket gives ENXIO), so no open or
//! read of them reaches vodfs. A hard link is one more name of the same
//! inode: the names share the content versions, hence one upload and one
//! `by-id` entry per content, whatever the number of names; the upload is
//! named after the first name by (directory inode, name bytes), see
//! `Cache::names_of`. The kernel follows symlinks itself (and answers
//! ELOOP); vodfs never resolves one.

use super::attr::Attr;
use super::error::FsError;
use super::filesystem::Fs;
use super::names::{SYMLINK_MAX, is_rsync_temp};
use super::reply::Reply;
use super::tree::in_by_id;
use crate::cache::{Kind, NewNode};

impl Fs {
    /// Creates symlink `name` in `parent` pointing at `target` (any bytes,
    /// relative, absolute or dangling).
    pub fn symlink(
        &self,
        parent: u64,
        name: &[u8],
        target: &[u8],
        uid: u32,
        gid: u32,
    ) -> Result<Attr, FsError> {
        self.check_new_name(parent, name)?;
        if target.is_empty() {
            return Err(FsError::NotFound);
        }
        if target.len() > SYMLINK_MAX {
            return Err(FsError::NameTooLong);
        }
        let node = NewNode {
            kind: Kind::Symlink,
            mode: 0o777,
            uid,
            gid,
            rdev: 0,
            target: Some(target.to_vec()),
        };
        Ok(self.row_attr(self.cache.create(parent, name, node)?))
    }

    /// The target of symlink `ino`.
    pub fn readlink(&self, ino: u64) -> Result<Vec<u8>, FsError> {
        if in_by_id(ino) {
            return Err(FsError::Invalid("not a symbolic link"));
        }
        Ok(self.cache.readlink(ino)?)
    }

    /// Creates a node of any non-directory type (`mode` carries the type
    /// bits): a regular file (empty, as `mknod` makes it), a fifo, a socket
    /// or a device node numbered `rdev`.
    pub fn mknod(
        &self,
        parent: u64,
        name: &[u8],
        mode: u32,
        rdev: u32,
        uid: u32,
        gid: u32,
    ) -> Result<Attr, FsError> {
        let kind = match Kind::from_mode(mode) {
            // The kernel sends a type; none means a regular file.
            None if mode & 0o170000 == 0 => Kind::File,
            Some(k) if k == Kind::File || k.is_special() => k,
            Some(Kind::Dir) => return Err(FsError::NotPermitted("mknod of a directory")),
            _ => return Err(FsError::Invalid("mknod of an unknown file type")),
        };
        if kind == Kind::File {
            let (attr, fh) = self.create(parent, name, mode, uid, gid, false)?;
            return match self.release(fh) {
                Reply::Now(r) => r.map(|()| attr),
                // Nothing was written: nothing to wait for.
                Reply::Later(_) => Ok(attr),
            };
        }
        self.check_new_name(parent, name)?;
        let node = NewNode {
            kind,
            mode,
            uid,
            gid,
            rdev: if matches!(kind, Kind::CharDevice | Kind::BlockDevice) {
                rdev
            } else {
                0
            },
            target: None,
        };
        Ok(self.row_attr(self.cache.create(parent, name, node)?))
    }

    /// Gives the non-directory `ino` the new name (new_parent, new_name).
    /// Directories cannot be linked (EPERM), nor can `by-id` entries
    /// (EPERM) or names be made in `by-id` (EROFS).
    pub fn link(&self, ino: u64, new_parent: u64, new_name: &[u8]) -> Result<Attr, FsError> {
        self.check_new_name(new_parent, new_name)?;
        if in_by_id(ino) {
            tracing::info!(
                ino,
                name = %String::from_utf8_lossy(new_name),
                "hard link refused: by-id entries are the service's media, not files of the mount"
            );
            return Err(FsError::NotPermitted("by-id entries cannot be linked"));
        }
        let was_temp = self.has_temp_name(ino)?;
        let row = self.cache.link(ino, new_parent, new_name)?;
        if was_temp && !is_rsync_temp(new_name) {
            // A temp file got a final name, as by a rename: it commits now
            // if closed (the link does not wait for it; `fsync` or
            // `vodfs wait` do).
            match self.commit_if_closed(ino) {
                Reply::Now(r) => r?,
                Reply::Later(fut) => {
                    self.runtime.spawn(async move {
                        if let Err(e) = fut.await {
                            tracing::warn!(ino, "commit after a link to a final name failed: {e}");
                        }
                    });
                }
            }
        }
        Ok(self.row_attr(row))
    }
}
