//! File semantics of the mount (inodes, handles, xattrs, by-id), over the
//! staging cache. Knows nothing of the kernel (see `crate::fuse`) nor of the
//! protocol (see `crate::upload`): it reaches the service only through
//! [`Backend`] (commits) and [`RemoteRead`] (bytes of evicted content).
//!
//! Design (see `doc/SEMANTICS.md` for the behaviour of each operation):
//! - Metadata lives in the cache; every namespace change is a cache write.
//! - A file being written has an `open::OpenInode` in memory: its data file,
//!   size, pending mtime, incremental hashes and writer count. Size and mtime
//!   are persisted at flush/release/fsync, not per write. Hashes are
//!   computed by a per-file worker fed in write order (`hashing`), so a
//!   write replies once its bytes are in the data file.
//! - **Content versions.** Sealing a version (at the last writer's close, or
//!   when an rsync temp file is renamed to its final name) hands it to the
//!   backend; writing to a sealed version starts a new one, so each content
//!   version is committed exactly once.
//! - Operations that may wait (flush, release, fsync, rename, read of remote
//!   media) return [`Reply`]: either an immediate result or a future the
//!   adapter runs off the FUSE thread, moving the kernel's reply with it.
//!
//! Layering: `fs` may import `cache`, `upload` (the [`Backend`] it
//! schedules commits with and the [`RemoteRead`] evicted content is read
//! through), `settings` (the rules of `user.vod.*` values) and `vod`'s
//! plain types; only `fuse` and the wiring import `fs`. The files:
//! `filesystem` ([`Fs`] and its state), `attr`, `reply`, `error`, and one
//! file of `impl Fs` per subject (`tree`, `links`: symlinks, hard links and
//! special files, `io`, `xattr`, `cover`, `space`, `remote`, `interrupted`).
//!
//! [`Backend`]: crate::upload::Backend
//! [`RemoteRead`]: crate::upload::RemoteRead

mod attr;
mod cover;
mod error;
mod filesystem;
mod hashing;
mod interrupted;
mod io;
mod links;
mod names;
mod open;
mod passthrough;
mod procfd;
mod read_ahead;
mod remote;
mod reply;
mod space;
pub mod testing;
mod tree;
mod xattr;

/// The kind of an inode, as the adapter needs it for replies.
pub use crate::cache::Kind;
pub use attr::{Attr, Entry, SetAttrReq, StatFs};
pub use error::FsError;
pub use filesystem::{Fs, FsConfig};
pub use names::MAX_FILE_SIZE;
pub use names::is_rsync_temp;
pub use procfd::mount_id;
pub use reply::Reply;
pub use tree::RenameFlags;

#[cfg(test)]
mod tests;
