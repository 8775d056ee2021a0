//! Opening a SQLite database: the one helper the staging cache and the
//! service's store both use.
//!
//! Owns the connection pragmas and the migration rule; imports no module of
//! the crate (a leaf utility: `cache` and `server` may import it).
//!
//! - Pragmas are set on the bare connection, outside any transaction (SQLite
//!   ignores `journal_mode` inside one): `foreign_keys=ON` and a busy
//!   timeout on every connection; on a writable one `journal_mode=WAL`
//!   (readers run beside the one writer) and the caller's
//!   [`Synchronous`] level, whose reason each caller states.
//! - Migrations are an append-only list of SQL batches; `user_version`
//!   counts how many were applied. The pending ones run in one transaction
//!   with the version bump, so a failing one leaves the database as it was.
//! - A database whose `user_version` is beyond the list was written by a
//!   newer vodfs and is refused ([`OpenError::TooNew`] names the file, its
//!   version and the code's) rather than misread.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "{}: schema version {found} is newer than this vodfs knows ({known}); refusing to open it",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
}

/// The `synchronous` level of a writable connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// In WAL mode a crash may lose the last transactions but never
    /// corrupts the database; saves an fsync per transaction.
    Normal,
    /// Every commit survives power loss.
    Full,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// How to open a connection.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// A read-only connection sets no journal mode nor `synchronous`.
    pub read_only: bool,
    pub synchronous: Synchronous,
    pub busy_timeout: Duration,
}

/// Prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 128;

/// Opens `path` (creating it unless read-only) with the pragmas of
/// `options`; applies no migration (readers of an already opened database).
pub fn connect(path: &Path, options: &Options) -> Result<Connection, OpenError> {
    let flags = if options.read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let err = |source| OpenError::Sqlite {
        path: path.to_owned(),
        source,
    };
    let conn = Connection::open_with_flags(path, flags).map_err(err)?;
    // Hot statements are `prepare_cached`: room for all of a database's
    // (rusqlite keeps 16 by default, fewer than one upload's mix).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(options.busy_timeout).map_err(err)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(err)?;
    if !options.read_only {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", options.synchronous.pragma())
            .map_err(err)?;
    }
    Ok(conn)
}

/// Opens `path` writable with the pragmas of `options` and applies the
/// pending `migrations`; refuses a database newer than them.
pub fn open(path: &Path, options: &Options, migrations: &[&str]) -> Result<Connection, OpenError> {
    let options = Options {
        read_only: false,
        ..*options
    };
    let mut conn = connect(path, &options)?;
    migrate(&mut conn, path, migrations)?;
    Ok(conn)
}

/// Applies the pending `migrations` of the database at `path` (named in
/// errors) in one transaction.
pub fn migrate(conn: &mut Connection, path: &Path, migrations: &[&str]) -> Result<(), OpenError> {
    let err = |source| OpenError::Sqlite {
        path: path.to_owned(),
        source,
    };
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(err)?;
    let known = migrations.len() as i64;
    if found > known {
        return Err(OpenError::TooNew {
            path: path.to_owned(),
            found,
            known,
        });
    }
    if found == known {
        return Ok(());
    }
    let tx = conn.transaction().map_err(err)?;
    for sql in &migrations[found as usize..] {
        tx.execute_batch(sql).map_err(err)?;
    }
    tx.pragma_update(None, "user_version", known).map_err(err)?;
    tx.commit().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: Options = Options {
        read_only: false,
        synchronous: Synchronous::Normal,
        busy_timeout: Duration::from_secs(1),
    };

    fn user_version(c: &Connection) -> i64 {
        c.pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    }

    fn tables(c: &Connection) -> Vec<String> {
        let mut s = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    const V2: [&str; 2] = [
        "CREATE TABLE a (x INTEGER);",
        "ALTER TABLE a ADD COLUMN y TEXT; CREATE TABLE b (z INTEGER);",
    ];

    #[test]
    fn a_fresh_database_gets_every_migration_and_the_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir.path().join("db"), &OPTIONS, &V2).unwrap();
        assert_eq!(user_version(&c), 2);
        assert_eq!(tables(&c), ["a", "b"]);
        let mode: String = c
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = c
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
    }

    #[test]
    fn reopening_applies_none_and_an_old_database_gets_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let c = open(&path, &OPTIONS, &V2[..1]).unwrap();
            c.execute("INSERT INTO a (x) VALUES (1)", []).unwrap();
        }
        {
            // Would fail if migration 1 ran again (table a exists).
            let c = open(&path, &OPTIONS, &V2[..1]).unwrap();
            assert_eq!(user_version(&c), 1);
        }
        let c = open(&path, &OPTIONS, &V2).unwrap();
        assert_eq!(user_version(&c), 2);
        let (x, y): (i64, Option<String>) = c
            .query_row("SELECT x, y FROM a", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((x, y), (1, None));
        drop(c);
        // And once more at the newest version: nothing to apply.
        assert_eq!(user_version(&open(&path, &OPTIONS, &V2).unwrap()), 2);
    }

    #[test]
    fn a_newer_database_is_refused_naming_file_and_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        drop(open(&path, &OPTIONS, &V2).unwrap());
        match open(&path, &OPTIONS, &V2[..1]) {
            Err(
                e @ OpenError::TooNew {
                    found: 2, known: 1, ..
                },
            ) => {
                let msg = e.to_string();
                assert!(msg.contains(&path.display().to_string()), "{msg}");
                assert!(msg.contains("version 2") && msg.contains("(1)"), "{msg}");
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    #[test]
    fn a_failing_migration_leaves_the_version_and_schema_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        drop(open(&path, &OPTIONS, &V2[..1]).unwrap());
        let bad = [
            V2[0],
            "CREATE TABLE c (x INTEGER);",
            "CREATE TABLE d (; broken",
        ];
        assert!(matches!(
            open(&path, &OPTIONS, &bad),
            Err(OpenError::Sqlite { .. })
        ));
        let c = connect(&path, &OPTIONS).unwrap();
        assert_eq!(user_version(&c), 1);
        assert_eq!(tables(&c), ["a"], "migration 2 rolled back with 3");
    }

    #[test]
    fn a_read_only_connection_sees_the_migrated_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        drop(open(&path, &OPTIONS, &V2).unwrap());
        let ro = Options {
            read_only: true,
            ..OPTIONS
        };
        let c = connect(&path, &ro).unwrap();
        assert_eq!(tables(&c), ["a", "b"]);
        assert!(c.execute("INSERT INTO b (z) VALUES (1)", []).is_err());
    }
}
