//! Family D on `vodfs serve`: the client-upload path of today
//! (protocol.md §4, §5.4; protocol-api3.md §2.5), used by machines that
//! hold no SecretKey, only a signature per upload from their app's signing
//! service. `POST /v3/index.php?Action=…` (and `/v2/`) with a JSON body:
//!
//! | action | file |
//! |---|---|
//! | ApplyUploadUGC: new upload, resume by vodSessionKey, cover replacement by fileId | `apply.rs` (+ `plan.rs`: the plan and the answer) |
//! | CommitUploadUGC (idempotent while the session lives) | `commit.rs` |
//! | PrepareUploadUGC (the regions to race) | `apply.rs` |
//!
//! Between Apply and Commit the client writes to the COS endpoint
//! (`server/cos/`) with the session's temporary credential, API 3.0's kind
//! (`store_api3::TempCred`): scoped to the session's keys, expiring,
//! token required. Sessions, spent one-time signatures and the media
//! extras are in `store_ugc_d.rs`. Answers and codes: `reply.rs`,
//! `vod::rules::ugc_d`.
//!
//! Files: `route.rs` (one request, start to end), `auth.rs` (the request
//! guard's scheme: the client signature), `apply.rs`, `commit.rs`,
//! `plan.rs`, `reply.rs`. Imports point one way: `route` → `auth`,
//! `apply`, `commit` → `plan`, `reply`; `commit` → `apply`.

pub mod apply;
pub mod auth;
pub mod commit;
pub mod plan;
pub mod reply;
pub mod route;

pub use route::{action_of, handle};
