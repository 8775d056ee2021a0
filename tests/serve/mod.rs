//! `vodfs serve` over real HTTP on loopback: each test starts the service
//! in-process on port 0 (`common::TestServer`) and talks to it with a small
//! client that signs with `vodfs::vod::sign` (`client`). `cli` runs the
//! binary itself. Files are named as the server's (`src/server/v4.rs` ↔
//! `v4.rs`, `apply.rs`, `ugc.rs` …).

mod api3;
mod apply;
mod cli;
mod client;
mod faults;
mod finish;
mod frontwize;
mod fuzz;
mod group_commit;
mod hostile;
mod killed;
mod playback;
mod spans;
mod ugc;
mod ugc_d;
mod ugc_d_sig;
mod v4;
