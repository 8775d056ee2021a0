//! [`Mount`]: a real `vodfs mount --foreground` child process against a
//! [`Service`], on a temp directory, with its log in a file. Dropping it
//! unmounts, even when the test panicked, and then prints the tail of its
//! log. [`MountDirs`] is the same guarantee for tests that mount by other
//! means (the mount(8) helper, `mount -t fuse.vodfs`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::account::{SECRET_ID, SECRET_KEY};
use super::service::Service;
use super::tools::{run, tail, vodfs_bin};

/// A `vodfs mount --foreground` child process on a temp directory.
pub struct Mount {
    child: Option<Child>,
    pub mountpoint: PathBuf,
    pub cache: PathBuf,
    pub log: PathBuf,
    args: Vec<String>,
    endpoint: String,
    /// Extra environment of the mount process.
    env: Vec<(String, String)>,
    /// The mount gets no account key at all (no VODFS_SECRET_ID/KEY, an
    /// empty config directory): a machine that only has a signer.
    keyless: bool,
    _dir: TempDir,
}

impl Mount {
    /// Mounts against `service` with default options.
    pub fn new(service: &Service) -> Mount {
        Self::with_args(service, &[])
    }

    /// Mounts against `service` with extra `vodfs mount` arguments.
    pub fn with_args(service: &Service, args: &[&str]) -> Mount {
        Self::with_endpoint(&service.url, args, &[])
    }

    /// Mounts against `service` holding no SecretId or SecretKey (a
    /// machine with only a signer: give `--ugc-signer[-cmd]` in `args`).
    pub fn keyless(service: &Service, args: &[&str]) -> Mount {
        Self::build(&service.url, args, &[], true)
    }

    /// Mounts against `endpoint` (a proxy in front of a service, say) with
    /// extra arguments and environment.
    pub fn with_endpoint(endpoint: &str, args: &[&str], env: &[(&str, &str)]) -> Mount {
        Self::build(endpoint, args, env, false)
    }

    fn build(endpoint: &str, args: &[&str], env: &[(&str, &str)], keyless: bool) -> Mount {
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
            endpoint: endpoint.to_string(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            keyless,
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
        let mut cmd = Command::new(vodfs_bin());
        if self.keyless {
            cmd.env_remove("VODFS_SECRET_ID")
                .env_remove("VODFS_SECRET_KEY")
                .env("XDG_CONFIG_HOME", self._dir.path().join("no-config"));
        } else {
            cmd.env("VODFS_SECRET_ID", SECRET_ID)
                .env("VODFS_SECRET_KEY", SECRET_KEY);
        }
        let child = cmd
            .arg("mount")
            .arg("--foreground")
            .arg("--endpoint")
            .arg(&self.endpoint)
            .arg("--cache")
            .arg(&self.cache)
            .args(&self.args)
            .arg(&self.mountpoint)
            .env("RUST_LOG", "vodfs=debug,info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
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
            panic!(
                "vodfs {args:?} failed: {}\n{}\nmount log tail:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                tail(&self.log(), 40)
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
                lazy_unmount(&self.mountpoint);
            }
        }
        if let Some(mut c) = self.child.take() {
            // Longer than the mount's own bounded drain of commits in
            // flight (30 s, `run::DRAIN_ON_EXIT`), so that a test sees the
            // mount end by itself rather than by this kill.
            let deadline = Instant::now() + Duration::from_secs(45);
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

    /// Kills the mount process with SIGKILL and leaves the dead mount in
    /// place (its mount point answers ENOTCONN) until the drop detaches it.
    pub fn kill9_leaving_the_mount(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the mount process with SIGKILL (a crash) and detaches the dead
    /// mount, leaving the cache as the crash left it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        lazy_unmount(&self.mountpoint);
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        self.unmount();
        lazy_unmount(&self.mountpoint);
        if std::thread::panicking() {
            eprintln!("--- vodfs mount log (tail) ---\n{}", tail(&self.log(), 60));
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

/// `umount -l PATH` when something is still mounted there.
fn lazy_unmount(path: &Path) {
    if is_mounted(path) {
        let _ = Command::new("umount").arg("-l").arg(path).status();
    }
}

/// A temp directory with an empty mountpoint `vod` and a cache path, for a
/// test that mounts by other means than [`Mount`]; whatever is mounted on
/// `vod` is unmounted on drop, before the directory goes.
pub struct MountDirs {
    pub mountpoint: PathBuf,
    pub cache: PathBuf,
    dir: TempDir,
}

impl MountDirs {
    pub fn new() -> MountDirs {
        let dir = tempfile::tempdir().expect("tempdir");
        let mountpoint = dir.path().join("vod");
        std::fs::create_dir(&mountpoint).expect("mountpoint");
        let cache = dir.path().join("cache");
        MountDirs {
            mountpoint,
            cache,
            dir,
        }
    }

    /// The temp directory holding the mountpoint and the cache.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for MountDirs {
    fn drop(&mut self) {
        lazy_unmount(&self.mountpoint);
    }
}

/// `vodfs wait --timeout 120 PATH…`, asserting success.
pub fn wait(paths: &[&Path]) -> String {
    let mut cmd = Command::new(vodfs_bin());
    cmd.args(["wait", "--timeout", "120"]);
    cmd.args(paths);
    run(&mut cmd)
}
