//! A fake [`Backend`] for tests of the filesystem (unit and real-mount):
//! it commits at once by writing a fake fileId and url into the cache,
//! records every call, and checks the hashes the filesystem precomputed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use md5::{Digest, Md5};
use sha1::Sha1;

use crate::cache::{Cache, Committed, UploadState, UploadStatus};
use crate::upload::{Backend, CommitError, RemoteRead, RemoteReadError};

/// One commit the backend performed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCommit {
    pub ino: u64,
    pub version: u64,
    /// The file's name at commit time.
    pub name: Vec<u8>,
    pub size: u64,
    pub file_id: String,
    pub url: String,
    /// The content, as the backend read it with `read_at`.
    pub content: Vec<u8>,
}

#[derive(Default)]
struct Log {
    commits: Vec<RecordedCommit>,
    cancels: Vec<u64>,
    /// Precomputed hashes that disagreed with the bytes.
    hash_mismatches: Vec<String>,
    /// Bytes "at the service", by url (for `read_remote`).
    remote: HashMap<String, Vec<u8>>,
    /// Every `read_remote` asked: (offset, len), in order.
    remote_reads: Vec<(u64, u32)>,
    /// ino → generation of the latest `commit_after`.
    scheduled: HashMap<u64, u64>,
    fail_next: Option<String>,
}

/// Commits instantly into the cache; see the module doc.
pub struct RecordingBackend {
    shared: Arc<Shared>,
}

struct Shared {
    cache: Cache,
    log: Mutex<Log>,
    seq: AtomicU64,
}

impl RecordingBackend {
    pub fn new(cache: Cache) -> Arc<RecordingBackend> {
        Arc::new(RecordingBackend {
            shared: Arc::new(Shared {
                cache,
                log: Mutex::new(Log::default()),
                seq: AtomicU64::new(0),
            }),
        })
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.shared.log()
    }

    /// Every commit so far, in order.
    pub fn commits(&self) -> Vec<RecordedCommit> {
        self.log().commits.clone()
    }

    /// Inodes passed to `cancel`.
    pub fn cancels(&self) -> Vec<u64> {
        self.log().cancels.clone()
    }

    /// Descriptions of precomputed hashes that were wrong (should be empty).
    pub fn hash_mismatches(&self) -> Vec<String> {
        self.log().hash_mismatches.clone()
    }

    /// The next commit fails with `message`.
    pub fn fail_next(&self, message: &str) {
        self.log().fail_next = Some(message.to_string());
    }

    /// The bytes "at the service" behind `url`.
    pub fn remote_bytes(&self, url: &str) -> Option<Vec<u8>> {
        self.log().remote.get(url).cloned()
    }

    /// The (offset, len) of every remote read asked so far, in order.
    pub fn remote_reads(&self) -> Vec<(u64, u32)> {
        self.log().remote_reads.clone()
    }
}

impl Shared {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn do_commit(&self, ino: u64, version: u64) -> Result<(), CommitError> {
        let fail = |m: String| CommitError::new(m);
        let info = self
            .cache
            .commit_info(ino, version)
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail(format!("inode {ino} version {version} is not sealed")))?;
        let content = self
            .cache
            .read_at(ino, version, 0, info.size as usize)
            .map_err(|e| fail(e.to_string()))?;
        if content.len() as u64 != info.size {
            return Err(fail(format!(
                "read {} bytes of {}",
                content.len(),
                info.size
            )));
        }
        let sha1: [u8; 20] = Sha1::digest(&content).into();
        let mut mismatches = Vec::new();
        if info.sha1.is_some_and(|s| s != sha1) {
            mismatches.push(format!("inode {ino} v{version}: sha1"));
        }
        for (i, (part, md5)) in content
            .chunks(info.part_size as usize)
            .zip(&info.md5s)
            .enumerate()
        {
            if md5.is_some_and(|m| m != <[u8; 16]>::from(Md5::digest(part))) {
                mismatches.push(format!("inode {ino} v{version}: part {i} md5"));
            }
        }
        let failure = {
            let mut log = self.log();
            log.hash_mismatches.extend(mismatches);
            log.fail_next.take()
        };
        if let Some(message) = failure {
            let status = UploadStatus {
                state: UploadState::Failed,
                parts_done: 0,
                parts_total: info.md5s.len() as u64,
                bytes_done: 0,
                bytes_total: info.size,
                error: Some(message.clone()),
                waiting: None,
            };
            let _ = self.cache.set_upload_status(ino, version, &status);
            return Err(fail(message));
        }
        let n = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let file_id = format!("{}", 5_285_890_780_000 + n);
        let url = format!("http://vod.test/{file_id}/f0.mp4");
        let stem = String::from_utf8_lossy(&info.name)
            .rsplit_once('.')
            .map_or_else(
                || String::from_utf8_lossy(&info.name).into_owned(),
                |(s, _)| s.to_string(),
            );
        let committed = Committed {
            file_id: file_id.clone(),
            url: url.clone(),
            sha1: hex::encode(sha1),
            service_name: stem,
            cover_url: None,
        };
        self.cache
            .mark_committed(ino, version, &committed)
            .map_err(|e| fail(e.to_string()))?;
        let mut log = self.log();
        log.remote.insert(url.clone(), content.clone());
        log.commits.push(RecordedCommit {
            ino,
            version,
            name: info.name,
            size: info.size,
            file_id,
            url,
            content,
        });
        Ok(())
    }
}

impl Backend for RecordingBackend {
    fn commit(&self, ino: u64, version: u64) -> BoxFuture<'static, Result<(), CommitError>> {
        let r = self.shared.do_commit(ino, version);
        futures::future::ready(r).boxed()
    }

    fn commit_after(&self, ino: u64, version: u64, quiet: Duration) {
        let generation = self.shared.seq.fetch_add(1, Ordering::SeqCst);
        self.log().scheduled.insert(ino, generation);
        // Weak: a backend dropped meanwhile (an unmount) commits nothing.
        let shared = Arc::downgrade(&self.shared);
        std::thread::spawn(move || {
            std::thread::sleep(quiet);
            let Some(shared) = shared.upgrade() else {
                return;
            };
            if shared.log().scheduled.get(&ino) != Some(&generation) {
                return;
            }
            let _ = shared.do_commit(ino, version);
            let mut log = shared.log();
            if log.scheduled.get(&ino) == Some(&generation) {
                log.scheduled.remove(&ino);
            }
        });
    }

    fn wait(&self, ino: u64) -> BoxFuture<'static, Result<(), CommitError>> {
        let shared = self.shared.clone();
        async move {
            for _ in 0..2000 {
                if !shared.log().scheduled.contains_key(&ino) {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(CommitError::new("timed out waiting for a scheduled commit"))
        }
        .boxed()
    }

    fn cancel(&self, ino: u64) {
        let mut log = self.log();
        log.cancels.push(ino);
        log.scheduled.remove(&ino);
    }
}

/// Serves the content of the media this backend committed, by url.
impl RemoteRead for RecordingBackend {
    fn read_remote(
        &self,
        url: &str,
        offset: u64,
        len: u32,
    ) -> BoxFuture<'static, Result<Vec<u8>, RemoteReadError>> {
        let mut log = self.log();
        log.remote_reads.push((offset, len));
        let r = match log.remote.get(url) {
            Some(bytes) => {
                let start = (offset as usize).min(bytes.len());
                let end = start.saturating_add(len as usize).min(bytes.len());
                Ok(bytes[start..end].to_vec())
            }
            None => Err(RemoteReadError(format!("no media at {url}"))),
        };
        futures::future::ready(r).boxed()
    }
}
