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
//! - **Fixed part numbers.** Part `n` is bytes `[n × part, (n + 1) × part)`
//!   of the cache's part size (1 MiB), whose MD5s the hashing threads
//!   already compute: no byte is hashed twice. A file that outgrows
//!   10,000 such parts is uploaded afresh by its commit with a larger part
//!   size (the open session is aborted).
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
//!   [`MAX_PARTS_IN_FLIGHT`] parts of 1 MiB in flight overall (each read
//!   from the cache only when its slot frees up).
//! - **Write-back mode** sends early too; its close stops the sender and
//!   the commit after the quiet time resumes the session.
//!
//! Files: [`uploads`] (the senders) and [`backend`] (the [`Backend`](super::Backend)
//! that wraps the committer and feeds them).

mod backend;
mod uploads;

pub use backend::EarlyBackend;
pub use uploads::{EarlyUploads, MAX_FILES, MAX_PARTS_IN_FLIGHT, START_AFTER};
