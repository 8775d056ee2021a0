//! The object side of the store: family C sessions, COS objects and
//! multipart uploads, frontwize media. Same rules as `store.rs`: files named
//! by allocated numbers, bytes durable before the row that records them.

use rusqlite::{OptionalExtension, params};

use super::error::ServerError;
use super::store::{MediaRow, OBJECT_COLS, ObjectRow, Store, insert_media_tx, object_row};

type Result<T> = std::result::Result<T, ServerError>;

fn now() -> u64 {
    super::clock::unix_now()
}

impl MediaRow {
    /// This row with the size and digests of the COS object it is made of.
    pub fn sized_by(self, o: &ObjectRow) -> MediaRow {
        MediaRow {
            size: o.size,
            sha1: o.sha1.clone(),
            md5: o.md5.clone(),
            ..self
        }
    }

    /// The row of a cover of this video: owner, settings, flow and time
    /// the video's; class 0; sized by its object with [`MediaRow::sized_by`].
    pub fn cover_row(
        &self,
        file_id: String,
        name: String,
        file_type: String,
        url_path: String,
    ) -> MediaRow {
        MediaRow {
            file_id,
            kind: "cover".into(),
            parent: Some(self.file_id.clone()),
            name,
            file_type,
            class_id: 0,
            url_path,
            cover_file_id: None,
            ..self.clone()
        }
    }
}

impl Store {
    /// Hard-links each object's file to its media's, durably (the
    /// directory synced), before the transaction that records the media.
    pub fn link_objects(&self, media: &[MediaRow], objects: &[ObjectRow]) -> Result<()> {
        for (m, o) in media.iter().zip(objects) {
            super::span::link(&self.object_path(o.id), &self.media_path(&m.file_id))?;
        }
        Ok(())
    }

    /// Removes the files of objects a committed transaction spent (their
    /// media links keep the bytes).
    pub fn remove_object_files(&self, objects: &[ObjectRow]) {
        for o in objects {
            self.remove_when_durable(self.object_path(o.id));
        }
    }

    pub fn insert_session(
        &self,
        key: &str,
        secret_id: &str,
        body: &str,
        expires_at: u64,
    ) -> Result<()> {
        self.db()
            .prepare_cached(
                "INSERT INTO sessions(key, secret_id, body, expires_at) VALUES(?1,?2,?3,?4)",
            )?
            .execute(params![key, secret_id, body, expires_at])?;
        Ok(())
    }

