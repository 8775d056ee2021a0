//! Wiring: turns a parsed command line into a running service or mount.
//!
//! `mount` opens the cache, picks the endpoint (or starts the embedded
//! service; an endpoint that does not answer yet is a warning, not a
//! failure: files wait until it answers), builds the flow client, the uploader and the committer, mounts,
//! resumes unfinished uploads, reports readiness, and on unmount or SIGTERM
//! waits for commits in flight (bounded) before it exits; whatever is left
//! stays recorded in the cache and resumes at the next mount.

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::cache::Cache;
use crate::cli::{Cli, Command, MountArgs, Protocol, SignUgcArgs};
use crate::config::{self, Credentials};
use crate::fs::{Fs, FsConfig};
use crate::upload::commit_job::CacheCommitJob;
use crate::upload::committer::Committer;
use crate::upload::early::{EarlyBackend, EarlyUploads};
use crate::upload::{Uploader, UploaderConfig};
use crate::vod::UploadFlow;
use crate::vod::api3::{Api3Client, Api3Config};
use crate::vod::apply::{ApplyClient, ApplyConfig};
use crate::vod::client_upload::{UgcClient, UgcConfig};
use crate::vod::frontwize::{FrontwizeClient, FrontwizeConfig};
use crate::vod::ugc::{
    CommandSigner, LocalSigner, SignRequest, SignatureFormat, SignatureProvider, UrlSigner,
};
use crate::vod::v4::{V4Client, V4Config};

/// How long the mount-time probe of the endpoint may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an unmount waits for commits in flight before leaving them to
/// the next mount.
const DRAIN_ON_EXIT: Duration = Duration::from_secs(30);

