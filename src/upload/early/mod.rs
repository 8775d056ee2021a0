//! Parts sent while the file is written: for flows whose service needs no
//! whole-file hash before the first part ([`crate::vod::UploadFlow::parts_before_hash`]:
//! api3, COS multipart), a file being written starts its session once a
//! few parts are sealed and sends each sealed part in the background, so
//! that its close waits only for the last parts and the commit.
//!
//! Design decisions:
//! - **The commit stays the authority.** Early parts are a head start, not
//!   a second pipeline: the session is saved in the cache
//!   (`early_sessions`) and the commit of that version resumes it like any
//!   saved session (the service lists what it holds, each part is checked
//!   against the sealed content's MD5, a part rewritten since — an MP4
//!   muxer patching its header at offset 0 — or truncated is sent again
//!   under the same part number). The first part that fails early stops
//!   the file's sender and leaves the rest to the commit (with its
//!   retries): nothing early is retried, no byte is sent into an outage.
//! - **Stopped before the commit.** The commit of a file first stops its
//!   early sender and waits for the parts in flight, so no stale early part
//!   can land after the commit listed what the service holds.
//! - **Fixed part numbers, sizes that grow.** The session's parts follow a
//!   [`Layout::Grown`](crate::vod::rules::layout::Layout) over the cache's
//!   parts (1 MiB): part `n`'s offset and size depend on `n` alone, so the
//!   numbering holds whatever the final size. The first 5,120 parts are one
//!   cache part each (files up to 5 GiB: exactly the uniform 1 MiB parts),
//!   then the size doubles every 64 parts up to 64 MiB: files up to
//!   293.875 GiB fit 10,000 parts. A part of one cache part goes with the MD5
//!   the hashing threads computed (no byte hashed twice); a grown part is
//!   sent once all its cache parts are sealed, hashed as it is read, and
//!   recorded in the cache (`early_parts`: its MD5 and a digest of its cache
//!   parts' sealed MD5s) unless its bytes were written again meanwhile. The
//!   commit trusts a held grown part only while the cache parts' MD5s it
//!   knows then (the sealed ones, or those hashed again after a restart)
//!   give the same digest; otherwise it reads it and sends it again when it
//!   differs, under the same number. A file past the layout's maximum is
//!   uploaded afresh by its commit (the open session is aborted, logged).
//!   Tests lower the thresholds with `VODFS_TEST_EARLY_LAYOUT=K,M[,S]`
//!   (test only, read once in `queue`).
//! - **Same job or none.** The session is started for the job the commit
//!   will run (name, type, part size, settings; an rsync temp file under its
//!   final name). A commit whose job differs (another name, a cover, new
//!   settings) aborts it and starts afresh; files whose start depends on
//!   what is not written yet (typed by their head, with a cover) do not
//!   start early.
//! - **Nothing half left.** A file unlinked, or renamed to a temporary or
//!   another name, before its close gets its session aborted
//!   (AbortMultipartUpload; nothing was committed). A session of a mount
//!   killed mid-write stays saved: `vodfs retry` of the interrupted file
//!   resumes it, an unlink aborts it.
//! - **Bounded.** At most [`MAX_FILES`] files send early at once, with
//!   [`MAX_PARTS_IN_FLIGHT`] parts and [`MAX_MIB_IN_FLIGHT`] MiB in flight
//!   overall (each part read from the cache only when its slot frees up; a
//!   grown part larger than the byte budget, past 8.875 GiB, waits for all of
//!   it and is then alone in flight).
//! - **Write-back mode** sends early too; its close stops the sender and
//!   the commit after the quiet time resumes the session.
//!
//! Files: [`uploads`] (the senders), [`queue`] (what one sender knows of
//! its file, and the mount's layout) and [`backend`] (the
//! [`Backend`](super::Backend) that wraps the committer and feeds them,
//! writes and truncates included).

mod backend;
mod queue;
mod uploads;

pub use backend::EarlyBackend;
pub use queue::{TEST_LAYOUT_ENV, growth};
pub use uploads::{EarlyUploads, MAX_FILES, MAX_MIB_IN_FLIGHT, MAX_PARTS_IN_FLIGHT, START_AFTER};
