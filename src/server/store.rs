//! Persistent state: SQLite metadata plus plain files under the data dir.
//!
//! Layout of `--data DIR`:
//! - `vodfs.sqlite3` (WAL): uploads in progress and their parts, media
//!   records (the sha index behind instant upload), family C sessions, COS
//!   objects and multipart uploads, frontwize media, the id counter; API
//!   3.0 sessions, temporary credentials and media (`store_api3.rs`).
//! - `tmp/`: request bodies being received.
//! - `parts/<upload row id>/data` (every part of a v4/UGC upload written at
//!   its offset; renamed to the media file at finish), `media/<fileId>`,
//!   `objects/<row id>`, `mpparts/<upload id>/<part number>`. An object
//!   completed from multipart parts, and a media made of it, is a span
//!   directory of hard links to the part files (`span.rs`, which every
//!   reader of their data goes through). (Stores made
//!   before the data file kept `parts/<upload row id>/<offset>` files; they
//!   are still assembled.)
//!
//! No client-supplied string is ever part of a file name: files are named by
//! numbers the store allocates, which makes the layout traversal-proof by
//! construction. Durability: a body is written to `tmp/` (a part: into its
//! upload's data file), fsynced, renamed into place and its directory
//! fsynced *before* the row recording it is committed, so after a crash a row always has its bytes (an orphan file
//! without a row is harmless and overwritten on retry). A recorded part must
//! survive power loss, not just a crash: commits run at `synchronous=NORMAL`
//! and [`App::db`](super::app::App::db) makes a request's writes durable
//! before it is answered with one WAL sync per group of waiting requests
//! ([`GroupSync`]). One connection behind a mutex; callers run on
//! `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::error::ServerError;
use super::group_sync::GroupSync;

type Result<T> = std::result::Result<T, ServerError>;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);
CREATE TABLE uploads(
  id INTEGER PRIMARY KEY, secret_id TEXT NOT NULL, sha TEXT NOT NULL,
  name TEXT NOT NULL, type TEXT NOT NULL, size INTEGER NOT NULL,
  data_size INTEGER NOT NULL, class_id INTEGER NOT NULL, tags TEXT NOT NULL,
  procedure TEXT NOT NULL, source_context TEXT NOT NULL, flow TEXT NOT NULL,
  created_at INTEGER NOT NULL, UNIQUE(secret_id, sha));
CREATE TABLE parts(
  upload_id INTEGER NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
  offset INTEGER NOT NULL, size INTEGER NOT NULL, md5 TEXT NOT NULL,
  PRIMARY KEY(upload_id, offset));
CREATE TABLE media(
  file_id TEXT PRIMARY KEY, secret_id TEXT NOT NULL, kind TEXT NOT NULL,
  parent TEXT, name TEXT NOT NULL, type TEXT NOT NULL, size INTEGER NOT NULL,
  sha1 TEXT NOT NULL, md5 TEXT NOT NULL, class_id INTEGER NOT NULL,
  tags TEXT NOT NULL, procedure TEXT NOT NULL, source_context TEXT NOT NULL,
  flow TEXT NOT NULL, created_at INTEGER NOT NULL, url_path TEXT NOT NULL UNIQUE,
  cover_file_id TEXT);
