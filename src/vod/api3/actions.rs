//! The names of the api3 flow's calls, as errors and the pacer name them.

pub(super) const APPLY: &str = "ApplyUpload";
pub(super) const COMMIT: &str = "CommitUpload";
pub(super) const PART: &str = "CosUploadPart";
pub(super) const INITIATE: &str = "CosInitiateMultipart";
pub(super) const LIST: &str = "CosListParts";
pub(super) const COMPLETE: &str = "CosCompleteMultipart";
pub(super) const PUT: &str = "CosPutObject";
pub(super) const ABORT: &str = "CosAbortMultipart";
