//! `vodfs serve` over real HTTP on loopback: each test starts the service
//! in-process on port 0 (`common::TestServer`) and talks to it with a small
//! client that signs with `vodfs::vod::sign` (`client`). `cli` runs the
//! binary itself.

mod cli;
mod client;
mod cos;
mod family_a;
mod faults;
mod frontwize;
mod fuzz;
mod playback;
mod ugc;
