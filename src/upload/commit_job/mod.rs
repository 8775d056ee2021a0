//! What committing one staged version does: read it from the cache, run the
//! pipeline over the mount's flow, record the outcome in the cache.
//!
//! This is the only place where the staging store and the protocol meet.
//! Progress reaches the cache through one ordered writer per job
//! (`progress`), so a late progress write can never overwrite the final
//! state, and the pipeline never blocks on SQLite.
//!
//! Files: `job` (the [`CacheCommitJob`] and its face to the scheduler),
//! `commit` (the phases of one commit), `staged` (the staged bytes as the
//! pipeline's source), `progress` (the observer and its flusher), `cover`
//! (what a commit does with covers) and `find_cover` (finding them in the
//! tree), `early_job` (the job of a file still being written, for parts
//! sent early, and the commit's adoption of that session). May import `cache`, `settings` (upload settings of directories,
//! which image is whose cover) and `vod`; never `fs`.

mod commit;
mod cover;
mod early_job;
mod find_cover;
mod job;
mod progress;
mod staged;

pub use early_job::final_name;
pub use job::CacheCommitJob;
