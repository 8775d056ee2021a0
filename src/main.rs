//! `vodfs` binary: parse the command line and hand over to [`vodfs::run`].

fn main() -> std::process::ExitCode {
    let cli = <vodfs::cli::Cli as clap::Parser>::parse();
    vodfs::run::main(cli)
}
