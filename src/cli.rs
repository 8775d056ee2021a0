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
    Mount(Box<MountArgs>),
    /// Wait until files are committed; print PATH, fileId and URL of each.
    Wait(WaitArgs),
    /// Show every upload of a mount: state, progress, failures.
    Status(StatusArgs),
    /// Commit failed or interrupted files again, then wait for them as `wait` does.
    Retry(WaitArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Sign for a UGC client (`vodfs sign ugc`): for your own signing service and tests.
    #[command(subcommand)]
    Sign(SignCommand),
    /// Print the man page (roff).
    #[command(hide = true)]
    Man,
}

/// The upload flow of a mount (`--protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Protocol {
    /// InitUpload / UploadPart / FinishUpload, signed with the account's
    /// SecretKey (the older interface): a machine that may hold the key.
    V4,
    /// ApplyUploadUGC, the object storage (COS) with the session's
    /// temporary credential, then CommitUploadUGC, each call signed by your
    /// signing service (--ugc-signer[-cmd]): a machine that must not hold
    /// the SecretKey (it needs neither SecretKey nor SecretId).
    Ugc,
    /// The older client interface: InitUploadEx / UploadPartEx /
    /// FinishUploadEx with one UGC v4 signature per file from your signing
    /// service (--ugc-signer[-cmd]); no covers.
    UgcEx,
    /// ApplyUpload, then the object storage (COS) multipart upload, then
    /// CommitUpload: accounts on the object-storage integration.
    Apply,
    /// The frontwize REST API: POST /v1/media, one PUT, then /uploaded
    /// (no resume within a file): accounts on frontwize.
    Frontwize,
    /// API 3.0 (vod.tencentcloudapi.com, 2018-07-17): ApplyUpload, the
    /// object storage (COS) with the session's temporary credential, then
    /// CommitUpload: the cloud's current interface (the default).
    #[default]
    Api3,
}

impl Protocol {
    /// The name as `--protocol` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::V4 => "v4",
            Protocol::Ugc => "ugc",
            Protocol::UgcEx => "ugc-ex",
            Protocol::Apply => "apply",
            Protocol::Frontwize => "frontwize",
            Protocol::Api3 => "api3",
        }
    }

    fn parse(s: &str) -> Option<Protocol> {
        [
            Protocol::V4,
            Protocol::Ugc,
            Protocol::UgcEx,
            Protocol::Apply,
            Protocol::Frontwize,
            Protocol::Api3,
        ]
        .into_iter()
        .find(|p| p.name() == s)
    }
}

/// `vodfs sign …`.
#[derive(Debug, Clone, Subcommand)]
pub enum SignCommand {
    /// Print a client-upload signature: v5 (ApplyUploadUGC, --protocol ugc)
    /// or, with --format v4, the older per-file one (--protocol ugc-ex).
    Ugc(SignUgcArgs),
}

