//! The command line, as one clap definition (the man page and completions
//! are generated from it).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "vodfs",
    version,
    about = "Copy videos in, read playback URLs out: a FUSE filesystem for a video-on-demand service"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the local VOD upload service.
    Serve(ServeArgs),
    /// Mount vodfs on a directory.
    Mount(MountArgs),
}

/// Options of `vodfs serve`. `Debug` never shows the SecretKey.
#[derive(Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub listen: SocketAddr,
    /// Directory holding media files and the service's metadata database.
    #[arg(long, default_value = "vodfs-data")]
    pub data: PathBuf,
    /// Base URL of playback links (default: http://LISTEN).
    #[arg(long)]
    pub public_url: Option<String>,
    /// SecretId of the account (generated and printed once when absent).
    #[arg(long, env = "VODFS_SECRET_ID", hide_env_values = true)]
    pub secret_id: Option<String>,
    /// SecretKey of the account.
    #[arg(long, env = "VODFS_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// AppId of the account (default: the stored one, else 1400000000).
    #[arg(long)]
    pub app_id: Option<u64>,
    /// Per-minute quota of one Action, ACTION=N (repeatable; defaults:
    /// 100 for control calls, 10000 for parts).
    #[arg(long, value_name = "ACTION=N")]
    pub rate_limit: Vec<String>,
    /// Turn every rate limit off.
    #[arg(long)]
    pub no_rate_limit: bool,
    /// Inject faults, e.g. `rate=0.1,seed=7,kinds=negative+5xx+drop+slow+4400`.
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_body: u64,
}

impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("listen", &self.listen)
            .field("data", &self.data)
            .field("public_url", &self.public_url)
            .field("secret_id", &self.secret_id)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("app_id", &self.app_id)
            .field("rate_limit", &self.rate_limit)
            .field("no_rate_limit", &self.no_rate_limit)
            .field("faults", &self.faults)
            .field("max_body", &self.max_body)
            .finish()
    }
}

/// Options of `vodfs mount`.
#[derive(Debug, Clone, Args)]
pub struct MountArgs {
    /// Where to mount.
    pub mountpoint: PathBuf,
    /// URL of the VOD service (default: an embedded local service).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Staging cache directory (default: $XDG_CACHE_HOME/vodfs).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Part size in bytes: 1048576 or 524288.
    #[arg(long, default_value_t = 1048576)]
    pub part_size: u32,
    /// Parts uploaded in parallel per file.
    #[arg(long, default_value_t = 4)]
    pub parallel_parts: usize,
    /// Return from close once staged; commit after SECONDS of quiet.
    #[arg(long, num_args = 0..=1, default_missing_value = "2", value_name = "SECONDS")]
    pub write_back: Option<f64>,
    /// Stay in the foreground.
    #[arg(long, short = 'f')]
    pub foreground: bool,
    /// SecretId of the account.
    #[arg(long, env = "VODFS_SECRET_ID", hide_env_values = true)]
    pub secret_id: Option<String>,
    /// SecretKey of the account.
    #[arg(long, env = "VODFS_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
}
