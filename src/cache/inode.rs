//! What an inode is as stored: its row, its kind, the reserved inode
//! numbers, and the time encoding of the tables.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The root directory's inode.
pub const ROOT_INO: u64 = 1;
/// The `by-id` directory's inode (reserved, never a user file).
pub const BY_ID_INO: u64 = 2;
/// `by-id/<fileId>` entries have inode `MEDIA_INO_BASE + media id`.
pub const MEDIA_INO_BASE: u64 = 1 << 48;

/// Kind of an inode. Only regular files have content (versions, uploads);
/// a symlink stores its target, a device node its `rdev`, a fifo or a
/// socket nothing but its attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

impl Kind {
    /// The `inodes.kind` column (see the schema).
    pub(super) fn to_i64(self) -> i64 {
        match self {
            Kind::File => 1,
            Kind::Dir => 2,
            Kind::Symlink => 3,
            Kind::Fifo => 4,
            Kind::Socket => 5,
            Kind::CharDevice => 6,
            Kind::BlockDevice => 7,
        }
    }
    pub(super) fn from_i64(v: i64) -> Kind {
        match v {
            2 => Kind::Dir,
            3 => Kind::Symlink,
            4 => Kind::Fifo,
            5 => Kind::Socket,
            6 => Kind::CharDevice,
            7 => Kind::BlockDevice,
            _ => Kind::File,
        }
    }

    /// The kind of the file type bits of a `mode` (`S_IFMT`), if any.
    pub fn from_mode(mode: u32) -> Option<Kind> {
        Some(match mode & 0o170000 {
            0o100000 => Kind::File,
            0o040000 => Kind::Dir,
            0o120000 => Kind::Symlink,
            0o010000 => Kind::Fifo,
            0o140000 => Kind::Socket,
            0o020000 => Kind::CharDevice,
            0o060000 => Kind::BlockDevice,
            _ => return None,
        })
    }

    /// Fifos, sockets and device nodes: attributes only, never opened
    /// through vodfs (the kernel serves them itself).
    pub fn is_special(self) -> bool {
        matches!(
            self,
            Kind::Fifo | Kind::Socket | Kind::CharDevice | Kind::BlockDevice
        )
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
    /// Names of a file (hard links; 0 once unlinked, the row stays while
    /// the file is open); 2 + subdirectories for a directory.
    pub nlink: u32,
    /// Device number of a device node (0 for every other kind).
    pub rdev: u32,
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
