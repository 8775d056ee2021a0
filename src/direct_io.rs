//! Writes and reads that bypass the page cache (O_DIRECT) where the file system
//! takes them: the one helper the mount's staged writes and the service's
//! received bodies both use.
//!
//! Why: bytes written once and read back rarely (staged content the kernel
//! already caches in the FUSE inode; a stored body) need not fill a second
//! page cache, and on a VM that hands free memory back to its host, a
//! write into pages not touched lately ran at 233–540 MB/s, against
//! 750–860 MB/s for the same bytes written with O_DIRECT (doc/bench.md).
//!
//! Rules: only the aligned middle of a write goes direct (address, offset
//! and length multiples of [`ALIGN`]); an unaligned head or tail goes
//! through the page cache of the same file, and the kernel keeps the two
//! coherent (a direct write flushes and drops the cached pages of its
//! range). A write is durable only after the usual `fsync`/`fdatasync` of
//! the file (it flushes the device's cache for both kinds). A file system
//! that refuses O_DIRECT (tmpfs) refuses it at open ([`open_twin`] gives
//! `None`) or with EINVAL at the first write ([`write_at`] then says so and
//! the caller stops trying). Reads of bytes read once (an upload's parts)
//! go direct too ([`read_at`]). A leaf: imports nothing of the crate.

use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

/// What a direct write needs aligned: its buffer's address, its offset and
/// its length (the page size; ext4 and xfs need at most their block size).
pub const ALIGN: usize = 4096;

/// `path` opened again for writing with O_DIRECT, or `None` where the file
/// system refuses it.
pub fn open_twin(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()
}

thread_local! {
    /// An aligned copy of unaligned data on its way to a direct write.
    static BOUNCE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Up to `len` bytes at `offset` of `path`, read with O_DIRECT into an
/// aligned buffer (no page cache filled for bytes read once, as an upload
/// reads a staged part); fewer at the end of the file. `None` where the
/// file system refuses O_DIRECT: the caller reads through the page cache.
/// Dirty cached pages of the range are written back by the kernel first, so
/// the bytes are the file's current ones.
pub fn read_at(path: &Path, offset: u64, len: usize) -> std::io::Result<Option<bytes::Bytes>> {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    else {
        // Missing, unreadable or refusing O_DIRECT: the buffered read says
        // which.
        return Ok(None);
    };
    let skip = (offset % ALIGN as u64) as usize;
    let from = offset - skip as u64;
    let want = (skip + len).next_multiple_of(ALIGN);
    let mut buf: Vec<u8> = Vec::with_capacity(want + ALIGN);
    let pad = buf.as_ptr().align_offset(ALIGN);
    let mut got = 0;
    while got < want {
        // SAFETY: the range [pad + got, pad + want) is inside the vector's
        // capacity (want + ALIGN ≥ pad + want); pread writes at most
        // `want - got` bytes there and the length is set only over bytes it
        // wrote.
        let n = unsafe {
            libc::pread(
                file.as_raw_fd(),
                buf.as_mut_ptr().add(pad + got).cast(),
                want - got,
                (from + got as u64) as libc::off_t,
            )
        };
        match n {
            0 => break,
            n if n > 0 => got += n as usize,
            _ => {
                let e = std::io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EINVAL) => return Ok(None),
                    _ => return Err(e),
                }
            }
        }
        // A short read ends on the file's end (at an unaligned size).
        if got % ALIGN != 0 {
            break;
        }
    }
    // SAFETY: pread wrote the first pad + got bytes after `pad`; the `pad`
    // bytes before are never exposed (sliced off below), but must be
    // initialised for the length to cover them.
    unsafe {
        std::ptr::write_bytes(buf.as_mut_ptr(), 0, pad);
        buf.set_len(pad + got);
    }
    // Bytes past the end are not there: from `skip` (or the end, if the
    // file ends before it) to at most `skip + len`.
    let start = skip.min(got);
    let end = got.min(skip + len).max(start);
    Ok(Some(bytes::Bytes::from(buf).slice(pad + start..pad + end)))
}

/// Whether a write of `len` bytes at `offset` has an aligned middle that
/// [`write_at`] would send through the O_DIRECT file (so a caller opens
/// that file only when some write needs it).
pub fn has_middle(len: usize, offset: u64) -> bool {
    split(len, offset).1 > 0
}

/// The unaligned head and the aligned middle of a write of `len` bytes at
/// `offset`: the middle starts at `offset + head`.
fn split(len: usize, offset: u64) -> (usize, usize) {
    let head = (offset.next_multiple_of(ALIGN as u64) - offset).min(len as u64) as usize;
    (head, (len - head) / ALIGN * ALIGN)
}

