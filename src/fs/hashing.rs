//! Hashing off the FUSE reply path: a file being written gets a worker
//! thread that applies its writes and truncates to its
//! [`ContentHasher`], in the order they hit the data file (they are queued
//! under the inode lock). A write replies once its bytes are in the data
//! file and queued; the SHA-1 and part MD5s are computed meanwhile, and a
//! seal waits for the queue to drain. The queue is bounded, so a hasher that
//! falls behind slows writers down instead of growing memory without end.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::cache::{ContentHasher, Hashes};

/// Writes queued at most (each up to one FUSE write, 1 MiB).
const QUEUE: usize = 32;

enum Msg {
    Write(u64, Vec<u8>),
    Truncate(u64, u64),
    Finish(u64, SyncSender<Hashes>),
}

/// The hashing state of one file.
pub(crate) struct Hashing {
    part_size: u32,
    state: State,
}

enum State {
    /// No write yet, or no thread could be started: hashing inline.
    Idle(Box<ContentHasher>),
    Running(SyncSender<Msg>),
    /// The worker died: nothing is known until the next version.
    Lost,
}

fn worker(mut h: ContentHasher, rx: Receiver<Msg>) {
    for msg in rx {
        apply(&mut h, msg);
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

impl Hashing {
    pub fn new(h: ContentHasher) -> Self {
        Hashing {
            part_size: h.part_size(),
            state: State::Idle(Box::new(h)),
        }
    }

    /// Queues `msg` for the worker (starting it on first use), or applies
    /// it inline when no thread can be started.
    fn send(&mut self, msg: Msg) {
        if let State::Idle(h) = &mut self.state {
            let (tx, rx) = sync_channel(QUEUE);
            let start = h.clone();
            match std::thread::Builder::new()
                .name("vodfs-hash".into())
                .spawn(move || worker(*start, rx))
            {
                Ok(_) => self.state = State::Running(tx),
                Err(_) => return apply(h, msg),
            }
        }
        if let State::Running(tx) = &self.state
            && tx.send(msg).is_err()
        {
            tracing::warn!("hashing worker is gone; hashes will be computed at commit");
            self.state = State::Lost;
        }
    }

    pub fn write(&mut self, offset: u64, data: &[u8]) {
        self.send(Msg::Write(offset, data.to_vec()));
    }

    pub fn truncate(&mut self, old: u64, new: u64) {
        self.send(Msg::Truncate(old, new));
    }

    /// Starts over with `h` (a new content version); stops the worker.
    pub fn replace(&mut self, h: ContentHasher) {
        *self = Hashing::new(h);
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
            State::Lost => unknown(),
            State::Running(tx) => {
                let (reply, rx) = sync_channel(1);
                if tx.send(Msg::Finish(size, reply)).is_err() {
                    return unknown();
                }
                rx.recv().unwrap_or_else(|_| unknown())
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
    fn the_worker_gives_the_same_hashes_as_inline() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 13) as u8).collect();
        let mut h = Hashing::new(ContentHasher::new(4096));
        for (i, c) in data.chunks(1000).enumerate() {
            h.write((i * 1000) as u64, c);
        }
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
}
