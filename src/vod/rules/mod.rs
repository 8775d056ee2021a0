//! The rules of the protocol that both sides obey, in one place: the
//! client flows of [`crate::vod`] follow them and `vodfs serve` enforces
//! them, so the client never sends what the service refuses.
//!
//! - [`names`]: fileName / fileType / digest checks, and the fileName and
//!   fileType the client derives from a local name (a type the service
//!   cannot take is sent as `bin`, the real extension kept in the name);
//! - [`parts`]: the part sizes, COS's smallest part, the cover limit, and
//!   part geometry;
//! - [`layout`]: where part `n` of an upload lies, uniform or grown (parts
//!   sent while a file is written);
//! - [`cos_xml`]: the COS multipart XML bodies, one writer and one reader;
//! - [`codes`]: the v2 error-code table and the retry rule;
//! - [`media_types`]: frontwize's MediaType table;
//! - [`settings`]: limits of the upload settings (tags);
//! - [`sniff`]: the media type of content whose name does not say it;
//! - [`api3`]: API 3.0's version, error codes and retry rule, MediaTypes
//!   and CoverTypes, parameter limits, COS part-count limit, ISO 8601;
//! - [`ugc_d`]: family D's (ApplyUploadUGC / CommitUploadUGC) actions,
//!   client-signature limits, declared sizes and answer codes.
//!
//! Layering: this module imports nothing of the crate but its own files.
//! Beside [`super::sign`], it is the only part of `vod` that `server` may
//! use (`tests/architecture.rs` checks it).

pub mod api3;
pub mod codes;
pub mod cos_xml;
pub mod layout;
pub mod media_types;
pub mod names;
pub mod parts;
pub mod settings;
pub mod sniff;
pub mod ugc_d;