/// Options of `vodfs sign ugc`. `Debug` never shows the SecretKey.
#[derive(Debug, Clone, Args)]
pub struct SignUgcArgs {
    /// SecretId of the account.
    #[arg(long, env = "VODFS_SECRET_ID", hide_env_values = true)]
    pub secret_id: String,
    /// SecretKey of the account.
    #[arg(long, env = "VODFS_SECRET_KEY", hide_env_values = true)]
    pub secret_key: crate::config::Secret,
    /// Which signature: v5, the client-upload signature of ApplyUploadUGC /
    /// CommitUploadUGC (--protocol ugc), or v4, the older UGC signature of
    /// InitUploadEx (--protocol ugc-ex). A signer command gets it as
    /// $VODFS_SIGNATURE.
    #[arg(long, env = "VODFS_SIGNATURE", default_value = "v5", value_parser = ["v5", "v4"])]
    pub format: String,
    /// v5: a one-time signature (oneTimeValid=1): the service takes it once.
    #[arg(long)]
    pub one_time: bool,
    /// The file's service name (v4 only: fileName; a signer command gets it as $VODFS_FILE_NAME).
    #[arg(long, env = "VODFS_FILE_NAME")]
    pub file_name: Option<String>,
    /// Lower-case hex SHA-1 of the file (v4 only; $VODFS_FILE_SHA).
    #[arg(long, env = "VODFS_FILE_SHA")]
    pub file_sha: Option<String>,
    /// File type without the dot, e.g. mp4 (v4 only; $VODFS_FILE_TYPE).
    #[arg(long, env = "VODFS_FILE_TYPE")]
    pub file_type: Option<String>,
    /// File size in bytes ($VODFS_FILE_SIZE; not part of the signature).
    #[arg(long, env = "VODFS_FILE_SIZE")]
    pub file_size: Option<u64>,
    /// Seconds the signature stays valid (at most 90 days).
    #[arg(long, default_value_t = 86400, value_name = "SECONDS")]
    pub validity: u64,
    /// Signing time as Unix seconds (default: now); with a short validity,
    /// an old time makes an expired signature (for tests).
    #[arg(long, value_name = "UNIX")]
    pub time: Option<u64>,
    /// The `uid` field: your app's user id (v4).
    #[arg(long, default_value = "vodfs")]
    pub uid: String,
    /// v5: the task-flow template to sign in ($VODFS_PROCEDURE).
    #[arg(long, env = "VODFS_PROCEDURE")]
    pub procedure: Option<String>,
    /// v5: the pass-through sourceContext to sign in ($VODFS_SOURCE_CONTEXT).
    #[arg(long, env = "VODFS_SOURCE_CONTEXT")]
    pub source_context: Option<String>,
    /// v5: taskPriority, -10 to 10.
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(i8).range(-10..=10))]
    pub task_priority: Option<i8>,
    /// v5: taskNotifyMode.
    #[arg(long, value_parser = ["Finish", "Change", "None"])]
    pub task_notify_mode: Option<String>,
    /// classId to sign in ($VODFS_CLASS_ID).
    #[arg(long, env = "VODFS_CLASS_ID")]
    pub class_id: Option<u64>,
    /// v4: comma-separated tags to sign in, at most 10 ($VODFS_TAGS).
    #[arg(long, env = "VODFS_TAGS")]
    pub tags: Option<String>,
    /// v4: transcode after upload: 1 or 0 ($VODFS_TRANSCODE).
    #[arg(long, env = "VODFS_TRANSCODE")]
    pub transcode: Option<u8>,
    /// v4: screenshot when transcoding: 1 or 0 ($VODFS_SCREENSHOT).
    #[arg(long, env = "VODFS_SCREENSHOT")]
    pub screenshot: Option<u8>,
    /// v4: watermark when transcoding: 1 or 0 ($VODFS_WATERMARK).
    #[arg(long, env = "VODFS_WATERMARK")]
    pub watermark: Option<u8>,
}

/// Options of `vodfs status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Mount points (default: every vodfs mount).
    pub mounts: Vec<PathBuf>,
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
    /// List committed files too.
    #[arg(long)]
    pub all: bool,
}

