//! The connections: one writer connection owned by one thread, which callers
//! send work to, and a small pool of reader connections.
//!
//! The writer drains its queue and runs everything queued in one transaction,
//! each job inside its own savepoint (a failing job rolls back alone), then
//! commits once and answers every job. Callers block until their job is
//! committed, so a read issued after a write returns sees it. Commits run at
//! `synchronous=NORMAL` (in the WAL, in the kernel: a kill -9 loses
//! nothing); a durable job is answered only after the syncer thread has
//! synced the WAL, once for every durable job committed meanwhile (group
//! commit), while the writer goes on with the next batch instead of
//! waiting for the disk.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use std::thread;

use rusqlite::Connection;

use super::error::CacheError;

type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Deliver) + Send>;

struct Msg {
    job: Job,
    durable: bool,
}

/// The writer thread's mailbox and the reader pool.
pub(crate) struct Db {
    path: PathBuf,
    jobs: Mutex<Option<mpsc::Sender<Msg>>>,
    writer: Mutex<Option<thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
}

impl Db {
    /// Takes ownership of the (already migrated) writer connection.
    pub(crate) fn start(path: &Path, writer: Connection) -> Result<Db, CacheError> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let (sync_tx, sync_rx) = mpsc::channel::<Synced>();
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        thread::Builder::new()
            .name("vodfs-cache-sync".into())
            .spawn(move || syncer_loop(&wal, sync_rx))
            .map_err(|e| CacheError::io("starting the cache syncer thread", e))?;
        let handle = thread::Builder::new()
            .name("vodfs-cache-writer".into())
            .spawn(move || writer_loop(writer, rx, sync_tx))
            .map_err(|e| CacheError::io("starting the cache writer thread", e))?;
        Ok(Db {
            path: path.to_owned(),
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Runs `f` on the writer thread inside a transaction; returns once it is
    /// committed. `durable` commits with `synchronous=FULL`.
    pub(crate) fn write<T, F>(&self, durable: bool, f: F) -> Result<T, CacheError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, CacheError> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let deliver: Deliver = Box::new(move |commit| {
                let out = match commit {
                    Ok(()) => result,
                    Err(e) => Err(CacheError::Commit(e)),
                };
                let _ = tx.send(out);
            });
            (ok, deliver)
        });
        {
            let guard = self.jobs.lock().map_err(|_| CacheError::WriterGone)?;
            let sender = guard.as_ref().ok_or(CacheError::WriterGone)?;
            sender
                .send(Msg { job, durable })
                .map_err(|_| CacheError::WriterGone)?;
        }
        rx.recv().map_err(|_| CacheError::WriterGone)?
    }

    /// Runs `f` on a reader connection of the pool.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, CacheError>,
    ) -> Result<T, CacheError> {
        let conn = match self.readers.lock().ok().and_then(|mut p| p.pop()) {
            Some(c) => c,
            None => super::schema::connect_reader(&self.path)?,
        };
        let out = f(&conn);
        if let Ok(mut pool) = self.readers.lock()
            && pool.len() < 8
        {
            pool.push(conn);
        }
        out
    }

    /// Stops the writer after the queued work is done.
    pub(crate) fn close(&self) {
        if let Ok(mut j) = self.jobs.lock() {
            j.take();
        }
        if let Some(h) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = h.join();
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.close();
    }
}

/// Durable jobs committed (with the commit's outcome), waiting for the
/// WAL's sync.
type Synced = (Result<(), String>, Vec<Deliver>);

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Msg>, synced: mpsc::Sender<Synced>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < 256 {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let durable: Vec<bool> = batch.iter().map(|m| m.durable).collect();
        let (commit, delivers) = run_batch(&conn, batch);
        let mut later = Vec::new();
        for (d, durable) in delivers.into_iter().zip(durable) {
            match durable && commit.is_ok() {
                true => later.push(d),
                false => d(commit.clone()),
            }
        }
        if !later.is_empty()
            && let Err(mpsc::SendError((_, later))) = synced.send((commit, later))
        {
            // No syncer: sync here.
            let r = sync_wal_of(&conn);
            for d in later {
                d(r.clone());
            }
        }
    }
    drop(synced);
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
}

/// Syncs the WAL for every durable job committed since the last sync, then
/// answers them.
fn syncer_loop(wal: &Path, rx: mpsc::Receiver<Synced>) {
    while let Ok(first) = rx.recv() {
        let mut waiting = vec![first];
        while let Ok(more) = rx.try_recv() {
            waiting.push(more);
        }
        let synced = sync_wal(wal);
        for (commit, delivers) in waiting {
            let r = commit.and_then(|()| synced.clone());
            for d in delivers {
                d(r.clone());
            }
        }
    }
}

fn sync_wal(wal: &Path) -> Result<(), String> {
    match std::fs::File::open(wal) {
        Ok(f) => f
            .sync_data()
            .map_err(|e| format!("syncing {}: {e}", wal.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("syncing {}: {e}", wal.display())),
    }
}

fn sync_wal_of(conn: &Connection) -> Result<(), String> {
    match conn.path() {
        Some(p) => sync_wal(Path::new(&format!("{p}-wal"))),
        None => Ok(()),
    }
}

fn run_batch(conn: &Connection, batch: Vec<Msg>) -> (Result<(), String>, Vec<Deliver>) {
    let mut delivers = Vec::with_capacity(batch.len());
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        // Dropping the jobs unblocks their callers with `WriterGone`.
        tracing::error!("cache writer cannot begin a transaction: {e}");
        drop(batch);
        return (Err(format!("begin: {e}")), delivers);
    }
    // A job alone needs no savepoint: if it fails, the transaction holds
    // nothing else and rolls back whole.
    let alone = batch.len() == 1;
    let mut failed_alone = false;
    for m in batch {
        if !alone {
            let _ = exec(conn, "SAVEPOINT job");
        }
        let (ok, d) = (m.job)(conn);
        if alone {
            failed_alone = !ok;
        } else if ok {
            let _ = exec(conn, "RELEASE job");
        } else {
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
        }
        delivers.push(d);
    }
    if failed_alone {
        let _ = exec(conn, "ROLLBACK");
        return (Ok(()), delivers);
    }
    let commit = exec(conn, "COMMIT").map_err(|e| {
        let _ = exec(conn, "ROLLBACK");
        format!("commit: {e}")
    });
    (commit, delivers)
}

/// One statement of the writer's own, prepared once per connection (they
/// run for every batch: parsing them again was 5 % of the mount's CPU
/// with small files).
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}