/// Runs the command; errors are printed with their whole cause chain.
pub fn main(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(args) => {
            init_logging(args.log_file.as_deref()).and_then(|()| crate::serve::run(&args))
        }
        Command::Mount(args) => mount(*args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "vodfs", &mut std::io::stdout());
            Ok(())
        }
        Command::Status(args) => crate::ctl::status(&args.mounts, args.json, args.all),
        Command::Sign(crate::cli::SignCommand::Ugc(args)) => sign_ugc(&args),
        Command::Man => {
            print!("{}", crate::manpage::render());
            Ok(())
        }
        Command::Retry(args) => crate::ctl::retry(
            &args.paths,
            args.timeout.map(std::time::Duration::from_secs_f64),
        ),
        Command::Wait(args) => crate::ctl::wait(
            &args.paths,
            args.timeout.map(std::time::Duration::from_secs_f64),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vodfs: {}", crate::report::chain(e.as_ref()));
            if e.downcast_ref::<crate::ctl::TimedOut>().is_some() {
                ExitCode::from(crate::ctl::EXIT_TIMED_OUT)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Logging for `mount` and `serve`: tracing filtered by `RUST_LOG` (default
/// `info`), to stderr, or appended to `log_file` (no colours) when given.
pub fn init_logging(log_file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,fuser::mnt=error"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening the log file {}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .try_init()
        }
        None => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .try_init(),
    };
    Ok(())
}

fn mount(mut args: MountArgs) -> anyhow::Result<()> {
    args.apply_options().map_err(|e| anyhow::anyhow!(e))?;
    if !args.foreground {
        return mount_in_background(&args);
    }
    if let Err(e) = init_logging(args.log_file.as_deref()) {
        crate::daemon::notify_ready(Err(&crate::report::chain(e.as_ref())));
        return Err(e);
    }
    let result = mount_foreground(args);
    if let Err(e) = &result {
        crate::daemon::notify_ready(Err(&crate::report::chain(e.as_ref())));
    }
    result
}

fn mount_in_background(args: &MountArgs) -> anyhow::Result<()> {
    let original: Vec<OsString> = std::env::args_os().skip(1).collect();
    let (child_args, envs) = crate::daemon::foreground_args(&original);
    let cache_dir = args.cache.clone().unwrap_or_else(config::default_cache_dir);
    let log = args
        .log_file
        .clone()
        .unwrap_or_else(|| cache_dir.join("vodfs.log"));
    let exe = std::env::current_exe().context("finding the vodfs executable")?;
    let said = crate::daemon::spawn_and_wait(&exe, &child_args, &envs, &log)?;
    println!("vodfs: {said} (log: {})", log.display());
    Ok(())
}

fn mount_foreground(args: MountArgs) -> anyhow::Result<()> {
    unmap_large_buffers();
    if let Some(ca) = &args.ca_file {
        let n = crate::vod::tls::add_ca_file(ca)?;
        tracing::info!(ca_file = %ca.display(), certificates = n, "trusting extra CA certificates");
    }
    if !crate::vod::rules::parts::PART_SIZES.contains(&args.part_size) {
        anyhow::bail!(
            "--part-size {}: the service takes {}",
            args.part_size,
            crate::vod::rules::parts::PART_SIZES_TEXT
        );
    }
    let mountpoint = std::fs::canonicalize(&args.mountpoint)
        .with_context(|| format!("mount point {}", args.mountpoint.display()))?;
    let cache_dir = args.cache.clone().unwrap_or_else(config::default_cache_dir);
    // Created private: the cache holds the upload sessions (api3's
    // temporary credentials, apply's session keys). An existing directory
    // is left as its owner made it.
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&cache_dir)
            .with_context(|| format!("creating cache directory {}", cache_dir.display()))?;
    }
    // One mount per cache, held until this process ends (however it ends).
    let _cache_lock = crate::dirlock::DirLock::acquire(
        &cache_dir,
        &format!("vodfs mount on {}", mountpoint.display()),
    )?;
    let config_path = config::default_config_path();
    let file_config = config::load_file(&config_path)?;
    let endpoint = args.endpoint.clone().or(file_config.endpoint.clone());
    let mut args = args;
    if args.region.is_none() {
        args.region = file_config.region.clone();
    }
    if args.sub_app_id.is_none() {
        args.sub_app_id = file_config.sub_app_id;
    }
    let given = config::resolve_credentials(
        args.secret_id.as_deref(),
        args.secret_key.as_ref().map(|k| k.expose()),
        &file_config,
        &config_path,
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vodfs-upload")
        .build()
        .context("starting the upload runtime")?;

    let (endpoint, creds, embedded) = match endpoint {
        // A signer-only mount needs no key: the error waits for a flow
        // that signs with one.
        Some(url) if keyless(&args) => (url, given, None),
        Some(url) => (url, Ok(need(&given)?), None),
        None => {
            let emb = runtime.block_on(crate::embedded::start(&cache_dir, given.ok().as_ref()))?;
            tracing::info!(
                "embedded service at {} (data in {})",
                emb.url,
                emb.data_dir.display()
            );
            (emb.url.clone(), Ok(emb.credentials.clone()), Some(emb))
        }
    };
    // An endpoint that does not answer now is no reason not to mount:
    // files are staged and wait until it answers.
    let offline = probe_endpoint(&runtime, &endpoint)?;
    if let Some(cause) = &offline {
        warn_offline(&endpoint, cause);
    }

    let uid = unsafe { libc::geteuid() };
    let gid = unsafe { libc::getegid() };
    let cache = Cache::open(&cache_dir, args.part_size, uid, gid)
        .with_context(|| format!("opening cache {}", cache_dir.display()))?;
    if args.cos_endpoint.is_none() && embedded.is_some() {
        args.cos_endpoint = Some(endpoint.clone());
    }
    let (committer, backend) = build_committer(
        &runtime,
        &cache,
        &endpoint,
        &creds,
        &args,
        offline.is_none(),
    )?;
    let fs_config = FsConfig {
        write_back: args.write_back.map(Duration::from_secs_f64),
        uid,
        gid,
        cache_size: args.cache_size,
        list_vod_xattrs: args.list_vod_xattrs,
        passthrough_reads: args.passthrough_reads,
    };
    // Reads of content evicted from the cache: Range requests over the
    // playback URL.
    let remote = Arc::new(crate::vod::playback::PlaybackReader::default());
    let fs = Arc::new(Fs::new(
        cache.clone(),
        backend,
        remote,
        fs_config,
        runtime.handle().clone(),
    ));
    let opts = crate::fuse::MountOptions {
        allow_other: args.allow_other,
        ..Default::default()
    };
    fs.evict_to_limit()?;
    // Before mounting, so that the first request already sees interrupted
    // files as such (not as `staged`) and resumed uploads as pending.
    let resumed = fs.resume_pending()?;
    if resumed > 0 {
        tracing::info!("resuming {resumed} unfinished upload(s)");
    }
    let session = crate::fuse::mount(fs.clone(), &mountpoint, &opts)
        .with_context(|| format!("mounting on {}", mountpoint.display()))?;
    let said = match &embedded {
        Some(emb) => format!(
            "mounted at {} (embedded service at {}, data in {})",
            mountpoint.display(),
            emb.url,
            emb.data_dir.display()
        ),
        None => format!("mounted at {} (endpoint {endpoint})", mountpoint.display()),
    };
    let said = match &offline {
        Some(cause) => format!(
            "{said}; warning: endpoint {endpoint} does not answer ({cause}): uploads wait until it does"
        ),
        None => said,
    };
    tracing::info!("{said}");
    crate::daemon::notify_ready(Ok(&said));

    // Unmount on SIGTERM/SIGINT; otherwise run until fusermount -u.
    let target = mountpoint.clone();
    runtime.spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
        }
        tracing::info!("signal received: unmounting");
        request_unmount(&target);
    });
    session.join()?;
    tracing::info!("unmounted {}", mountpoint.display());
    let drained = runtime.block_on(committer.drain(DRAIN_ON_EXIT));
    if !drained {
        tracing::warn!("uploads still in flight stay recorded and resume at the next mount");
    }
    if let Some(emb) = embedded {
        runtime.block_on(emb.shutdown());
    }
    cache.close();
    Ok(())
}