/// Options of `vodfs wait`.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Files in a vodfs mount.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
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
    /// Quota of one Action, ACTION=N (repeatable): per minute for the older
    /// families (defaults: 100 for control calls, 10000 for parts), per
    /// second for API 3.0 actions, named api3.ACTION (default 100, e.g.
    /// api3.ApplyUpload=5).
    #[arg(long, value_name = "ACTION=N")]
    pub rate_limit: Vec<String>,
    /// Turn every rate limit off.
    #[arg(long)]
    pub no_rate_limit: bool,
    /// Inject faults, e.g. `rate=0.1,seed=7,kinds=negative+5xx+drop+slow+4400`.
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<String>,
    /// Largest request body the VOD API endpoints accept, in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_body: u64,
    /// Largest object body (COS PutObject or UploadPart) accepted, in
    /// bytes; COS's own bound is 5 GiB. Bodies are written to disk as they
    /// arrive, so this bounds disk use, not memory.
    #[arg(long, default_value_t = crate::vod::rules::parts::COS_MAX_PART)]
    pub max_object_body: u64,
    /// Lifetime of the temporary credentials API 3.0's ApplyUpload and
    /// ApplyUploadUGC (family D) mint, in seconds (changeable at run time:
    /// PUT /admin/temp-credential-ttl).
    #[arg(long, value_name = "SECS", default_value_t = 7200)]
    pub temp_credential_ttl: u64,
    /// Refuse API 3.0 TC3 signatures whose scope names another service than
    /// `vod` (by default the declared one is used, as Node's SDK signs `127`
    /// for an IP endpoint).
    #[arg(long)]
    pub strict_tc3_service: bool,
    /// Seconds a connection may take to send a request's headers (also
    /// the idle timeout of a kept-alive connection).
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    pub header_timeout: u64,
    /// Seconds a request body may stall before the request is refused.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub body_timeout: u64,
    /// Another Host name signed requests may name (repeatable; a name
    /// without a port matches any port). Loopback names, the listen
    /// address, the public URL's host and the emulated cloud names are
    /// always accepted.
    #[arg(long = "host", value_name = "NAME[:PORT]")]
    pub hosts: Vec<String>,
    /// Most connections served at once (more wait to be accepted).
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_connections: usize,
    /// Append the log (filtered by RUST_LOG) to FILE instead of stderr.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
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
            .field("max_object_body", &self.max_object_body)
            .field("temp_credential_ttl", &self.temp_credential_ttl)
            .field("strict_tc3_service", &self.strict_tc3_service)
            .field("header_timeout", &self.header_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("max_connections", &self.max_connections)
            .field("hosts", &self.hosts)
            .field("log_file", &self.log_file)
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
    #[arg(long, default_value_t = crate::vod::rules::parts::DEFAULT_PART_SIZE)]
    pub part_size: u32,
    /// Parts uploaded in parallel per file.
    #[arg(long, default_value_t = crate::upload::DEFAULT_PARALLEL_PARTS)]
    pub parallel_parts: usize,
    /// Return from close once staged; commit after SECONDS of quiet.
    #[arg(long, num_args = 0..=1, default_missing_value = "2", value_name = "SECONDS")]
    pub write_back: Option<f64>,
    /// Most bytes of file data the cache may hold (suffixes K, M, G, T:
    /// powers of 1024). A write past it, or past the disk's free space,
    /// fails with ENOSPC after clean committed data was evicted.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub cache_size: Option<u64>,
    /// Files uploaded at the same time (files of one part count a quarter:
    /// up to 4× as many small files).
    #[arg(long, default_value_t = 4)]
    pub parallel_files: usize,
    /// List the computed user.vod.* attributes in listxattr (`getfattr -d`
    /// shows them). Off by default: they are read by name (`getfattr -n
    /// user.vod.url FILE`), and unlisted `rsync -X`, `cp -a` and `tar
    /// --xattrs` leave them alone.
    #[arg(long)]
    pub list_vod_xattrs: bool,
    /// Let the kernel read files straight from the cache (FUSE passthrough,
    /// Linux 6.9 and later): reads at the local disk's speed. While a file
    /// is open for reading this way, opening it for writing or truncating
    /// it waits 2 s for those readers, then fails with ETXTBSY (so `rsync
    /// --inplace`, which reads the file it rewrites, fails on such files).
    #[arg(long)]
    pub passthrough_reads: bool,
    /// Let other users access the mount (needs user_allow_other in /etc/fuse.conf for non-root).
    #[arg(long)]
    pub allow_other: bool,
    /// Stay in the foreground.
    #[arg(long, short = 'f')]
    pub foreground: bool,
    /// Append the log (filtered by RUST_LOG) to FILE instead of stderr
    /// (in the background: instead of CACHE/vodfs.log).
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// SecretId of the account.
    #[arg(long, env = "VODFS_SECRET_ID", hide_env_values = true)]
    pub secret_id: Option<String>,
    /// SecretKey of the account.
    #[arg(long, env = "VODFS_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<crate::config::Secret>,
    /// Upload flow: api3 (API 3.0, the cloud's current interface); ugc
    /// (client upload signed by your signer: no SecretKey); the older
    /// interface: v4 (SecretKey), ugc-ex (per-file signatures from a
    /// signer), apply (ApplyUpload + object storage), frontwize.
    #[arg(long, value_enum, default_value_t = Protocol::Api3)]
    pub protocol: Protocol,
    /// UGC signing service: GET URL?signature=v5|v4&action=&fileSha=&fileName=&fileType=&fileSize=
    /// (and the settings the signature must carry: classId, procedure,
    /// sourceContext, tags, …); the body is the signature.
    #[arg(long, value_name = "URL", conflicts_with = "ugc_signer_cmd")]
    pub ugc_signer: Option<String>,
    /// UGC signing command (sh -c), given VODFS_SIGNATURE (v5 for ugc, v4
    /// for ugc-ex), VODFS_UGC_ACTION, VODFS_FILE_SHA, VODFS_FILE_NAME,
    /// VODFS_FILE_TYPE, VODFS_FILE_SIZE (and the settings: VODFS_CLASS_ID,
    /// VODFS_PROCEDURE, VODFS_SOURCE_CONTEXT, VODFS_TAGS, …) in its
    /// environment; its stdout is the signature.
    #[arg(long, value_name = "CMD")]
    pub ugc_signer_cmd: Option<String>,
    /// Trust the CA certificates of this PEM file besides the system's, for
    /// every https request (a private CA, a test endpoint). SSL_CERT_FILE
    /// and SSL_CERT_DIR replace the system's roots instead.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Where object storage (COS) requests of the apply and api3 flows
    /// connect, keeping the bucket's Host header (default: the bucket's
    /// host over https when the endpoint is the cloud's, else the
    /// endpoint's own address).
    #[arg(long, value_name = "URL")]
    pub cos_endpoint: Option<String>,
    /// The region API 3.0 calls name (X-TC-Region; api3; default
    /// ap-guangzhou, or `region` of the config file).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// The VOD sub-application id sent with ApplyUpload and CommitUpload
    /// (api3; or `sub_app_id` of the config file). Accounts opened after
    /// 2023-12-25 need it.
    #[arg(long, value_name = "ID")]
    pub sub_app_id: Option<u64>,
    /// Default classId of uploads (a directory's user.vod.class_id wins).
    #[arg(long, value_name = "N")]
    pub class_id: Option<String>,
    /// Default tags of uploads, comma-separated, at most 10 (user.vod.tags wins).
    #[arg(long, value_name = "A,B,…")]
    pub tags: Option<String>,
    /// Default task-flow template of uploads (v4, apply; user.vod.procedure wins).
    #[arg(long, value_name = "NAME")]
    pub procedure: Option<String>,
    /// Default transcode flag of uploads: 1 or 0 (user.vod.transcode wins).
    #[arg(long, value_name = "0|1")]
    pub transcode: Option<String>,
    /// Default screenshot flag (with transcode): 1 or 0 (user.vod.screenshot wins).
    #[arg(long, value_name = "0|1")]
    pub screenshot: Option<String>,
    /// Default watermark flag (with transcode): 1 or 0 (user.vod.watermark wins).
    #[arg(long, value_name = "0|1")]
    pub watermark: Option<String>,
    /// Default sourceContext of uploads (apply; user.vod.source_context wins).
    #[arg(long, value_name = "TEXT")]
    pub source_context: Option<String>,
    /// Default SessionContext of uploads (api3; user.vod.session_context wins).
    #[arg(long, value_name = "TEXT")]
    pub session_context: Option<String>,
    /// Default StorageRegion of uploads, e.g. ap-chongqing (api3;
    /// user.vod.storage_region wins).
    #[arg(long, value_name = "REGION")]
    pub storage_region: Option<String>,
    /// Default ExpireTime of uploads, ISO 8601 (api3; user.vod.expire_time wins).
    #[arg(long, value_name = "TIME")]
    pub expire_time: Option<String>,
    /// Client-side pacing, STEP=N calls per minute (repeatable or
    /// comma-separated; 0 = unlimited). STEP is start, part, finish or the
    /// flow's Action name (e.g. InitUpload=200). Unnamed steps keep the
    /// documented limits: 100/min for start and finish, 10000/min for parts.
    #[arg(long, value_name = "STEP=N")]
    pub rate_limit: Vec<String>,
    /// No client-side pacing (a service without limits, benchmarks); a
    /// 4400 that comes anyway is still waited out.
    #[arg(long)]
    pub no_rate_limit: bool,
    /// Send no part before the close: by default a file being written with
    /// a flow that needs no whole-file hash first (api3, apply) starts its
    /// upload once a few parts are written and sends them meanwhile (not
    /// with a `--write-back` quiet time, which the upload waits for).
    #[arg(long)]
    pub no_early_parts: bool,
    /// How long a close (and fsync) rides out an outage (the service
    /// unreachable, stalled or answering 5xx) before it fails with EIO;
    /// the file then stays `waiting` and commits by itself when the
    /// service is back. `0`: fail the close at the first wait; `forever`:
    /// wait until it commits. Suffixes s, m, h (none: seconds). Write-back
    /// uploads retry until they commit whatever this says.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_limit)]
    pub retry_for: Limit,
    /// A request that moves no byte (either way) for this long is
    /// abandoned and retried; a slow link that keeps moving bytes never
    /// times out. Suffixes s, m, h.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub stall_timeout: std::time::Duration,
    /// How long one connection attempt may take. Suffixes s, m, h.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: std::time::Duration,
    /// Mount options as mount(8) and fstab give them: endpoint=URL,
    /// cache=DIR, cache_size=SIZE, log_file=FILE, part_size=N,
    /// parallel_parts=N, parallel_files=N, write_back[=SECONDS], allow_other,
    /// list_vod_xattrs, passthrough_reads,
    /// protocol=NAME, ugc_signer=URL, ugc_signer_cmd=CMD, cos_endpoint=URL,
    /// ca_file=PEM, region=REGION, sub_app_id=ID,
    /// rate_limit=STEP=N (`+` between several), no_rate_limit,
    /// retry_for=DURATION, stall_timeout=DURATION, connect_timeout=DURATION,
    /// and the upload defaults class_id=N, tags=A+B (`+` between tags),
    /// procedure=, transcode=, screenshot=, watermark=, source_context=,
    /// session_context=, storage_region=, expire_time=;
    /// rw, defaults, nofail, noauto,
    /// _netdev, user, users and x-* are accepted and ignored. Options are
    /// separated by commas; `\,` is a comma inside a value (e.g. in
    /// ugc_signer_cmd) and `\\` a backslash.
    #[arg(short = 'o', value_name = "OPTIONS")]
    pub options: Vec<String>,
}

