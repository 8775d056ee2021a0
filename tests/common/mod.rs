//! Shared fixtures of the integration tests.
//!
//! - [`Service`]: a real `vodfs serve` process on a loopback port chosen by
//!   the kernel (port 0), with its own data directory and account.
//! - [`Mount`]: a real `vodfs mount --foreground` process against a
//!   [`Service`], mounted on a temp directory; dropping it unmounts, even when
//!   the test panicked.
//! - Small helpers around the real tools (`getfattr`, `sha1sum`, `ffprobe`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const SECRET_ID: &str = "AKIDvodfsTestSecretId0000000000000000";
pub const SECRET_KEY: &str = "vodfsTestSecretKey000000000000000";

/// Path of the `vodfs` binary under test.
pub fn vodfs_bin() -> &'static str {
    env!("CARGO_BIN_EXE_vodfs")
}

/// A `vodfs serve` child process on loopback.
pub struct Service {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub addr: String,
    pub data: PathBuf,
    _data_dir: Option<TempDir>,
    extra: Vec<String>,
    log: PathBuf,
}

impl Service {
    /// Starts a service with a fresh data directory and the test account.
    pub fn start() -> Service {
        Self::start_with(&[])
    }

    /// Starts a service with extra command-line arguments.
    pub fn start_with(extra: &[&str]) -> Service {
        let dir = tempfile::Builder::new()
            .prefix("vodfs-serve-")
            .tempdir()
            .expect("temp dir");
        let data = dir.path().join("data");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let log = dir.path().join("serve.log");
        let (child, addr) = spawn_service(&data, "127.0.0.1:0", &extra, &log);
        Service {
            child: Some(child),
            url: format!("http://{addr}"),
            addr,
            data,
            _data_dir: Some(dir),
            extra,
            log,
        }
    }

    /// Stops the service (SIGKILL: nothing is flushed on the way out) and
    /// starts it again on the same address and data directory.
    pub fn restart(&mut self) {
        self.kill();
        let (child, addr) = spawn_service(&self.data, &self.addr, &self.extra, &self.log);
        assert_eq!(addr, self.addr, "service came back on another address");
        self.child = Some(child);
    }

    /// Kills the service process.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// GET a loopback admin endpoint as JSON.
    pub fn admin(&self, path: &str) -> serde_json::Value {
        let resp = reqwest::blocking::get(format!("{}{path}", self.url)).expect("admin request");
        assert!(
            resp.status().is_success(),
            "admin {path}: {}",
            resp.status()
        );
        resp.json().expect("admin json")
    }

