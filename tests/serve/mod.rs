//! `vodfs serve` over real HTTP on loopback: each test starts the service
//! in-process on port 0 (`client::TestServer`) and talks to it with a small
//! client that signs with `vodfs::vod::sign`.

mod cli;
mod client;
mod cos;
mod family_a;
mod faults;
mod frontwize;
mod fuzz;
mod playback;
mod ugc;
