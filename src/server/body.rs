//! Receiving request bodies: streamed to a durable temporary file with MD5
//! and SHA-1 computed on the way, never buffered whole, never form-decoded.
//!
//! A body over its limit is drained (up to a cap) before the error is sent,
//! so a client still writing its body reads our answer instead of a reset.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt as _;
use md5::Md5;
use sha1::{Digest as _, Sha1};

use super::error::ServerError;
use crate::direct_io::ALIGN as DIRECT_ALIGN;

/// How much of an oversized body is read and discarded before answering.
const DRAIN_CAP: u64 = 256 << 20;

/// A received body in `tmp/`, removed on drop unless persisted.
#[derive(Debug)]
pub struct Incoming {
    pub path: PathBuf,
    pub len: u64,
    pub md5: String,
    pub sha1: String,
    persisted: bool,
}

impl Incoming {
    /// Moves the (already fsynced) file to `dest`, durably.
    pub fn persist_to(mut self, dest: &Path) -> std::io::Result<()> {
        super::store::persist(&self.path, dest)?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn tmp_name(dir: &Path) -> PathBuf {
    dir.join(format!("{:016x}", rand::random::<u64>()))
}

/// Streams `body` into `tmp_dir`, failing with `BodyTooLarge(limit)` past
/// `limit` bytes.
pub async fn receive(body: Body, tmp_dir: &Path, limit: u64) -> Result<Incoming, ServerError> {
    receive_hashed(body, tmp_dir, limit, true).await
}

/// Bytes gathered before they are hashed and written in one blocking step;
/// a multiple of [`DIRECT_ALIGN`], so every full batch starts aligned.
const BATCH: usize = 1 << 20;

/// Batch buffers kept for the next bodies: a new one is page-faulted in
/// as it fills, for every part.
static SPARE_BATCHES: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// How many batch buffers [`SPARE_BATCHES`] keeps (4 MiB).
const SPARE_KEPT: usize = 4;

/// Up to [`BATCH`] bytes of a body, starting at a [`DIRECT_ALIGN`]ed
/// address of its buffer.
struct Batch {
    buf: Vec<u8>,
    off: usize,
    len: usize,
}

impl Batch {
    fn new() -> Batch {
        let spare = SPARE_BATCHES
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let buf = spare.unwrap_or_else(|| vec![0u8; BATCH + DIRECT_ALIGN]);
        let off = buf.as_ptr().align_offset(DIRECT_ALIGN);
        Batch { buf, off, len: 0 }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.off..self.off + self.len]
    }

    /// Copies what fits of `data`; returns the rest.
    fn fill<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        let n = (BATCH - self.len).min(data.len());
        let at = self.off + self.len;
        self.buf[at..at + n].copy_from_slice(&data[..n]);
        self.len += n;
        &data[n..]
    }

    fn is_full(&self) -> bool {
        self.len == BATCH
    }

    /// The bytes as a vector of their own (a kept part).
    fn into_vec(self) -> Vec<u8> {
        let (mut v, off, len) = (self.buf, self.off, self.len);
        v.truncate(off + len);
        v.drain(..off);
        v
    }

    /// Gives the buffer back for the next body.
    fn recycle(self) {
        let mut spare = SPARE_BATCHES.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < SPARE_KEPT {
            spare.push(self.buf);
        }
    }
}

/// The file and hashes a body is fed to, off the async threads.
///
/// The aligned bytes of each batch are written with O_DIRECT
/// (`crate::direct_io`): a stored body is written once and read rarely (a
/// probe of its head, a playback), so it need not fill the page cache,
/// which on a VM handing free memory back to its host is the slowest part
/// of a write. A body's tail, a part at an odd offset, and every byte on a
/// file system without O_DIRECT go through the page cache; the sync covers
/// both.
struct Sink {
    file: Arc<std::fs::File>,
    direct: Option<std::fs::File>,
    /// A file of the body's own (synced whole), or a shared upload data
    /// file (its data synced).
    own: bool,
    /// Where the body starts in `file`, and where its next byte goes.
    start: u64,
    pos: u64,
    md5: Md5,
    sha1: Option<Sha1>,
}

impl Sink {
    fn put(mut self, batch: Batch) -> std::io::Result<(Sink, Batch)> {
        let bytes = batch.bytes();
        self.md5.update(bytes);
        if let Some(s) = &mut self.sha1 {
            s.update(bytes);
        }
        // The batch is aligned in memory: no copy on the way.
        if !crate::direct_io::write_at(&self.file, self.direct.as_ref(), bytes, self.pos)? {
            self.direct = None;
        }
        self.pos += bytes.len() as u64;
        Ok((self, batch))
    }