/// Buffers larger than 2 MiB (grown early parts from 4 MiB, the larger
/// parts of files past 19.5 GiB) are mapped for each use and unmapped when
/// freed, instead of staying in glibc's per-thread arenas (parts of 1 and
/// 2 MiB are reused from them as before): its dynamic threshold rises to
/// 32 MiB with the first large free, after which every blocking thread kept
/// the last parts it read (a 1 GiB file in early parts of up to 64 MiB
/// peaked at 176 MiB, 113 MiB with this). The trim threshold stays where
/// the dynamic one put it with 1 MiB parts: with the default 128 KiB the
/// arenas gave their tops back after each part, 30 times the page faults
/// and +16 % mount CPU with 1 MiB parts; with it the 1 MiB path is as
/// before (same faults, CPU and peak).
fn unmap_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes tunables of the allocator.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, (2 << 20) + (64 << 10));
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

/// Whether the mount's flow signs with a signer instead of the account's
/// key: `ugc` and `ugc-ex` given `--ugc-signer[-cmd]` need no credentials.
fn keyless(args: &MountArgs) -> bool {
    matches!(args.protocol, Protocol::Ugc | Protocol::UgcEx)
        && (args.ugc_signer.is_some() || args.ugc_signer_cmd.is_some())
}

/// The signer of the `ugc` and `ugc-ex` flows: the signing service or
/// command given, else (a machine that has the key) local signing.
fn build_signer(
    creds: &CredentialsAtHand,
    args: &MountArgs,
) -> anyhow::Result<Arc<dyn SignatureProvider>> {
    Ok(match (&args.ugc_signer, &args.ugc_signer_cmd) {
        (Some(url), _) => Arc::new(UrlSigner::new(url)?),
        (None, Some(cmd)) => Arc::new(CommandSigner {
            command: cmd.clone(),
        }),
        (None, None) => Arc::new(LocalSigner::new(need(creds)?)),
    })
}

/// The account's credentials, or why there are none (raised only by the
/// flows that sign with them).
type CredentialsAtHand = std::result::Result<Credentials, config::ConfigError>;

/// The account's credentials for a flow that signs with them.
fn need(creds: &CredentialsAtHand) -> anyhow::Result<Credentials> {
    creds.as_ref().cloned().map_err(|e| {
        anyhow::anyhow!(
            "{e} (a machine without the key: --protocol ugc with --ugc-signer or --ugc-signer-cmd)"
        )
    })
}

