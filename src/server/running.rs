//! In-order hashing of v4/UGC uploads: as parts are recorded, the bytes of
//! the contiguous prefix are fed to a running SHA-1 of the whole content
//! (what FinishUpload checks the fileSha against), so that FinishUpload has
//! it without reading the file again. No whole-content MD5: nothing checks
//! one (the playback ETag of a media without it is `"<fileId>-<size>"`).
//! Parts that arrive ahead of the prefix (parallel uploads) wait in memory,
//! bounded per upload and in all (an abandoned upload keeps at most its
//! share); past a bound, or after a restart, the upload simply has no
//! running hashes and finish reads its data file as before.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sha1::{Digest as _, Sha1};

/// Bytes of parts held ahead of the prefix, per upload, at most (4 parts
/// in flight arrive at most a few MiB out of order).
const STASH_MAX: usize = 16 << 20;

/// Bytes held ahead of their prefixes by all uploads together, at most.
const TOTAL_MAX: usize = 256 << 20;

/// An upload: its row id and its fileSha (a reused row id with the same
/// sha is the same content, so its bytes agree).
pub type Key = (i64, String);

#[derive(Default)]
struct Upload {
    next: u64,
    sha1: Sha1,
    stash: BTreeMap<u64, Vec<Vec<u8>>>,
    stashed: usize,
    broken: bool,
}

/// The running hashes of every upload in progress.
#[derive(Default)]
pub struct Running {
    uploads: Mutex<HashMap<Key, Arc<Mutex<Upload>>>>,
    /// Bytes stashed by every upload.
    total: AtomicUsize,
}

fn size(data: &[Vec<u8>]) -> usize {
    data.iter().map(Vec::len).sum()
}

impl Running {
    /// The running state of `key`, made when absent.
    fn upload(&self, key: Key) -> Arc<Mutex<Upload>> {
        self.uploads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone()
    }

    /// Feeds the recorded part at `offset` (blocking: hashes).
    pub fn part(&self, key: Key, offset: u64, data: Vec<Vec<u8>>) {
        let up = self.upload(key);
        let mut u = up.lock().unwrap_or_else(PoisonError::into_inner);
        if u.broken || offset < u.next {
            return;
        }
        let before = u.stashed;
        u.stashed += size(&data);
        if let Some(old) = u.stash.insert(offset, data) {
            u.stashed -= size(&old);
        }
        loop {
            let next = u.next;
            let Some(data) = u.stash.remove(&next) else {
                break;
            };
            u.stashed -= size(&data);
            for b in &data {
                u.sha1.update(b);
                u.next += b.len() as u64;
            }
        }
        let total = self.total.fetch_add(u.stashed, Ordering::Relaxed) + u.stashed;
        self.total.fetch_sub(before, Ordering::Relaxed);
        if u.stashed > STASH_MAX || total - before > TOTAL_MAX {
            self.drop_stash(&mut u);
        }
    }

    fn drop_stash(&self, u: &mut Upload) {
        self.total.fetch_sub(u.stashed, Ordering::Relaxed);
        u.broken = true;
        u.stash.clear();
        u.stashed = 0;
    }

    /// A part could not be kept in memory: no running hashes for `key`.
    pub fn lost(&self, key: Key) {
        let up = self.upload(key);
        let mut u = up.lock().unwrap_or_else(PoisonError::into_inner);
        self.drop_stash(&mut u);
    }

    /// The SHA-1 of the whole content when every byte up to `size` was fed;
    /// forgets the upload either way.
    pub fn take(&self, key: &Key, size: u64) -> Option<Sha1> {
        let up = self
            .uploads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key)?;
        let u = std::mem::take(&mut *up.lock().unwrap_or_else(PoisonError::into_inner));
        self.total.fetch_sub(u.stashed, Ordering::Relaxed);
        (!u.broken && u.next == size).then_some(u.sha1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_out_of_order_hash_like_the_whole() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let r = Running::default();
        let key = (1, "s".to_string());
        let parts: Vec<_> = data.chunks(1000).enumerate().collect();
        for &(i, c) in parts.iter().rev() {
            r.part(key.clone(), (i * 1000) as u64, vec![c.to_vec()]);
        }
        // A re-sent part behind the prefix changes nothing.
        r.part(key.clone(), 0, vec![data[..1000].to_vec()]);
        let sha1 = r.take(&key, data.len() as u64).unwrap();
        assert_eq!(sha1.finalize(), Sha1::digest(&data));
        assert!(r.take(&key, data.len() as u64).is_none(), "forgotten");
        assert_eq!(r.total.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn stashes_are_bounded() {
        let r = Running::default();
        let key = (3, "s".to_string());
        let part = 1 << 20;
        for i in 1..=(STASH_MAX / part + 1) {
            r.part(key.clone(), (i * part) as u64, vec![vec![0; part]]);
        }
        assert_eq!(r.total.load(Ordering::Relaxed), 0, "dropped past the bound");
        r.part(key.clone(), 0, vec![vec![0; part]]);
        assert!(r.take(&key, (2 * part) as u64).is_none());
    }

    #[test]
    fn a_gap_or_a_lost_part_gives_nothing() {
        let r = Running::default();
        let key = (2, "s".to_string());
        r.part(key.clone(), 1000, vec![vec![1; 1000]]);
        assert!(r.take(&key, 2000).is_none());
        r.part(key.clone(), 0, vec![vec![1; 1000]]);
        r.lost(key.clone());
        r.part(key.clone(), 1000, vec![vec![1; 1000]]);
        assert!(r.take(&key, 2000).is_none());
    }
}
