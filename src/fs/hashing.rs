//! Hashing off the FUSE reply path: a file being written past its first
//! part gets two worker threads, one for the whole-content SHA-1 and one for
//! the part MD5s, that apply its writes and truncates to their
//! [`ContentHasher`]s, in the order they hit the data file (they are queued
//! under the inode lock). A write replies once its bytes are in the data
//! file and queued; the hashes are computed meanwhile, on two cores when
//! there are two, and a seal waits for both queues to drain. The queues are
//! short and bounded, so a hasher that falls behind slows writers down
//! instead of growing memory without end, and a close never waits for more
//! than a few MiB of hashing.
//!
//! The first part is hashed inline, on the writer's thread: a file that
//! never grows past it (most of a `cp -r` of small files) starts no thread
//! at all. Two thread starts per file cost more than hashing such a file
//! (`strace -f` of the mount over 200 files of 100 KiB: 404 `clone3`
//! before, 5 after), and a big file pays about 2 ms once, for its first MiB.
//!
//! With a write-back quiet time the hashing is *deferred* instead: the
//! upload waits for the quiet time anyway and hashes the staged bytes when
//! it starts (one pass from the cache, `upload::hash`), so writes and
//! closes do no hashing at all and staging runs at the speed of the cache's
//! disk. Early parts, which need the MD5s while writing, are off in that
//! mode.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use bytes::Bytes;

use crate::cache::{ContentHasher, HashKinds, Hashes};

/// Writes queued at most per worker (each up to one FUSE write, 1 MiB):
/// about 6 ms of MD5 at the close of a file written faster than it hashes
/// (8 gave medians of 14–18 ms on a loaded 2-core machine, against the
/// 20 ms goal).
const QUEUE: usize = 4;

#[derive(Clone)]
enum Msg {
    Write(u64, Bytes),
    Truncate(u64, u64),
    Finish(u64, SyncSender<Hashes>),
}

/// The hashing state of one file.
pub(crate) struct Hashing {
    part_size: u32,
    state: State,
    /// Told of the parts sealed at the frontier (inline, then by the MD5
    /// worker).
    sink: Option<SealSink>,
    /// The frontier's next part not told to `sink` yet (while inline).
    next: u64,
}

enum State {
    /// No write yet, or no thread could be started: hashing inline.
    Idle(Box<ContentHasher>),
    /// The SHA-1 worker and the MD5 worker.
    Running([SyncSender<Msg>; 2]),
    /// A worker died: nothing is known until the next version.
    Lost,
    /// Not hashed while written (a write-back quiet time): the commit
    /// hashes the staged bytes.
    Deferred,
}

/// Hears each part the MD5 worker seals at the frontier (index, MD5), once,
/// on the worker's thread: the parts a file being written may send early
/// (`upload::early`). Keep it quick.
pub(crate) type SealSink = std::sync::Arc<dyn Fn(u64, [u8; 16]) + Send + Sync>;

fn worker(mut h: ContentHasher, rx: Receiver<Msg>, sink: Option<SealSink>, mut next: u64) {
    for msg in rx {
        apply(&mut h, msg);
        tell_sealed(&h, sink.as_ref(), &mut next);
    }
}

/// Tells `sink` of the parts sealed at the frontier since `next`.
fn tell_sealed(h: &ContentHasher, sink: Option<&SealSink>, next: &mut u64) {
    if let Some(sink) = sink {
        let (end, sealed) = h.sealed_from(*next);
        *next = end;
        for (index, md5) in sealed {
            sink(index, md5);
        }
    }
}

fn apply(h: &mut ContentHasher, msg: Msg) {
    match msg {
        Msg::Write(off, data) => h.write(off, &data),
        Msg::Truncate(old, new) => h.truncate(old, new),
        Msg::Finish(size, reply) => {
            let _ = reply.send(h.finish(size));
        }
    }
}

fn spawn(h: ContentHasher, sink: Option<SealSink>, next: u64) -> std::io::Result<SyncSender<Msg>> {
    let (tx, rx) = sync_channel(QUEUE);
    std::thread::Builder::new()
        .name("vodfs-hash".into())
        .spawn(move || worker(h, rx, sink, next))?;
    Ok(tx)
}

