//! The family D side of the store (`ugc_d/`): upload sessions (the plan
//! ApplyUploadUGC made, and once committed the answer, so a repeated
//! CommitUploadUGC answers the same), the one-time client signatures
//! already used, and what family D media carry beyond the media row (the
//! signature's taskPriority and taskNotifyMode). The temporary credentials
//! are API 3.0's table (`store_api3.rs`): the COS endpoint reads one table.
//!
//! Same rules as `store.rs`: a commit writes its media, spends its
//! objects, forgets a replaced cover and stores its answer in one
//! transaction. Spent signatures are kept until they expire (at most 90
//! days), pruned on every write, and only for signatures whose HMAC
//! verified, so the table holds only what authenticated callers spent.

use rusqlite::{OptionalExtension, params};

use super::error::ServerError;
use super::store::{MediaRow, Store, insert_media_tx};
use super::store_api3::{Api3Media, TempCred, insert_temp_cred_tx};

type Result<T> = std::result::Result<T, ServerError>;

/// How long an expired session is still known (answered "expired" rather
/// than unknown), seconds.
pub const SESSION_MEMORY_SECS: u64 = 86_400;

/// A family D session row.
#[derive(Debug, Clone)]
pub struct UgcDSession {
    pub secret_id: String,
    /// The plan (JSON, `ugc_d/upload.rs`).
    pub body: String,
    pub expires_at: u64,
    /// The CommitUploadUGC `data` (JSON) once committed.
    pub result: Option<String>,
}

/// What a family D media carries beyond [`MediaRow`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UgcDMedia {
    pub file_id: String,
    pub task_priority: Option<i64>,
    pub task_notify_mode: Option<String>,
}

/// A commit: what becomes media, and what it spends.
pub struct UgcDCommit<'a> {
    pub key: &'a str,
    pub media: &'a [MediaRow],
    pub extra: Option<&'a UgcDMedia>,
    /// The video's storage region and expiry, where DescribeMediaInfos
    /// reads them for every flow (`api3_media`).
    pub api3: Option<&'a Api3Media>,
    /// The cover a replacement takes the place of (row forgotten here, file
    /// removed once the transaction committed).
    pub replaced: Option<&'a str>,
    pub objects: &'a [i64],
    pub result: &'a str,
}

