//! The cache database's schema and how its connections are opened.
//!
//! Opening and migrating is `crate::sqlite`'s (pragmas outside
//! transactions, append-only migrations keyed by `user_version`, a newer
//! database refused); this file holds what is the cache's own: the
//! migrations and the pragma levels. `synchronous=NORMAL`: in WAL mode a
//! crash can lose the last transactions but never corrupt the database, and
//! it saves an fsync per transaction; the writer switches to `FULL` for the
//! batches that must be durable (sealing a version before its commit
//! starts, see `db`).

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::error::CacheError;
use crate::sqlite::{self, Options, Synchronous};

/// The schema, one entry per version. Never edit an entry; append.
pub(super) const MIGRATIONS: &[&str] = &[
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
    // 2: symlinks, hard links and special files. `kind` gains 3 symlink,
    // 4 fifo, 5 socket, 6 char device, 7 block device; a symlink's target
    // is `target` (its size is the target's length), a device node's
    // number `rdev`. A file's nlink counts its names; a directory's is
    // 2 + its subdirectories (recounted here: it was always 2).
    "
    ALTER TABLE inodes ADD COLUMN rdev INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE inodes ADD COLUMN target BLOB;
    UPDATE inodes SET nlink = 2 + (
        SELECT count(*) FROM dentries d JOIN inodes c ON c.ino = d.ino
        WHERE d.parent = inodes.ino AND c.kind = 2
    ) WHERE kind = 2;
    ",
    // 3: a `waiting` upload (retried by itself while the service is
    // unreachable) records since when it waits and when it is tried next.
    "
    ALTER TABLE uploads ADD COLUMN waiting_since_ns INTEGER;
    ALTER TABLE uploads ADD COLUMN next_try_ns INTEGER;
    ",
    // 4: `verified` = 1 once a sealed version's data file was synced after
    // its last write, so the hashes recorded with it (computed from the
    // bytes as they were written) describe the bytes on disk. A version
    // without it (sealed before its sync) is synced and trusted when the
    // machine has not restarted since its seal (`sealed_boot`, the kernel's
    // boot id: a killed process loses nothing the kernel holds); after a
    // restart a crash may have lost bytes, so its hashes are recomputed
    // from the data file before any is trusted.
    "
    ALTER TABLE versions ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE versions ADD COLUMN sealed_boot TEXT;
    ",
    // 5: the session of parts sent while a version was still being written
    // (`upload::early`), with the fingerprint of the job it was started
    // for: the commit resumes it, an unlink aborts it. The uploads row's
    // resume token takes over once the commit saves one.
    "
    CREATE TABLE early_sessions (
        ino         INTEGER NOT NULL,
        version     INTEGER NOT NULL,
        token       BLOB NOT NULL,
        fingerprint TEXT NOT NULL,
        PRIMARY KEY (ino, version)
    );
    ",
    // 6: the grown parts sent while a version was written (`upload::early`,
    // parts larger than one cache part): each one's range, its MD5 and a
    // digest of the cache parts' MD5s it was made of, so that a commit
    // (after a restart too) trusts it only while none of them changed. Gone
    // with the version, and once the version is committed.
    "
    CREATE TABLE early_parts (
        ino          INTEGER NOT NULL,
        version      INTEGER NOT NULL,
        offset       INTEGER NOT NULL,
        len          INTEGER NOT NULL,
        md5          BLOB NOT NULL,
        parts_digest BLOB NOT NULL,
        PRIMARY KEY (ino, version, offset)
    ) WITHOUT ROWID;
    CREATE TRIGGER early_parts_of_a_deleted_version AFTER DELETE ON versions BEGIN
        DELETE FROM early_parts WHERE ino = OLD.ino AND version = OLD.version;
    END;
    CREATE TRIGGER early_parts_of_a_committed_version AFTER INSERT ON media BEGIN
        DELETE FROM early_parts WHERE ino = NEW.ino AND version = NEW.version;
    END;
    ",
    // 7: `closed_version`: the version a write-back close left whole (the
    // close persisted its size; no write came after it). Its RELEASE
    // seals it; when the mount stops before that, the next start commits
    // it instead of showing it interrupted. Not reset by a new version:
    // it counts only while it equals `version`.
    "
    ALTER TABLE inodes ADD COLUMN closed_version INTEGER;
    ",
];

fn options(read_only: bool) -> Options {
    Options {
        read_only,
        synchronous: Synchronous::Normal,
        busy_timeout: Duration::from_secs(10),
    }
}

/// Opens the cache database at `path` for writing and applies the pending
/// migrations; refuses a database written by a newer vodfs.
pub(super) fn open(path: &Path) -> Result<Connection, CacheError> {
    Ok(sqlite::open(path, &options(false), MIGRATIONS)?)
}

/// Opens a read-only connection (the reader pool of `db`).
pub(super) fn connect_reader(path: &Path) -> Result<Connection, CacheError> {
    Ok(sqlite::connect(path, &options(true))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_schema_applies() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir.path().join("db")).unwrap();
        let mode: String = c
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_newer_cache_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let c = open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        match open(&path) {
            Err(CacheError::Open(sqlite::OpenError::TooNew { found: 99, .. })) => {}
            other => panic!("expected TooNew, got {other:?}"),
        }
    }
}
