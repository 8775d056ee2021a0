//! What one file's early sender knows of the file being written: the
//! cache parts sealed and not sent yet, which parts of the session's
//! layout they complete, and which bytes were written again (or cut) after
//! they were first written, so that a grown part read from them is not
//! recorded as made of its sealed MD5s. Also the mount's early layout
//! ([`layout`]), lowered by tests through `VODFS_TEST_EARLY_LAYOUT`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::OnceLock;

use crate::vod::rules::api3::MAX_PARTS;
use crate::vod::rules::layout::{Growth, Layout};

/// Test only: `K,M[,S]` replaces [`Growth::DEFAULT`] (K parts of one cache
/// part, then doubling every M parts up to `cache part << S`), so that a
/// test file of tens of MiB reaches grown parts. Read once, here only.
pub const TEST_LAYOUT_ENV: &str = "VODFS_TEST_EARLY_LAYOUT";

/// The growth of the parts this mount sends while files are written.
pub fn growth() -> Growth {
    static GROWTH: OnceLock<Growth> = OnceLock::new();
    *GROWTH.get_or_init(|| {
        let Ok(v) = std::env::var(TEST_LAYOUT_ENV) else {
            return Growth::DEFAULT;
        };
        let n: Vec<u64> = v.split(',').filter_map(|s| s.trim().parse().ok()).collect();
        let shift = n.get(2).map_or(Growth::DEFAULT.max_shift, |&s| s as u32);
        match (n.first(), n.get(1)) {
            (Some(&k), Some(&m)) if n.len() >= 2 => Growth::new(k, m, shift),
            _ => None,
        }
        .unwrap_or_else(|| {
            tracing::warn!("{TEST_LAYOUT_ENV}={v:?} is not K,M[,S]: using the default layout");
            Growth::DEFAULT
        })
    })
}

/// The early layout over cache parts of `part_size` bytes.
pub fn layout(part_size: u32) -> Layout {
    Layout::Grown {
        base: u64::from(part_size),
        growth: growth(),
    }
}

/// A part of the layout whose cache parts are all sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// Its number in the layout (0-based).
    pub index: u64,
    pub offset: u64,
    pub size: u64,
    /// The sealed MD5s of its cache parts, in order.
    pub md5s: Vec<[u8; 16]>,
}

/// The sender's view of the file (see the module documentation).
#[derive(Debug)]
pub struct Queue {
    layout: Layout,
    /// Sealed cache parts not sent yet: index → MD5.
    sealed: BTreeMap<u64, [u8; 16]>,
    /// Parts sealed so far (the start threshold).
    pub count: u64,
    /// Started (or given up on): a new seal only queues.
    pub started: bool,
    /// The media name the session was started for.
    pub name: Option<String>,
    /// End of the bytes written so far, in the order writes came.
    written_end: u64,
    /// Cache parts written again after their first write.
    rewritten: BTreeSet<u64>,
    /// The lowest cache part a truncate cut.
    cut_from: Option<u64>,
}

impl Queue {
    pub fn new(layout: Layout) -> Self {
        Queue {
            layout,
            sealed: BTreeMap::new(),
            count: 0,
            started: false,
            name: None,
            written_end: 0,
            rewritten: BTreeSet::new(),
            cut_from: None,
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Cache part `index` is sealed with `md5` (past what the layout holds
    /// in 10,000 parts, it is left to the commit).
    pub fn seal(&mut self, index: u64, md5: [u8; 16]) {
        let b = self.layout.base();
        if index.saturating_mul(b) < self.layout.max_size(MAX_PARTS) {
            self.sealed.insert(index, md5);
        }
        self.count += 1;
        // Seals come in order at the write frontier: what they cover was
        // written (the writes before the sender existed included).
        self.written_end = self.written_end.max((index + 1) * b);
    }

    /// Bytes `[offset, offset + len)` were written.
    pub fn written(&mut self, offset: u64, len: u64) {
        let end = offset.saturating_add(len);
        if offset < self.written_end && len > 0 {
            let b = self.layout.base();
            let last = (end.min(self.written_end) - 1) / b;
            self.rewritten.extend(offset / b..=last);
        }
        self.written_end = self.written_end.max(end);
    }

    /// The file was cut to `size` bytes.
    pub fn truncated(&mut self, size: u64) {
        if size < self.written_end {
            let from = size / self.layout.base();
            self.cut_from = Some(self.cut_from.map_or(from, |c| c.min(from)));
        }
        self.written_end = size;
    }

    /// True when none of the cache parts `parts` was written again or cut
    /// since it was sealed.
    pub fn untouched(&self, parts: Range<u64>) -> bool {
        self.cut_from.is_none_or(|c| parts.end <= c) && self.rewritten.range(parts).next().is_none()
    }

    /// Takes the next part of the layout whose cache parts are all sealed,
    /// if the lowest sealed one starts such a part.
    pub fn next_ready(&mut self) -> Option<Ready> {
        let b = self.layout.base();
        loop {
            let (&first, _) = self.sealed.first_key_value()?;
            let index = self.layout.part_at(first * b);
            let (offset, size) = self.layout.part(index);
            let parts = offset / b..(offset + size) / b;
            if first != parts.start {
                // The head of a part already sent (or never sealed): the
                // commit checks it.
                self.sealed.remove(&first);
                continue;
            }
            if !parts.clone().all(|i| self.sealed.contains_key(&i)) {
                return None;
            }
            let md5s = parts.filter_map(|i| self.sealed.remove(&i)).collect();
            return Some(Ready {
                index,
                offset,
                size,
                md5s,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn queue() -> Queue {
        Queue::new(Layout::Grown {
            base: MIB,
            growth: Growth::new(2, 2, 3).unwrap(),
        })
    }

    #[test]
    fn a_grown_part_is_ready_once_all_its_cache_parts_are_sealed() {
        let mut q = queue();
        q.seal(0, [0; 16]);
        let r = q.next_ready().unwrap();
        assert_eq!((r.index, r.offset, r.size), (0, 0, MIB));
        q.seal(1, [1; 16]);
        q.seal(2, [2; 16]);
        assert_eq!(q.next_ready().unwrap().index, 1);
        // Part 2 is cache parts 2 and 3 (2 MiB).
        assert_eq!(q.next_ready(), None);
        q.seal(3, [3; 16]);
        let r = q.next_ready().unwrap();
        assert_eq!((r.index, r.offset, r.size), (2, 2 * MIB, 2 * MIB));
        assert_eq!(r.md5s, vec![[2; 16], [3; 16]]);
        assert_eq!(q.count, 4);
    }

    #[test]
    fn rewrites_and_cuts_behind_the_frontier_are_remembered() {
        let mut q = queue();
        for i in 0..4 {
            q.written(i * MIB, MIB);
            q.seal(i, [i as u8; 16]);
        }
        assert!(q.untouched(0..4));
        q.written(4 * MIB, MIB); // appending: not a rewrite
        assert!(q.untouched(0..5));
        q.written(2 * MIB + 10, 4096);
        assert!(!q.untouched(2..4));
        assert!(q.untouched(0..2));
        q.truncated(MIB + 1);
        assert!(!q.untouched(1..2));
        assert!(q.untouched(0..1));
    }
}
