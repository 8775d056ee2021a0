//! Opening a cache database: pragmas and migrations.
//!
//! Pragmas are set outside any transaction. `journal_mode=WAL` lets readers
//! run beside the one writer. `synchronous=NORMAL`: in WAL mode a crash can
//! lose the last transactions but never corrupt the database, and it saves an
//! fsync per transaction; the writer switches to `FULL` for the batches that
//! must be durable (sealing a version before its commit starts).
//!
//! Migrations are an append-only list; `user_version` counts how many were
//! applied. All pending ones run in one transaction. A database whose
//! `user_version` is beyond the list was written by a newer vodfs and is
//! refused rather than misread.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::CacheError;

/// The schema, one entry per version. Never edit an entry; append.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "
    -- AUTOINCREMENT: an inode number is never reused (the kernel may still
    -- know the old one, and a media record may keep its data file).
    CREATE TABLE inodes (
        ino      INTEGER PRIMARY KEY AUTOINCREMENT,
        kind     INTEGER NOT NULL,          -- 1 file, 2 directory
        mode     INTEGER NOT NULL,          -- permission bits
        uid      INTEGER NOT NULL,
        gid      INTEGER NOT NULL,
        size     INTEGER NOT NULL DEFAULT 0,
        atime_ns INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        ctime_ns INTEGER NOT NULL,
        crtime_ns INTEGER NOT NULL,
        version  INTEGER NOT NULL DEFAULT 1, -- content version of a file
        nlink    INTEGER NOT NULL DEFAULT 1  -- 0: unlinked, kept while open
    );
    CREATE TABLE dentries (
        parent INTEGER NOT NULL REFERENCES inodes(ino),
        name   BLOB    NOT NULL,
        ino    INTEGER NOT NULL REFERENCES inodes(ino),
        PRIMARY KEY (parent, name)
    ) WITHOUT ROWID;
    CREATE INDEX dentries_by_ino ON dentries(ino);
    CREATE TABLE xattrs (
        ino   INTEGER NOT NULL REFERENCES inodes(ino) ON DELETE CASCADE,
        name  BLOB    NOT NULL,
        value BLOB    NOT NULL,
        PRIMARY KEY (ino, name)
    ) WITHOUT ROWID;
    -- A sealed content version: what a commit uploads. Outlives its inode
    -- when a media record points at it.
    CREATE TABLE versions (
        ino       INTEGER NOT NULL,
        version   INTEGER NOT NULL,
        size      INTEGER NOT NULL,
        part_size INTEGER NOT NULL,
        sha1      BLOB,
        PRIMARY KEY (ino, version)
    ) WITHOUT ROWID;
    -- Part `idx` of a version lives in the version's data file at
    -- idx * part_size; md5 is NULL until known.
    CREATE TABLE chunks (
        ino     INTEGER NOT NULL,
        version INTEGER NOT NULL,
        idx     INTEGER NOT NULL,
        md5     BLOB,
        PRIMARY KEY (ino, version, idx),
        FOREIGN KEY (ino, version) REFERENCES versions(ino, version) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE TABLE uploads (
        ino          INTEGER NOT NULL,
        version      INTEGER NOT NULL,
        state        TEXT    NOT NULL,
        parts_done   INTEGER NOT NULL DEFAULT 0,
        parts_total  INTEGER NOT NULL DEFAULT 0,
        bytes_done   INTEGER NOT NULL DEFAULT 0,
        bytes_total  INTEGER NOT NULL DEFAULT 0,
        error        TEXT,
        file_id      TEXT,
        url          TEXT,
        sha1         TEXT,
        service_name TEXT,
        cover_url    TEXT,
        resume_token BLOB,
        PRIMARY KEY (ino, version),
        FOREIGN KEY (ino, version) REFERENCES versions(ino, version) ON DELETE CASCADE
    ) WITHOUT ROWID;
    -- One committed media, shown as by-id/<file_id>.
    CREATE TABLE media (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        file_id      TEXT    NOT NULL UNIQUE,
        ino          INTEGER NOT NULL,
        version      INTEGER NOT NULL,
        size         INTEGER NOT NULL,
        url          TEXT    NOT NULL,
        sha1         TEXT    NOT NULL,
        service_name TEXT    NOT NULL,
        cover_url    TEXT,
        mtime_ns     INTEGER NOT NULL,
        FOREIGN KEY (ino, version) REFERENCES versions(ino, version)
    );
    ",
];

/// Opens `path` with the connection pragmas every connection needs.
pub(crate) fn connect(path: &Path, read_only: bool) -> Result<Connection, CacheError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
    }
    Ok(conn)
}

/// Applies the pending migrations in one transaction; refuses a database
/// written by a newer schema.
pub(crate) fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), CacheError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = migrations.len() as i64;
    if found > known {
        return Err(CacheError::TooNew { found, known });
    }
    if found == known {
        return Ok(());
    }
    let tx = conn.transaction()?;
    for sql in &migrations[found as usize..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", known)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_from_an_old_version_and_refuse_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let v1 = ["CREATE TABLE a (x INTEGER);"];
        let v2 = [
            "CREATE TABLE a (x INTEGER);",
            "ALTER TABLE a ADD COLUMN y TEXT;",
        ];
        {
            let mut c = connect(&path, false).unwrap();
            migrate(&mut c, &v1).unwrap();
            c.execute("INSERT INTO a (x) VALUES (1)", []).unwrap();
        }
        {
            let mut c = connect(&path, false).unwrap();
            migrate(&mut c, &v2).unwrap();
            let (x, y): (i64, Option<String>) = c
                .query_row("SELECT x, y FROM a", [], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap();
            assert_eq!((x, y), (1, None));
            let v: i64 = c
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap();
            assert_eq!(v, 2);
        }
        let mut c = connect(&path, false).unwrap();
        match migrate(&mut c, &v1) {
            Err(CacheError::TooNew { found: 2, known: 1 }) => {}
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    #[test]
    fn a_failing_migration_leaves_the_database_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let mut c = connect(&path, false).unwrap();
        let bad = ["CREATE TABLE a (x INTEGER);", "CREATE TABLE b (; broken"];
        assert!(migrate(&mut c, &bad).is_err());
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, 0);
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn the_real_schema_applies() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = connect(&dir.path().join("db"), false).unwrap();
        migrate(&mut c, MIGRATIONS).unwrap();
        let mode: String = c
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
