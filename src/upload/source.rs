//! Where the pipeline reads a file's bytes from.
//!
//! [`PartSource`] is implemented by the cache (staged chunks); the two
//! simple sources here serve tests and plain files. Reads are blocking: the
//! pipeline calls them from `spawn_blocking`, one part at a time, just
//! before the part is sent, so memory stays at about parts-in-flight × part
//! size whatever the file size.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use bytes::Bytes;

/// A file's content by range, plus any hashes already known.
pub trait PartSource: Send + Sync + 'static {
    /// Size in bytes; fixed for the duration of an upload.
    fn len(&self) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Exactly `len` bytes at `offset` (blocking). Short only if the
    /// source shrank, which the pipeline reports as a changed source.
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes>;

    /// Lower-case hex SHA-1 of the whole content, if already known.
    fn sha1_hex(&self) -> Option<String> {
        None
    }

    /// MD5 of part `index` when cut in `part_size` parts, if already known.
    fn part_md5(&self, _part_size: u32, _index: u64) -> Option<[u8; 16]> {
        None
    }

    /// A grown part of `len` bytes at `offset` sent while the file was
    /// written (`upload::early`), if one was recorded: (its MD5, the
    /// digest of the MD5s of the `part_size` parts it was made of then,
    /// [`super::hash::parts_digest`]). The pipeline trusts the MD5 only
    /// while the parts' MD5s it knows now give the same digest.
    fn sent_part(&self, _offset: u64, _len: u64) -> Option<([u8; 16], [u8; 16])> {
        None
    }

    /// True when every MD5 [`PartSource::part_md5`] knows is known to
    /// describe the bytes [`PartSource::read_at`] returns (computed from
    /// them and kept durable since): the pipeline then sends such a part as
    /// read, without hashing it again. The service still checks each part
    /// against its MD5 (the ETag it answers, or v4's `dataMd5`).
    fn md5s_verified(&self) -> bool {
        false
    }
}

/// A source held in memory.
#[derive(Debug, Clone)]
pub struct MemorySource(pub Bytes);

impl PartSource for MemorySource {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.0.len());
        let end = start.saturating_add(len).min(self.0.len());
        Ok(self.0.slice(start..end))
    }
}

/// A plain file, read with positioned reads (no shared cursor).
#[derive(Debug)]
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    pub fn open(path: &std::path::Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(FileSource { file, len })
    }
}

impl PartSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(done);
        Ok(Bytes::from(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn memory_and_file_sources_read_the_same_ranges() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&data).unwrap();
        let fs = FileSource::open(f.path()).unwrap();
        let ms = MemorySource(Bytes::from(data.clone()));
        assert_eq!(fs.len(), 5000);
        for (off, len) in [(0u64, 10usize), (4990, 10), (4995, 10), (6000, 3), (100, 0)] {
            let a = fs.read_at(off, len).unwrap();
            let b = ms.read_at(off, len).unwrap();
            assert_eq!(a, b, "{off} {len}");
            let s = (off as usize).min(5000);
            let e = (off as usize + len).min(5000);
            assert_eq!(&a[..], &data[s..e]);
        }
    }
}