/// The client of the mount's `--protocol`.
fn build_flow(
    endpoint: &str,
    creds: &CredentialsAtHand,
    args: &MountArgs,
) -> anyhow::Result<Arc<dyn UploadFlow>> {
    let timeouts = crate::vod::stall::Timeouts {
        stall: args.stall_timeout,
        connect: args.connect_timeout,
    };
    let v4_config = || V4Config {
        timeouts,
        ..V4Config::new(endpoint)
    };
    let flow: Arc<dyn UploadFlow> = match args.protocol {
        Protocol::V4 => Arc::new(V4Client::new(v4_config(), need(creds)?)?),
        Protocol::Ugc => {
            let mut config = UgcConfig::new(endpoint);
            config.cos_endpoint = args.cos_endpoint.clone();
            config.timeouts = timeouts;
            Arc::new(UgcClient::new(config, build_signer(creds, args)?)?)
        }
        Protocol::UgcEx => Arc::new(V4Client::ugc(v4_config(), build_signer(creds, args)?)?),
        Protocol::Apply => {
            let mut config = ApplyConfig::new(endpoint);
            config.cos_endpoint = args.cos_endpoint.clone();
            config.timeouts = timeouts;
            Arc::new(ApplyClient::new(config, need(creds)?)?)
        }
        Protocol::Api3 => {
            let mut config = Api3Config::new(endpoint);
            config.cos_endpoint = args.cos_endpoint.clone();
            config.timeouts = timeouts;
            if let Some(r) = &args.region {
                config.region = r.clone();
            }
            config.sub_app_id = args.sub_app_id;
            Arc::new(Api3Client::new(config, need(creds)?)?)
        }
        Protocol::Frontwize => Arc::new(FrontwizeClient::new(
            FrontwizeConfig {
                timeouts,
                ..FrontwizeConfig::new(endpoint)
            },
            need(creds)?,
        )?),
    };
    if !matches!(args.protocol, Protocol::Ugc | Protocol::UgcEx)
        && (args.ugc_signer.is_some() || args.ugc_signer_cmd.is_some())
    {
        anyhow::bail!("--ugc-signer and --ugc-signer-cmd go with --protocol ugc or ugc-ex");
    }
    let object_storage = matches!(
        args.protocol,
        Protocol::Apply | Protocol::Api3 | Protocol::Ugc
    );
    if !object_storage && args.cos_endpoint.is_some() && args.endpoint.is_some() {
        tracing::warn!("--cos-endpoint is only used by --protocol api3, ugc and apply");
    }
    if args.protocol != Protocol::Api3 && (args.region.is_some() || args.sub_app_id.is_some()) {
        tracing::debug!("--region and --sub-app-id are only used by --protocol api3");
    }
    tracing::info!(protocol = args.protocol.name(), "upload flow");
    Ok(flow)
}

fn build_committer(
    runtime: &tokio::runtime::Runtime,
    cache: &Cache,
    endpoint: &str,
    creds: &CredentialsAtHand,
    args: &MountArgs,
    answers: bool,
) -> anyhow::Result<(Committer, Arc<dyn crate::upload::Backend>)> {
    let client = build_flow(endpoint, creds, args)?;
    if answers {
        check_account(runtime, endpoint, client.as_ref())?;
    }
    let pace = crate::upload::PaceLimits::from_specs(&args.rate_limit, args.no_rate_limit, |s| {
        client.action(s)
    })
    .map_err(|e| anyhow::anyhow!(e))?;
    tracing::info!(
        start_per_min = pace.start_per_min,
        part_per_min = pace.part_per_min,
        finish_per_min = pace.finish_per_min,
        "client-side pacing (0 = unlimited)"
    );
    let uploader = Uploader::new(
        client,
        UploaderConfig {
            pace,
            ..UploaderConfig::default()
        },
    );
    let defaults = args.upload_defaults().map_err(|e| anyhow::anyhow!(e))?;
    let job = Arc::new(
        CacheCommitJob::new(cache.clone(), uploader, args.parallel_parts).with_settings(defaults),
    );
    if let Some(limit) = args.retry_for.0 {
        tracing::info!("a close rides out an outage for {limit:?} (--retry-for) before EIO");
    }
    let committer = Committer::new(
        Arc::new(job.clone()),
        args.parallel_files,
        runtime.handle().clone(),
    )
    .with_give_up_after(args.retry_for.0);
    // Parts sent while files are written, where the flow allows it and no
    // write-back quiet time asks the upload to wait.
    let quiet = args.write_back.is_some_and(|s| s > 0.0);
    if quiet && !args.no_early_parts {
        tracing::info!(
            "write-back with a quiet time: uploads start after it, no part is sent while a file is written"
        );
    }
    let backend: Arc<dyn crate::upload::Backend> =
        if args.no_early_parts || quiet || !EarlyUploads::supported(&job) {
            Arc::new(committer.clone())
        } else {
            let early = EarlyUploads::new(job, runtime.handle().clone());
            Arc::new(EarlyBackend::new(Arc::new(committer.clone()), early))
        };
    Ok((committer, backend))
}

