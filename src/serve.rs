//! Wiring of `vodfs serve`, beside the mount's (`run.rs`): turns the
//! parsed [`ServeArgs`] into a [`ServerConfig`], resolves the data
//! directory's account, binds, installs the signal handlers, prints the
//! banner and runs [`serve`] until SIGINT or SIGTERM. The server
//! itself knows nothing of the command line; the mount's in-process service
//! (`embedded.rs`) calls the same [`serve`] and
//! [`account_for`].

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;

use crate::cli::ServeArgs;
use crate::server::{Account, ServerConfig, account_for, serve};

/// The account to serve, and whether it was just generated (print it).
fn resolve_account(args: &ServeArgs) -> anyhow::Result<(Account, bool)> {
    let given = match (&args.secret_id, &args.secret_key) {
        (Some(id), Some(key)) => Some((id.clone(), key.clone())),
        (None, None) => None,
        _ => anyhow::bail!("give both --secret-id and --secret-key, or neither"),
    };
    account_for(&args.data, given, args.app_id)
}

/// Builds the config from the command line (the account resolved apart).
pub fn config_from_args(
    args: &ServeArgs,
    account: Account,
    bound: SocketAddr,
) -> anyhow::Result<ServerConfig> {
    let public = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"));
    let mut cfg = ServerConfig::new(args.data.clone(), public, account);
    cfg.rate_limits.enabled = !args.no_rate_limit;
    for item in &args.rate_limit {
        let (action, n) = item
            .split_once('=')
            .with_context(|| format!("--rate-limit {item:?} is not ACTION=N"))?;
        let n: u32 = n
            .parse()
            .with_context(|| format!("--rate-limit {item:?}: N must be a number"))?;
        cfg.rate_limits.per_action.insert(action.to_string(), n);
    }
    if let Some(spec) = &args.faults {
        cfg.faults = spec.parse().context("--faults")?;
    }
    cfg.max_body = args.max_body;
    cfg.max_object_body = args.max_object_body;
    cfg.temp_cred_ttl_secs = args.temp_credential_ttl;
    cfg.api3_strict_service = args.strict_tc3_service;
    if args.header_timeout == 0 || args.body_timeout == 0 || args.max_connections == 0 {
        anyhow::bail!("--header-timeout, --body-timeout and --max-connections must be positive");
    }
    cfg.header_timeout = std::time::Duration::from_secs(args.header_timeout);
    cfg.body_timeout = std::time::Duration::from_secs(args.body_timeout);
    cfg.max_connections = args.max_connections;
    cfg.hosts = args.hosts.clone();
    cfg.hosts.push(bound.to_string());
    Ok(cfg)
}

/// `vodfs serve`: binds, prints the address (and a generated account), and
/// serves until SIGINT or SIGTERM.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async {
        // Reject bad options before anything is written to the data dir.
        let placeholder = Account {
            secret_id: String::new(),
            secret_key: String::new(),
            app_id: 0,
        };
        config_from_args(args, placeholder, args.listen)?;
        std::fs::create_dir_all(&args.data)
            .with_context(|| format!("creating {}", args.data.display()))?;
        // One service per data directory, held until this process ends.
        let mut data_lock = crate::dirlock::DirLock::acquire(
            &args.data,
            &format!("vodfs serve on {}", args.listen),
        )?;
        let (account, generated) = resolve_account(args)?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let bound = listener.local_addr()?;
        data_lock
            .set_holder(&format!("vodfs serve on {bound}"))
            .with_context(|| format!("writing {}", data_lock.path.display()))?;
        let cfg = config_from_args(args, account.clone(), bound)?;
        // Handlers go in before the address is printed: whoever reads that
        // line may signal us at once.
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "vodfs serve: listening on http://{bound}")?;
            if generated {
                writeln!(
                    out,
                    "SecretId={} SecretKey={} AppId={}",
                    account.secret_id, account.secret_key, account.app_id
                )?;
            }
            out.flush()?;
        }
        let shutdown = async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        };
        serve(listener, cfg, shutdown).await
    })
}