CREATE INDEX media_sha ON media(secret_id, sha1);
CREATE TABLE sessions(
  key TEXT PRIMARY KEY, secret_id TEXT NOT NULL, body TEXT NOT NULL,
  expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE objects(
  id INTEGER PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,
  size INTEGER NOT NULL, md5 TEXT NOT NULL, sha1 TEXT NOT NULL, etag TEXT NOT NULL,
  created_at INTEGER NOT NULL, UNIQUE(bucket, key));
CREATE TABLE multipart(
  upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE mp_parts(
  upload_id TEXT NOT NULL REFERENCES multipart(upload_id) ON DELETE CASCADE,
  part_number INTEGER NOT NULL, size INTEGER NOT NULL, md5 TEXT NOT NULL,
  PRIMARY KEY(upload_id, part_number));
CREATE TABLE fw_media(
  media_id TEXT PRIMARY KEY, secret_id TEXT NOT NULL, body TEXT NOT NULL,
  state TEXT NOT NULL, created_at INTEGER NOT NULL);
"#,
    r#"
CREATE TABLE api3_sessions(
  key TEXT PRIMARY KEY, secret_id TEXT NOT NULL, body TEXT NOT NULL,
  expires_at INTEGER NOT NULL, result TEXT);
CREATE TABLE temp_creds(
  secret_id TEXT PRIMARY KEY, secret_key TEXT NOT NULL, token TEXT NOT NULL,
  session_key TEXT NOT NULL, owner TEXT NOT NULL, bucket TEXT NOT NULL,
  keys TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX temp_creds_session ON temp_creds(session_key);
CREATE TABLE api3_media(
  file_id TEXT PRIMARY KEY, sub_app_id INTEGER, storage_region TEXT NOT NULL,
  expire_time TEXT NOT NULL, session_context TEXT NOT NULL);
"#,
    r#"
CREATE TABLE nonces(
  secret_id TEXT NOT NULL, nonce TEXT NOT NULL, seen_at INTEGER NOT NULL,
  PRIMARY KEY(secret_id, nonce)) WITHOUT ROWID;
CREATE INDEX nonces_by_time ON nonces(seen_at);
CREATE TABLE rate_windows(
  secret_id TEXT NOT NULL, action TEXT NOT NULL, window_end INTEGER NOT NULL,
  count INTEGER NOT NULL, PRIMARY KEY(secret_id, action, window_end)) WITHOUT ROWID;
"#,
    // Family D (store_ugc_d.rs): upload sessions, spent one-time client
    // signatures, what its media carry beyond the media row.
    r#"
CREATE TABLE ugc_d_sessions(
  key TEXT PRIMARY KEY, secret_id TEXT NOT NULL, body TEXT NOT NULL,
  expires_at INTEGER NOT NULL, result TEXT);
CREATE TABLE spent_signatures(
  digest TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX spent_signatures_by_expiry ON spent_signatures(expires_at);
CREATE TABLE ugc_d_media(
  file_id TEXT PRIMARY KEY, task_priority INTEGER, task_notify_mode TEXT);
"#,
    // The sweeps of expired credentials and sessions that run with every
    // new one (`DELETE … WHERE expires_at < ?`) scanned the whole table:
    // 3 % of serve's CPU per ApplyUpload after a thousand small files.
    r#"
CREATE INDEX temp_creds_by_expiry ON temp_creds(expires_at);
CREATE INDEX ugc_d_sessions_by_expiry ON ugc_d_sessions(expires_at);
"#,
];

/// An upload in progress (families A and B).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadRow {
    pub id: i64,
    pub secret_id: String,
    pub sha: String,
    pub name: String,
    pub file_type: String,
    pub size: u64,
    pub data_size: u64,
    pub class_id: i64,
    pub tags: Vec<String>,
    pub procedure: String,
    pub source_context: String,
    pub flow: String,
    pub created_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartRow {
    pub offset: u64,
    pub size: u64,
    pub md5: String,
}

/// A committed media (video or cover).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaRow {
    pub file_id: String,
    #[serde(skip)]
    pub secret_id: String,
    /// `video` or `cover`.
    pub kind: String,
    /// The video a cover belongs to.
    pub parent: Option<String>,
    pub name: String,
    #[serde(rename = "type")]
    pub file_type: String,
    pub size: u64,
    pub sha1: String,
    pub md5: String,
    pub class_id: i64,
    pub tags: Vec<String>,
    pub procedure: String,
    pub source_context: String,
    /// Which protocol family created it: `A`, `B`, `C`, `F`.
    pub flow: String,
    pub created_at: u64,
    /// Path of the playback URL under the public base.
    pub url_path: String,
    pub cover_file_id: Option<String>,
}

/// A stored COS (or frontwize) object.
#[derive(Debug, Clone)]
pub struct ObjectRow {
    pub id: i64,
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub md5: String,
    pub sha1: String,
    pub etag: String,
    pub created_at: u64,
}

pub struct Store {
    conn: Mutex<Connection>,
    root: PathBuf,
    sync: GroupSync,
    /// Files and directories a commit made garbage, with the change count
    /// of that commit: removed once a sync made it durable (a power loss
    /// before it must find the bytes the older rows still point to).
    doomed: Mutex<Vec<(u64, PathBuf)>>,
}

fn now() -> u64 {
    super::clock::unix_now()
}

fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

fn tags_parse(s: String) -> Vec<String> {
    serde_json::from_str(&s).unwrap_or_default()
}

fn upload_row(r: &Row<'_>) -> rusqlite::Result<UploadRow> {
    Ok(UploadRow {
        id: r.get(0)?,
        secret_id: r.get(1)?,
        sha: r.get(2)?,
        name: r.get(3)?,
        file_type: r.get(4)?,
        size: r.get(5)?,
        data_size: r.get(6)?,
        class_id: r.get(7)?,
        tags: tags_parse(r.get(8)?),
        procedure: r.get(9)?,
        source_context: r.get(10)?,
        flow: r.get(11)?,
        created_at: r.get(12)?,
    })
}

const UPLOAD_COLS: &str = "id, secret_id, sha, name, type, size, data_size, class_id, tags, procedure, source_context, flow, created_at";
const MEDIA_COLS: &str = "file_id, secret_id, kind, parent, name, type, size, sha1, md5, class_id, tags, procedure, source_context, flow, created_at, url_path, cover_file_id";
pub(super) const OBJECT_COLS: &str = "id, bucket, key, size, md5, sha1, etag, created_at";

fn media_row(r: &Row<'_>) -> rusqlite::Result<MediaRow> {
    Ok(MediaRow {
        file_id: r.get(0)?,
        secret_id: r.get(1)?,
        kind: r.get(2)?,
        parent: r.get(3)?,
        name: r.get(4)?,
        file_type: r.get(5)?,
        size: r.get(6)?,
        sha1: r.get(7)?,
        md5: r.get(8)?,
        class_id: r.get(9)?,
        tags: tags_parse(r.get(10)?),
        procedure: r.get(11)?,
        source_context: r.get(12)?,
        flow: r.get(13)?,
        created_at: r.get(14)?,
        url_path: r.get(15)?,
        cover_file_id: r.get(16)?,
    })
}

pub(super) fn object_row(r: &Row<'_>) -> rusqlite::Result<ObjectRow> {
    Ok(ObjectRow {
        id: r.get(0)?,
        bucket: r.get(1)?,
        key: r.get(2)?,
        size: r.get(3)?,
        md5: r.get(4)?,
        sha1: r.get(5)?,
        etag: r.get(6)?,
        created_at: r.get(7)?,
    })
}

/// Inserts a media row inside a transaction, linking a cover to its video.
pub(super) fn insert_media_tx(
    tx: &rusqlite::Transaction<'_>,
    m: &MediaRow,
) -> rusqlite::Result<()> {
    tx.execute(
        &format!("INSERT INTO media({MEDIA_COLS}) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)"),
        params![m.file_id, m.secret_id, m.kind, m.parent, m.name, m.file_type, m.size, m.sha1, m.md5, m.class_id, tags_json(&m.tags), m.procedure, m.source_context, m.flow, m.created_at, m.url_path, m.cover_file_id])?;
    if let Some(parent) = &m.parent {
        tx.prepare_cached("UPDATE media SET cover_file_id=?1 WHERE file_id=?2")?
            .execute(params![m.file_id, parent])?;
    }
    Ok(())
}

/// Renames a durable temporary file into place and makes the rename durable.
pub fn persist(tmp: &Path, dest: &Path) -> std::io::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    std::fs::rename(tmp, dest)?;
    std::fs::File::open(dir)?.sync_all()
}

/// A temporary file removed on drop unless [`TmpGuard::done`] was called.
pub struct TmpGuard(PathBuf, bool);

/// Guards `path` (see [`TmpGuard`]).
pub fn persist_guard(path: PathBuf) -> TmpGuard {
    TmpGuard(path, false)
}

impl TmpGuard {
    pub fn path(&self) -> &Path {
        &self.0
    }
    /// The file was moved away: nothing to clean.
    pub fn done(mut self) {
        self.1 = true;
    }
}

impl Drop for TmpGuard {
    fn drop(&mut self) {
        if !self.1 {
            super::span::remove(&self.0);
        }
    }
}

impl Store {
    /// Opens (creating) the store under `root`; refuses a newer schema.
    pub fn open(root: &Path) -> Result<Store> {
        for d in ["tmp", "parts", "media", "objects", "mpparts"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        // Leftover bodies of requests cut by a crash.
        if let Ok(entries) = std::fs::read_dir(root.join("tmp")) {
            for e in entries.flatten() {
                super::span::remove(&e.path());
            }
        }
        // NORMAL: durability before an answer is the group sync's (below).
        let options = crate::sqlite::Options {
            read_only: false,
            synchronous: crate::sqlite::Synchronous::Normal,
            busy_timeout: std::time::Duration::from_secs(5),
        };
        let path = root.join("vodfs.sqlite3");
        let conn = crate::sqlite::open(&path, &options, MIGRATIONS)
            .map_err(|e| ServerError::Internal(e.to_string()))?;
        let store = Store {
            sync: GroupSync::new(&path),
            conn: Mutex::new(conn),
            root: root.to_path_buf(),
            doomed: Mutex::new(Vec::new()),
        };
        // The migrations (and a previous run's last commits) durable now.
        store
            .sync
            .wait_durable(1, || store.changes().max(1))
            .map_err(|e| ServerError::Internal(format!("making the store durable: {e}")))?;
        Ok(store)
    }

    pub(super) fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rows changed on the connection so far (committed: no transaction
    /// outlives the connection's lock).
    fn changes(&self) -> u64 {
        self.db().total_changes()
    }

    /// Blocks until everything committed before the call is durable: one
    /// WAL sync for every caller waiting at the same time, none when the
    /// last sync already covered it.
    pub fn wait_durable(&self) -> Result<()> {
        self.wait_durable_upto(self.changes())
    }

    /// The store's change count now: a mark that [`Store::wait_durable_upto`]
    /// later waits for (everything committed or read before it).
    pub fn change_mark(&self) -> u64 {
        self.changes()
    }

    /// Whether a sync already covered every change up to `mark` and
    /// nothing waits to be removed after one (nothing for
    /// [`Store::wait_durable_upto`] to do).
    pub fn settled_at(&self, mark: u64) -> bool {
        self.sync.covers(mark)
            && self
                .doomed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
    }

    /// Blocks until every change up to `mark` (a [`Store::change_mark`]) is
    /// durable, joining or leading a group sync as [`Store::wait_durable`].
    pub fn wait_durable_upto(&self, mark: u64) -> Result<()> {
        self.sync
            .wait_durable(mark, || self.changes())
            .map_err(|e| ServerError::Internal(format!("making the store durable: {e}")))?;
        self.remove_doomed(mark);
        Ok(())
    }

    /// Removes `path` (a file or a directory tree) once the commit just
    /// made is durable: the next [`Store::wait_durable`] does it.
    pub(super) fn remove_when_durable(&self, path: PathBuf) {
        let at = self.changes();
        self.doomed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((at, path));
    }

    /// Removes what commits up to `synced` made garbage.
    fn remove_doomed(&self, synced: u64) {
        let ready: Vec<PathBuf> = {
            let mut d = self.doomed.lock().unwrap_or_else(|e| e.into_inner());
            if d.is_empty() {
                return;
            }
            let (ready, keep) = std::mem::take(&mut *d)
                .into_iter()
                .partition(|(at, _)| *at <= synced);
            *d = keep;
            ready.into_iter().map(|(_, p)| p).collect()
        };
        for p in ready {
            // A file, or a span directory (`span`): a multipart object.
            super::span::remove(&p);
        }
    }

    /// How many group syncs of the WAL ran.
    pub fn wal_syncs(&self) -> u64 {
        self.sync.syncs()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn part_path(&self, upload_id: i64, offset: u64) -> PathBuf {
        self.root
            .join("parts")
            .join(upload_id.to_string())
            .join(offset.to_string())
    }

    /// The one data file of an upload: every part is written into it at
    /// its offset, and at finish it becomes the media file (no copy).
    pub fn upload_data_path(&self, upload_id: i64) -> PathBuf {
        self.root
            .join("parts")
            .join(upload_id.to_string())
            .join("data")
    }

    pub fn media_path(&self, file_id: &str) -> PathBuf {
        // file ids are digits only (allocated here), never client text.
        self.root.join("media").join(file_id)
    }

    pub fn object_path(&self, id: i64) -> PathBuf {
        self.root.join("objects").join(id.to_string())
    }

    pub fn mp_part_path(&self, upload_id: &str, part: u32) -> PathBuf {
        self.root
            .join("mpparts")
            .join(upload_id)
            .join(part.to_string())
    }

    /// Allocates `n` consecutive ids: decimal, 19 digits, increasing, never
    /// reused (the counter is persistent and only moves forward).
    pub fn alloc_ids(&self, n: u64) -> Result<u64> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let cur: Option<u64> = tx
            .prepare_cached("SELECT v FROM meta WHERE k='next_id'")?
            .query_row([], |r| r.get(0))
            .optional()?;
        // Time-based floor: ids of different data dirs do not collide, and
        // stay 19 digits (now_ms * 10^6 ≈ 1.8e18) until far in the future.
        let floor = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
            .saturating_mul(1_000_000);
        let first = cur.unwrap_or(0).max(floor);
        tx.prepare_cached("INSERT OR REPLACE INTO meta(k, v) VALUES('next_id', ?1)")?
            .execute(params![first + n])?;
        tx.commit()?;
        Ok(first)
    }

    pub fn find_upload(&self, secret_id: &str, sha: &str) -> Result<Option<UploadRow>> {
        let db = self.db();
        let mut st = db.prepare_cached(&format!(
            "SELECT {UPLOAD_COLS} FROM uploads WHERE secret_id=?1 AND sha=?2"
        ))?;
        Ok(st
            .query_row(params![secret_id, sha], upload_row)
            .optional()?)
    }

    /// Inserts a new upload; `id` and `created_at` of `u` are ignored.
    pub fn create_upload(&self, u: &UploadRow) -> Result<UploadRow> {
        let db = self.db();
        let created = now();
        db.prepare_cached("INSERT INTO uploads(secret_id, sha, name, type, size, data_size, class_id, tags, procedure, source_context, flow, created_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)")?
            .execute(params![u.secret_id, u.sha, u.name, u.file_type, u.size, u.data_size, u.class_id, tags_json(&u.tags), u.procedure, u.source_context, u.flow, created])?;
        Ok(UploadRow {
            id: db.last_insert_rowid(),
            created_at: created,
            ..u.clone()
        })
    }

    /// The recorded part at `offset`, if any.
    pub fn part_at(&self, upload_id: i64, offset: u64) -> Result<Option<PartRow>> {
        let db = self.db();
        let mut st = db.prepare_cached(
            "SELECT offset, size, md5 FROM parts WHERE upload_id=?1 AND offset=?2",
        )?;
        Ok(st
            .query_row(params![upload_id, offset], |r| {
                Ok(PartRow {
                    offset: r.get(0)?,
                    size: r.get(1)?,
                    md5: r.get(2)?,
                })
            })
            .optional()?)
    }

    pub fn parts(&self, upload_id: i64) -> Result<Vec<PartRow>> {
        let db = self.db();
        let mut st = db.prepare_cached(
            "SELECT offset, size, md5 FROM parts WHERE upload_id=?1 ORDER BY offset",
        )?;
        let rows = st.query_map(params![upload_id], |r| {
            Ok(PartRow {
                offset: r.get(0)?,
                size: r.get(1)?,
                md5: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a part whose bytes are already durable in the upload's data
    /// file (or, before it existed, at `part_path`).
    pub fn record_part(&self, upload_id: i64, p: &PartRow) -> Result<()> {
        self.db()
            .prepare_cached(
                "INSERT OR REPLACE INTO parts(upload_id, offset, size, md5) VALUES(?1,?2,?3,?4)",
            )?
            .execute(params![upload_id, p.offset, p.size, p.md5])?;
        Ok(())
    }

    /// Forgets the part at `offset` (its bytes in the data file were
    /// overwritten by a body that was refused).
    pub fn forget_part(&self, upload_id: i64, offset: u64) -> Result<()> {
        self.db()
            .prepare_cached("DELETE FROM parts WHERE upload_id=?1 AND offset=?2")?
            .execute(params![upload_id, offset])?;
        Ok(())
    }

    /// Forgets an upload and removes its part files.
    pub fn delete_upload(&self, upload_id: i64) -> Result<()> {
        self.db()
            .prepare_cached("DELETE FROM uploads WHERE id=?1")?
            .execute(params![upload_id])?;
        self.remove_when_durable(self.root.join("parts").join(upload_id.to_string()));
        Ok(())
    }

    /// Records a media whose bytes are durable at `media_path`, and (same
    /// transaction) forgets the upload it came from.
    pub fn insert_media(&self, m: &MediaRow, done_upload: Option<i64>) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction()?;
        insert_media_tx(&tx, m)?;
        if let Some(id) = done_upload {
            tx.prepare_cached("DELETE FROM uploads WHERE id=?1")?
                .execute(params![id])?;
        }
        tx.commit()?;
        drop(db);
        if let Some(id) = done_upload {
            self.remove_when_durable(self.root.join("parts").join(id.to_string()));
        }
        Ok(())
    }

    fn media_where(&self, clause: &str, p: impl rusqlite::Params) -> Result<Option<MediaRow>> {
        let db = self.db();
        let mut st =
            db.prepare_cached(&format!("SELECT {MEDIA_COLS} FROM media WHERE {clause}"))?;
        Ok(st.query_row(p, media_row).optional()?)
    }

    /// The complete video of this account with this sha (instant upload).
    pub fn media_by_sha(&self, secret_id: &str, sha: &str) -> Result<Option<MediaRow>> {
        self.media_where(
            "secret_id=?1 AND sha1=?2 AND kind='video' ORDER BY created_at LIMIT 1",
            params![secret_id, sha],
        )
    }

    pub fn media_by_id(&self, file_id: &str) -> Result<Option<MediaRow>> {
        self.media_where("file_id=?1", params![file_id])
    }

    pub fn media_by_url_path(&self, path: &str) -> Result<Option<MediaRow>> {
        self.media_where("url_path=?1", params![path])
    }

    pub fn list_media(&self) -> Result<Vec<MediaRow>> {
        let db = self.db();
        let mut st = db.prepare_cached(&format!(
            "SELECT {MEDIA_COLS} FROM media ORDER BY created_at, file_id"
        ))?;
        let rows = st.query_map([], media_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(sha: &str) -> UploadRow {
        UploadRow {
            id: 0,
            secret_id: "id".into(),
            sha: sha.into(),
            name: "n".into(),
            file_type: "mp4".into(),
            size: 10,
            data_size: 524288,
            class_id: 0,
            tags: vec!["t".into()],
            procedure: String::new(),
            source_context: String::new(),
            flow: "A".into(),
            created_at: 0,
        }
    }

    #[test]
    fn uploads_and_parts_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let id = {
            let s = Store::open(dir.path()).unwrap();
            let u = s.create_upload(&upload("ab")).unwrap();
            s.record_part(
                u.id,
                &PartRow {
                    offset: 0,
                    size: 5,
                    md5: "m".into(),
                },
            )
            .unwrap();
            u.id
        };
        let s = Store::open(dir.path()).unwrap();
        let u = s.find_upload("id", "ab").unwrap().unwrap();
        assert_eq!((u.id, u.tags.clone()), (id, vec!["t".to_string()]));
        assert_eq!(s.parts(id).unwrap().len(), 1);
        assert!(s.find_upload("other", "ab").unwrap().is_none());
    }

    #[test]
    fn ids_are_unique_and_long() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let a = s.alloc_ids(2).unwrap();
        let b = s.alloc_ids(1).unwrap();
        assert!(b >= a + 2);
        assert!((17..=20).contains(&a.to_string().len()));
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert!(s.alloc_ids(1).unwrap() > b);
    }

    #[test]
    fn the_sweeps_of_expired_rows_search_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for table in ["temp_creds", "ugc_d_sessions", "spent_signatures", "nonces"] {
            let column = if table == "nonces" {
                "seen_at"
            } else {
                "expires_at"
            };
            let plan: Vec<String> = s
                .db()
                .prepare(&format!(
                    "EXPLAIN QUERY PLAN DELETE FROM {table} WHERE {column} < 1"
                ))
                .unwrap()
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<std::result::Result<_, _>>()
                .unwrap();
            // SEARCH by the index; a SCAN, even one through a covering
            // index, reads the whole table.
            assert!(
                plan.iter()
                    .any(|p| p.starts_with("SEARCH") && p.contains("INDEX")),
                "{table}: {plan:?}"
            );
        }
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let c = Connection::open(dir.path().join("vodfs.sqlite3")).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        assert!(Store::open(dir.path()).is_err());
    }
}