impl Store {
    /// Records a new session and its first credential, in one transaction,
    /// and forgets sessions that expired more than [`SESSION_MEMORY_SECS`]
    /// ago (so the table holds about a day of sessions; such a key is then
    /// unknown rather than expired, 31001 either way).
    pub fn insert_ugc_d_session(&self, key: &str, s: &UgcDSession, cred: &TempCred) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction()?;
        tx.prepare_cached("DELETE FROM ugc_d_sessions WHERE expires_at < ?1")?
            .execute(params![
                super::clock::unix_now().saturating_sub(SESSION_MEMORY_SECS)
            ])?;
        tx.prepare_cached(
            "INSERT INTO ugc_d_sessions(key, secret_id, body, expires_at) VALUES(?1,?2,?3,?4)",
        )?
        .execute(params![key, s.secret_id, s.body, s.expires_at])?;
        insert_temp_cred_tx(&tx, cred)?;
        tx.commit()?;
        Ok(())
    }

    /// A fresh credential for a session being resumed.
    pub fn add_temp_cred(&self, cred: &TempCred) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction()?;
        insert_temp_cred_tx(&tx, cred)?;
        tx.commit()?;
        Ok(())
    }

    pub fn ugc_d_session(&self, key: &str) -> Result<Option<UgcDSession>> {
        Ok(self
            .db()
            .prepare_cached(
                "SELECT secret_id, body, expires_at, result FROM ugc_d_sessions WHERE key=?1",
            )?
            .query_row(params![key], |r| {
                Ok(UgcDSession {
                    secret_id: r.get(0)?,
                    body: r.get(1)?,
                    expires_at: r.get(2)?,
                    result: r.get(3)?,
                })
            })
            .optional()?)
    }

    /// Spends a one-time signature (by digest) valid until `expires_at`:
    /// false when it was spent before. Signatures past their expiry are
    /// forgotten (they are refused as expired anyway).
    pub fn spend_signature(&self, digest: &str, expires_at: u64, now: u64) -> Result<bool> {
        let mut db = self.db();
        let tx = db.transaction()?;
        tx.prepare_cached("DELETE FROM spent_signatures WHERE expires_at < ?1")?
            .execute(params![now])?;
        let added = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO spent_signatures(digest, expires_at) VALUES(?1,?2)",
            )?
            .execute(params![digest, expires_at])?;
        tx.commit()?;
        Ok(added == 1)
    }

    /// Moves the expiry of every live family D session to `at` (tests of a
    /// session past its day); returns how many.
    pub fn expire_ugc_d_sessions(&self, at: u64) -> Result<usize> {
        Ok(self
            .db()
            .prepare_cached("UPDATE ugc_d_sessions SET expires_at=?1 WHERE expires_at>?1")?
            .execute(params![at])?)
    }

    /// Records a commit atomically (see [`UgcDCommit`]); the files of the
    /// media are in place already.
    pub fn commit_ugc_d(&self, c: &UgcDCommit<'_>) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction()?;
        if let Some(old) = c.replaced {
            tx.prepare_cached("DELETE FROM media WHERE file_id=?1")?
                .execute(params![old])?;
            tx.prepare_cached("DELETE FROM api3_media WHERE file_id=?1")?
                .execute(params![old])?;
            tx.prepare_cached("DELETE FROM ugc_d_media WHERE file_id=?1")?
                .execute(params![old])?;
        }
        for m in c.media {
            insert_media_tx(&tx, m)?;
        }
        if let Some(x) = c.extra {
            tx.prepare_cached("INSERT INTO ugc_d_media(file_id, task_priority, task_notify_mode) VALUES(?1,?2,?3)")?
                .execute(params![x.file_id, x.task_priority, x.task_notify_mode])?;
        }
        if let Some(x) = c.api3 {
            tx.prepare_cached("INSERT INTO api3_media(file_id, sub_app_id, storage_region, expire_time, session_context) VALUES(?1,?2,?3,?4,?5)")?
                .execute(params![x.file_id, x.sub_app_id, x.storage_region, x.expire_time, x.session_context])?;
        }
        for id in c.objects {
            tx.prepare_cached("DELETE FROM objects WHERE id=?1")?
                .execute(params![id])?;
        }
        tx.prepare_cached("UPDATE ugc_d_sessions SET result=?1 WHERE key=?2")?
            .execute(params![c.result, c.key])?;
        tx.commit()?;
        drop(db);
        if let Some(old) = c.replaced {
            self.remove_when_durable(self.media_path(old));
        }
        Ok(())
    }

    pub fn ugc_d_media(&self, file_id: &str) -> Result<Option<UgcDMedia>> {
        Ok(self
            .db()
            .prepare_cached(
                "SELECT file_id, task_priority, task_notify_mode FROM ugc_d_media WHERE file_id=?1",
            )?
            .query_row(params![file_id], |r| {
                Ok(UgcDMedia {
                    file_id: r.get(0)?,
                    task_priority: r.get(1)?,
                    task_notify_mode: r.get(2)?,
                })
            })
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(key: &str) -> TempCred {
        TempCred::mint(key, "owner", "b-1", vec!["k".into()], 10)
    }

    fn session(expires_at: u64) -> UgcDSession {
        UgcDSession {
            secret_id: "owner".into(),
            body: "{}".into(),
            expires_at,
            result: None,
        }
    }

    #[test]
    fn sessions_long_expired_are_forgotten_live_ones_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Store::open(dir.path()).expect("open");
        let now = crate::server::clock::unix_now();
        s.insert_ugc_d_session("old", &session(now - SESSION_MEMORY_SECS - 5), &cred("old"))
            .expect("insert");
        s.insert_ugc_d_session("recent", &session(now - 5), &cred("recent"))
            .expect("insert");
        s.insert_ugc_d_session("live", &session(now + 100), &cred("live"))
            .expect("insert");
        assert!(s.ugc_d_session("old").expect("read").is_none());
        assert!(s.ugc_d_session("recent").expect("read").is_some());
        assert!(s.ugc_d_session("live").expect("read").is_some());
        assert_eq!(s.expire_ugc_d_sessions(now).expect("expire"), 1);
        assert_eq!(
            s.ugc_d_session("live").expect("read").map(|x| x.expires_at),
            Some(now)
        );
    }

    #[test]
    fn spent_signatures_survive_a_reopen_until_they_expire() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let s = Store::open(dir.path()).expect("open");
            assert!(s.spend_signature("d1", 1000, 100).expect("spend"));
            assert!(!s.spend_signature("d1", 1000, 200).expect("spend"));
        }
        let s = Store::open(dir.path()).expect("reopen");
        assert!(
            !s.spend_signature("d1", 1000, 999).expect("spend"),
            "still spent"
        );
        assert!(s.spend_signature("d2", 5000, 1001).expect("spend"));
        let left: i64 = s
            .db()
            .query_row("SELECT count(*) FROM spent_signatures", [], |r| r.get(0))
            .expect("count");
        assert_eq!(left, 1, "the expired one was pruned");
    }
}
