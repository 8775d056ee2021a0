//! The names of the `ugc` flow's calls, as errors and the pacer name them.

pub const APPLY: &str = "ApplyUploadUGC";
pub const COMMIT: &str = "CommitUploadUGC";
pub(super) const PART: &str = "CosUploadPart";
pub(super) const INITIATE: &str = "CosInitiateMultipart";
pub(super) const LIST: &str = "CosListParts";
pub(super) const COMPLETE: &str = "CosCompleteMultipart";
pub(super) const PUT: &str = "CosPutObject";
pub(super) const ABORT: &str = "CosAbortMultipart";
