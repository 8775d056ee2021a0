//! The COS XML object storage behind family C (`apply.rs`): the subset of
//! the COS XML API (protocol.md §5.3) that the SDKs use between ApplyUpload
//! and CommitUpload: PUT Object, Initiate / Upload Part / Complete / Abort
//! multipart, `GET /?uploads` (list open multipart uploads),
//! `GET /<key>?uploadId=` (list parts) and GET/HEAD Object.
//!
//! Requests are routed here by their Host (`<bucket>-<appId>.cos.…`,
//! [`is_cos_host`]) and each is checked against the COS request signature.
//! The key is the percent-decoded path; it must be valid UTF-8 with no
//! `.`/`..` segment or NUL, and it is only ever a database key (files are
//! named by number), so no key can name a file outside the data dir.
//! Errors are COS-style XML `<Error><Code/><Message/>…</Error>` with HTTP
//! 4xx/5xx. Faults and rate limits use the action names `CosPut`,
//! `CosPost`, `CosGet`, `CosDelete`.
//!
//! Files: `route.rs` (the request guard's COS scheme and dispatch by method
//! and query), `object.rs` (signature, objects, XML answers), `multipart.rs`
//! (Complete and the listings). `route` imports `object` and `multipart`;
//! `multipart` imports `object`; `object` imports neither.

pub mod multipart;
pub mod object;
pub mod route;

pub use route::{handle, is_cos_host};