    /// Makes the body durable, then lets the pages of what went through
    /// the page cache go (see [`forget_pages`]).
    fn sync(self) -> std::io::Result<Sink> {
        if self.own {
            self.file.sync_all()?;
        } else {
            self.file.sync_data()?;
        }
        if self.pos > self.start {
            forget_pages(&self.file, self.start, self.pos - self.start);
        }
        Ok(self)
    }
}

/// Drops the page-cache pages of `len` bytes of `f` at `start` (0: to the
/// end), which the caller has just synced, so they are clean and go at
/// once. A stored body is written once and read rarely (a probe of its
/// head, a playback), and the service shares the machine with the mount
/// in the embedded default: keeping every received byte cached would grow
/// the page cache by the size of each upload and push out the pages the
/// mount's staging cache is about to read, and on a VM that returns free
/// memory to its host, growing the page cache is what a write costs most
/// (fresh pages ran at ~370 MB/s against ~2.7 GB/s into pages freed a
/// moment before). Advice only: a failure changes nothing.
fn forget_pages(f: &std::fs::File, start: u64, len: u64) {
    crate::fadvise::dont_need(f, start, len);
}

type Pending = tokio::task::JoinHandle<std::io::Result<(Sink, Batch)>>;

async fn join(pending: Pending) -> Result<(Sink, Batch), ServerError> {
    pending
        .await
        .map_err(|e| ServerError::Internal(format!("body writer: {e}")))?
        .map_err(ServerError::from)
}

/// [`receive`], with the SHA-1 of the body only when `sha1` (`sha1` is
/// empty otherwise).
pub async fn receive_hashed(
    body: Body,
    tmp_dir: &Path,
    limit: u64,
    sha1: bool,
) -> Result<Incoming, ServerError> {
    let path = tmp_name(tmp_dir);
    let file = std::fs::File::create(&path)?;
    let direct = crate::direct_io::open_twin(&path);
    let mut incoming = Incoming {
        path,
        len: 0,
        md5: String::new(),
        sha1: String::new(),
        persisted: false,
    };
    let sink = Sink {
        file: Arc::new(file),
        direct,
        own: true,
        start: 0,
        pos: 0,
        md5: Md5::new(),
        sha1: sha1.then(Sha1::new),
    };
    let (len, sink, _) = stream_to(body, sink, limit, 0).await?;
    incoming.len = len;
    incoming.md5 = hex::encode(sink.md5.finalize());
    incoming.sha1 = sink
        .sha1
        .map(|h| hex::encode(h.finalize()))
        .unwrap_or_default();
    Ok(incoming)
}

/// A body received into a shared file.
pub struct Received {
    pub len: u64,
    /// MD5 of the body, hex.
    pub md5: String,
    /// The body's bytes, when at most `keep` bytes long.
    pub kept: Option<Vec<Vec<u8>>>,
}

/// Streams `body` into `file` at `offset` and syncs its data; also hands
/// the bytes back when there are at most `keep`. Past `limit` bytes:
/// `BodyTooLarge`, with whatever arrived already written (the caller
/// forgets the range).
pub async fn receive_at(
    body: Body,
    file: Arc<std::fs::File>,
    path: &Path,
    offset: u64,
    limit: u64,
    keep: u64,
) -> Result<Received, ServerError> {
    let sink = Sink {
        file,
        direct: crate::direct_io::open_twin(path),
        own: false,
        start: offset,
        pos: offset,
        md5: Md5::new(),
        sha1: None,
    };
    let (len, sink, kept) = stream_to(body, sink, limit, keep).await?;
    Ok(Received {
        len,
        md5: hex::encode(sink.md5.finalize()),
        kept,
    })
}

