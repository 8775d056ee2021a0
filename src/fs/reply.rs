//! [`Reply`]: the result of an operation that may have to wait.

use futures::future::BoxFuture;

use super::error::FsError;

/// The result of an operation that may have to wait: the adapter replies
/// at once for `Now`, and runs `Later` on the runtime with the reply.
pub enum Reply<T> {
    Now(Result<T, FsError>),
    Later(BoxFuture<'static, Result<T, FsError>>),
}

impl<T: Send + 'static> Reply<T> {
    /// Waits for the result (tests and simple callers).
    pub async fn wait(self) -> Result<T, FsError> {
        match self {
            Reply::Now(r) => r,
            Reply::Later(f) => f.await,
        }
    }
}

impl<T> From<Result<T, FsError>> for Reply<T> {
    fn from(r: Result<T, FsError>) -> Self {
        Reply::Now(r)
    }
}
