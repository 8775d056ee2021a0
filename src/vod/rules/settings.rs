//! Limits of the upload settings both sides obey: at most [`MAX_TAGS`] tags
//! (`tags.n` of InitUpload, `tag.n` of the UGC signature; protocol.md §2.1,
//! §3.1). The client sends the first ten; the service keeps the first ten.

/// Most tags one upload carries.
pub const MAX_TAGS: usize = 10;