    /// The service's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_service(data: &Path, listen: &str, extra: &[String], log: &Path) -> (Child, String) {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let mut child = Command::new(vodfs_bin())
        .arg("serve")
        .arg("--listen")
        .arg(listen)
        .arg("--data")
        .arg(data)
        .args(extra)
        .env("VODFS_SECRET_ID", SECRET_ID)
        .env("VODFS_SECRET_KEY", SECRET_KEY)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .expect("spawn vodfs serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("vodfs serve: listening on http://") {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(addr) => (child, addr),
        Err(_) => {
            let _ = child.kill();
            panic!(
                "vodfs serve did not report its address; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    }
}

/// A `vodfs mount --foreground` child process on a temp directory.
pub struct Mount {
    child: Option<Child>,
    pub mountpoint: PathBuf,
    pub cache: PathBuf,
    pub log: PathBuf,
    args: Vec<String>,
    endpoint: String,
    _dir: TempDir,
}

impl Mount {
    /// Mounts against `service` with default options.
    pub fn new(service: &Service) -> Mount {
        Self::with_args(service, &[])
    }

    /// Mounts against `service` with extra `vodfs mount` arguments.
    pub fn with_args(service: &Service, args: &[&str]) -> Mount {
        let dir = tempfile::Builder::new()
            .prefix("vodfs-mount-")
            .tempdir()
            .expect("temp dir");
        let mountpoint = dir.path().join("mnt");
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(&mountpoint).expect("mountpoint");
        let mut m = Mount {
            child: None,
            mountpoint,
            cache,
            log: dir.path().join("mount.log"),
            args: args.iter().map(|s| s.to_string()).collect(),
            endpoint: service.url.clone(),
            _dir: dir,
        };
        m.start();
        m
    }

    /// (Re)starts the mount process on the same cache and mountpoint.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already mounted");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(vodfs_bin())
            .arg("mount")
            .arg("--foreground")
            .arg("--endpoint")
            .arg(&self.endpoint)
            .arg("--cache")
            .arg(&self.cache)
            .args(&self.args)
            .arg(&self.mountpoint)
            .env("VODFS_SECRET_ID", SECRET_ID)
            .env("VODFS_SECRET_KEY", SECRET_KEY)
            .env("RUST_LOG", "vodfs=debug,info")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .expect("spawn vodfs mount");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !is_mounted(&self.mountpoint) {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!("vodfs mount exited with {status}; log:\n{}", self.log());
            }
            if Instant::now() > deadline {
                self.kill9();
                panic!("mount did not appear in 20 s; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A path inside the mount.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.mountpoint.join(rel)
    }

    /// The mount's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `vodfs ARGS PATHS…` (a control command: wait, retry, status)
    /// and asserts it succeeds, showing its output and the tail of the
    /// mount's log when it does not.
    pub fn ctl(&self, args: &[&str], paths: &[PathBuf]) -> std::process::Output {
        let out = Command::new(vodfs_bin())
            .args(args)
            .args(paths)
            .output()
            .expect("vodfs control command");
        if !out.status.success() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            panic!(
                "vodfs {args:?} failed: {}\n{}\nmount log tail:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
        out
    }

    /// Unmounts cleanly and waits for the process to exit.
    pub fn unmount(&mut self) {
        if self.child.is_none() {
            return;
        }
        if is_mounted(&self.mountpoint) {
            let ok = Command::new("fusermount3")
                .arg("-u")
                .arg(&self.mountpoint)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                let _ = Command::new("umount")
                    .arg("-l")
                    .arg(&self.mountpoint)
                    .status();
            }
        }
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Kills the mount process with SIGKILL (a crash) and detaches the dead
    /// mount, leaving the cache as the crash left it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if is_mounted(&self.mountpoint) {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mountpoint)
                .status();
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        self.unmount();
        if is_mounted(&self.mountpoint) {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mountpoint)
                .status();
        }
    }
}

/// Whether `path` is a mount point of a vodfs filesystem (per /proc/mounts).
pub fn is_mounted(path: &Path) -> bool {
    let want = path.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            let mut f = l.split_whitespace();
            let _src = f.next();
            f.next() == Some(want.as_str()) && f.next().is_some_and(|t| t.starts_with("fuse"))
        })
}

/// Runs a command, panicking with its output when it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `getfattr --only-values -n NAME PATH`, or None when the attribute is absent.
/// Writes `bytes` to a new file at `path` and closes it with close(2)
/// (std's drop ignores close errors), asserting the close fails with EIO —
/// a failed commit — and that the file is then in state `failed`. Returns
/// its `user.vod.error`.
pub fn write_expecting_failed_close(path: &Path, bytes: &[u8]) -> String {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path).expect("create");
    f.write_all(bytes).expect("write");
    let fd = std::os::fd::IntoRawFd::into_raw_fd(f);
    // SAFETY: we own fd and close it once.
    let rc = unsafe { libc::close(fd) };
    assert_eq!(rc, -1, "close must fail");
    let e = std::io::Error::last_os_error();
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    assert_eq!(getfattr(path, "user.vod.state").as_deref(), Some("failed"));
    getfattr(path, "user.vod.error").expect("user.vod.error")
}

pub fn getfattr(path: &Path, name: &str) -> Option<String> {
    let out = Command::new("getfattr")
        .arg("--only-values")
        .arg("--absolute-names")
        .arg("-n")
        .arg(name)
        .arg(path)
        .output()
        .expect("getfattr");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// SHA-1 (hex) of a local file, by the real `sha1sum`.
pub fn sha1sum(path: &Path) -> String {
    let out = run(Command::new("sha1sum").arg(path));
    out.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The bytes behind a URL.
pub fn fetch(url: &str) -> Vec<u8> {
    let resp = reqwest::blocking::get(url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
    resp.bytes().expect("body").to_vec()
}

/// SHA-1 (hex) of bytes.
pub fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(bytes))
}

/// Duration in seconds that `ffprobe` reads from a file or URL.
pub fn ffprobe_duration(input: &str) -> f64 {
    let out = run(Command::new("ffprobe").args([
        "-v",
        "error",
        "-show_entries",
        "format=duration",
        "-of",
        "default=noprint_wrappers=1:nokey=1",
        input,
    ]));
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe gave no duration for {input}: {out:?}"))
}

/// Deterministic pseudo-random bytes (xorshift), so failures replay.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Reads a whole child stream into a string (for diagnostics).
pub fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}
