//! The shared fixtures of the integration tests: one family, used by every
//! area.
//!
//! - [`account`]: the one test account ([`SECRET_ID`], [`SECRET_KEY`],
//!   [`APP_ID`]).
//! - Two ways to run the one service, chosen by what the test needs:
//!   - [`Service`] (`service`): `vodfs serve` as a child process on port 0,
//!     for every test that mounts (the mount is a process and talks to a
//!     service over HTTP like a user's would) and for tests that kill and
//!     restart the service (`Service::restart`).
//!   - [`TestServer`] (`in_process`): the same `vodfs::server` inside the
//!     test process on 127.0.0.1:0, for tests of the HTTP API and of the
//!     clients that need no mount and no process of their own. It stops on
//!     drop. It is the only file that calls into `vodfs::server`.
//!
//!   Both show the service's log when a test fails (the child's log tail
//!   is printed when it is dropped during a panic; the in-process one
//!   traces into the test's captured output).
//! - [`Mount`] (`mount`): `vodfs mount --foreground` against a [`Service`];
//!   unmounts on drop even when the test panicked, then shows its log tail.
//!   [`MountDirs`] gives the same unmount guarantee to tests that mount by
//!   other means (the mount(8) helper). `tests/fs` mounts the filesystem
//!   layer in-process over a recording backend instead (no service at
//!   all); that is its own fixture, `fs::TestMount`.
//! - [`Proxy`] (`proxy`): a TCP proxy under the test's control between a
//!   mount and a service (pass, refuse, reset, blackhole, cut a body,
//!   throttle; target changeable at run time; byte counters), for the
//!   outage tests of issue 13.
//! - [`Flow`] and [`for_each_flow!`] (`flows`): a test body written once
//!   runs as one test per upload flow.
//! - `data`: the one pseudo-random generator ([`random_bytes`]), real MP4s,
//!   local files, digests.
//! - `check`: [`assert_committed`] and friends over a mount and a service.
//! - `sdk`: where the official Python SDKs are ([`sdk_python`]).
//! - `tools`: the real tools (`run`, `sh`, `getfattr`, `setfattr`,
//!   `sha1sum`, `ffprobe`, HTTP GET).
//!
//! Scripted services that answer what the real one never would stay with
//! the tests that use them (`upload::scripted`).
#![allow(dead_code)]

mod account;
mod check;
mod data;
mod flows;
mod in_process;
mod mount;
mod proxy;
mod sdk;
mod service;
mod tls;
mod tools;

pub use account::*;
pub use check::*;
pub use data::*;
pub use flows::Flow;
pub(crate) use flows::for_each_flow;
pub use in_process::*;
pub use mount::*;
pub use proxy::*;
pub use sdk::*;
pub use service::*;
pub use tls::*;
pub use tools::*;
