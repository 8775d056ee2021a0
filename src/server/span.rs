//! Stored data as one byte sequence, whatever its layout: a plain file, or
//! — for an object completed from multipart parts — a directory of span
//! files (`000001`, `000002`, …, hard links to the parts' files) read end
//! to end. Completing an upload ([`build`]) then copies no byte: it links
//! the listed parts into a new directory and syncs that directory (the
//! parts' bytes were synced when each was acknowledged).
//!
//! Every reader of object or media data goes through this module: [`open`]
//! (a blocking `Read + Seek` over the spans: the MP4 probe, the admin's
//! SHA-1), [`body`] (a streamed HTTP body of a byte range: GetObject,
//! playback), [`link`] (an object becoming a media) and [`remove`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;

/// Bytes read per chunk of a streamed body.
const CHUNK: usize = 1 << 20;

/// A span file's name in a span directory: its 1-based position.
fn span_name(i: usize) -> String {
    format!("{i:06}")
}

/// Stored data opened for reading.
pub struct Data {
    spans: SpanList,
    len: u64,
    pos: u64,
    /// Span files open, by index, at most [`OPEN_FILES`]: a streamed body
    /// reads one span while the disk is asked for the next ones, so each
    /// span file is opened once, not once per chunk and once per advice.
    open: Vec<(usize, File)>,
}

/// Span files a [`Data`] keeps open: the one being read and those the
/// read-ahead ([`AHEAD`]) has reached, with parts of 1 MiB and up.
const OPEN_FILES: usize = 24;

/// Span lists of directories recently opened, so that the range requests
/// of one playback do not list and stat its ~1,000 part files each time.
/// A span directory is never changed once built (a rebuild is a new
/// directory), so an entry is good while its directory's identity and
/// times are the same.
static LISTS: Mutex<Option<HashMap<PathBuf, (DirStamp, SpanList)>>> = Mutex::new(None);

/// Each span's path and length, in order.
type SpanList = Arc<[(PathBuf, u64)]>;

/// Directories whose span lists are kept; past it the cache starts over.
const LISTS_KEPT: usize = 64;

/// What identifies one span directory: device, inode, change and
/// modification times.
type DirStamp = (u64, u64, i64, i64, i64, i64);

fn stamp(meta: &std::fs::Metadata) -> DirStamp {
    use std::os::unix::fs::MetadataExt as _;
    (
        meta.dev(),
        meta.ino(),
        meta.ctime(),
        meta.ctime_nsec(),
        meta.mtime(),
        meta.mtime_nsec(),
    )
}

/// The spans of the directory `path` (`meta` its metadata): from the
/// cache while the directory is the one listed, else listed and kept.
fn list(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<SpanList> {
    let id = stamp(meta);
    if let Some((seen, spans)) = LISTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|m| m.get(path))
        && *seen == id
    {
        return Ok(spans.clone());
    }
    let mut entries: Vec<std::fs::DirEntry> =
        std::fs::read_dir(path)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    let spans: SpanList = entries
        .into_iter()
        .map(|e| e.metadata().map(|m| (e.path(), m.len())))
        .collect::<std::io::Result<Vec<_>>>()?
        .into();
    let mut lists = LISTS.lock().unwrap_or_else(|p| p.into_inner());
    let lists = lists.get_or_insert_with(HashMap::new);
    if lists.len() >= LISTS_KEPT {
        lists.clear();
    }
    lists.insert(path.to_path_buf(), (id, spans.clone()));
    Ok(spans)
}

/// Opens the data at `path` (a file or a span directory).
pub fn open(path: &Path) -> std::io::Result<Data> {
    let meta = std::fs::metadata(path)?;
    let spans = if meta.is_dir() {
        list(path, &meta)?
    } else {
        Arc::from(vec![(path.to_path_buf(), meta.len())])
    };
    let len = spans.iter().map(|s| s.1).sum();
    Ok(Data {
        spans,
        len,
        pos: 0,
        open: Vec::new(),
    })
}