/// A time limit that may be unbounded (`--retry-for`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<std::time::Duration>);

/// A duration: `90`, `90s`, `10m`, `2h` (no suffix: seconds; fractions allowed).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let scale = match unit {
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("not a duration: {s:?} (use s, m or h)")),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a duration: {s:?}"))?;
    std::time::Duration::try_from_secs_f64(n * scale).map_err(|_| format!("not a duration: {s:?}"))
}

/// A [`Limit`]: a duration, or `forever` (also `inf`, `never`: no limit).
pub fn parse_limit(s: &str) -> Result<Limit, String> {
    match s.trim() {
        "forever" | "inf" | "infinity" | "never" => Ok(Limit(None)),
        t => parse_duration(t).map(|d| Limit(Some(d))),
    }
}

/// A size in bytes: `123`, `64K`, `512M`, `20G`, `1T` (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("not a size: {s:?} (use K, M, G or T)")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a size: {s:?}"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size too large: {s:?}"))
}

/// Splits one `-o` argument at its commas; `\,` is a literal comma and
/// `\\` a literal backslash (a backslash before anything else is kept as is,
/// so shell commands with other escapes pass through unchanged).
pub fn split_options(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some(',') | Some('\\')) => {
                cur.push(chars.next().expect("peeked"));
            }
            ',' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

