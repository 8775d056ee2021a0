//! File semantics of the mount (inodes, handles, xattrs, by-id), over the
//! staging cache. Knows nothing of the kernel (see `crate::fuse`) nor of the
//! protocol (see `crate::upload`): it reaches the service only through
//! [`Backend`].

pub mod backend;

pub use backend::{Backend, CommitError};
