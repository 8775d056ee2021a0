//! vodfs: a FUSE filesystem that uploads the videos copied into it to a
//! video-on-demand service, and `vodfs serve`, a local implementation of that
//! service.
//!
//! Layout (one job per module), and what each may import — downwards
//! only, checked by `tests/architecture.rs` (README, "Architecture"):
//! - [`fuse`]: the thin adapter to `fuser`; translates, calls [`fs`],
//!   replies. Imports only [`fs`].
//! - [`fs`]: file semantics (inodes, handles, xattrs, by-id) over [`cache`];
//!   knows nothing of the kernel or of the protocol. Imports [`cache`],
//!   [`upload`], [`settings`].
//! - [`upload`]: the pipeline from a staged file to a committed media, and
//!   the interfaces [`fs`] calls it through (`Backend`, `RemoteRead`).
//!   Imports [`cache`], [`settings`], [`vod`].
//! - [`cache`]: the SQLite staging store (files, chunks, upload state).
//!   Imports only [`sqlite`].
//! - [`settings`]: the rules of `user.vod.*` values (upload settings,
//!   covers) that [`fs`] checks when they are set and [`upload`] applies.
//!   Imports only [`vod`].
//! - [`vod`]: protocol clients (one file per flow), and the two pieces both
//!   sides of the wire obey: `vod::sign` and `vod::rules`. Imports nothing.
//! - [`server`]: `vodfs serve`, beside the mount side: imports only
//!   `vod::sign`, `vod::rules` and [`sqlite`].
//! - [`sqlite`], [`report`], [`dirlock`]: leaves (opening a database; one
//!   line per error; one holder per cache or data directory).
//! - [`cli`], [`run`], [`serve`], [`embedded`], [`config`], [`daemon`],
//!   [`ctl`], [`manpage`]: wiring; may use anything, used by nothing below.

pub mod cache;
pub mod cli;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod direct_io;
pub mod dirlock;
pub mod embedded;
pub mod fadvise;
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
