//! The replay and rate-limit side of the store: spent nonces and the
//! request counts of each rate-limit window (a minute, or a second for
//! API 3.0's quotas), kept in the database so that a restart
//! forgets neither (a request captured before it is still a replay after
//! it). Both are pruned past their window on every write, so they hold at
//! most one window of authenticated requests; nothing is written for a
//! request that failed authentication.

use rusqlite::{OptionalExtension, params};

use super::error::ServerError;
use super::store::Store;

type Result<T> = std::result::Result<T, ServerError>;

impl Store {
    /// Spends `nonce` of `secret_id` at `now`: false when it was spent
    /// within the last `window` seconds.
    pub fn spend_nonce(&self, secret_id: &str, nonce: &str, now: u64, window: u64) -> Result<bool> {
        let mut db = self.db();
        let tx = db.transaction()?;
        tx.prepare_cached("DELETE FROM nonces WHERE seen_at < ?1")?
            .execute(params![now.saturating_sub(window)])?;
        let added = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO nonces(secret_id, nonce, seen_at) VALUES(?1,?2,?3)",
            )?
            .execute(params![secret_id, nonce, now])?;
        tx.commit()?;
        Ok(added == 1)
    }

    /// Counts one request of `secret_id` for `action` in the window that
    /// ends at `window_end` (Unix seconds; windows of any length share the
    /// table): false (and not counted) when `quota` requests were counted
    /// already. Windows that have ended are pruned.
    pub fn count_request(
        &self,
        secret_id: &str,
        action: &str,
        now: u64,
        window_end: u64,
        quota: u32,
    ) -> Result<bool> {
        let mut db = self.db();
        let tx = db.transaction()?;
        tx.prepare_cached("DELETE FROM rate_windows WHERE window_end <= ?1")?
            .execute(params![now])?;
        let count: u32 = tx
            .prepare_cached(
                "SELECT count FROM rate_windows WHERE secret_id=?1 AND action=?2 AND window_end=?3",
            )?
            .query_row(params![secret_id, action, window_end], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        let admitted = count < quota;
        if admitted {
            tx.prepare_cached(
                "INSERT INTO rate_windows(secret_id, action, window_end, count) VALUES(?1,?2,?3,1) \
                 ON CONFLICT(secret_id, action, window_end) DO UPDATE SET count = count + 1",
            )?
            .execute(params![secret_id, action, window_end])?;
        }
        tx.commit()?;
        Ok(admitted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_and_counts_survive_a_reopen_and_are_pruned() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let s = Store::open(dir.path()).expect("open");
            assert!(s.spend_nonce("a", "1", 100, 300).expect("spend"));
            assert!(!s.spend_nonce("a", "1", 200, 300).expect("spend"));
            assert!(s.spend_nonce("b", "1", 200, 300).expect("spend"));
            assert!(s.count_request("a", "X", 300, 360, 2).expect("count"));
            assert!(s.count_request("a", "X", 300, 360, 2).expect("count"));
        }
        let s = Store::open(dir.path()).expect("reopen");
        assert!(
            !s.spend_nonce("a", "1", 250, 300).expect("spend"),
            "a replay"
        );
        assert!(
            s.spend_nonce("a", "1", 401, 300).expect("spend"),
            "past the window"
        );
        assert!(
            !s.count_request("a", "X", 300, 360, 2).expect("count"),
            "over quota"
        );
        assert!(
            s.count_request("b", "X", 300, 360, 2).expect("count"),
            "another account"
        );
        assert!(
            s.count_request("a", "X", 360, 420, 2).expect("count"),
            "next minute"
        );
        // Windows of another length share the table without pruning the
        // minute's count early.
        assert!(s.count_request("a", "Y", 361, 362, 1).expect("count"));
        assert!(!s.count_request("a", "Y", 361, 362, 1).expect("count"));
        assert!(s.count_request("a", "X", 365, 420, 2).expect("count"));
        assert!(
            !s.count_request("a", "X", 366, 420, 2).expect("count"),
            "the minute's count is still there"
        );
    }
}