impl Data {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Asks the kernel to start reading `len` bytes from `first` into the
    /// page cache (POSIX_FADV_WILLNEED on each span it covers), so that a
    /// body streamed in 1 MiB chunks does not wait on the disk for each:
    /// a playback range request reads ahead by its own length. Advice: a
    /// span that cannot be opened is left to `read_at`.
    pub fn will_need(&mut self, first: u64, len: u64) {
        let end = first.saturating_add(len);
        let mut start = 0u64;
        for i in 0..self.spans.len() {
            let span = self.spans[i].1;
            let (a, b) = (first.max(start), end.min(start + span));
            if a < b
                && let Ok(f) = self.file(i)
            {
                crate::fadvise::will_need(f, a - start, b - a);
            }
            start += span;
            if start >= end {
                break;
            }
        }
    }

    /// Span `i`'s file, opened once while it is among the [`OPEN_FILES`]
    /// last used.
    fn file(&mut self, i: usize) -> std::io::Result<&File> {
        let at = match self.open.iter().position(|(j, _)| *j == i) {
            Some(at) => at,
            None => {
                let f = File::open(&self.spans[i].0)?;
                if self.open.len() >= OPEN_FILES {
                    // The lowest index goes: reads move forwards.
                    let lowest = (0..self.open.len())
                        .min_by_key(|&k| self.open[k].0)
                        .unwrap_or(0);
                    self.open.swap_remove(lowest);
                }
                self.open.push((i, f));
                self.open.len() - 1
            }
        };
        Ok(&self.open[at].1)
    }

    /// Reads at `off` into `buf` from one span (short at a span's end); 0
    /// at the end of the data.
    pub fn read_at(&mut self, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
        let mut start = 0u64;
        for i in 0..self.spans.len() {
            let len = self.spans[i].1;
            if off < start + len {
                let want = buf.len().min((start + len - off) as usize);
                let n = self.file(i)?.read_at(&mut buf[..want], off - start)?;
                if n == 0 && want > 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("{} is shorter than when opened", self.spans[i].0.display()),
                    ));
                }
                return Ok(n);
            }
            start += len;
        }
        Ok(0)
    }
}