impl Hashing {
    /// Hashing of a version, from `h`'s state; none at all when `defer`
    /// (every hash is then computed at commit).
    pub fn new(h: ContentHasher, defer: bool) -> Self {
        Hashing {
            part_size: h.part_size(),
            state: if defer {
                State::Deferred
            } else {
                State::Idle(Box::new(h))
            },
            sink: None,
            next: 0,
        }
    }

    /// Tells `sink` of each part sealed at the frontier from now on (set
    /// before the first write of a version; [`Hashing::replace`] drops it).
    pub fn set_sink(&mut self, sink: Option<SealSink>) {
        self.sink = sink;
    }

    /// True before the workers start without a sink (the moment to set one).
    pub fn wants_sink(&self) -> bool {
        self.sink.is_none() && matches!(self.state, State::Idle(_))
    }

    /// Queues `msg` for the workers (starting them on first use), or
    /// applies it inline when no thread can be started.
    fn send(&mut self, msg: Msg) {
        if matches!(self.state, State::Deferred | State::Lost) {
            return;
        }
        if let State::Idle(h) = &mut self.state {
            let sink = self.sink.clone();
            let next = self.next;
            let started = spawn(h.only(HashKinds::Sha1Only), None, next)
                .and_then(|a| Ok([a, spawn(h.only(HashKinds::Md5Only), sink, next)?]));
            match started {
                Ok(txs) => self.state = State::Running(txs),
                Err(_) => {
                    apply(h, msg);
                    return tell_sealed(h, self.sink.as_ref(), &mut self.next);
                }
            }
        }
        if let State::Running([a, b]) = &self.state
            && (a.send(msg.clone()).is_err() || b.send(msg).is_err())
        {
            tracing::warn!("hashing worker is gone; hashes will be computed at commit");
            self.state = State::Lost;
        }
    }

    pub fn write(&mut self, offset: u64, data: &[u8]) {
        match &mut self.state {
            State::Deferred | State::Lost => {}
            // Within the first part: inline (see the module's docs).
            State::Idle(h) if offset + data.len() as u64 <= u64::from(self.part_size) => {
                h.write(offset, data);
                tell_sealed(h, self.sink.as_ref(), &mut self.next);
            }
            _ => self.send(Msg::Write(offset, Bytes::copy_from_slice(data))),
        }
    }

    pub fn truncate(&mut self, old: u64, new: u64) {
        match &mut self.state {
            // Nothing to hash: a truncate starts no thread.
            State::Idle(h) => {
                h.truncate(old, new);
                tell_sealed(h, self.sink.as_ref(), &mut self.next);
            }
            _ => self.send(Msg::Truncate(old, new)),
        }
    }

    /// Starts over with `h` (a new content version); stops the workers.
    /// A deferred hashing stays deferred.
    pub fn replace(&mut self, h: ContentHasher) {
        let defer = matches!(self.state, State::Deferred);
        *self = Hashing::new(h, defer);
    }

