//! vodfs: a FUSE filesystem that uploads the videos copied into it to a
//! video-on-demand service, and `vodfs serve`, a local implementation of that
//! service.
//!
//! Layout (one job per module):
//! - [`fuse`]: the thin adapter to `fuser`; translates, calls [`fs`], replies.
//! - [`fs`]: file semantics (inodes, handles, xattrs, by-id) over [`cache`];
//!   knows nothing of the kernel or of the protocol.
//! - [`cache`]: the SQLite staging store (files, chunks, upload state).
//! - [`upload`]: the pipeline from a staged file to a committed media, and
//!   the interfaces [`fs`] calls it through (`Backend`, `RemoteRead`).
//! - [`settings`]: the rules of `user.vod.*` values (upload settings,
//!   covers) that [`fs`] checks when they are set and [`upload`] applies.
//! - [`sqlite`]: opening a SQLite database, for [`cache`] and [`server`].
//! - [`vod`]: protocol clients (one file per flow) and the signing code that
//!   both the clients and the server use.
//! - [`server`]: `vodfs serve`.
//! - [`cli`], [`run`], [`serve`]: wiring (the mount's and `vodfs serve`'s).

pub mod cache;
pub mod cli;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod embedded;
pub mod fs;
pub mod fuse;
pub mod manpage;
pub mod report;
pub mod run;
pub mod serve;
pub mod server;
pub mod settings;
pub mod sqlite;
pub mod upload;
pub mod vod;
