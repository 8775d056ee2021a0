//! User extended attributes as stored (`user.*` names the user set; the
//! computed `user.vod.*` ones live in `crate::fs`).

use std::time::SystemTime;

use rusqlite::{OptionalExtension, params};

use super::error::CacheError;
use super::inode::to_ns;
use super::store::Cache;

impl Cache {
    /// The user xattr `name` of `ino`.
    pub fn get_xattr(&self, ino: u64, name: &[u8]) -> Result<Option<Vec<u8>>, CacheError> {
        let name = name.to_vec();
        self.db().read(move |c| {
            Ok(
                c.prepare_cached("SELECT value FROM xattrs WHERE ino = ?1 AND name = ?2")?
                    .query_row(params![ino as i64, name], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    /// Stores a user xattr. `create_only`: fail with `Exists` when present;
    /// `replace_only`: fail with `NoXattr` when absent.
    pub fn set_xattr(
        &self,
        ino: u64,
        name: &[u8],
        value: &[u8],
        create_only: bool,
        replace_only: bool,
    ) -> Result<(), CacheError> {
        let (name, value) = (name.to_vec(), value.to_vec());
        self.db().write(false, move |c| {
            let exists = c
                .prepare_cached("SELECT 1 FROM xattrs WHERE ino = ?1 AND name = ?2")?
                .query_row(params![ino as i64, name], |_| Ok(()))
                .optional()?
                .is_some();
            if exists && create_only {
                return Err(CacheError::Exists);
            }
            if !exists && replace_only {
                return Err(CacheError::NoXattr);
            }
            c.prepare_cached(
                "INSERT OR REPLACE INTO xattrs (ino, name, value) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![ino as i64, name, value])?;
            c.prepare_cached("UPDATE inodes SET ctime_ns = ?2 WHERE ino = ?1")?
                .execute(params![ino as i64, to_ns(SystemTime::now())])?;
            Ok(())
        })
    }

    /// Removes a user xattr (`NoXattr` when absent).
    pub fn remove_xattr(&self, ino: u64, name: &[u8]) -> Result<(), CacheError> {
        let name = name.to_vec();
        self.db().write(false, move |c| {
            let n = c
                .prepare_cached("DELETE FROM xattrs WHERE ino = ?1 AND name = ?2")?
                .execute(params![ino as i64, name])?;
            if n == 0 {
                Err(CacheError::NoXattr)
            } else {
                Ok(())
            }
        })
    }

    /// Names of the stored xattrs of `ino`.
    pub fn list_xattrs(&self, ino: u64) -> Result<Vec<Vec<u8>>, CacheError> {
        self.db().read(|c| {
            let mut st =
                c.prepare_cached("SELECT name FROM xattrs WHERE ino = ?1 ORDER BY name")?;
            let rows = st.query_map([ino as i64], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}