impl MountArgs {
    /// Folds `-o` options into the typed fields (an `-o` option wins over
    /// the flag's default). Secrets are refused here: fstab and `ps` would
    /// show them.
    pub fn apply_options(&mut self) -> Result<(), String> {
        let options: Vec<String> = std::mem::take(&mut self.options)
            .iter()
            .flat_map(|o| split_options(o))
            .collect();
        for opt in options {
            let opt = opt.trim();
            if opt.is_empty() {
                continue;
            }
            let (key, value) = match opt.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (opt, None),
            };
            fn need<'v>(key: &str, v: Option<&'v str>) -> Result<&'v str, String> {
                v.filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("mount option {key} needs a value ({key}=…)"))
            }
            let num = |v: Option<&str>| -> Result<u64, String> {
                need(key, v)?
                    .parse()
                    .map_err(|_| format!("mount option {key}: not a number: {v:?}"))
            };
            match key {
                "endpoint" => self.endpoint = Some(need(key, value)?.to_string()),
                "cache" => self.cache = Some(PathBuf::from(need(key, value)?)),
                "log_file" => self.log_file = Some(PathBuf::from(need(key, value)?)),
                "part_size" => self.part_size = num(value)? as u32,
                "cache_size" => {
                    self.cache_size = Some(
                        parse_size(need(key, value)?)
                            .map_err(|e| format!("mount option cache_size: {e}"))?,
                    )
                }
                "parallel_parts" => self.parallel_parts = num(value)? as usize,
                "parallel_files" => self.parallel_files = num(value)? as usize,
                "write_back" => {
                    self.write_back = Some(match value {
                        Some(v) => v
                            .parse()
                            .map_err(|_| format!("mount option write_back: not seconds: {v:?}"))?,
                        None => 2.0,
                    })
                }
                "allow_other" => self.allow_other = true,
                "list_vod_xattrs" => self.list_vod_xattrs = true,
                "passthrough_reads" => self.passthrough_reads = true,
                "rate_limit" => self
                    .rate_limit
                    .extend(need(key, value)?.split('+').map(str::to_string)),
                "no_rate_limit" => self.no_rate_limit = true,
                "retry_for" => {
                    self.retry_for = parse_limit(need(key, value)?)
                        .map_err(|e| format!("mount option retry_for: {e}"))?
                }
                "stall_timeout" => {
                    self.stall_timeout = parse_duration(need(key, value)?)
                        .map_err(|e| format!("mount option stall_timeout: {e}"))?
                }
                "connect_timeout" => {
                    self.connect_timeout = parse_duration(need(key, value)?)
                        .map_err(|e| format!("mount option connect_timeout: {e}"))?
                }
                "protocol" => {
                    let v = need(key, value)?;
                    self.protocol = Protocol::parse(v).ok_or_else(|| {
                        format!(
                            "mount option protocol: {v:?} is not api3, ugc, v4, ugc-ex, apply or frontwize"
                        )
                    })?
                }
                "ugc_signer" => self.ugc_signer = Some(need(key, value)?.to_string()),
                "ugc_signer_cmd" => self.ugc_signer_cmd = Some(need(key, value)?.to_string()),
                "cos_endpoint" => self.cos_endpoint = Some(need(key, value)?.to_string()),
                "ca_file" => self.ca_file = Some(PathBuf::from(need(key, value)?)),
                "region" => self.region = Some(need(key, value)?.to_string()),
                "sub_app_id" => self.sub_app_id = Some(num(value)?),
                "class_id" => self.class_id = Some(need(key, value)?.to_string()),
                "tags" => self.tags = Some(need(key, value)?.replace('+', ",")),
                "procedure" => self.procedure = Some(need(key, value)?.to_string()),
                "transcode" => self.transcode = Some(need(key, value)?.to_string()),
                "screenshot" => self.screenshot = Some(need(key, value)?.to_string()),
                "watermark" => self.watermark = Some(need(key, value)?.to_string()),
                "source_context" => self.source_context = Some(need(key, value)?.to_string()),
                "session_context" => self.session_context = Some(need(key, value)?.to_string()),
                "storage_region" => self.storage_region = Some(need(key, value)?.to_string()),
                "expire_time" => self.expire_time = Some(need(key, value)?.to_string()),
                "secret_key" | "secret_id" => {
                    return Err(format!(
                        "mount option {key}: credentials do not belong in mount options (fstab and ps show them); use VODFS_SECRET_ID/VODFS_SECRET_KEY or ~/.config/vodfs/config.toml"
                    ));
                }
                "rw" | "defaults" | "nofail" | "noauto" | "auto" | "_netdev" | "user" | "users"
                | "nouser" | "dev" | "nodev" | "suid" | "nosuid" | "exec" | "noexec" | "atime"
                | "noatime" | "relatime" => {}
                k if k.starts_with("x-") || k.starts_with("comment=") => {}
                _ => return Err(format!("unknown mount option {opt:?}")),
            }
        }
        Ok(())
    }
}