impl Read for Data {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Data {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}

/// Makes `dest` (new, in the same file system) a span directory of
/// `parts` in order, hard links, and syncs it; returns the data's length.
pub fn build(parts: &[PathBuf], dest: &Path) -> std::io::Result<u64> {
    std::fs::create_dir(dest)?;
    let mut len = 0;
    for (i, p) in parts.iter().enumerate() {
        std::fs::hard_link(p, dest.join(span_name(i + 1)))?;
        len += std::fs::metadata(p)?.len();
    }
    File::open(dest)?.sync_all()?;
    Ok(len)
}

/// Makes `dest` the same data as `src` (hard links; a span directory is
/// rebuilt), durably: `dest` and its directory synced.
pub fn link(src: &Path, dest: &Path) -> std::io::Result<()> {
    remove(dest);
    let meta = std::fs::metadata(src)?;
    if meta.is_dir() {
        let names: Vec<PathBuf> = list(src, &meta)?.iter().map(|(p, _)| p.clone()).collect();
        build(&names, dest)?;
    } else {
        std::fs::hard_link(src, dest)?;
    }
    File::open(dest.parent().unwrap_or(Path::new(".")))?.sync_all()
}

/// Removes the data at `path` (a file or a span directory), if any.
pub fn remove(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

/// How far ahead of a streamed body the disk is asked to read.
const AHEAD: u64 = 16 << 20;

/// `len` bytes of the data at `path` from `first`, as a body streamed in
/// 1 MiB chunks read on blocking threads, the next [`AHEAD`] bytes asked
/// of the disk in advance.
pub async fn body(path: PathBuf, first: u64, len: u64) -> std::io::Result<Body> {
    let data = tokio::task::spawn_blocking(move || {
        let mut data = open(&path)?;
        data.will_need(first, len.min(AHEAD));
        Ok::<_, std::io::Error>(data)
    })
    .await
    .map_err(std::io::Error::other)??;
    let end = first.saturating_add(len).min(data.len());
    let stream = futures::stream::unfold(Some((data, first)), move |state| async move {
        let (mut data, pos) = state?;
        if pos >= end {
            return None;
        }
        let want = CHUNK.min((end - pos) as usize);
        let read = tokio::task::spawn_blocking(move || {
            // Keep the kernel's reads AHEAD bytes in front of the stream.
            let ahead = pos.saturating_add(AHEAD);
            if ahead < end {
                data.will_need(ahead, (CHUNK as u64).min(end - ahead));
            }
            let mut buf = vec![0u8; want];
            let mut got = 0;
            while got < want {
                match data.read_at(&mut buf[got..], pos + got as u64)? {
                    0 => break,
                    n => got += n,
                }
            }
            buf.truncate(got);
            Ok::<_, std::io::Error>((data, buf))
        })
        .await
        .map_err(std::io::Error::other);
        match read {
            Ok(Ok((_, buf))) if buf.is_empty() => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "stored data ended early",
                )),
                None,
            )),
            Ok(Ok((data, buf))) => {
                let next = pos + buf.len() as u64;
                Some((Ok(bytes::Bytes::from(buf)), Some((data, next))))
            }
            Ok(Err(e)) | Err(e) => Some((Err(e), None)),
        }
    });
    Ok(Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A span directory of parts of different sizes reads as their
    /// concatenation, by `Read`, by `read_at` across span boundaries and
    /// after seeks; a link of it reads the same after its source is gone.
    #[test]
    fn spans_read_as_one_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = [5usize, 1, 7, 0, 3];
        let mut all = Vec::new();
        let mut parts = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            let bytes: Vec<u8> = (0..*n).map(|j| (i * 31 + j) as u8).collect();
            let p = dir.path().join(format!("p{i}"));
            std::fs::write(&p, &bytes).unwrap();
            all.extend_from_slice(&bytes);
            parts.push(p);
        }
        let d = dir.path().join("obj");
        assert_eq!(build(&parts, &d).unwrap(), all.len() as u64);
        let mut data = open(&d).unwrap();
        assert_eq!(data.len(), all.len() as u64);
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(got, all);
        for first in 0..all.len() {
            data.seek(SeekFrom::Start(first as u64)).unwrap();
            let mut rest = Vec::new();
            data.read_to_end(&mut rest).unwrap();
            assert_eq!(rest, all[first..], "from {first}");
        }
        let m = dir.path().join("media");
        link(&d, &m).unwrap();
        remove(&d);
        for p in &parts {
            std::fs::remove_file(p).unwrap();
        }
        assert!(!d.exists());
        let mut again = Vec::new();
        open(&m).unwrap().read_to_end(&mut again).unwrap();
        assert_eq!(again, all);
    }

    /// More spans than are kept open read back exactly in any order (files
    /// closed and opened again), and a directory rebuilt at the same path
    /// is listed anew, not read from the cached list of the old one.
    #[test]
    fn many_spans_and_a_rebuild_at_the_same_path_read_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let write_parts = |tag: u8, n: usize, size: usize| {
            let mut all = Vec::new();
            let mut parts = Vec::new();
            for i in 0..n {
                let bytes: Vec<u8> = (0..size).map(|j| tag ^ (i * 7 + j) as u8).collect();
                let p = dir.path().join(format!("{tag}-{i}"));
                std::fs::write(&p, &bytes).unwrap();
                all.extend_from_slice(&bytes);
                parts.push(p);
            }
            (parts, all)
        };
        let d = dir.path().join("obj");
        let (parts, all) = write_parts(1, OPEN_FILES * 2 + 3, 3);
        build(&parts, &d).unwrap();
        let mut data = open(&d).unwrap();
        data.will_need(0, all.len() as u64);
        for first in (0..all.len()).rev().step_by(5) {
            data.seek(SeekFrom::Start(first as u64)).unwrap();
            let mut rest = Vec::new();
            data.read_to_end(&mut rest).unwrap();
            assert_eq!(rest, all[first..], "from {first}");
        }
        drop(data);
        remove(&d);
        let (parts, all) = write_parts(2, 4, 5);
        build(&parts, &d).unwrap();
        let mut again = Vec::new();
        open(&d).unwrap().read_to_end(&mut again).unwrap();
        assert_eq!(
            again, all,
            "the rebuilt directory, not the cached list of the old one"
        );
    }
}
