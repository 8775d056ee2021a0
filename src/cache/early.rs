//! The sessions of parts sent while a version was still being written
//! (`upload::early`): one row per (ino, version), the flow's opaque token
//! and the fingerprint of the job it was started for. The commit of that
//! version resumes it when the fingerprint still matches; an unlink or a
//! rename to a temporary name takes it to abort it. A saved resume token
//! of the same version replaces it ([`Cache::save_progress`]).

use rusqlite::{OptionalExtension as _, params};

use super::error::CacheError;
use super::store::Cache;

/// A saved early session: (token, fingerprint).
pub type EarlySession = (Vec<u8>, String);

/// A grown part sent early ([`Cache::save_early_part`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlyPart {
    pub offset: u64,
    pub len: u64,
    /// MD5 of the part's bytes as sent.
    pub md5: [u8; 16],
    /// Digest of the MD5s of the cache parts it was made of.
    pub parts_digest: [u8; 16],
}

impl Cache {
    /// Records the early session of (ino, version), durably (it must
    /// outlive a crash of the mount so that its upload is resumed or
    /// aborted, never left open).
    pub fn save_early_session(
        &self,
        ino: u64,
        version: u64,
        token: &[u8],
        fingerprint: &str,
    ) -> Result<(), CacheError> {
        let (token, fp) = (token.to_vec(), fingerprint.to_string());
        self.db().write(true, move |c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO early_sessions (ino, version, token, fingerprint)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![ino as i64, version as i64, token, fp])?;
            Ok(())
        })
    }

    /// The early session of (ino, version), if one is saved.
    pub fn load_early_session(
        &self,
        ino: u64,
        version: u64,
    ) -> Result<Option<EarlySession>, CacheError> {
        self.db().read(|c| {
            Ok(c.prepare_cached(
                "SELECT token, fingerprint FROM early_sessions WHERE ino = ?1 AND version = ?2",
            )?
            .query_row(params![ino as i64, version as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
        })
    }

    /// Records a grown part of (ino, version) sent early. Not synced on
    /// its own: a record lost in a crash only costs sending the part again.
    pub fn save_early_part(&self, ino: u64, version: u64, p: &EarlyPart) -> Result<(), CacheError> {
        let p = p.clone();
        self.db().write(false, move |c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO early_parts (ino, version, offset, len, md5, parts_digest)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                ino as i64,
                version as i64,
                p.offset as i64,
                p.len as i64,
                &p.md5[..],
                &p.parts_digest[..]
            ])?;
            Ok(())
        })
    }

    /// The grown parts of (ino, version) sent early, by offset.
    pub fn early_parts(&self, ino: u64, version: u64) -> Result<Vec<EarlyPart>, CacheError> {
        self.db().read(|c| {
            let mut st = c.prepare_cached(
                "SELECT offset, len, md5, parts_digest FROM early_parts
                 WHERE ino = ?1 AND version = ?2 ORDER BY offset",
            )?;
            let rows = st.query_map(params![ino as i64, version as i64], |r| {
                let (md5, digest): (Vec<u8>, Vec<u8>) = (r.get(2)?, r.get(3)?);
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, md5, digest))
            })?;
            let mut parts = Vec::new();
            for row in rows {
                let (offset, len, md5, digest) = row?;
                if let (Ok(md5), Ok(parts_digest)) = (md5.try_into(), digest.try_into()) {
                    parts.push(EarlyPart {
                        offset: offset as u64,
                        len: len as u64,
                        md5,
                        parts_digest,
                    });
                }
            }
            Ok(parts)
        })
    }

    /// Removes and returns the early sessions of `ino`: every version when
    /// `version` is `None`, else that one.
    pub fn take_early_sessions(
        &self,
        ino: u64,
        version: Option<u64>,
    ) -> Result<Vec<Vec<u8>>, CacheError> {
        let v = version.map(|v| v as i64);
        let any = self.db().read(move |c| {
            Ok(c.prepare_cached(
                "SELECT 1 FROM early_sessions WHERE ino = ?1 AND (?2 IS NULL OR version = ?2) LIMIT 1",
            )?
            .query_row(params![ino as i64, v], |_| Ok(()))
            .optional()?
            .is_some())
        })?;
        if !any {
            // The usual case (every unlink asks): no write transaction.
            return Ok(Vec::new());
        }
        self.db().write(false, move |c| {
            let tokens = c
                .prepare_cached(
                    "SELECT token FROM early_sessions WHERE ino = ?1 AND (?2 IS NULL OR version = ?2)",
                )?
                .query_map(params![ino as i64, v], |r| r.get(0))?
                .collect::<Result<Vec<Vec<u8>>, _>>()?;
            c.prepare_cached(
                "DELETE FROM early_sessions WHERE ino = ?1 AND (?2 IS NULL OR version = ?2)",
            )?
            .execute(params![ino as i64, v])?;
            c.prepare_cached(
                "DELETE FROM early_parts WHERE ino = ?1 AND (?2 IS NULL OR version = ?2)",
            )?
            .execute(params![ino as i64, v])?;
            Ok(tokens)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::cache::{Cache, Hashes, Kind, ROOT_INO};

    #[test]
    fn an_early_session_is_saved_taken_and_replaced_by_the_resume_token() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), 1 << 20, 0, 0).unwrap();
        cache.save_early_session(7, 1, b"t1", "fp").unwrap();
        cache.save_early_session(7, 2, b"t2", "fp2").unwrap();
        assert_eq!(
            cache.load_early_session(7, 1).unwrap(),
            Some((b"t1".to_vec(), "fp".to_string()))
        );
        assert_eq!(
            cache.take_early_sessions(7, Some(2)).unwrap(),
            vec![b"t2".to_vec()]
        );
        assert_eq!(cache.load_early_session(7, 2).unwrap(), None);
        assert_eq!(
            cache.take_early_sessions(7, None).unwrap(),
            vec![b"t1".to_vec()]
        );
        assert!(cache.take_early_sessions(7, None).unwrap().is_empty());
    }

    #[test]
    fn the_resume_token_of_the_sealed_version_takes_over() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), 1 << 20, 0, 0).unwrap();
        let row = cache
            .create_node(ROOT_INO, b"a.mp4", Kind::File, 0o644, 0, 0)
            .unwrap();
        cache
            .save_early_session(row.ino, row.version, b"open", "fp")
            .unwrap();
        let hashes = Hashes {
            sha1: None,
            md5s: vec![None],
        };
        cache
            .seal_with(row.ino, row.version, 1, &hashes, false)
            .unwrap();
        assert!(
            cache
                .load_early_session(row.ino, row.version)
                .unwrap()
                .is_some()
        );
        cache
            .save_progress(row.ino, row.version, None, Some(b"own".to_vec()))
            .unwrap();
        assert_eq!(
            cache.load_early_session(row.ino, row.version).unwrap(),
            None
        );
    }
}
