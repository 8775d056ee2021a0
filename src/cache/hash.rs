//! Hashing while writing: an incremental SHA-1 of the whole content and one
//! MD5 per part, computed as the bytes arrive so that both are ready when the
//! last byte lands.
//!
//! Tracking follows the *sequential frontier* `pos`: a write that starts at
//! `pos` feeds both hashes. Anything else (overwrite behind `pos`, a hole past
//! it, a truncate below it) invalidates only what it touches: the SHA-1 becomes
//! "recompute at commit" and only the touched parts lose their MD5. A part
//! whose bytes were all written at the frontier still gets its MD5 when it
//! seals, even after the SHA-1 was lost (an MP4 muxer patching its header at
//! offset 0 costs the SHA-1 and part 0's MD5, nothing else).

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use sha1::Sha1;

/// The hashes of a content version that are known to be valid.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hashes {
    /// SHA-1 of the whole content, when it was computed incrementally.
    pub sha1: Option<[u8; 20]>,
    /// MD5 of each part, `None` for parts to recompute at commit.
    pub md5s: Vec<Option<[u8; 16]>>,
}

/// Which hashes a [`ContentHasher`] computes (the frontier is tracked
/// either way, so two hashers in different modes agree on what is valid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKinds {
    Both,
    Sha1Only,
    Md5Only,
}

/// Incremental hashing state of one content version being written.
#[derive(Clone)]
pub struct ContentHasher {
    kinds: HashKinds,
    part_size: u64,
    /// Whole-content SHA-1 over `[0, pos)`; `None` once invalidated.
    sha1: Option<Sha1>,
    /// The sequential frontier: every byte before it was fed in order.
    /// `None` once a write left a hole (no more tracking).
    pos: Option<u64>,
    /// MD5 of the part containing `pos`, over its bytes before `pos`.
    cur_md5: Md5,
    /// The part containing `pos` was touched out of order: no MD5 for it.
    cur_broken: bool,
    /// Sealed parts' MD5s.
    md5s: BTreeMap<u64, [u8; 16]>,
    /// Content length: a write past it zero-fills the gap, which changes
    /// the part holding the old end.
    len: u64,
}

impl std::fmt::Debug for ContentHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentHasher")
            .field("pos", &self.pos)
            .field("sha1_valid", &self.sha1.is_some())
            .field("sealed_md5s", &self.md5s.len())
            .finish()
    }
}

impl ContentHasher {
    /// Hashing of an empty file.
    pub fn new(part_size: u32) -> Self {
        ContentHasher {
            kinds: HashKinds::Both,
            part_size: u64::from(part_size.max(1)),
            sha1: Some(Sha1::new()),
            pos: Some(0),
            cur_md5: Md5::new(),
            cur_broken: false,
            md5s: BTreeMap::new(),
            len: 0,
        }
    }

