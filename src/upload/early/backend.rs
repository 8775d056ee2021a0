//! [`EarlyBackend`]: the committer as the filesystem sees it, with the early
//! senders fed from its calls: sealed parts go to [`EarlyUploads`], a
//! commit first stops the file's sender, an unlink or rename tells it.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::uploads::EarlyUploads;
use crate::upload::backend::{Backend, CommitError};

/// A [`Backend`] that sends parts while files are written, then commits
/// through `inner`.
pub struct EarlyBackend {
    inner: Arc<dyn Backend>,
    early: Arc<EarlyUploads>,
}

impl EarlyBackend {
    pub fn new(inner: Arc<dyn Backend>, early: Arc<EarlyUploads>) -> Self {
        EarlyBackend { inner, early }
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
        let (inner, stop) = (self.inner.clone(), self.early.stop(ino));
        self.early.runtime().spawn(async move {
            stop.await;
            inner.commit_after(ino, version, quiet);
        });
    }

    fn wait(&self, ino: u64) -> BoxFuture<'static, Result<(), CommitError>> {
        self.inner.wait(ino)
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

    fn renamed(&self, ino: u64) {
        self.early.renamed(ino);
    }

    fn removed(&self, ino: u64) {
        self.early.removed(ino);
    }
}
