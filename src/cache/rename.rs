//! Renames: moving a name (over an existing one, POSIX rules) and
//! exchanging two names (`RENAME_EXCHANGE`), link counts kept in the same
//! transaction (a directory that changes parent moves its `..`).

use std::time::SystemTime;

use rusqlite::{Connection, params};

use super::error::CacheError;
use super::inode::{Kind, to_ns};
use super::nodes::{
    add_links, drop_dir, get_inode, is_ancestor, is_empty_dir, lookup_ino, require_dir, touch_dir,
    unlink_entry,
};
use super::store::Cache;

/// What a rename did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameOutcome {
    /// The inode that moved.
    pub ino: u64,
    /// A non-directory the rename replaced: one name fewer (nlink 0 when
    /// it was its last).
    pub replaced: Option<u64>,
}

/// A directory `ino` moved from `from` to `to`: its `..` moves too.
fn moved_dir(conn: &Connection, from: u64, to: u64) -> Result<(), CacheError> {
    if from != to {
        add_links(conn, from, -1)?;
        add_links(conn, to, 1)?;
    }
    Ok(())
}

impl Cache {
    /// Renames (parent, name) to (new_parent, new_name), replacing a file or
    /// an empty directory there (POSIX rename rules).
    pub fn rename(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
    ) -> Result<RenameOutcome, CacheError> {
        let (name, new_name) = (name.to_vec(), new_name.to_vec());
        self.db().write(false, move |c| {
            let ino = lookup_ino(c, parent, &name)?.ok_or(CacheError::NotFound)?;
            let src = get_inode(c, ino)?.ok_or(CacheError::NotFound)?;
            require_dir(c, new_parent)?;
            let now = to_ns(SystemTime::now());
            let mut replaced = None;
            if let Some(target) = lookup_ino(c, new_parent, &new_name)? {
                if target == ino {
                    return Ok(RenameOutcome {
                        ino,
                        replaced: None,
                    });
                }
                let t = get_inode(c, target)?.ok_or(CacheError::NotFound)?;
                match (src.kind == Kind::Dir, t.kind == Kind::Dir) {
                    (true, false) => return Err(CacheError::NotDir),
                    (false, true) => return Err(CacheError::IsDir),
                    (true, true) => {
                        if !is_empty_dir(c, target)? {
                            return Err(CacheError::NotEmpty);
                        }
                    }
                    (false, false) => {}
                }
                if src.kind == Kind::Dir && is_ancestor(c, ino, new_parent)? {
                    return Err(CacheError::Invalid("cannot move a directory into itself"));
                }
                if t.kind == Kind::Dir {
                    drop_dir(c, new_parent, &new_name, target, now)?;
                } else {
                    unlink_entry(c, new_parent, &new_name, target, now)?;
                    replaced = Some(target);
                }
            } else if src.kind == Kind::Dir && is_ancestor(c, ino, new_parent)? {
                return Err(CacheError::Invalid("cannot move a directory into itself"));
            }
            c.prepare_cached(
                "UPDATE dentries SET parent = ?3, name = ?4 WHERE parent = ?1 AND name = ?2",
            )?
            .execute(params![parent as i64, name, new_parent as i64, new_name])?;
            if src.kind == Kind::Dir {
                moved_dir(c, parent, new_parent)?;
            }
            c.prepare_cached("UPDATE inodes SET ctime_ns = ?2 WHERE ino = ?1")?
                .execute(params![ino as i64, now])?;
            touch_dir(c, parent, now)?;
            touch_dir(c, new_parent, now)?;
            Ok(RenameOutcome { ino, replaced })
        })
    }

    /// Exchanges the inodes of (parent, name) and (new_parent, new_name),
    /// both of which must exist (`RENAME_EXCHANGE`); returns the two inodes
    /// as they were named before.
    pub fn exchange(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
    ) -> Result<(u64, u64), CacheError> {
        let (name, new_name) = (name.to_vec(), new_name.to_vec());
        self.db().write(false, move |c| {
            let a = lookup_ino(c, parent, &name)?.ok_or(CacheError::NotFound)?;
            let b = lookup_ino(c, new_parent, &new_name)?.ok_or(CacheError::NotFound)?;
            if a == b {
                return Ok((a, b));
            }
            let ka = get_inode(c, a)?.ok_or(CacheError::NotFound)?.kind;
            let kb = get_inode(c, b)?.ok_or(CacheError::NotFound)?.kind;
            if (ka == Kind::Dir && is_ancestor(c, a, new_parent)?)
                || (kb == Kind::Dir && is_ancestor(c, b, parent)?)
            {
                return Err(CacheError::Invalid("cannot move a directory into itself"));
            }
            let mut st =
                c.prepare_cached("UPDATE dentries SET ino = ?3 WHERE parent = ?1 AND name = ?2")?;
            st.execute(params![parent as i64, name, b as i64])?;
            st.execute(params![new_parent as i64, new_name, a as i64])?;
            if ka == Kind::Dir {
                moved_dir(c, parent, new_parent)?;
            }
            if kb == Kind::Dir {
                moved_dir(c, new_parent, parent)?;
            }
            let now = to_ns(SystemTime::now());
            for ino in [a, b] {
                c.prepare_cached("UPDATE inodes SET ctime_ns = ?2 WHERE ino = ?1")?
                    .execute(params![ino as i64, now])?;
            }
            touch_dir(c, parent, now)?;
            touch_dir(c, new_parent, now)?;
            Ok((a, b))
        })
    }
}
