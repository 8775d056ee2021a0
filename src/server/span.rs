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

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use axum::body::Body;

/// Bytes read per chunk of a streamed body.
const CHUNK: usize = 1 << 20;

/// A span file's name in a span directory: its 1-based position.
fn span_name(i: usize) -> String {
    format!("{i:06}")
}

/// Stored data opened for reading.
pub struct Data {
    /// Each span's path and length, in order.
    spans: Vec<(PathBuf, u64)>,
    len: u64,
    pos: u64,
    /// The span last read: its index and open file.
    open: Option<(usize, File)>,
}

/// Opens the data at `path` (a file or a span directory).
pub fn open(path: &Path) -> std::io::Result<Data> {
    let meta = std::fs::metadata(path)?;
    let spans = if meta.is_dir() {
        let mut names: Vec<PathBuf> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()?;
        names.sort();
        names
            .into_iter()
            .map(|p| std::fs::metadata(&p).map(|m| (p, m.len())))
            .collect::<std::io::Result<Vec<_>>>()?
    } else {
        vec![(path.to_path_buf(), meta.len())]
    };
    let len = spans.iter().map(|s| s.1).sum();
    Ok(Data {
        spans,
        len,
        pos: 0,
        open: None,
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
    pub fn will_need(&self, first: u64, len: u64) {
        use std::os::fd::AsRawFd;
        let end = first.saturating_add(len);
        let mut start = 0u64;
        for (path, span) in &self.spans {
            let (a, b) = (first.max(start), end.min(start + span));
            if a < b
                && let Ok(f) = File::open(path)
                && let (Ok(off), Ok(n)) = (i64::try_from(a - start), i64::try_from(b - a))
            {
                // SAFETY: posix_fadvise reads no memory; `f` is open.
                unsafe {
                    libc::posix_fadvise(f.as_raw_fd(), off, n, libc::POSIX_FADV_WILLNEED);
                }
            }
            start += span;
            if start >= end {
                break;
            }
        }
    }

    /// Reads at `off` into `buf` from one span (short at a span's end); 0
    /// at the end of the data.
    pub fn read_at(&mut self, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
        let mut start = 0u64;
        for (i, (path, len)) in self.spans.iter().enumerate() {
            if off < start + len {
                if self.open.as_ref().is_none_or(|(j, _)| *j != i) {
                    self.open = Some((i, File::open(path)?));
                }
                let want = buf.len().min((start + len - off) as usize);
                let f = &self.open.as_ref().expect("opened").1;
                let n = f.read_at(&mut buf[..want], off - start)?;
                if n == 0 && want > 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("{} is shorter than when opened", path.display()),
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
    if std::fs::metadata(src)?.is_dir() {
        let mut names: Vec<PathBuf> = std::fs::read_dir(src)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()?;
        names.sort();
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
        let data = open(&path)?;
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
}
