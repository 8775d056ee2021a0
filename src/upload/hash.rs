//! Hashing a source when the cache has no precomputed hashes: the SHA-1 of
//! the whole content and the MD5 of every part, in one pass.
//!
//! The pass reads part-sized blocks on a blocking thread (never on the
//! async workers), checks for cancellation between blocks, and fails if the
//! source is shorter than it claimed.

use std::sync::Arc;

use md5::{Digest as _, Md5};
use sha1::Sha1;
use tokio_util::sync::CancellationToken;

use super::error::UploadError;
use super::source::PartSource;
use crate::vod::{part_count, part_range};

/// The hashes of one source cut in parts of `part_size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashes {
    pub sha1_hex: String,
    pub part_size: u32,
    pub part_md5: Vec<[u8; 16]>,
}

impl Hashes {
    /// MD5 of part `index`, if computed for this part size.
    pub fn md5(&self, part_size: u32, index: u64) -> Option<[u8; 16]> {
        if part_size != self.part_size {
            return None;
        }
        usize::try_from(index)
            .ok()
            .and_then(|i| self.part_md5.get(i))
            .copied()
    }
}

/// MD5 of `data`.
pub fn md5(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

/// The digest of a run of part MD5s (an early grown part's cache parts):
/// the MD5 of their concatenation.
pub fn parts_digest<'a>(md5s: impl IntoIterator<Item = &'a [u8; 16]>) -> [u8; 16] {
    let mut h = Md5::new();
    for m in md5s {
        h.update(m);
    }
    h.finalize().into()
}

/// Lower-case hex SHA-1 of `data`.
pub fn sha1_hex(data: &[u8]) -> String {
    hex::encode(Sha1::digest(data))
}

/// Blocks read ahead of the MD5 thread: bounded, so a slow MD5 slows the
/// reads instead of holding the file in memory.
const MD5_QUEUE: usize = 2;

/// Hashes `len` bytes of `src` on the calling (blocking) thread, with the
/// part MD5s on a second thread: SHA-1 and MD5 each run at one core's
/// speed (MD5 is the slower), so two cores hash a part in the time of its
/// MD5 instead of both.
pub fn hash_blocking(
    src: &dyn PartSource,
    len: u64,
    part_size: u32,
    cancel: &CancellationToken,
) -> Result<Hashes, UploadError> {
    let count = part_count(len, part_size);
    let (tx, rx) = std::sync::mpsc::sync_channel::<bytes::Bytes>(MD5_QUEUE);
    std::thread::scope(|scope| {
        let md5s = std::thread::Builder::new()
            .name("vodfs-md5".into())
            .spawn_scoped(scope, move || {
                let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
                for block in rx {
                    out.push(md5(&block));
                }
                out
            });
        // No thread to be had: the MD5s are computed here as well.
        let (tx, md5s) = match md5s {
            Ok(h) => (Some(tx), Some(h)),
            Err(_) => (None, None),
        };
        let mut inline = Vec::new();
        let sha = read_and_hash(src, len, part_size, cancel, |block| match &tx {
            Some(tx) => {
                let _ = tx.send(block.clone());
            }
            None => inline.push(md5(block)),
        });
        drop(tx);
        let part_md5 = match md5s {
            Some(h) => h
                .join()
                .map_err(|_| UploadError::InvalidJob("the MD5 thread panicked".into()))?,
            None => inline,
        };
        let sha = sha?;
        debug_assert_eq!(part_md5.len() as u64, count);
        Ok(Hashes {
            sha1_hex: hex::encode(sha.finalize()),
            part_size,
            part_md5,
        })
    })
}

/// Reads `src` part by part, feeding each block to the SHA-1 and to `part`.
fn read_and_hash(
    src: &dyn PartSource,
    len: u64,
    part_size: u32,
    cancel: &CancellationToken,
    mut part: impl FnMut(&bytes::Bytes),
) -> Result<Sha1, UploadError> {
    let mut sha = Sha1::new();
    for index in 0..part_count(len, part_size) {
        if cancel.is_cancelled() {
            return Err(UploadError::Cancelled);
        }
        let (offset, size) = part_range(len, part_size, index);
        let size =
            usize::try_from(size).map_err(|_| UploadError::InvalidJob("part too large".into()))?;
        let block = src
            .read_at(offset, size)
            .map_err(|source| UploadError::Source { offset, source })?;
        if block.len() != size {
            return Err(UploadError::SourceChanged(format!(
                "read {} bytes at offset {offset}, expected {size}",
                block.len()
            )));
        }
        part(&block);
        sha.update(&block);
    }
    Ok(sha)
}

/// Hashes a source off the async threads.
pub async fn hash(
    src: Arc<dyn PartSource>,
    len: u64,
    part_size: u32,
    cancel: CancellationToken,
) -> Result<Hashes, UploadError> {
    tokio::task::spawn_blocking(move || hash_blocking(src.as_ref(), len, part_size, &cancel))
        .await
        .map_err(|e| UploadError::Source {
            offset: 0,
            source: std::io::Error::other(e.to_string()),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::MemorySource;
    use bytes::Bytes;

    #[tokio::test]
    async fn sha1_and_part_md5s_of_abc_and_of_parts() {
        let src: Arc<dyn PartSource> = Arc::new(MemorySource(Bytes::from_static(b"abc")));
        let h = hash(src, 3, 524_288, CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(h.sha1_hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            hex::encode(h.part_md5[0]),
            "900150983cd24fb0d6963f7d28e17f72"
        );

        let data: Vec<u8> = (0..1_100_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let src = MemorySource(Bytes::from(data.clone()));
        let h = hash_blocking(&src, data.len() as u64, 524_288, &CancellationToken::new()).unwrap();
        assert_eq!(h.sha1_hex, sha1_hex(&data));
        assert_eq!(h.part_md5.len(), 3);
        assert_eq!(h.part_md5[2], md5(&data[1_048_576..]));
        assert_eq!(h.md5(524_288, 1), Some(md5(&data[524_288..1_048_576])));
        assert_eq!(h.md5(1_048_576, 1), None);
    }

    #[test]
    fn empty_source_has_the_empty_sha_and_no_parts() {
        let src = MemorySource(Bytes::new());
        let h = hash_blocking(&src, 0, 524_288, &CancellationToken::new()).unwrap();
        assert_eq!(h.sha1_hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert!(h.part_md5.is_empty());
    }

    #[test]
    fn a_short_source_and_cancellation_are_errors() {
        let src = MemorySource(Bytes::from_static(b"abc"));
        let e = hash_blocking(&src, 10, 524_288, &CancellationToken::new()).unwrap_err();
        assert!(matches!(e, UploadError::SourceChanged(_)), "{e}");
        let c = CancellationToken::new();
        c.cancel();
        assert!(matches!(
            hash_blocking(&src, 3, 524_288, &c),
            Err(UploadError::Cancelled)
        ));
    }
}
