//! [`EarlyBackend`]: the committer as the filesystem sees it, with the early
//! senders fed from its calls: sealed parts go to [`EarlyUploads`], a
//! commit first stops the file's sender, an unlink or rename tells it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};

use super::uploads::EarlyUploads;
use crate::upload::backend::{Backend, CommitError};

/// A [`Backend`] that sends parts while files are written, then commits
/// through `inner`.
pub struct EarlyBackend {
    inner: Arc<dyn Backend>,
    early: Arc<EarlyUploads>,
    /// Write-back commits being handed over (the sender stopping before
    /// `inner.commit_after`): a `wait` first waits for them.
    handing: Arc<Mutex<HashMap<u64, Shared<BoxFuture<'static, ()>>>>>,
}

impl EarlyBackend {
    pub fn new(inner: Arc<dyn Backend>, early: Arc<EarlyUploads>) -> Self {
        EarlyBackend {
            inner,
            early,
            handing: Arc::default(),
        }
    }
}

impl Backend for EarlyBackend {
    fn commit(&self, ino: u64, version: u64) -> BoxFuture<'static, Result<(), CommitError>> {
        let (inner, stop) = (self.inner.clone(), self.early.stop(ino));
        Box::pin(async move {
            stop.await;
            inner.commit(ino, version).await
        })
    }

    fn commit_after(&self, ino: u64, version: u64, quiet: Duration) {
        if !self.early.sending(ino) {
            return self.inner.commit_after(ino, version, quiet);
        }
        let (inner, stop) = (self.inner.clone(), self.early.stop(ino));
        let handing = self.handing.clone();
        let handover = async move {
            stop.await;
            inner.commit_after(ino, version, quiet);
            let mut h = handing.lock().unwrap_or_else(|p| p.into_inner());
            h.remove(&ino);
        }
        .boxed()
        .shared();
        let mut h = self.handing.lock().unwrap_or_else(|p| p.into_inner());
        h.insert(ino, handover.clone());
        drop(h);
        self.early.runtime().spawn(handover);
    }

    fn wait(&self, ino: u64) -> BoxFuture<'static, Result<(), CommitError>> {
        let handover = {
            let h = self.handing.lock().unwrap_or_else(|p| p.into_inner());
            h.get(&ino).cloned()
        };
        let inner = self.inner.clone();
        Box::pin(async move {
            if let Some(h) = handover {
                h.await;
            }
            inner.wait(ino).await
        })
    }

    fn cancel(&self, ino: u64) {
        self.inner.cancel(ino);
    }

    fn retry_now(&self) {
        self.inner.retry_now();
    }

    fn early_parts(&self) -> bool {
        true
    }

    fn part_sealed(&self, ino: u64, version: u64, index: u64, md5: [u8; 16]) {
        self.early.part_sealed(ino, version, index, md5);
    }

    fn written(&self, ino: u64, version: u64, offset: u64, len: u64) {
        self.early.written(ino, version, offset, len);
    }

    fn truncated(&self, ino: u64, version: u64, size: u64) {
        self.early.truncated(ino, version, size);
    }

    fn renamed(&self, ino: u64) {
        self.early.renamed(ino);
    }

    fn removed(&self, ino: u64) {
        self.early.removed(ino);
    }
}
