//! Content evicted from the cache: reads from the playback URL, and the
//! whole content fetched back before a write that keeps its bytes.
//!
//! Design decisions:
//! - A file's current version is evicted when it is sealed (so committed:
//!   only media versions are evicted, see `crate::cache::space`), no data
//!   file is open for it, and its data file is absent. Nothing creates that
//!   file empty: reads never open it, and a write that keeps the old bytes
//!   (append, `truncate` to a non-zero size) first restores it whole from
//!   the URL, verified against its SHA-1.
//! - Reads go through the mount's HTTP client (`Backend::read_remote`: Range
//!   requests) with a bounded read-ahead: each fetch asks for at least
//!   [`READ_AHEAD`] bytes and keeps them for the next sequential reads; at
//!   most [`MAX_BUFFERS`] files keep such a buffer.
//! - Verification: the service must answer exactly the bytes the file's
//!   size calls for (a shorter or longer media is not this content). The
//!   SHA-1 is checked whenever the whole content is fetched.
//! - A failure is EIO with a log line naming the file and the cause.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use sha1::{Digest, Sha1};

use super::open::Inner;
use super::{Fs, FsError, Reply};
use crate::upload::commit_job::display_path;

/// Bytes fetched per remote read at least (sequential reads hit the buffer).
pub const READ_AHEAD: u64 = 1 << 20;
/// Files with a read-ahead buffer at most (the buffers are dropped past it).
pub const MAX_BUFFERS: usize = 32;
/// Bytes fetched per request when restoring a whole content.
const RESTORE_CHUNK: u64 = 8 << 20;

/// One file's read-ahead: (version, offset, bytes).
type Buffer = (u64, u64, Arc<Vec<u8>>);

/// Read-ahead buffers of evicted files, by inode.
#[derive(Default)]
pub(super) struct ReadAhead(Mutex<HashMap<u64, Buffer>>);

impl ReadAhead {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Buffer>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bytes [offset, offset + len) of (ino, version) if buffered.
    fn get(&self, ino: u64, version: u64, offset: u64, len: u64) -> Option<Vec<u8>> {
        let g = self.lock();
        let (v, start, buf) = g.get(&ino)?;
        let end = start + buf.len() as u64;
        (*v == version && offset >= *start && offset + len <= end).then(|| {
            let a = (offset - start) as usize;
            buf[a..a + len as usize].to_vec()
        })
    }

    fn put(&self, ino: u64, version: u64, offset: u64, buf: Arc<Vec<u8>>) {
        let mut g = self.lock();
        if g.len() >= MAX_BUFFERS && !g.contains_key(&ino) {
            g.clear();
        }
        g.insert(ino, (version, offset, buf));
    }
}

fn remote_error(file: &str, why: String) -> FsError {
    tracing::warn!(file = %file, "read of evicted content from its URL failed: {why}");
    FsError::io(
        format!("reading {file} from its playback URL"),
        std::io::Error::other(why),
    )
}

impl Fs {
    /// Whether the current version `g` of `ino` is evicted from the cache.
    pub(super) fn evicted(&self, ino: u64, g: &Inner) -> bool {
        g.sealed && g.file.is_none() && self.cache.is_evicted(ino, g.version)
    }

    /// The playback URL and SHA-1 of committed (ino, version).
    fn committed_url(&self, ino: u64, version: u64) -> Result<(String, Option<String>), FsError> {
        let up = self.cache.upload(ino, version)?;
        match up.and_then(|u| u.url.map(|url| (url, u.sha1))) {
            Some(found) => Ok(found),
            None => Err(remote_error(
                &display_path(&self.cache, ino),
                "evicted content has no playback URL".into(),
            )),
        }
    }

    /// Reads `len` bytes at `offset` of evicted (ino, version) of `size`
    /// bytes from its URL, through the read-ahead buffer.
    pub(super) fn read_evicted(
        &self,
        ino: u64,
        version: u64,
        size: u64,
        offset: u64,
        len: u64,
    ) -> Reply<Vec<u8>> {
        let len = len.min(size.saturating_sub(offset));
        if len == 0 {
            return Reply::Now(Ok(Vec::new()));
        }
        if let Some(hit) = self.read_ahead.get(ino, version, offset, len) {
            return Reply::Now(Ok(hit));
        }
        let (url, _) = match self.committed_url(ino, version) {
            Ok(u) => u,
            Err(e) => return Reply::Now(Err(e)),
        };
        let want = len.max(READ_AHEAD).min(size - offset);
        let fut = self.backend.read_remote(&url, offset, want as u32);
        let file = display_path(&self.cache, ino);
        let buffers = self.read_ahead.clone();
        Reply::Later(
            async move {
                let got = fut.await.map_err(|e| remote_error(&file, e.message))?;
                if got.len() as u64 != want {
                    return Err(remote_error(
                        &file,
                        format!(
                            "the service answered {} bytes at offset {offset}, the file needs {want} (size {size}): not this content",
                            got.len()
                        ),
                    ));
                }
                let out = got[..len as usize].to_vec();
                buffers.put(ino, version, offset, Arc::new(got));
                Ok(out)
            }
            .boxed(),
        )
    }

    /// Before a write that keeps the bytes of evicted `g`: fetches the whole
    /// content back into its data file, verified against its SHA-1. Blocks
    /// the calling (FUSE) thread for the download.
    pub(super) fn restore_evicted(&self, ino: u64, g: &Inner) -> Result<(), FsError> {
        let (url, sha1) = self.committed_url(ino, g.version)?;
        let file = display_path(&self.cache, ino);
        self.reserve_space(g.size)?;
        let path = self.cache.data_path(ino, g.version);
        let tmp = path.with_extension("restore");
        let out =
            std::fs::File::create(&tmp).map_err(|e| FsError::io(format!("restoring {file}"), e))?;
        let mut hasher = Sha1::new();
        let mut offset = 0;
        while offset < g.size {
            let want = RESTORE_CHUNK.min(g.size - offset);
            let got = self
                .runtime
                .block_on(self.backend.read_remote(&url, offset, want as u32))
                .map_err(|e| remote_error(&file, e.message))?;
            if got.len() as u64 != want {
                let _ = std::fs::remove_file(&tmp);
                return Err(remote_error(
                    &file,
                    format!("short answer restoring at offset {offset}"),
                ));
            }
            hasher.update(&got);
            std::os::unix::fs::FileExt::write_all_at(&out, &got, offset)
                .map_err(|e| FsError::io(format!("restoring {file}"), e))?;
            offset += want;
        }
        let got_sha = hex::encode(hasher.finalize());
        if sha1.as_deref().is_some_and(|s| s != got_sha) {
            let _ = std::fs::remove_file(&tmp);
            return Err(remote_error(
                &file,
                format!("the bytes behind the URL have sha1 {got_sha}, the file {sha1:?}"),
            ));
        }
        out.sync_data()
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| FsError::io(format!("restoring {file}"), e))?;
        tracing::info!(file = %file, bytes = g.size, "restored evicted content from its URL before a write");
        Ok(())
    }
}