    /// `(secret_id, body, expires_at, used)` of a session.
    pub fn session(&self, key: &str) -> Result<Option<(String, String, u64, bool)>> {
        let db = self.db();
        Ok(db
            .prepare_cached("SELECT secret_id, body, expires_at, used FROM sessions WHERE key=?1")?
            .query_row(params![key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? != 0))
            })
            .optional()?)
    }

    /// Records the committed media and marks the session used, atomically.
    pub fn commit_session(&self, key: &str, media: &[MediaRow], objects: &[i64]) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction()?;
        for m in media {
            insert_media_tx(&tx, m)?;
        }
        for id in objects {
            tx.prepare_cached("DELETE FROM objects WHERE id=?1")?
                .execute(params![id])?;
        }
        tx.prepare_cached("UPDATE sessions SET used=1 WHERE key=?1")?
            .execute(params![key])?;
        tx.commit()?;
        Ok(())
    }

    /// Records an object whose bytes are durable at `object_path(id)` where
    /// `id` is returned by [`Store::reserve_object_id`]; replaces any older
    /// object of the same key and returns the replaced id.
    pub fn put_object(&self, o: &ObjectRow) -> Result<Option<i64>> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let old: Option<i64> = tx
            .prepare_cached("SELECT id FROM objects WHERE bucket=?1 AND key=?2")?
            .query_row(params![o.bucket, o.key], |r| r.get(0))
            .optional()?;
        tx.prepare_cached("DELETE FROM objects WHERE bucket=?1 AND key=?2")?
            .execute(params![o.bucket, o.key])?;
        tx.execute(
            &format!("INSERT INTO objects({OBJECT_COLS}) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)"),
            params![
                o.id,
                o.bucket,
                o.key,
                o.size,
                o.md5,
                o.sha1,
                o.etag,
                o.created_at
            ],
        )?;
        tx.commit()?;
        Ok(old)
    }

    /// A fresh object id (used to name the file before the row exists).
    pub fn reserve_object_id(&self) -> Result<i64> {
        Ok(self.alloc_ids(1)? as i64 & 0x7fff_ffff_ffff_ffff)
    }

    pub fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRow>> {
        let db = self.db();
        let mut st = db.prepare_cached(&format!(
            "SELECT {OBJECT_COLS} FROM objects WHERE bucket=?1 AND key=?2"
        ))?;
        Ok(st.query_row(params![bucket, key], object_row).optional()?)
    }

    pub fn create_multipart(&self, upload_id: &str, bucket: &str, key: &str) -> Result<()> {
        self.db()
            .prepare_cached(
                "INSERT INTO multipart(upload_id, bucket, key, created_at) VALUES(?1,?2,?3,?4)",
            )?
            .execute(params![upload_id, bucket, key, now()])?;
        Ok(())
    }

    /// `(bucket, key, created_at)` of a multipart upload.
    pub fn multipart(&self, upload_id: &str) -> Result<Option<(String, String, u64)>> {
        Ok(self
            .db()
            .prepare_cached("SELECT bucket, key, created_at FROM multipart WHERE upload_id=?1")?
            .query_row(params![upload_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?)
    }

    /// `(key, upload_id, created_at)` of the bucket's open multipart uploads.
    pub fn list_multipart(&self, bucket: &str) -> Result<Vec<(String, String, u64)>> {
        let db = self.db();
        let mut st = db.prepare_cached(
            "SELECT key, upload_id, created_at FROM multipart WHERE bucket=?1 ORDER BY key, created_at",
        )?;
        let rows = st.query_map(params![bucket], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// `(bucket, key, upload_id, parts held)` of every open multipart
    /// upload (`/admin/multipart`: what tests check is never left open).
    pub fn open_multipart(&self) -> Result<Vec<(String, String, String, u64)>> {
        let db = self.db();
        let mut st = db.prepare_cached(
            "SELECT m.bucket, m.key, m.upload_id,
                    (SELECT COUNT(*) FROM mp_parts p WHERE p.upload_id = m.upload_id)
             FROM multipart m ORDER BY m.created_at",
        )?;
        let rows = st.query_map(params![], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? as u64))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn record_mp_part(&self, upload_id: &str, part: u32, size: u64, md5: &str) -> Result<()> {
        self.db().prepare_cached("INSERT OR REPLACE INTO mp_parts(upload_id, part_number, size, md5) VALUES(?1,?2,?3,?4)")?
            .execute(params![upload_id, part, size, md5])?;
        Ok(())
    }

    /// `(part number, size, md5)` in part order.
    pub fn mp_parts(&self, upload_id: &str) -> Result<Vec<(u32, u64, String)>> {
        let db = self.db();
        let mut st = db.prepare_cached(
            "SELECT part_number, size, md5 FROM mp_parts WHERE upload_id=?1 ORDER BY part_number",
        )?;
        let rows = st.query_map(params![upload_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn delete_multipart(&self, upload_id: &str) -> Result<()> {
        self.db()
            .prepare_cached("DELETE FROM multipart WHERE upload_id=?1")?
            .execute(params![upload_id])?;
        self.remove_when_durable(self.root().join("mpparts").join(upload_id));
        Ok(())
    }

    pub fn insert_fw(&self, media_id: &str, secret_id: &str, body: &str) -> Result<()> {
        self.db().prepare_cached("INSERT INTO fw_media(media_id, secret_id, body, state, created_at) VALUES(?1,?2,?3,'APPLIED',?4)")?
            .execute(params![media_id, secret_id, body, now()])?;
        Ok(())
    }

    /// `(secret_id, body, state)` of a frontwize media.
    pub fn fw(&self, media_id: &str) -> Result<Option<(String, String, String)>> {
        Ok(self
            .db()
            .prepare_cached("SELECT secret_id, body, state FROM fw_media WHERE media_id=?1")?
            .query_row(params![media_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?)
    }

    pub fn set_fw_state(&self, media_id: &str, state: &str) -> Result<()> {
        self.db()
            .prepare_cached("UPDATE fw_media SET state=?1 WHERE media_id=?2")?
            .execute(params![state, media_id])?;
        Ok(())
    }
}