impl MountArgs {
    /// The upload settings given as mount options (defaults for every
    /// file; a directory's `user.vod.*` setting wins), checked.
    pub fn upload_defaults(&self) -> Result<crate::vod::UploadSettings, String> {
        let mut settings = crate::vod::UploadSettings::default();
        for (name, value) in [
            ("class_id", &self.class_id),
            ("tags", &self.tags),
            ("procedure", &self.procedure),
            ("transcode", &self.transcode),
            ("screenshot", &self.screenshot),
            ("watermark", &self.watermark),
            ("source_context", &self.source_context),
            ("session_context", &self.session_context),
            ("storage_region", &self.storage_region),
            ("expire_time", &self.expire_time),
        ] {
            if let Some(v) = value {
                crate::settings::apply(&mut settings, name, v.as_bytes())
                    .map_err(|why| format!("--{}: {why}", name.replace('_', "-")))?;
            }
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount_args(args: &[&str]) -> MountArgs {
        let cli = Cli::try_parse_from(["vodfs", "mount"].iter().chain(args.iter()).copied())
            .expect("parses");
        match cli.command {
            Command::Mount(m) => *m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn dash_o_options_fold_into_fields() {
        let mut m = mount_args(&[
            "/mnt",
            "-o",
            "rw,endpoint=http://h:1,cache=/c,part_size=524288,write_back,allow_other,x-systemd.automount,_netdev",
        ]);
        m.apply_options().unwrap();
        assert_eq!(m.endpoint.as_deref(), Some("http://h:1"));
        assert_eq!(m.cache.as_deref(), Some(std::path::Path::new("/c")));
        assert_eq!(m.part_size, 524_288);
        assert_eq!(m.write_back, Some(2.0));
        assert!(m.allow_other);
        assert_eq!(m.protocol, Protocol::Api3);
        let mut m = mount_args(&["/mnt", "-o", "protocol=ugc,ugc_signer=http://s/sign"]);
        m.apply_options().unwrap();
        assert_eq!(m.protocol, Protocol::Ugc);
        assert_eq!(m.ugc_signer.as_deref(), Some("http://s/sign"));
        let mut m = mount_args(&["/mnt", "-o", "protocol=ugc-ex"]);
        m.apply_options().unwrap();
        assert_eq!(m.protocol, Protocol::UgcEx);
        let m = mount_args(&["/mnt", "--protocol", "ugc-ex"]);
        assert_eq!((m.protocol, m.protocol.name()), (Protocol::UgcEx, "ugc-ex"));
        let mut m = mount_args(&[
            "/mnt",
            "-o",
            "protocol=api3,region=ap-chongqing,sub_app_id=1500000001",
        ]);
        m.apply_options().unwrap();
        assert_eq!(m.protocol, Protocol::Api3);
        assert_eq!(m.region.as_deref(), Some("ap-chongqing"));
        assert_eq!(m.sub_app_id, Some(1_500_000_001));
        let m = mount_args(&["/mnt", "--protocol", "api3", "--sub-app-id", "7"]);
        assert_eq!((m.protocol, m.sub_app_id), (Protocol::Api3, Some(7)));
        let mut m = mount_args(&[
            "/mnt",
            "-o",
            "storage_region=ap-chongqing,expire_time=2030-01-01T00:00:00Z",
            "--session-context",
            "s",
        ]);
        m.apply_options().unwrap();
        let d = m.upload_defaults().unwrap();
        assert_eq!(d.storage_region.as_deref(), Some("ap-chongqing"));
        assert_eq!(d.expire_time.as_deref(), Some("2030-01-01T00:00:00Z"));
        assert_eq!(d.session_context.as_deref(), Some("s"));
        let mut m = mount_args(&["/mnt", "-o", "expire_time=soon"]);
        m.apply_options().unwrap();
        assert!(m.upload_defaults().unwrap_err().contains("--expire-time"));
        let mut m = mount_args(&["/mnt", "-o", "class_id=7,tags=a+b", "--transcode", "1"]);
        m.apply_options().unwrap();
        let d = m.upload_defaults().unwrap();
        assert_eq!(
            (d.class_id, d.tags.len(), d.transcode),
            (Some(7), 2, Some(true))
        );
        let m = mount_args(&["/mnt", "--class-id", "x"]);
        assert!(m.upload_defaults().unwrap_err().contains("--class-id"));
        let mut m = mount_args(&[
            "/mnt",
            "--rate-limit",
            "start=300",
            "-o",
            "rate_limit=finish=300+part=0,no_rate_limit",
        ]);
        m.apply_options().unwrap();
        assert_eq!(m.rate_limit, ["start=300", "finish=300", "part=0"]);
        assert!(m.no_rate_limit);
        let mut m = mount_args(&["/mnt", "-o", "protocol=ftp"]);
        assert!(m.apply_options().unwrap_err().contains("ftp"));
    }

    #[test]
    fn dash_o_values_may_hold_escaped_commas() {
        assert_eq!(split_options("a=1,b=2"), ["a=1", "b=2"]);
        assert_eq!(split_options(r"c=x\,y,d"), ["c=x,y", "d"]);
        assert_eq!(split_options(r"c=a\\,d"), [r"c=a\", "d"]);
        assert_eq!(split_options(r"c=a\n"), [r"c=a\n"]);
        let mut m = mount_args(&[
            "/mnt",
            "-o",
            r"protocol=ugc,ugc_signer_cmd=sign --tags a\,b,part_size=524288",
        ]);
        m.apply_options().unwrap();
        assert_eq!(m.ugc_signer_cmd.as_deref(), Some("sign --tags a,b"));
        assert_eq!(m.part_size, 524_288);
    }

    #[test]
    fn outage_limits_parse_with_documented_defaults() {
        use std::time::Duration;
        let m = mount_args(&["/mnt"]);
        assert_eq!(m.retry_for, Limit(Some(Duration::from_secs(600))));
        assert_eq!(m.stall_timeout, Duration::from_secs(30));
        assert_eq!(m.connect_timeout, Duration::from_secs(10));
        let mut m = mount_args(&["/mnt", "--retry-for", "forever", "-o", "stall_timeout=2m"]);
        m.apply_options().unwrap();
        assert_eq!(m.retry_for, Limit(None));
        assert_eq!(m.stall_timeout, Duration::from_secs(120));
        let mut m = mount_args(&["/mnt", "-o", "retry_for=0,connect_timeout=1.5"]);
        m.apply_options().unwrap();
        assert_eq!(m.retry_for, Limit(Some(Duration::ZERO)));
        assert_eq!(m.connect_timeout, Duration::from_millis(1500));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("10 parsecs").is_err() && parse_limit("-1").is_err());
        let mut m = mount_args(&["/mnt", "-o", "retry_for=soon"]);
        assert!(m.apply_options().unwrap_err().contains("retry_for"));
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("20g"), Ok(20 << 30));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("").is_err());
        let mut m = mount_args(&["/mnt", "-o", "cache_size=2M"]);
        m.apply_options().unwrap();
        assert_eq!(m.cache_size, Some(2 << 20));
    }

    #[test]
    fn bad_and_secret_options_are_refused() {
        let mut m = mount_args(&["/mnt", "-o", "bogus=1"]);
        assert!(m.apply_options().unwrap_err().contains("bogus"));
        let mut m = mount_args(&["/mnt", "-o", "secret_key=abc"]);
        let e = m.apply_options().unwrap_err();
        assert!(e.contains("credentials") && !e.contains("abc"), "{e}");
        let mut m = mount_args(&["/mnt", "-o", "part_size=big"]);
        assert!(m.apply_options().is_err());
    }
}