    /// Hashing of a content that starts as a copy of an earlier version with
    /// known part MD5s and length `len`: the SHA-1 is unknown, known MD5s
    /// stay until touched.
    pub fn resume(part_size: u32, md5s: &[Option<[u8; 16]>], len: u64) -> Self {
        let mut h = ContentHasher::new(part_size);
        h.len = len;
        h.sha1 = None;
        h.pos = None;
        h.md5s = md5s
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.map(|m| (i as u64, m)))
            .collect();
        h
    }

    /// The same state, computing only `kinds` from now on (a split between
    /// two threads: merge their [`Hashes`] with [`Hashes::merge`]).
    pub fn only(&self, kinds: HashKinds) -> Self {
        let mut h = self.clone();
        h.kinds = kinds;
        h
    }

    /// The part size the MD5s are computed over.
    pub fn part_size(&self) -> u32 {
        self.part_size as u32
    }

    fn part_of(&self, offset: u64) -> u64 {
        offset / self.part_size
    }

    /// Forget the MD5 of every part touching `[start, end)`.
    fn invalidate(&mut self, start: u64, end: u64) {
        if end <= start {
            return;
        }
        let (first, last) = (self.part_of(start), self.part_of(end - 1));
        let doomed: Vec<u64> = self.md5s.range(first..=last).map(|(k, _)| *k).collect();
        for k in doomed {
            self.md5s.remove(&k);
        }
        if let Some(pos) = self.pos {
            let cur = self.part_of(pos);
            if (first..=last).contains(&cur) {
                self.cur_broken = true;
            }
        }
    }

    /// Record `data` written at `offset`.
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        let end = offset + data.len() as u64;
        if offset > self.len {
            // The gap [len, offset) becomes zeros.
            self.sha1 = None;
            self.invalidate(self.len, offset);
        }
        self.len = self.len.max(end);
        match self.pos {
            Some(pos) if pos == offset => self.feed(data),
            Some(pos) if end <= pos => {
                self.sha1 = None;
                self.invalidate(offset, end);
            }
            _ => {
                // A hole, or a write straddling the frontier: stop tracking.
                self.sha1 = None;
                if let Some(pos) = self.pos {
                    self.invalidate(pos.min(offset), end);
                }
                self.invalidate(offset, end);
                self.pos = None;
            }
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        let md5 = self.kinds != HashKinds::Sha1Only;
        if let Some(s) = self
            .sha1
            .as_mut()
            .filter(|_| self.kinds != HashKinds::Md5Only)
        {
            s.update(data);
        }
        while !data.is_empty() {
            let Some(pos) = self.pos else { return };
            let room = self.part_size - pos % self.part_size;
            let n = room.min(data.len() as u64) as usize;
            let (now, rest) = data.split_at(n);
            if md5 {
                self.cur_md5.update(now);
            }
            let new_pos = pos + n as u64;
            self.pos = Some(new_pos);
            if new_pos.is_multiple_of(self.part_size) {
                let md5 = std::mem::take(&mut self.cur_md5).finalize();
                if !self.cur_broken {
                    self.md5s.insert(self.part_of(pos), md5.into());
                }
                self.cur_broken = false;
            }
            data = rest;
        }
    }

    /// Record a truncate (or extension) to `size`.
    pub fn truncate(&mut self, old_size: u64, size: u64) {
        let old_size = old_size.max(self.len);
        self.len = size;
        if size == 0 {
            *self = ContentHasher::new(self.part_size as u32);
            return;
        }
        if size < old_size {
            // Bytes at and after `size` changed (gone, or zeros if re-extended).
            self.invalidate(size, old_size.max(size + 1));
            let boundary = self.part_of(size);
            self.md5s.retain(|k, _| *k < boundary);
            if self.pos.is_some_and(|p| p > size) {
                self.sha1 = None;
                self.pos = None;
            }
        } else if size > old_size {
            // Zeros appear in [old_size, size): the part at old_size changes.
            self.invalidate(old_size, size);
        }
    }

    /// The parts sealed at the frontier from part `from` on: (the index
    /// of the first part not sealed yet, the MD5s of the sealed parts of
    /// `from..` that are valid). For a caller that reports each part once
    /// as the frontier passes it (parts sent while writing); nothing new
    /// once tracking stopped.
    pub fn sealed_from(&self, from: u64) -> (u64, Vec<(u64, [u8; 16])>) {
        let Some(pos) = self.pos else {
            return (from, Vec::new());
        };
        let end = pos / self.part_size;
        if end <= from {
            // Truncated behind `from`: the parts are reported again as
            // the frontier passes them with their new bytes.
            return (end, Vec::new());
        }
        let got = self.md5s.range(from..end).map(|(k, m)| (*k, *m)).collect();
        (end, got)
    }

    /// The hashes valid for a content of `size` bytes.
    pub fn finish(&self, size: u64) -> Hashes {
        let nparts = size.div_ceil(self.part_size);
        let mut md5s: Vec<Option<[u8; 16]>> =
            (0..nparts).map(|i| self.md5s.get(&i).copied()).collect();
        let at_end = self.pos == Some(size);
        if at_end
            && !size.is_multiple_of(self.part_size)
            && !self.cur_broken
            && let Some(last) = md5s.last_mut()
        {
            *last = Some(self.cur_md5.clone().finalize().into());
        }
        let sha1 = match (&self.sha1, at_end) {
            (Some(s), true) => Some(s.clone().finalize().into()),
            _ => None,
        };
        match self.kinds {
            HashKinds::Both => Hashes { sha1, md5s },
            HashKinds::Sha1Only => Hashes {
                sha1,
                md5s: vec![None; md5s.len()],
            },
            HashKinds::Md5Only => Hashes { sha1: None, md5s },
        }
    }
}

