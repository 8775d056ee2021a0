//! The filesystem error and the one table from it to an errno.

use crate::cache::CacheError;
use crate::upload::{CommitError, RemoteReadError};

/// Why a filesystem operation failed. [`FsError::errno`] is the only place
/// an error becomes an errno.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("no such file or directory")]
    NotFound,
    #[error("file exists")]
    Exists,
    #[error("directory not empty")]
    NotEmpty,
    #[error("not a directory")]
    NotDir,
    #[error("is a directory")]
    IsDir,
    #[error("by-id is read-only")]
    ReadOnly,
    #[error("operation not permitted: {0}")]
    NotPermitted(&'static str),
    #[error("no such attribute")]
    NoData,
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    #[error("bad file handle {0}")]
    BadHandle(u64),
    #[error("too many links")]
    TooManyLinks,
    #[error("name too long")]
    NameTooLong,
    /// Past the largest file the cache holds (`Fs::MAX_FILE_SIZE`).
    #[error("file too large: {0} bytes (at most {max})", max = super::names::MAX_FILE_SIZE)]
    TooBig(u64),
    #[error("operation not supported: {0}")]
    NotSupported(&'static str),
    /// The content may not change while the kernel reads the data file
    /// directly (`--passthrough-reads`); names the file.
    #[error(
        "{0} is open for reading through FUSE passthrough (--passthrough-reads): its content cannot change until those readers close it"
    )]
    PassedThrough(String),
    #[error("commit failed: {0}")]
    Commit(#[from] CommitError),
    /// A read of evicted content from its URL (the message names the URL).
    #[error("{0}")]
    Remote(#[from] RemoteReadError),
    #[error("staging cache: {0}")]
    Cache(#[source] CacheError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl FsError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        FsError::Io {
            context: context.into(),
            source,
        }
    }

    /// The errno answered to the kernel.
    pub fn errno(&self) -> i32 {
        match self {
            FsError::NotFound => libc::ENOENT,
            FsError::Exists => libc::EEXIST,
            FsError::NotEmpty => libc::ENOTEMPTY,
            FsError::NotDir => libc::ENOTDIR,
            FsError::IsDir => libc::EISDIR,
            FsError::ReadOnly => libc::EROFS,
            FsError::NotPermitted(_) => libc::EPERM,
            FsError::NoData => libc::ENODATA,
            FsError::Invalid(_) => libc::EINVAL,
            FsError::BadHandle(_) => libc::EBADF,
            FsError::NameTooLong => libc::ENAMETOOLONG,
            FsError::TooManyLinks => libc::EMLINK,
            FsError::TooBig(_) => libc::EFBIG,
            FsError::NotSupported(_) => libc::EOPNOTSUPP,
            FsError::PassedThrough(_) => libc::ETXTBSY,
            FsError::Commit(_) => libc::EIO,
            FsError::Remote(_) => libc::EIO,
            FsError::Cache(_) => libc::EIO,
            FsError::Io { source, .. } => match source.raw_os_error() {
                Some(libc::ENOSPC) => libc::ENOSPC,
                Some(libc::EDQUOT) => libc::EDQUOT,
                Some(libc::EFBIG) => libc::EFBIG,
                _ => libc::EIO,
            },
        }
    }
}

impl From<CacheError> for FsError {
    fn from(e: CacheError) -> Self {
        match e {
            CacheError::NotFound => FsError::NotFound,
            CacheError::Exists => FsError::Exists,
            CacheError::NotEmpty => FsError::NotEmpty,
            CacheError::NotDir => FsError::NotDir,
            CacheError::IsDir => FsError::IsDir,
            CacheError::NoXattr => FsError::NoData,
            CacheError::Invalid(why) => FsError::Invalid(why),
            CacheError::NotPermitted(why) => FsError::NotPermitted(why),
            CacheError::TooManyLinks => FsError::TooManyLinks,
            other => FsError::Cache(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_errors_keep_their_meaning() {
        assert_eq!(FsError::from(CacheError::NotEmpty).errno(), libc::ENOTEMPTY);
        assert_eq!(FsError::from(CacheError::NoXattr).errno(), libc::ENODATA);
        assert_eq!(FsError::from(CacheError::WriterGone).errno(), libc::EIO);
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(FsError::io("writing", full).errno(), libc::ENOSPC);
        assert_eq!(FsError::Commit(CommitError::new("x")).errno(), libc::EIO);
        let big = std::io::Error::from_raw_os_error(libc::EFBIG);
        assert_eq!(FsError::io("truncating", big).errno(), libc::EFBIG);
        assert_eq!(FsError::TooBig(1 << 50).errno(), libc::EFBIG);
        assert_eq!(
            FsError::from(CacheError::TooManyLinks).errno(),
            libc::EMLINK
        );
        let why = CacheError::NotPermitted("hard links to directories");
        assert_eq!(FsError::from(why).errno(), libc::EPERM);
    }
}
