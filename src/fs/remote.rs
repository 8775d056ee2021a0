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
//! - Reads go through the mount's HTTP client (`RemoteRead::read_remote`: Range
//!   requests) with a bounded read-ahead: windows of [`READ_AHEAD`] bytes
//!   growing to [`MAX_WINDOW`] on sequential reads, the next two requested
//!   while the current is read (see `read_ahead`); at most
//!   [`MAX_BUFFERS`] files keep windows.
//! - Verification: the service must answer exactly the bytes the file's
//!   size calls for (a shorter or longer media is not this content). The
//!   SHA-1 is checked whenever the whole content is fetched.
//! - A failure is EIO with a log line naming the file and the cause.

use std::sync::Arc;

use futures::FutureExt;
use sha1::{Digest, Sha1};

use super::error::FsError;
use super::filesystem::Fs;
use super::open::Inner;
use super::read_ahead::{Buffer, Window};
use super::reply::Reply;

/// Bytes fetched per remote read at least: the first window of a file.
pub const READ_AHEAD: u64 = 1 << 20;
/// The largest window: sequential reads double it up to this.
pub const MAX_WINDOW: u64 = 8 << 20;
/// Files with a read-ahead buffer at most (the buffers are dropped past it):
/// with four windows a file, at most 8 × 32 MiB of memory.
pub const MAX_BUFFERS: usize = 8;
/// Bytes fetched per request when restoring a whole content.
const RESTORE_CHUNK: u64 = 8 << 20;

/// Starts fetching [start, start + len) of `url` on the runtime (so it
/// proceeds whether or not a read awaits it yet), checking the length.
fn fetch(fs: &Fs, url: &str, start: u64, len: u64, size: u64) -> Window {
    let fut = fs.remote.read_remote(url, start, len as u32);
    let task = fs.runtime.spawn(async move {
        let got = fut.await.map_err(|e| e.0)?;
        if got.len() as u64 != len {
            return Err(format!(
                "the service answered {} bytes at offset {start}, the file needs {len} (size {size}): not this content",
                got.len()
            ));
        }
        Ok(Arc::new(got))
    });
    let bytes = async move {
        task.await
            .unwrap_or_else(|e| Err(format!("fetch task: {e}")))
    }
    .boxed()
    .shared();
    Window { start, len, bytes }
}

/// Where the window after `w` starts and how long it is (twice `w`,
/// within [`READ_AHEAD`]..[`MAX_WINDOW`] and the file); None at its end.
fn following(w: &Window, size: u64) -> Option<(u64, u64)> {
    let at = w.start + w.len;
    (at < size).then(|| (at, (w.len * 2).clamp(READ_AHEAD, MAX_WINDOW).min(size - at)))
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
                &self.cache.display_path(ino),
                "evicted content has no playback URL".into(),
            )),
        }
    }

    /// Reads `len` bytes at `offset` of evicted (ino, version) of `size`
    /// bytes from its URL, through the read-ahead windows (see
    /// `read_ahead`).
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
        let (url, _) = match self.committed_url(ino, version) {
            Ok(u) => u,
            Err(e) => return Reply::Now(Err(e)),
        };
        let window = {
            let mut g = self.read_ahead.lock();
            let buf = g.get_mut(&ino).filter(|b| b.version == version);
            let found = match buf {
                Some(b) if b.current.covers(offset, len) => Some(b),
                Some(b) if b.next.as_ref().is_some_and(|n| n.covers(offset, len)) => {
                    // The reader moved on to the window fetched ahead.
                    let next = b.next.take().expect("checked");
                    b.prev = Some(std::mem::replace(&mut b.current, next));
                    b.next = b.after.take();
                    Some(b)
                }
                Some(b) if b.prev.as_ref().is_some_and(|p| p.covers(offset, len)) => {
                    let w = b.prev.clone().expect("checked");
                    return self.read_window(ino, w, offset, len);
                }
                _ => None,
            };
            match found {
                Some(b) => {
                    let cur = &b.current;
                    if offset + len > cur.start + cur.len / 2 {
                        // The next two windows, each after the one before.
                        let fetch_after = |w: &Window| {
                            following(w, size).map(|(at, n)| fetch(self, &url, at, n, size))
                        };
                        if b.next.is_none() {
                            b.next = fetch_after(&b.current);
                        }
                        if b.after.is_none() {
                            b.after = b.next.as_ref().and_then(fetch_after);
                        }
                    }
                    b.current.clone()
                }
                None => {
                    if g.len() >= MAX_BUFFERS && !g.contains_key(&ino) {
                        g.clear();
                    }
                    let want = len.max(READ_AHEAD).min(size - offset);
                    let current = fetch(self, &url, offset, want, size);
                    g.insert(
                        ino,
                        Buffer {
                            version,
                            prev: None,
                            current: current.clone(),
                            next: None,
                            after: None,
                        },
                    );
                    current
                }
            }
        };
        self.read_window(ino, window, offset, len)
    }

    /// `len` bytes at `offset` out of `window`: at once when it is there.
    fn read_window(&self, ino: u64, window: Window, offset: u64, len: u64) -> Reply<Vec<u8>> {
        if let Some(Ok(bytes)) = window.bytes.peek() {
            let a = (offset - window.start) as usize;
            return Reply::Now(Ok(bytes[a..a + len as usize].to_vec()));
        }
        let file = self.cache.display_path(ino);
        let buffers = self.read_ahead.clone();
        Reply::Later(
            async move {
                match window.bytes.await {
                    Ok(bytes) => {
                        let a = (offset - window.start) as usize;
                        Ok(bytes[a..a + len as usize].to_vec())
                    }
                    Err(why) => {
                        // Forget the failed window so the next read asks again.
                        buffers.lock().remove(&ino);
                        Err(remote_error(&file, why))
                    }
                }
            }
            .boxed(),
        )
    }

    /// Before a write that keeps the bytes of evicted `g`: fetches the whole
    /// content back into its data file, verified against its SHA-1. Blocks
    /// the calling (FUSE) thread for the download.
    pub(super) fn restore_evicted(&self, ino: u64, g: &Inner) -> Result<(), FsError> {
        let (url, sha1) = self.committed_url(ino, g.version)?;
        let file = self.cache.display_path(ino);
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
                .block_on(self.remote.read_remote(&url, offset, want as u32))
                .map_err(|e| remote_error(&file, e.0))?;
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