/// Feeds `body` to `sink` in 1 MiB batches, each hashed and written on a
/// blocking thread while the next one arrives (no per-chunk thread hop, no
/// hashing on the runtime), then syncs it. The batches come back when the
/// body is at most `keep` bytes.
async fn stream_to(
    body: Body,
    sink: Sink,
    limit: u64,
    keep: u64,
) -> Result<(u64, Sink, Option<Vec<Vec<u8>>>), ServerError> {
    let mut sink = Some(sink);
    let mut len = 0u64;
    let mut kept = Some(Vec::new());
    let mut pending: Option<Pending> = None;
    let mut batch = Batch::new();
    // A written batch not kept is the next one's buffer: its pages are
    // mapped already.
    let mut spare: Option<Batch> = None;
    let mut stream = body.into_data_stream();
    let take_back = |(s, mut b): (Sink, Batch),
                     len: u64,
                     kept: &mut Option<Vec<Vec<u8>>>,
                     spare: &mut Option<Batch>| {
        match kept {
            Some(k) if len <= keep => {
                if b.len > 0 {
                    k.push(b.into_vec());
                }
            }
            _ => {
                *kept = None;
                b.len = 0;
                *spare = Some(b);
            }
        }
        s
    };
    while let Some(chunk) = stream.next().await {
        let failed = match &chunk {
            Ok(c) if len + c.len() as u64 <= limit => None,
            Ok(_) => Some(ServerError::BodyTooLarge(limit)),
            Err(e) => Some(read_error(e, limit)),
        };
        if let Some(e) = failed {
            if let Ok(c) = &chunk {
                len += c.len() as u64;
            }
            // No write of this body may land after the caller's answer.
            if let Some(p) = pending.take() {
                let _ = p.await;
            }
            if matches!(e, ServerError::BodyTooLarge(_)) {
                drain(stream, len).await;
            }
            return Err(e);
        }
        let Ok(chunk) = chunk else { continue };
        len += chunk.len() as u64;
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            rest = batch.fill(rest);
            if batch.is_full() {
                let s = match pending.take() {
                    Some(p) => take_back(join(p).await?, len, &mut kept, &mut spare),
                    None => sink.take().expect("sink"),
                };
                let next = spare.take().unwrap_or_else(Batch::new);
                let full = std::mem::replace(&mut batch, next);
                pending = Some(tokio::task::spawn_blocking(move || s.put(full)));
            }
        }
    }
    let s = match pending.take() {
        Some(p) => take_back(join(p).await?, len, &mut kept, &mut spare),
        None => sink.take().expect("sink"),
    };
    let last = join(tokio::task::spawn_blocking(move || {
        let (s, b) = s.put(batch)?;
        Ok((s.sync()?, b))
    }))
    .await?;
    let s = take_back(last, len, &mut kept, &mut spare);
    if let Some(b) = spare {
        b.recycle();
    }
    Ok((len, s, kept))
}

async fn drain(mut stream: axum::body::BodyDataStream, mut seen: u64) {
    while seen < DRAIN_CAP {
        match stream.next().await {
            Some(Ok(c)) => seen += c.len() as u64,
            _ => break,
        }
    }
}

/// Reads a small body (JSON, XML, form) into memory, at most `limit` bytes.
pub async fn read_small(body: Body, limit: u64) -> Result<Bytes, ServerError> {
    let mut out = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| read_error(&e, limit))?;
        if (out.len() + chunk.len()) as u64 > limit {
            let seen = (out.len() + chunk.len()) as u64;
            drain(stream, seen).await;
            return Err(ServerError::BodyTooLarge(limit));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// The error of a body whose declared length is over the service's limit:
/// it is refused before a byte is read (so a client that sent
/// `Expect: 100-continue` gets no "100 Continue", only the refusal).
#[derive(Debug, thiserror::Error)]
#[error("the body declares {0} bytes, over the limit")]
pub struct DeclaredTooLarge(pub u64);

/// A body standing for one whose declared length is over the limit: its
/// first read fails with [`DeclaredTooLarge`], read as `BodyTooLarge`.
pub fn declared_too_large(declared: u64) -> Body {
    Body::from_stream(futures::stream::once(async move {
        Err::<Bytes, _>(DeclaredTooLarge(declared))
    }))
}

/// A body read error as the service's error: `BodyTooLarge(limit)` for
/// a declared length over the limit.
fn read_error(e: &axum::Error, limit: u64) -> ServerError {
    // The marker may be wrapped (axum::Error around the stream's error).
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<DeclaredTooLarge>() {
            return ServerError::BodyTooLarge(limit);
        }
        cur = err.source();
    }
    ServerError::Internal(format!("reading body: {e}"))
}

/// `body`, failing once no bytes have come for `idle` (a half-sent body
/// is not waited for forever). `whole` is set once the body has been read
/// to its end (or at once for an empty one): a connection whose request
/// body was not read whole cannot carry another request.
pub fn with_timeout(body: Body, idle: std::time::Duration, whole: Arc<AtomicBool>) -> Body {
    use axum::body::HttpBody as _;
    if body.is_end_stream() {
        whole.store(true, Ordering::Relaxed);
    }
    let stream = futures::stream::unfold(Some(body.into_data_stream()), move |s| {
        let whole = whole.clone();
        async move {
            let mut s = s?;
            match tokio::time::timeout(idle, s.next()).await {
                Ok(Some(Ok(c))) => Some((Ok(c), Some(s))),
                Ok(Some(Err(e))) => Some((Err(axum::BoxError::from(e)), None)),
                Ok(None) => {
                    whole.store(true, Ordering::Relaxed);
                    None
                }
                Err(_) => Some((Err(format!("no body bytes for {idle:?}").into()), None)),
            }
        }
    });
    Body::from_stream(stream)
}