/// `vodfs sign ugc`: prints one signature (v5 by default, v4 on request).
fn sign_ugc(args: &SignUgcArgs) -> anyhow::Result<()> {
    let flag = |name: &str, v: Option<u8>| -> anyhow::Result<Option<bool>> {
        match v {
            None => Ok(None),
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            Some(n) => anyhow::bail!("--{name} {n}: 0 or 1"),
        }
    };
    let format = SignatureFormat::parse(&args.format)
        .ok_or_else(|| anyhow::anyhow!("--format {}: v5 or v4", args.format))?;
    let tags = crate::settings::parse_tags(args.tags.as_deref().unwrap_or(""))
        .map_err(|e| anyhow::anyhow!("--tags: {e}"))?;
    let needed = |v: &Option<String>, flag: &str| -> anyhow::Result<String> {
        match (v, format) {
            (Some(v), _) => Ok(v.clone()),
            (None, SignatureFormat::V5) => Ok(String::new()),
            (None, SignatureFormat::V4) => {
                anyhow::bail!(
                    "--format v4 needs --{flag} (or $VODFS_{})",
                    flag.to_uppercase().replace('-', "_")
                )
            }
        }
    };
    let req = SignRequest {
        file_sha: needed(&args.file_sha, "file-sha")?.to_ascii_lowercase(),
        file_name: needed(&args.file_name, "file-name")?,
        file_type: needed(&args.file_type, "file-type")?,
        file_size: args.file_size.unwrap_or(0),
        settings: crate::vod::UploadSettings {
            class_id: args.class_id,
            tags,
            transcode: flag("transcode", args.transcode)?,
            screenshot: flag("screenshot", args.screenshot)?,
            watermark: flag("watermark", args.watermark)?,
            procedure: args.procedure.clone().filter(|p| !p.is_empty()),
            source_context: args.source_context.clone().filter(|c| !c.is_empty()),
            ..Default::default()
        },
        format,
        action: "",
    };
    let mut signer = LocalSigner::new(crate::vod::Credentials::new(
        &args.secret_id,
        args.secret_key.expose(),
    ));
    signer.validity = Duration::from_secs(args.validity);
    signer.uid = args.uid.clone();
    signer.one_time = args.one_time;
    signer.task_priority = args.task_priority;
    signer.task_notify_mode = args.task_notify_mode.clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    println!(
        "{}",
        signer.sign_for_at(
            &req,
            args.time.unwrap_or(now),
            rand::random_range(1..=u32::MAX)
        )
    );
    Ok(())
}

/// Refuses to mount when the service refuses the credentials (nothing
/// would ever upload); a service that does not answer the check is only
/// warned about, as an endpoint that takes no connection.
fn check_account(
    runtime: &tokio::runtime::Runtime,
    endpoint: &str,
    flow: &dyn UploadFlow,
) -> anyhow::Result<()> {
    match runtime
        .block_on(async { tokio::time::timeout(PROBE_TIMEOUT, flow.check_account()).await })
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if e.is_credential_refusal() => Err(anyhow::anyhow!(
            "the service at {endpoint} refuses the credentials: {e}"
        )),
        Ok(Err(e)) => {
            warn_offline(endpoint, &e.to_string());
            Ok(())
        }
        Err(_) => {
            warn_offline(
                endpoint,
                &format!("no answer in {} s", PROBE_TIMEOUT.as_secs()),
            );
            Ok(())
        }
    }
}

fn warn_offline(endpoint: &str, cause: &str) {
    tracing::warn!(
        "endpoint {endpoint} does not answer ({cause}): mounting anyway; files are staged and wait (user.vod.state = waiting) until it answers"
    );
}

/// Whether the endpoint answers a connection now: `Ok(None)` when it
/// does, `Ok(Some(cause))` when it does not (the mount goes on offline);
/// an endpoint that is not a URL with a host fails the mount.
fn probe_endpoint(
    runtime: &tokio::runtime::Runtime,
    endpoint: &str,
) -> anyhow::Result<Option<String>> {
    let url = url::Url::parse(endpoint).with_context(|| format!("endpoint {endpoint:?}"))?;
    let host = url
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("endpoint {endpoint:?} has no host"))?
        .to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    Ok(runtime.block_on(async {
        match tokio::time::timeout(
            PROBE_TIMEOUT,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("no answer in {} s", PROBE_TIMEOUT.as_secs())),
        }
    }))
}

/// Asks the kernel to unmount `path` (the session then ends by itself):
/// fusermount3 for unprivileged users, umount(2) when that is not there.
fn request_unmount(path: &std::path::Path) {
    let ok = std::process::Command::new("fusermount3")
        .arg("-u")
        .arg(path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        use std::os::unix::ffi::OsStrExt;
        if let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) {
            // SAFETY: `c` is a valid NUL-terminated path.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}
