//! The API 3.0 side of the store: upload sessions (what ApplyUpload
//! promised, and once committed the answer, so a repeated CommitUpload
//! gets the same FileId), the temporary credentials minted per session
//! (their secret key, token, bucket, object keys and expiry, read by the
//! COS endpoint), and what API 3.0 media carry beyond the common media
//! row (sub-app, storage region, expiry, session context). Same rules as
//! `store.rs`: bytes durable before the row recording them; a commit writes
//! its media, spends its objects and stores its answer in one transaction;
//! the credential expires on its own, as the cloud's.

use rusqlite::{OptionalExtension, params};

use super::error::ServerError;
use super::store::{MediaRow, Store, insert_media_tx};

type Result<T> = std::result::Result<T, ServerError>;

/// How long an expired credential is still known (answered `ExpiredToken`
/// rather than unknown), seconds.
pub const CRED_MEMORY_SECS: u64 = 86_400;

/// A temporary credential of one session.
#[derive(Clone)]
pub struct TempCred {
    pub secret_id: String,
    pub secret_key: String,
    pub token: String,
    pub session_key: String,
    /// The SecretId of the account the session belongs to.
    pub owner: String,
    /// `<bucket>-<appId>`.
    pub bucket: String,
    /// The object keys (without the leading `/`) the credential may write.
    pub keys: Vec<String>,
    pub expires_at: u64,
}

impl std::fmt::Debug for TempCred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither the key nor the token reaches a log.
        f.debug_struct("TempCred")
            .field("secret_id", &self.secret_id)
            .field("bucket", &self.bucket)
            .field("keys", &self.keys)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl TempCred {
    /// A new credential for `session_key` of `owner`: random SecretId
    /// `AKID…`, SecretKey and Token, writing `keys` of `bucket` until
    /// `expires_at`.
    pub fn mint(
        session_key: &str,
        owner: &str,
        bucket: &str,
        keys: Vec<String>,
        expires_at: u64,
    ) -> TempCred {
        use base64::Engine as _;
        use rand::Rng as _;
        let text = |n: usize| -> String {
            rand::rng()
                .sample_iter(rand::distr::Alphanumeric)
                .take(n)
                .map(char::from)
                .collect()
        };
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        TempCred {
            secret_id: format!("AKID{}", text(32)),
            secret_key: text(32),
            token: b64.encode(rand::random::<[u8; 32]>()) + &b64.encode(rand::random::<[u8; 32]>()),
            session_key: session_key.to_string(),
            owner: owner.to_string(),
            bucket: bucket.to_string(),
            keys,
            expires_at,
        }
    }
}

/// An API 3.0 session row.
#[derive(Debug, Clone)]
pub struct Api3Session {
    pub secret_id: String,
    /// The plan (JSON, `api3/upload.rs`).
    pub body: String,
    pub expires_at: u64,
    /// The CommitUpload answer (JSON) once committed.
    pub result: Option<String>,
}

/// What an API 3.0 media carries beyond [`MediaRow`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Api3Media {
    pub file_id: String,
    pub sub_app_id: Option<i64>,
    pub storage_region: String,
    pub expire_time: String,
    pub session_context: String,
}

/// Records a temporary credential inside a transaction (API 3.0's and
/// family D's sessions mint them alike; the COS endpoint reads them),
/// forgetting those that expired more than [`CRED_MEMORY_SECS`] ago.
pub(super) fn insert_temp_cred_tx(
    tx: &rusqlite::Transaction<'_>,
    cred: &TempCred,
) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM temp_creds WHERE expires_at < ?1")?
        .execute(params![
            super::clock::unix_now().saturating_sub(CRED_MEMORY_SECS)
        ])?;
    tx.prepare_cached("INSERT INTO temp_creds(secret_id, secret_key, token, session_key, owner, bucket, keys, expires_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)")?
        .execute(params![
            cred.secret_id,
            cred.secret_key,
            cred.token,
            cred.session_key,
            cred.owner,
            cred.bucket,
            serde_json::to_string(&cred.keys).unwrap_or_else(|_| "[]".into()),
            cred.expires_at
        ])?;
    Ok(())
}

