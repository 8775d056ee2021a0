//! The SQLite staging store: files, directories, chunks, xattrs and upload
//! state of the mount.
//!
//! Layout of a cache directory: `cache.db` (SQLite, see `schema` for the
//! pragmas and migrations) and `data/<ino>-<version>`, one sparse file per
//! content version holding its bytes; part `i` of a version is the byte
//! range `[i * part_size, (i + 1) * part_size)` of that file. Chunk bytes live
//! in files beside the database rather than in blobs: `doc/staging-bench.md`
//! has the figures (files write every byte once; blobs go through the WAL
//! and are written twice, and partial-part writes need a read-modify-write).
//!
//! Concurrency: one writer connection owned by one thread, callers send it
//! work and block until it is committed (`db`); readers use pooled
//! read-only connections. Data files are read and written with positional
//! I/O from any thread.
//!
//! Durability: no fsync per write. [`Cache::seal`] (called at flush, fsync or
//! close, before a commit starts) syncs the version's data file and commits
//! its metadata with `synchronous=FULL`.
//!
//! # The API of the upload committer
//! - [`Cache::commit_info`]: name bytes and parent, size, part size, the
//!   SHA-1 if it was computed while writing, each part's MD5 if known.
//! - [`Cache::read_at`]: the bytes of (ino, version), from any thread.
//! - [`Cache::set_upload_status`]: state, parts/bytes done of total, error.
//! - [`Cache::mark_committed`]: fileId, url, sha1, service name, cover url;
//!   creates the `by-id/<fileId>` record, which keeps that version's bytes.
//!   The live file shows it only while its version is still that one.
//! - [`Cache::save_progress`] / [`Cache::load_resume_token`].
//! - [`Cache::save_early_session`] / [`Cache::load_early_session`] /
//!   [`Cache::take_early_sessions`]: the session of parts sent while a
//!   version was still written (`early`); [`Cache::save_early_part`] /
//!   [`Cache::early_parts`]: its grown parts, with the MD5s they were made of.
//! - [`Cache::pending_uploads`]: sealed versions not committed yet (resume
//!   at mount).
//! - [`Cache::dir_settings`]: each setting from the nearest ancestor directory's
//!   `user.vod.<setting>` xattr, in one walk.
//!
//! Layering: `cache` owns the staging store and nothing above it; it may
//! import only `crate::sqlite` (opening the database): it knows files,
//! chunks and upload state, not the protocol, and never `fs`, `upload` or
//! `fuse`. The files: `store` (the handle),
//! `open` (opening a cache directory), `error`, `inode` (rows, kinds, reserved inodes), `db` (the
//! writer thread and reader pool), `schema` (migrations), and one file of
//! `impl Cache` per subject (`nodes`, `links`, `rename`, `paths`, `xattrs`, `uploads`,
//! `space`, `unsealed`, `early`).

mod db;
mod early;
mod error;
pub mod hash;
mod inode;
mod links;
mod nodes;
mod open;
mod paths;
mod rename;
mod schema;
mod space;
mod store;
mod unsealed;
mod uploads;
mod xattrs;

pub use early::{EarlyPart, EarlySession};
pub use error::CacheError;
pub use hash::{ContentHasher, HashKinds, Hashes};
pub use inode::{BY_ID_INO, InodeRow, Kind, MEDIA_INO_BASE, ROOT_INO};
pub use nodes::{DirEntry, NewNode, PartMd5s, SetAttr};
pub use rename::RenameOutcome;
pub use store::Cache;
pub(crate) use uploads::read_file_at;
pub use uploads::{CommitInfo, Committed, Media, UploadRow, UploadState, UploadStatus, WaitTimes};

#[cfg(test)]
mod tests;
