//! Hard links and symlink targets. A hard link is one more entry of the
//! same inode, so every name shares the inode's content versions, upload
//! rows and xattrs (one media per content, whatever the number of names).
//! A symlink's target is stored in its inode row (`target`); it has no
//! content version and is never uploaded.

use std::time::SystemTime;

use rusqlite::{OptionalExtension, params};

use super::error::CacheError;
use super::inode::{InodeRow, Kind, to_ns};
use super::nodes::{add_links, get_inode, lookup_ino, require_dir, touch_dir};
use super::store::Cache;

/// Most names a file may have: ext4's `EXT4_LINK_MAX`.
pub const MAX_LINKS: u32 = 65_000;

impl Cache {
    /// Adds the name (new_parent, new_name) to the non-directory `ino`;
    /// returns its row with the new link count.
    /// Refuses a link past [`MAX_LINKS`] names (EMLINK, as ext4).
    pub fn link(&self, ino: u64, new_parent: u64, new_name: &[u8]) -> Result<InodeRow, CacheError> {
        let new_name = new_name.to_vec();
        self.db().write(false, move |c| {
            let row = get_inode(c, ino)?.ok_or(CacheError::NotFound)?;
            if row.kind == Kind::Dir {
                return Err(CacheError::NotPermitted("hard links to directories"));
            }
            if row.nlink >= MAX_LINKS {
                return Err(CacheError::TooManyLinks);
            }
            if row.nlink == 0 {
                // linkat(AT_EMPTY_PATH) of an unlinked open file: as Linux.
                return Err(CacheError::NotFound);
            }
            require_dir(c, new_parent)?;
            if lookup_ino(c, new_parent, &new_name)?.is_some() {
                return Err(CacheError::Exists);
            }
            let now = to_ns(SystemTime::now());
            c.prepare_cached("INSERT INTO dentries (parent, name, ino) VALUES (?1, ?2, ?3)")?
                .execute(params![new_parent as i64, new_name, ino as i64])?;
            add_links(c, ino, 1)?;
            c.prepare_cached("UPDATE inodes SET ctime_ns = ?2 WHERE ino = ?1")?
                .execute(params![ino as i64, now])?;
            touch_dir(c, new_parent, now)?;
            get_inode(c, ino)?.ok_or(CacheError::NotFound)
        })
    }

    /// The target of symlink `ino`; `Invalid` for any other kind.
    pub fn readlink(&self, ino: u64) -> Result<Vec<u8>, CacheError> {
        self.db().read(|c| {
            let got: Option<(i64, Option<Vec<u8>>)> = c
                .prepare_cached("SELECT kind, target FROM inodes WHERE ino = ?1")?
                .query_row([ino as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            match got {
                None => Err(CacheError::NotFound),
                Some((kind, Some(t))) if Kind::from_i64(kind) == Kind::Symlink => Ok(t),
                Some(_) => Err(CacheError::Invalid("not a symbolic link")),
            }
        })
    }

    /// Every name of `ino`, as (parent, name), in the order the upload
    /// picks its name from (the first is the one it uses).
    pub fn names_of(&self, ino: u64) -> Result<Vec<(u64, Vec<u8>)>, CacheError> {
        self.db().read(|c| {
            let mut st = c.prepare_cached(
                "SELECT parent, name FROM dentries WHERE ino = ?1 ORDER BY parent, name",
            )?;
            let rows = st.query_map([ino as i64], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}