/// Writes `data` at `offset` of `file`: its aligned middle through
/// `direct` (`file` opened with O_DIRECT), copied to an aligned buffer
/// when `data` is not aligned in memory; the rest through `file`. Returns
/// `false` when `direct` refused the write (EINVAL), which `file` then
/// wrote whole: the caller stops offering it.
pub fn write_at(
    file: &File,
    direct: Option<&File>,
    data: &[u8],
    offset: u64,
) -> std::io::Result<bool> {
    let Some(direct) = direct else {
        file.write_all_at(data, offset)?;
        return Ok(true);
    };
    let (head, middle) = split(data.len(), offset);
    if middle == 0 {
        file.write_all_at(data, offset)?;
        return Ok(true);
    }
    let at = offset + head as u64;
    let bytes = &data[head..head + middle];
    let written = if bytes.as_ptr().align_offset(ALIGN) == 0 {
        direct.write_all_at(bytes, at)
    } else {
        BOUNCE.with(|b| {
            let mut b = b.borrow_mut();
            if b.len() < middle + ALIGN {
                *b = vec![0u8; middle + ALIGN];
            }
            let start = b.as_ptr().align_offset(ALIGN);
            b[start..start + middle].copy_from_slice(bytes);
            direct.write_all_at(&b[start..start + middle], at)
        })
    };
    match written {
        Ok(()) => {
            file.write_all_at(&data[..head], offset)?;
            file.write_all_at(&data[head + middle..], at + middle as u64)?;
            Ok(true)
        }
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            file.write_all_at(data, offset)?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// A directory for tests of the direct path: under the crate's `target/`,
/// on the disk of the checkout, since `/tmp` may be a tmpfs, which refuses
/// O_DIRECT. Asserted to take O_DIRECT, so a test made in it tests the
/// direct path.
#[cfg(test)]
pub(crate) fn test_dir() -> tempfile::TempDir {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&base).unwrap();
    let dir = tempfile::tempdir_in(base).unwrap();
    let probe = dir.path().join("probe");
    std::fs::write(&probe, b"").unwrap();
    assert!(
        open_twin(&probe).is_some(),
        "{:?} takes O_DIRECT",
        dir.path()
    );
    std::fs::remove_file(&probe).unwrap();
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes at every kind of offset and length, from aligned and
    /// unaligned memory, over bytes written before (through the page cache
    /// and direct), read back exactly; the directory is on a file system
    /// that takes O_DIRECT (asserted), so the direct path is the one tested.
    #[test]
    fn a_middle_is_a_whole_aligned_block_inside_the_write() {
        assert!(!has_middle(0, 0));
        assert!(!has_middle(ALIGN - 1, 0));
        assert!(has_middle(ALIGN, 0));
        assert!(!has_middle(ALIGN, 1));
        assert!(!has_middle(2 * ALIGN - 2, 1));
        assert!(has_middle(2 * ALIGN - 1, 1));
        assert_eq!(split(3 * ALIGN, 100), (ALIGN - 100, 2 * ALIGN));
        assert_eq!(split(10, 4090), (6, 0));
    }

    /// Direct reads at aligned and unaligned offsets and lengths, across
    /// and past the end of a file of unaligned size, over bytes written
    /// both ways (some still dirty in the page cache), give the file's
    /// bytes exactly.
    /// `path` created for reading and writing, and its O_DIRECT twin (in
    /// [`test_dir`], which takes O_DIRECT).
    fn open_both(path: &Path) -> (File, Option<File>) {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .unwrap();
        let direct = open_twin(path);
        assert!(direct.is_some(), "{path:?} takes O_DIRECT");
        (file, direct)
    }

    #[test]
    fn direct_reads_give_exactly_the_file_s_bytes() {
        let dir = test_dir();
        let path = dir.path().join("f");
        let content: Vec<u8> = (0..(2 << 20) + 4321)
            .map(|i: u32| (i % 251) as u8)
            .collect();
        let (file, direct) = open_both(&path);
        // The first MiB direct (and unaligned pieces through the page cache).
        assert!(write_at(&file, direct.as_ref(), &content[..(1 << 20) + 100], 0).unwrap());
        file.write_all_at(&content[(1 << 20) + 100..], (1 << 20) + 100)
            .unwrap();
        let len = content.len();
        for (offset, want) in [
            (0, 1 << 20),
            (0, len),
            (0, len + 5000),
            (4096, 8192),
            (1, 1),
            (4095, 2),
            (123_457, 1_000_003),
            ((1 << 20) + 50, 100),
            (len - 10, 100),
            (len, 10),
            (len + 4096, 10),
            (0, 0),
        ] {
            let got = read_at(&path, offset as u64, want)
                .unwrap()
                .expect("direct");
            let from = offset.min(len);
            let to = (offset + want).min(len);
            assert_eq!(&got[..], &content[from..to], "{want} bytes at {offset}");
        }
        assert!(
            read_at(&dir.path().join("missing"), 0, 10)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn mixed_writes_read_back_exactly() {
        let dir = test_dir();
        let path = dir.path().join("f");
        let (file, direct) = open_both(&path);
        let mut expect = Vec::new();
        let source: Vec<u8> = (0..(3 << 20) + 17).map(|i: u32| (i % 241) as u8).collect();
        let mut seed = 7u64;
        for round in 0..200 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let aligned = round % 3 == 0;
            let offset = match aligned {
                true => (seed >> 20) % 512 * ALIGN as u64,
                false => (seed >> 20) % (2 << 20),
            };
            let len = match round % 4 {
                0 => ALIGN,
                1 => 1 << 20,
                2 => (seed >> 40) as usize % (300 << 10),
                _ => 1 + (seed >> 50) as usize % 5000,
            };
            let from = (seed >> 8) as usize % 64;
            let data = &source[from..from + len];
            assert!(write_at(&file, direct.as_ref(), data, offset).unwrap());
            let end = offset as usize + len;
            if expect.len() < end {
                expect.resize(end, 0);
            }
            expect[offset as usize..end].copy_from_slice(data);
        }
        file.sync_data().unwrap();
        assert!(std::fs::read(&path).unwrap() == expect);
    }
}