/// Discards a body (bounded), so that an early answer is read by the client.
pub async fn discard(body: Body) {
    drain(body.into_data_stream(), 0).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        let inc = receive(Body::from("abc"), dir.path(), 3).await.unwrap();
        assert_eq!(inc.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(inc.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        let p = inc.path.clone();
        drop(inc);
        assert!(!p.exists(), "unpersisted body is removed");
        let e = receive(Body::from("abcd"), dir.path(), 3)
            .await
            .unwrap_err();
        assert!(matches!(e, ServerError::BodyTooLarge(3)));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// Pages of `f` in the page cache (mincore over a mapping of it).
    fn resident_pages(f: &std::fs::File) -> usize {
        use std::os::fd::AsRawFd as _;
        let len = f.metadata().unwrap().len() as usize;
        let page = 4096;
        let mut vec = vec![0u8; len.div_ceil(page)];
        // SAFETY: a read-only shared mapping of an open file, unmapped
        // before return; `vec` has one byte per page of the mapping.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            assert_eq!(libc::mincore(p, len, vec.as_mut_ptr()), 0);
            libc::munmap(p, len);
        }
        vec.iter().filter(|b| **b & 1 == 1).count()
    }

    /// Bodies of sizes around the alignment and the batch, in chunks of
    /// awkward sizes, land exactly, with their MD5, whether the part of
    /// them written with O_DIRECT starts aligned (a file of their own, a
    /// shared file at an aligned offset) or not (an odd offset: the page
    /// cache only); the temporary directory takes direct writes
    /// (`direct_io::test_dir`), so the direct path is the one tested.
    #[tokio::test]
    async fn direct_and_buffered_writes_land_exactly() {
        use md5::Digest as _;
        let dir = crate::direct_io::test_dir();
        let chunked = |data: &[u8], chunk: usize| {
            let chunks: Vec<Result<Bytes, std::io::Error>> = data
                .chunks(chunk.max(1))
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            Body::from_stream(futures::stream::iter(chunks))
        };
        for size in [
            1,
            4095,
            4096,
            4097,
            BATCH - 1,
            BATCH,
            BATCH + 1,
            3 * BATCH + 5,
        ] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 253) as u8).collect();
            let md5 = hex::encode(Md5::digest(&data));
            for chunk in [1000, 65536, size] {
                let inc = receive(chunked(&data, chunk), dir.path(), 8 << 20)
                    .await
                    .unwrap();
                assert_eq!(
                    (inc.len, &inc.md5),
                    (size as u64, &md5),
                    "{size} in {chunk}"
                );
                assert!(
                    std::fs::read(&inc.path).unwrap() == data,
                    "{size} in {chunk}"
                );
            }
            for offset in [0u64, 1 << 20, 4097] {
                let path = dir.path().join(format!("shared-{size}-{offset}"));
                std::fs::write(&path, vec![9u8; offset as usize]).unwrap();
                let file = Arc::new(
                    std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(&path)
                        .unwrap(),
                );
                let r = receive_at(chunked(&data, 65536), file, &path, offset, 8 << 20, 0)
                    .await
                    .unwrap();
                assert_eq!((r.len, &r.md5), (size as u64, &md5));
                let all = std::fs::read(&path).unwrap();
                assert!(
                    all[..offset as usize].iter().all(|b| *b == 9),
                    "before the part"
                );
                assert!(all[offset as usize..] == data, "{size} at {offset}");
            }
        }
    }

    #[tokio::test]
    async fn a_stored_body_leaves_no_pages_cached() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(3 << 20) + 123).map(|i: u32| (i % 251) as u8).collect();
        let inc = receive(Body::from(data.clone()), dir.path(), 8 << 20)
            .await
            .unwrap();
        let f = std::fs::File::open(&inc.path).unwrap();
        assert_eq!(
            resident_pages(&f),
            0,
            "the synced body's pages were dropped"
        );
        assert_eq!(
            std::fs::read(&inc.path).unwrap(),
            data,
            "and it reads back whole"
        );

        // A body written at an offset of a shared file drops only its range.
        let shared = dir.path().join("shared");
        std::fs::write(&shared, vec![7u8; 1 << 20]).unwrap();
        let file = Arc::new(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&shared)
                .unwrap(),
        );
        let head_before = resident_pages(&file);
        let got = receive_at(
            Body::from(data.clone()),
            file.clone(),
            &shared,
            1 << 20,
            8 << 20,
            0,
        )
        .await
        .unwrap();
        assert_eq!(got.len, data.len() as u64);
        assert_eq!(resident_pages(&file), head_before, "the head's pages stay");
        let all = std::fs::read(&shared).unwrap();
        assert_eq!(&all[1 << 20..], &data[..]);
    }
}
