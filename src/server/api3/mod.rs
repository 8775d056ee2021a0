//! API 3.0 on `vodfs serve` (protocol-api3.md): VOD's upload interface of
//! today, version 2018-07-17, on the same listen address as everything
//! else. The router sends `/` here when the request is not the media page:
//! any POST, an `X-TC-Action` header, a TC3 `Authorization`, or a query
//! with `Action` and `Version=2018-07-17` or a v1 `Signature`
//! ([`is_api3`]).
//!
//! | action | file |
//! |---|---|
//! | ApplyUpload, CommitUpload | `upload.rs` |
//! | DescribeMediaInfos, DeleteMedia | `media.rs` |
//!
//! Between the two upload calls the client writes to the COS endpoint
//! (`server/cos/`) with the session's temporary credential.
//!
//! Files: `route.rs` (one request, start to end), `auth.rs` (the request
//! guard's scheme: TC3-HMAC-SHA256 and the v1 form signature),
//! `request.rs` (the request taken apart, parameters as JSON), `reply.rs`
//! (the answers, always HTTP 200 `application/json`), `upload.rs`,
//! `media.rs`. Imports point one way: `route` → `auth`, `upload`, `media`
//! → `request` → `reply`.

pub mod auth;
pub mod media;
pub mod reply;
pub mod request;
pub mod route;
pub mod upload;

pub use request::is_api3;
pub use route::handle;
