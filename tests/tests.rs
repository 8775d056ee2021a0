//! The integration tests: one binary, one module per area, shared fixtures in
//! `common` (a `vodfs serve` on port 0, a mount that unmounts on drop).

mod architecture;
mod cli;
mod common;
mod flows;
mod fs;
mod mount;
mod reliability;
mod serve;
mod ui;
mod upload;