impl Hashes {
    /// The SHA-1 of `sha1` with the MD5s of `md5`.
    pub fn merge(sha1: Hashes, md5: Hashes) -> Hashes {
        Hashes {
            sha1: sha1.sha1,
            md5s: md5.md5s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    const PART: u32 = 1024;

    fn reference(content: &[u8]) -> ([u8; 20], Vec<[u8; 16]>) {
        let sha1 = Sha1::digest(content).into();
        let md5s = content
            .chunks(PART as usize)
            .map(|c| Md5::digest(c).into())
            .collect();
        (sha1, md5s)
    }

    /// Applies a write to both a byte vector and the hasher.
    fn write(buf: &mut Vec<u8>, h: &mut ContentHasher, off: usize, data: &[u8]) {
        if buf.len() < off + data.len() {
            buf.resize(off + data.len(), 0);
        }
        buf[off..off + data.len()].copy_from_slice(data);
        h.write(off as u64, data);
    }

    #[test]
    fn sequential_writes_give_all_hashes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for total in [0usize, 1, 1023, 1024, 1025, 5000] {
            let content: Vec<u8> = (0..total).map(|_| rng.random()).collect();
            let mut h = ContentHasher::new(PART);
            let mut at = 0;
            while at < total {
                let n = rng.random_range(1..=700).min(total - at);
                h.write(at as u64, &content[at..at + n]);
                at += n;
            }
            let got = h.finish(total as u64);
            let (sha1, md5s) = reference(&content);
            assert_eq!(got.sha1, Some(sha1), "total {total}");
            assert_eq!(got.md5s, md5s.into_iter().map(Some).collect::<Vec<_>>());
        }
    }

    #[test]
    fn overwrite_behind_frontier_loses_sha1_and_only_touched_part() {
        let mut buf = Vec::new();
        let mut h = ContentHasher::new(PART);
        write(&mut buf, &mut h, 0, &[1u8; 3000]);
        write(&mut buf, &mut h, 10, b"header");
        write(&mut buf, &mut h, 3000, &[2u8; 500]);
        let got = h.finish(buf.len() as u64);
        let (_, md5s) = reference(&buf);
        assert_eq!(got.sha1, None);
        assert_eq!(got.md5s[0], None);
        assert_eq!(got.md5s[1], Some(md5s[1]));
        assert_eq!(got.md5s[2], Some(md5s[2]));
        assert_eq!(got.md5s[3], Some(md5s[3]));
    }

    #[test]
    fn random_writes_never_report_a_wrong_hash() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..200 {
            let mut buf = Vec::new();
            let mut h = ContentHasher::new(PART);
            for _ in 0..rng.random_range(1..12) {
                if rng.random_bool(0.15) {
                    let size = rng.random_range(0..6000usize);
                    h.truncate(buf.len() as u64, size as u64);
                    buf.resize(size, 0);
                    continue;
                }
                let off = if rng.random_bool(0.6) {
                    buf.len()
                } else {
                    rng.random_range(0..6000)
                };
                let data: Vec<u8> = (0..rng.random_range(1..2500))
                    .map(|_| rng.random())
                    .collect();
                write(&mut buf, &mut h, off, &data);
            }
            let got = h.finish(buf.len() as u64);
            let (sha1, md5s) = reference(&buf);
            if let Some(s) = got.sha1 {
                assert_eq!(s, sha1);
            }
            assert_eq!(got.md5s.len(), md5s.len());
            for (g, want) in got.md5s.iter().zip(&md5s) {
                if let Some(g) = g {
                    assert_eq!(g, want);
                }
            }
        }
    }

    #[test]
    fn random_writes_after_resume_never_report_a_wrong_md5() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        for _ in 0..200 {
            let mut buf: Vec<u8> = (0..rng.random_range(0..5000))
                .map(|_| rng.random())
                .collect();
            let (_, known) = reference(&buf);
            let known: Vec<_> = known.into_iter().map(Some).collect();
            let mut h = ContentHasher::resume(PART, &known, buf.len() as u64);
            for _ in 0..rng.random_range(1..6) {
                if rng.random_bool(0.2) {
                    let size = rng.random_range(0..7000usize);
                    h.truncate(buf.len() as u64, size as u64);
                    buf.resize(size, 0);
                    continue;
                }
                let off = rng.random_range(0..8000);
                let data: Vec<u8> = (0..rng.random_range(1..300))
                    .map(|_| rng.random())
                    .collect();
                write(&mut buf, &mut h, off, &data);
            }
            let got = h.finish(buf.len() as u64);
            let (_, md5s) = reference(&buf);
            assert_eq!(got.md5s.len(), md5s.len());
            for (g, want) in got.md5s.iter().zip(&md5s) {
                if let Some(g) = g {
                    assert_eq!(g, want);
                }
            }
        }
    }

    #[test]
    fn truncate_to_zero_starts_over() {
        let mut h = ContentHasher::new(PART);
        h.write(5, b"hole");
        h.truncate(9, 0);
        h.write(0, b"abc");
        let got = h.finish(3);
        assert_eq!(got.sha1, Some(Sha1::digest(b"abc").into()));
        assert_eq!(got.md5s, vec![Some(Md5::digest(b"abc").into())]);
    }

    #[test]
    fn resume_keeps_known_md5s_until_touched() {
        let m = [7u8; 16];
        let mut h = ContentHasher::resume(PART, &[Some(m), Some(m), Some(m)], 3 * u64::from(PART));
        h.write(1500, b"x");
        let got = h.finish(3 * u64::from(PART));
        assert_eq!(got.sha1, None);
        assert_eq!(got.md5s, vec![Some(m), None, Some(m)]);
    }

    #[test]
    fn sealed_from_reports_new_parts_once_and_again_after_a_truncate() {
        let mut h = ContentHasher::new(PART);
        let data: Vec<u8> = (0..3 * PART + 10).map(|i| i as u8).collect();
        h.write(0, &data);
        let (next, got) = h.sealed_from(0);
        assert_eq!(next, 3);
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[1].1,
            <[u8; 16]>::from(Md5::digest(&data[PART as usize..2 * PART as usize]))
        );
        assert_eq!(h.sealed_from(next), (3, Vec::new()));
        h.truncate(data.len() as u64, 0);
        let (next, got) = h.sealed_from(next);
        assert_eq!((next, got.len()), (0, 0));
        h.write(0, &data[..PART as usize]);
        let (next, got) = h.sealed_from(next);
        assert_eq!((next, got.len()), (1, 1));
    }
}
