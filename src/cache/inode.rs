//! What an inode is as stored: its row, its kind, the reserved inode
//! numbers, and the time encoding of the tables.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The root directory's inode.
pub const ROOT_INO: u64 = 1;
/// The `by-id` directory's inode (reserved, never a user file).
pub const BY_ID_INO: u64 = 2;
/// `by-id/<fileId>` entries have inode `MEDIA_INO_BASE + media id`.
pub const MEDIA_INO_BASE: u64 = 1 << 48;

/// Kind of an inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

impl Kind {
    pub(super) fn to_i64(self) -> i64 {
        match self {
            Kind::File => 1,
            Kind::Dir => 2,
        }
    }
    pub(super) fn from_i64(v: i64) -> Kind {
        if v == 2 { Kind::Dir } else { Kind::File }
    }
}

/// One inode as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InodeRow {
    pub ino: u64,
    pub kind: Kind,
    /// Permission bits (no file type bits).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    pub crtime: SystemTime,
    /// Content version; bumped when a sealed content is written again.
    pub version: u64,
    /// 0 once unlinked (the row stays while the file is open).
    pub nlink: u32,
}

/// Time as signed nanoseconds since the epoch (times before 1970 are legal).
pub(crate) fn to_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

pub(crate) fn from_ns(ns: i64) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}