    /// The hashes of a content of `size` bytes, once every queued change is
    /// hashed. Blocks: call off the FUSE threads.
    pub fn finish(&mut self, size: u64) -> Hashes {
        let unknown = || Hashes {
            sha1: None,
            md5s: vec![None; size.div_ceil(u64::from(self.part_size.max(1))) as usize],
        };
        match &mut self.state {
            State::Idle(h) => h.finish(size),
            State::Lost | State::Deferred => unknown(),
            State::Running(txs) => {
                let mut got = Vec::with_capacity(2);
                for tx in txs.iter() {
                    let (reply, rx) = sync_channel(1);
                    if tx.send(Msg::Finish(size, reply)).is_err() {
                        return unknown();
                    }
                    got.push(rx);
                }
                let mut got = got.into_iter().map(|rx| rx.recv());
                match (got.next(), got.next()) {
                    (Some(Ok(sha1)), Some(Ok(md5))) => Hashes::merge(sha1, md5),
                    _ => unknown(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};
    use sha1::Sha1;

    #[test]
    fn the_sink_hears_each_part_sealed_at_the_frontier_once() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let h2 = heard.clone();
        let mut h = Hashing::new(ContentHasher::new(4096), false);
        assert!(h.wants_sink());
        h.set_sink(Some(std::sync::Arc::new(move |i, m| {
            h2.lock().unwrap().push((i, m))
        })));
        for (i, c) in data.chunks(1000).enumerate() {
            h.write((i * 1000) as u64, c);
        }
        // A patch of part 0 after it was told: not told again.
        h.write(0, b"patched");
        let _ = h.finish(data.len() as u64);
        let expected: Vec<(u64, [u8; 16])> = data
            .chunks(4096)
            .take(2)
            .enumerate()
            .map(|(i, c)| (i as u64, Md5::digest(c).into()))
            .collect();
        assert_eq!(*heard.lock().unwrap(), expected);
    }

    /// A hashing of 4 KiB parts given `data` in writes of `chunk` bytes.
    fn fed(data: &[u8], chunk: usize) -> Hashing {
        let mut h = Hashing::new(ContentHasher::new(4096), false);
        for (i, c) in data.chunks(chunk).enumerate() {
            h.write((i * chunk) as u64, c);
        }
        h
    }

    #[test]
    fn the_worker_gives_the_same_hashes_as_inline() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 13) as u8).collect();
        let mut h = fed(&data, 1000);
        assert!(matches!(h.state, State::Running(_)));
        let got = h.finish(data.len() as u64);
        assert_eq!(got.sha1, Some(Sha1::digest(&data).into()));
        let md5s: Vec<_> = data
            .chunks(4096)
            .map(|c| Some(Md5::digest(c).into()))
            .collect();
        assert_eq!(got.md5s, md5s);
        h.truncate(10_000, 0);
        h.write(0, b"x");
        assert_eq!(h.finish(1).sha1, Some(Sha1::digest(b"x").into()));
    }

    #[test]
    fn a_file_within_its_first_part_is_hashed_inline_without_a_thread() {
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 11) as u8).collect();
        let mut h = fed(&data, 700);
        h.truncate(4096, 0);
        h.write(0, &data);
        assert!(matches!(h.state, State::Idle(_)), "no worker was started");
        let got = h.finish(4096);
        assert_eq!(got.sha1, Some(Sha1::digest(&data).into()));
        assert_eq!(got.md5s, vec![Some(Md5::digest(&data).into())]);
        // One byte past the first part starts the workers.
        h.write(4096, b"x");
        assert!(matches!(h.state, State::Running(_)));
    }

    #[test]
    fn a_part_sealed_inline_is_told_once_when_the_workers_take_over() {
        let data: Vec<u8> = (0..3 * 4096u32).map(|i| (i * 5) as u8).collect();
        let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let h2 = heard.clone();
        let mut h = Hashing::new(ContentHasher::new(4096), false);
        h.set_sink(Some(std::sync::Arc::new(move |i, _| {
            h2.lock().unwrap().push(i)
        })));
        for (i, c) in data.chunks(1024).enumerate() {
            h.write((i * 1024) as u64, c);
            if i == 3 {
                assert!(matches!(h.state, State::Idle(_)));
                assert_eq!(*heard.lock().unwrap(), vec![0], "sealed inline");
            }
        }
        let got = h.finish(data.len() as u64);
        assert_eq!(got.sha1, Some(Sha1::digest(&data).into()));
        assert_eq!(*heard.lock().unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn deferred_hashing_hashes_nothing_and_leaves_every_hash_to_the_commit() {
        let mut h = Hashing::new(ContentHasher::new(4096), true);
        assert!(matches!(h.state, State::Deferred));
        assert!(!h.wants_sink(), "no early parts without MD5s");
        h.write(0, &[1u8; 10_000]);
        h.truncate(10_000, 9_000);
        assert!(matches!(h.state, State::Deferred), "no worker was started");
        let got = h.finish(9_000);
        assert_eq!(got.sha1, None);
        assert_eq!(got.md5s, vec![None; 3]);
        h.replace(ContentHasher::new(4096));
        assert!(
            matches!(h.state, State::Deferred),
            "a new version of the file stays deferred"
        );
    }
}
