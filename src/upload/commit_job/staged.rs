//! A staged version as the pipeline's byte source.

use bytes::Bytes;

use crate::cache::{Cache, CommitInfo, EarlyPart};
use crate::upload::source::PartSource;

/// A staged version as a [`PartSource`], with the hashes computed while it
/// was written when the cache verified them (its data synced after them);
/// without that mark a crash may have changed the bytes, so none is known
/// and the pipeline computes them all from the data file. The grown parts
/// sent while it was written (`upload::early`) are known by their records
/// (the pipeline checks them).
pub(super) struct StagedSource {
    cache: Cache,
    ino: u64,
    version: u64,
    size: u64,
    part_size: u32,
    sha1: Option<[u8; 20]>,
    md5s: Vec<Option<[u8; 16]>>,
    verified: bool,
    early: Vec<EarlyPart>,
}

impl StagedSource {
    /// The source of the version `info` describes.
    pub(super) fn new(cache: Cache, info: &CommitInfo) -> Self {
        let (sha1, md5s) = if info.verified {
            (info.sha1, info.md5s.clone())
        } else {
            (None, vec![None; info.md5s.len()])
        };
        let early = match info.verified {
            true => cache
                .early_parts(info.ino, info.version)
                .unwrap_or_default(),
            false => Vec::new(),
        };
        StagedSource {
            cache,
            ino: info.ino,
            version: info.version,
            size: info.size,
            part_size: info.part_size,
            sha1,
            md5s,
            verified: info.verified,
            early,
        }
    }

    /// How many parts the cache knows the version has.
    pub(super) fn part_count(&self) -> u64 {
        self.md5s.len() as u64
    }
}

impl PartSource for StagedSource {
    fn len(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Bytes> {
        self.cache
            .read_part(self.ino, self.version, offset, len)
            .map_err(std::io::Error::other)
    }

    fn sha1_hex(&self) -> Option<String> {
        self.sha1.map(hex::encode)
    }

    fn part_md5(&self, part_size: u32, index: u64) -> Option<[u8; 16]> {
        if part_size != self.part_size {
            return None;
        }
        self.md5s.get(index as usize).copied().flatten()
    }

    fn sent_part(&self, offset: u64, len: u64) -> Option<([u8; 16], [u8; 16])> {
        let i = self
            .early
            .binary_search_by_key(&offset, |p| p.offset)
            .ok()?;
        let p = &self.early[i];
        (p.len == len).then_some((p.md5, p.parts_digest))
    }

    fn md5s_verified(&self) -> bool {
        self.verified
    }
}