impl Store {
    /// Records a new session and its credential, in one transaction, and
    /// forgets credentials that expired more than [`CRED_MEMORY_SECS`] ago
    /// (so the table does not grow without bound; such a credential is then
    /// unknown rather than expired).
    pub fn insert_api3_session(&self, key: &str, s: &Api3Session, cred: &TempCred) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction()?;
        tx.prepare_cached(
            "INSERT INTO api3_sessions(key, secret_id, body, expires_at) VALUES(?1,?2,?3,?4)",
        )?
        .execute(params![key, s.secret_id, s.body, s.expires_at])?;
        insert_temp_cred_tx(&tx, cred)?;
        tx.commit()?;
        Ok(())
    }

    pub fn api3_session(&self, key: &str) -> Result<Option<Api3Session>> {
        Ok(self
            .db()
            .prepare_cached(
                "SELECT secret_id, body, expires_at, result FROM api3_sessions WHERE key=?1",
            )?
            .query_row(params![key], |r| {
                Ok(Api3Session {
                    secret_id: r.get(0)?,
                    body: r.get(1)?,
                    expires_at: r.get(2)?,
                    result: r.get(3)?,
                })
            })
            .optional()?)
    }

    pub fn temp_cred(&self, secret_id: &str) -> Result<Option<TempCred>> {
        Ok(self
            .db()
            .prepare_cached("SELECT secret_id, secret_key, token, session_key, owner, bucket, keys, expires_at FROM temp_creds WHERE secret_id=?1")?
                .query_row(params![secret_id],
                |r| {
                    let keys: String = r.get(6)?;
                    Ok(TempCred {
                        secret_id: r.get(0)?,
                        secret_key: r.get(1)?,
                        token: r.get(2)?,
                        session_key: r.get(3)?,
                        owner: r.get(4)?,
                        bucket: r.get(5)?,
                        keys: serde_json::from_str(&keys).unwrap_or_default(),
                        expires_at: r.get(7)?,
                    })
                },
            )
            .optional()?)
    }

    /// Moves the expiry of every live credential to `at` (tests of a
    /// credential running out mid-file); returns how many.
    pub fn expire_temp_creds(&self, at: u64) -> Result<usize> {
        Ok(self
            .db()
            .prepare_cached("UPDATE temp_creds SET expires_at=?1 WHERE expires_at>?1")?
            .execute(params![at])?)
    }

    /// Records the committed media, spends the objects and stores the
    /// answer, atomically. The session's credential lives on until it
    /// expires, as the cloud's do (nothing revokes them), so a client whose
    /// CommitUpload answer was lost can look at its upload again.
    pub fn commit_api3(
        &self,
        key: &str,
        media: &[MediaRow],
        extra: &Api3Media,
        objects: &[i64],
        result: &str,
    ) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction()?;
        for m in media {
            insert_media_tx(&tx, m)?;
        }
        tx.prepare_cached("INSERT INTO api3_media(file_id, sub_app_id, storage_region, expire_time, session_context) VALUES(?1,?2,?3,?4,?5)")?
            .execute(params![extra.file_id, extra.sub_app_id, extra.storage_region, extra.expire_time, extra.session_context])?;
        for id in objects {
            tx.prepare_cached("DELETE FROM objects WHERE id=?1")?
                .execute(params![id])?;
        }
        tx.prepare_cached("UPDATE api3_sessions SET result=?1 WHERE key=?2")?
            .execute(params![result, key])?;
        tx.commit()?;
        Ok(())
    }

    pub fn api3_media(&self, file_id: &str) -> Result<Option<Api3Media>> {
        Ok(self
            .db()
            .prepare_cached("SELECT file_id, sub_app_id, storage_region, expire_time, session_context FROM api3_media WHERE file_id=?1")?
                .query_row(params![file_id],
                |r| {
                    Ok(Api3Media {
                        file_id: r.get(0)?,
                        sub_app_id: r.get(1)?,
                        storage_region: r.get(2)?,
                        expire_time: r.get(3)?,
                        session_context: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Forgets a media and its cover (rows first, then files); the ids
    /// removed.
    pub fn delete_media(&self, file_id: &str) -> Result<Vec<String>> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let cover: Option<Option<String>> = tx
            .prepare_cached("SELECT cover_file_id FROM media WHERE file_id=?1")?
            .query_row(params![file_id], |r| r.get(0))
            .optional()?;
        let Some(cover) = cover else {
            return Ok(Vec::new());
        };
        let mut ids = vec![file_id.to_string()];
        ids.extend(cover);
        for id in &ids {
            tx.prepare_cached("DELETE FROM media WHERE file_id=?1")?
                .execute(params![id])?;
            tx.prepare_cached("DELETE FROM api3_media WHERE file_id=?1")?
                .execute(params![id])?;
            tx.prepare_cached("DELETE FROM ugc_d_media WHERE file_id=?1")?
                .execute(params![id])?;
        }
        tx.prepare_cached("UPDATE media SET cover_file_id=NULL WHERE cover_file_id=?1")?
            .execute(params![file_id])?;
        tx.commit()?;
        drop(db);
        for id in &ids {
            self.remove_when_durable(self.media_path(id));
        }
        Ok(ids)
    }
}
