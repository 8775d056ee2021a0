//! `vodfs serve`: a persistent single-node implementation of the VOD upload
//! service (issue 2), speaking the older interfaces of `shared/protocol.md`
//! and API 3.0 of `shared/protocol-api3.md` (issue 12), the cloud's today.
//!
//! The plain API: [`ServerConfig`] in, [`serve`] on a bound listener until a
//! shutdown future resolves ([`app()`] is the router, for tests that drive it
//! directly); [`account_for`] is the account of a data directory. The
//! command line (`vodfs serve`) is wired in `crate::serve`, the mount's
//! in-process service in `crate::embedded`; this module knows nothing of
//! clap.
//!
//! Routing is by request, in one function (`router.rs`):
//!
//! | request | file | client side |
//! |---|---|---|
//! | Host `<bucket>-<appId>.cos.<region>.myqcloud.com` | `cos/` (the object storage behind apply) | `vod/apply.rs` (COS part) |
//! | `/v2/index.php`, `/v3/index.php` | `v2.rs`, by `Action`: | `vod/http.rs` |
//! | · InitUpload, UploadPart, FinishUpload, SmallFileUpload (A) | `v4.rs` | `vod/v4.rs` |
//! | · InitUploadEx/UGC, UploadPartEx/UGC, FinishUploadEx/UGC (B) | `ugc.rs` | `vod/ugc.rs` |
//! | · ApplyUpload, CommitUpload (C) | `apply.rs` | `vod/apply.rs` |
//! | · ApplyUploadUGC, CommitUploadUGC, PrepareUploadUGC (D: JSON body, client signature; COS with a temporary credential: `cos/`) | `ugc_d/` (routed by the query's Action) | the ugc client (`vod/`) |
//! | `/v1/media`, `/api/v1/media/<id>/uploaded`, `/fw-upload/…` (F) | `frontwize.rs` | `vod/frontwize.rs` |
//! | `POST /`, `GET /?Action=…` with `Version=2018-07-17` or a v1 `Signature`, or `/` with `X-TC-Action` or a TC3 `Authorization` (API 3.0) | `api3/`: ApplyUpload, CommitUpload, DescribeMediaInfos, DeleteMedia (COS with the session's temporary credential: `cos/`) | the api3 client (`vod/`) |
//! | `/admin/…` (loopback peers only) | `admin.rs` | tests, `vodfs` tooling |
//! | `/` | `page.rs` (the media page) | a browser |
//! | anything else | `playback.rs` (playback URLs) | `vod/playback.rs` |
//!
//! Every family's request goes through one request guard (`guard.rs`):
//! it counts the request, draws faults, authenticates with the family's
//! scheme (a small trait: v2 signature or UGC signature in `v2.rs`,
//! TC3-HMAC-SHA256 or the v1 form signature in `api3/auth.rs`, COS
//! signature in `cos/route.rs`, frontwize Authorization or presigned URL
//! in `frontwize.rs`), applies the rate limit, then runs the handler and
//! renders and counts its errors the family's way.
//!
//! Shared pieces: `app.rs` (the state every handler gets), `params.rs`
//! (v2/v3 parameters), `error.rs` (one error type and its v2 codes),
//! `respond.rs` (plain/JSON answers, the mid-body drop), `body.rs`
//! (bodies streamed to disk), `store.rs` + `store_objects.rs` (SQLite and
//! files) + `store_replay.rs` (spent nonces, rate windows),
//! `upload_data.rs` + `running.rs` (part files and running hashes),
//! `faults.rs`, `ratelimit.rs`, `stats.rs`, `clock.rs`, `config.rs`,
//! `account.rs`, `mp4.rs` (duration and size from a moov, for
//! DescribeMediaInfos), `store_api3.rs` (API 3.0 sessions, temporary
//! credentials, media extras), `store_ugc_d.rs` (family D sessions, spent
//! one-time signatures, media extras).
//!
//! Layering: of the crate, `server` imports only `vod::sign` and
//! `vod::rules` (what both sides of the protocol obey), never the mount side
//! (`fs`, `cache`, `upload`, `fuse`) nor the wiring. Inside, imports point
//! one way: `router` → the flow files → `guard` and the shared pieces; no
//! file imports this `mod.rs` and no two files import each other. A flow
//! file that needs another's code imports it downwards only (`v2` → `v4`,
//! `ugc`, `apply`; `ugc` and `v4` share the upload state machine in
//! `v4.rs`; `apply` uses `v4`'s name checks; `ugc_d` uses API 3.0's
//! temporary credentials, media extras and their "never expires").
//!
//! Admin endpoints (JSON, loopback only, no auth; the door in `admin.rs`:
//! a loopback Host, an `X-Vodfs-Admin` header or JSON Content-Type, no
//! foreign Origin):
//! - `GET /admin/media` → `[media…]`; `GET /admin/media/<fileId>` →
//!   `{fileId, name, type, size, sha1, md5, url, coverUrl, coverFileId,
//!   classId, tags, procedure, sourceContext, flow, kind, parent, createdAt,
//!   urlPath}` (family D's also `taskPriority`, `taskNotifyMode`) or 404.
//! - `GET /admin/stats` → `{actions: {<Action>: {requests, errors}},
//!   partsReceived, partBytesReceived, storeSyncs}`: part bytes count every
//!   UploadPart (and COS multipart part) body accepted, so a test can prove
//!   a resume re-sent only what was missing; `storeSyncs` counts the group
//!   syncs of the store's WAL (one per group of writing requests).
//! - `GET /admin/multipart` → `[{bucket, key, uploadId, parts, sizes}]`:
//!   the open COS multipart uploads, with each held part's size in part
//!   order (a test sees the layout parts were sent in).
//! - `GET /admin/faults` → the spec as text; `PUT /admin/faults` with a spec
//!   (see `faults.rs`) or `off` as the body replaces it (400 if invalid).
//! - `GET /admin/account` → `{secretId, appId, verifyKey, bucket}` (no key).
//! - `GET /admin/rate-limits` → the quotas; `PUT /admin/rate-limits` with
//!   `off`, `on` or `ACTION=N,…` changes them at run time (API 3.0's are
//!   `api3.<Action>=N`, per second).
//! - `GET /admin/temp-credential-ttl` → seconds; `PUT` with seconds as the
//!   body sets the lifetime of the temporary credentials ApplyUpload mints
//!   from then on (`--temp-credential-ttl`, default 7200).
//! - `POST /admin/expire-credentials` → `{expired: n}`: every live
//!   temporary credential expires now (a credential running out mid-file,
//!   without waiting for it).
//! - `POST /admin/expire-sessions` → `{expired: n}`: every live family D
//!   upload session (vodSessionKey) expires now (a session past its day,
//!   without waiting for it).
//!
//! Decisions: instant upload (same account, same SHA-1 of a complete video)
//! returns the *existing* fileId, like the real service; fileIds are
//! 19-digit decimals from a persistent counter, never reused; every error is
//! HTTP 200 with a v2 body on the v2 endpoints (the SDKs ignore the status).

pub mod account;
pub mod admin;
pub mod api3;
pub mod app;
pub mod apply;
pub mod body;
pub mod clock;
pub mod config;
pub mod cos;
pub mod error;
pub mod faults;
pub mod frontwize;
pub mod group_sync;
pub mod guard;
pub mod mp4;
pub mod page;
pub mod params;
pub mod playback;
pub mod ratelimit;
pub mod respond;
pub mod router;
pub mod running;
pub mod span;
pub mod stats;
pub mod store;
pub mod store_api3;
pub mod store_objects;
pub mod store_replay;
pub mod store_ugc_d;
pub mod ugc;
pub mod ugc_d;
pub mod upload_data;
pub mod v2;
pub mod v4;

pub use account::account_for;
pub use app::App;
pub use clock::unix_now;
pub use config::{Account, RateLimits, ServerConfig};
pub use error::ServerError;
pub use faults::{FaultKind, FaultSpec};
pub use router::{app, serve};
pub use stats::Stats;
