//! Files whose current content version was never sealed: written to, but
//! the last close never came (the mount was killed while a writer had the
//! file open). Found once at mount start by `fs::interrupted`.

use rusqlite::params;

use super::error::CacheError;
use super::store::Cache;

/// A linked file whose current version has no upload row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsealed {
    pub ino: u64,
    pub version: u64,
    /// The size last persisted (flush, fsync): the data file may hold more.
    pub size: u64,
    /// A write-back close left this version whole at `size` and nothing
    /// wrote to it since: only its RELEASE (which seals) never came.
    pub closed: bool,
}

impl Cache {
    /// Every linked file whose current version is not sealed.
    pub fn unsealed_files(&self) -> Result<Vec<Unsealed>, CacheError> {
        self.db().read(|c| {
            let mut st = c.prepare_cached(
                "SELECT i.ino, i.version, i.size, i.closed_version IS i.version FROM inodes i
                 LEFT JOIN uploads u ON u.ino = i.ino AND u.version = i.version
                 WHERE i.kind = 1 AND i.nlink > 0 AND u.ino IS NULL ORDER BY i.ino",
            )?;
            let rows = st.query_map(params![], |r| {
                Ok(Unsealed {
                    ino: r.get::<_, i64>(0)? as u64,
                    version: r.get::<_, i64>(1)? as u64,
                    size: r.get::<_, i64>(2)? as u64,
                    closed: r.get::<_, bool>(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}
