//! The rules of `user.vod.*` values that the filesystem applies when they
//! are set (`setfattr`, refusing a bad one with EINVAL) and the commit job
//! applies later (reading them back): the per-directory upload settings
//! ([`upload`]) and which image is whose cover ([`cover`]).
//!
//! Layering: below `fs` and `upload`, which both import it; it
//! imports only `crate::vod`, for [`UploadSettings`]. The settings type is
//! vod's own rather than a second plain struct: it is already plain data
//! (serde, no behaviour beyond adding its parameters to a request), and it
//! is what every flow sends, so a copy here would need a field-by-field
//! conversion that could drift. Nothing here reads the cache: walks of the
//! tree (the nearest directory that sets a value, the image a path names)
//! are done by the callers, who hand the values in.
//!
//! [`UploadSettings`]: crate::vod::UploadSettings

pub mod cover;
pub mod upload;

pub use upload::{MAX_TAGS, NAMES, apply, check, parse_tags, resolve, setting_name};
