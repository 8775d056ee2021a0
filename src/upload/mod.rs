//! The pipeline from a staged file to a committed media: hashing, part
//! scheduling, retries, pacing, resume.
//!
//! The driving API (called from `upload::committer`):
//! - a [`PartSource`] gives the file's bytes by range (blocking reads, run
//!   off the async threads) and, when the cache has them, precomputed hashes;
//! - an [`UploadJob`] says what to upload and how (service name, type, part
//!   size, parts in flight, settings, a saved resume token);
//! - an [`Observer`] hears the phase, the progress, and the resume token to
//!   save;
//! - [`Uploader::upload`] runs it all over one [`crate::vod::UploadFlow`] and
//!   returns [`Committed`] or an [`UploadError`] naming the action, the
//!   service code and message.
//!
//! Jobs: [`hash`] (SHA-1 and part MD5s in one pass), [`retry`] (backoff with
//! jitter, by time), [`health`] (the service unreachable or back, what a
//! waiting file shows), [`pace`] (per-Action rate limits), [`pipeline`] (the scheduler),
//! [`source`] (the byte source trait), [`early`] (parts sent while a file is
//! still written, for flows that need no hash first), [`fake`] (an in-memory service for
//! tests of whatever drives the pipeline).
//!
//! Driving it (what the committer does):
//!
//! ```text
//! let flow = Arc::new(V4Client::new(V4Config::new(endpoint), Credentials::new(id, key))?);
//! let uploader = Uploader::new(flow, UploaderConfig::default()); // one per mount
//! let job = UploadJob { part_size, parallel_parts, resume_token: saved,
//!                       ..UploadJob::for_file_name(final_name) };
//! let committed = uploader.upload(Arc::new(staged_file), &job, &observer, &cancel).await?;
//! ```
//!
//! The future is `Send + 'static` when its arguments are owned, so it can be
//! spawned; cancelling the token (unlink, new version) stops it promptly
//! with [`UploadError::Cancelled`] and leaves the service's partial upload
//! to be resumed by content hash.
//!
//! Layering: `upload` sits below `fs` (which calls it through [`Backend`]
//! and [`RemoteRead`], defined here so that nothing here imports `fs`) and
//! above `cache`, `settings` and `vod`, which it may import. The files:
//! `backend` (the interfaces the filesystem calls), `job` (job, phases,
//! progress, the committed media), `error`, and the modules above.

pub mod backend;
pub mod commit_job;
pub mod committer;
pub mod early;
mod error;
pub mod fake;
pub mod hash;
pub mod health;
mod job;
pub mod object;
pub mod pace;
pub mod pipeline;
pub mod retry;
pub mod source;

pub use backend::{Backend, CommitError, RemoteRead, RemoteReadError};
pub use error::UploadError;
pub use health::Health;
pub use job::{
    Committed, DEFAULT_PARALLEL_PARTS, NoObserver, Observer, Phase, Progress, UploadJob,
};
pub use pace::{PaceLimits, Pacer};
pub use pipeline::{Uploader, UploaderConfig};
pub use retry::{RetryPolicy, Waiting};
pub use source::{FileSource, MemorySource, PartSource};
