//! The error of the staging store.

/// Errors of the staging store.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Open(#[from] crate::sqlite::OpenError),
    #[error("no such file or directory")]
    NotFound,
    #[error("name already exists")]
    Exists,
    #[error("directory not empty")]
    NotEmpty,
    #[error("not a directory")]
    NotDir,
    #[error("is a directory")]
    IsDir,
    #[error("operation not permitted: {0}")]
    NotPermitted(&'static str),
    #[error("too many links (at most {})", super::links::MAX_LINKS)]
    TooManyLinks,
    #[error("invalid operation: {0}")]
    Invalid(&'static str),
    #[error("no such xattr")]
    NoXattr,
    #[error("content version {version} of inode {ino} is not sealed")]
    NotSealed { ino: u64, version: u64 },
    #[error("cache writer thread is gone")]
    WriterGone,
    #[error("cache transaction did not commit: {0}")]
    Commit(String),
}

impl CacheError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        CacheError::Io {
            context: context.into(),
            source,
        }
    }
}
