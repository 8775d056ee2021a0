//! Group commit of the store: owns making committed transactions durable
//! with one `fdatasync` of the SQLite write-ahead log for every writer
//! that is waiting, instead of one synced transaction per request.
//!
//! The connection runs at `synchronous=NORMAL`: a commit appends its frames
//! to the WAL (in the kernel: a `kill -9` of the service loses nothing) but
//! does not sync them. Before a request that wrote is answered, it calls
//! [`GroupSync::wait_durable`] once with the connection's change count
//! after its work (the guard's `App::one_wait`): the first waiter becomes the leader and syncs the WAL
//! once for every commit made so far, the others wait for that sync (or the
//! next one) to cover theirs. A request that only read waits too when it
//! may have read what is not durable yet, and passes at once otherwise. A
//! sync covers all frames written before it started, so an answered
//! request survives power loss exactly as with `synchronous=FULL`, at one
//! sync per group.
//! Checkpoints at `NORMAL` sync the WAL before copying it into the database
//! and the database before the WAL is reused, so moved frames stay durable.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex};

/// How far the WAL is known durable, in the connection's change count
/// (`total_changes`, which only grows and is read under its mutex).
#[derive(Default)]
struct State {
    /// Every change counted up to this value is durable.
    synced: u64,
    /// A leader is syncing right now.
    syncing: bool,
    /// Changes up to this value were covered by a sync that failed.
    failed_upto: u64,
    /// Syncs run (for `/admin/stats` and tests).
    syncs: u64,
}

/// The write-ahead log's group syncer.
pub struct GroupSync {
    wal: PathBuf,
    state: Mutex<State>,
    done: Condvar,
}

impl GroupSync {
    /// The syncer of the database at `db` (its WAL is `db` + `-wal`).
    pub fn new(db: &std::path::Path) -> GroupSync {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        GroupSync {
            wal: PathBuf::from(wal),
            state: Mutex::new(State::default()),
            done: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks until every change counted up to `target` is durable: at once
    /// when a sync already covered it (a request that only read), else by
    /// joining the sync in flight or leading the next one. `now` reads the
    /// connection's change count; a leader reads it before its sync, so the
    /// sync covers every commit counted by then.
    pub fn wait_durable(&self, target: u64, now: impl Fn() -> u64) -> std::io::Result<()> {
        let mut s = self.lock();
        loop {
            if s.synced >= target {
                return Ok(());
            }
            if s.failed_upto >= target {
                return Err(std::io::Error::other(
                    "syncing the store's write-ahead log failed",
                ));
            }
            if s.syncing {
                s = self.done.wait(s).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            s.syncing = true;
            drop(s);
            let upto = now().max(target);
            let result = self.sync_wal();
            s = self.lock();
            s.syncing = false;
            s.syncs += 1;
            match &result {
                Ok(()) => s.synced = s.synced.max(upto),
                Err(e) => {
                    tracing::error!(wal = %self.wal.display(), "syncing the store's write-ahead log: {e}");
                    s.failed_upto = s.failed_upto.max(upto);
                }
            }
            self.done.notify_all();
        }
    }

    /// Whether every change up to `target` is durable already.
    pub fn covers(&self, target: u64) -> bool {
        self.lock().synced >= target
    }

    /// How many syncs ran so far.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    fn sync_wal(&self) -> std::io::Result<()> {
        match std::fs::File::open(&self.wal) {
            Ok(f) => f.sync_data(),
            // No WAL (yet): nothing was written through it to sync.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn group_sync_covers_concurrent_writers_and_lets_readers_of_synced_state_pass() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.sqlite3");
        std::fs::write(dir.path().join("x.sqlite3-wal"), b"frames").unwrap();
        let g = Arc::new(GroupSync::new(&db));
        let changes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let threads: Vec<_> = (0..32)
            .map(|_| {
                let (g, c) = (g.clone(), changes.clone());
                std::thread::spawn(move || {
                    // A commit, then the wait for it.
                    let mine = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    g.wait_durable(mine, || c.load(std::sync::atomic::Ordering::SeqCst))
                        .unwrap();
                    assert!(g.lock().synced >= mine);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let syncs = g.syncs();
        assert!((1..=32).contains(&syncs), "{syncs} syncs");
        assert_eq!(g.lock().synced, 32);
        // Nothing new: a reader's wait syncs nothing.
        g.wait_durable(32, || 32).unwrap();
        assert_eq!(g.syncs(), syncs);
        // A new change: one more sync.
        g.wait_durable(33, || 33).unwrap();
        assert_eq!(g.syncs(), syncs + 1);
    }
}
