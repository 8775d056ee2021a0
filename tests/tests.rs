//! The integration tests: one binary, one module per area, one family of
//! shared fixtures in `common` (the test account, `vodfs serve` as a child
//! process or in-process on port 0, a mount that unmounts on drop, the data
//! generator, and `for_each_flow!` to run a body once per upload flow).

mod architecture;
mod cli;
mod common;
mod flows;
mod fs;
mod mount;
mod reliability;
mod sdk;
mod serve;
mod ui;
mod upload;
