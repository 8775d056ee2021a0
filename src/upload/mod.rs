//! The pipeline from a staged file to a committed media: hashing, part
//! scheduling, retries, pacing, resume.
pub mod committer;
