//! [`Service`]: a real `vodfs serve` child process on a loopback port the
//! kernel chose (port 0), with its own data directory, the test account and
//! its log in a file. For tests that mount (the mount is a process too) or
//! that kill and restart the service; when a test panics, dropping it
//! prints the tail of its log.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

use super::account::{SECRET_ID, SECRET_KEY};
use super::tools::{tail, vodfs_bin};

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
    /// Address-space limit of the process (`RLIMIT_AS`), if any: a
    /// regression that allocates by what a client declares then fails its
    /// test instead of eating the machine.
    as_limit: Option<u64>,
}

impl Service {
    /// Starts a service with a fresh data directory and the test account.
    pub fn start() -> Service {
        Self::start_with(&[])
    }

    /// Starts a service with extra command-line arguments.
    pub fn start_with(extra: &[&str]) -> Service {
        Self::start_limited(extra, None)
    }

    /// Starts a service with extra arguments under an address-space limit
    /// of `as_limit` bytes (kept across [`Service::restart`]).
    pub fn start_limited(extra: &[&str], as_limit: Option<u64>) -> Service {
        let dir = tempfile::Builder::new()
            .prefix("vodfs-serve-")
            .tempdir()
            .expect("temp dir");
        let data = dir.path().join("data");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let log = dir.path().join("serve.log");
        let (child, addr) = spawn_service(&data, "127.0.0.1:0", &extra, &log, as_limit);
        Service {
            child: Some(child),
            url: format!("http://{addr}"),
            addr,
            data,
            _data_dir: Some(dir),
            extra,
            log,
            as_limit,
        }
    }

    /// Stops the service (SIGKILL: nothing is flushed on the way out) and
    /// starts it again on the same address and data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.start_again();
    }

    /// Starts a killed service again on the same address and data
    /// directory (after [`Service::kill`], when the outage is over).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the service is running");
        let (child, addr) = spawn_service(
            &self.data,
            &self.addr,
            &self.extra,
            &self.log,
            self.as_limit,
        );
        assert_eq!(addr, self.addr, "service came back on another address");
        self.child = Some(child);
    }

    /// Starts a killed service again on the same data directory and a
    /// port the kernel chooses (for a long outage, when its old port may
    /// have been taken meanwhile; a [`super::Proxy`] in front keeps the
    /// mount's endpoint: `proxy.set_target(&svc.addr)`).
    pub fn start_again_on_new_port(&mut self) {
        assert!(self.child.is_none(), "the service is running");
        let (child, addr) = spawn_service(
            &self.data,
            "127.0.0.1:0",
            &self.extra,
            &self.log,
            self.as_limit,
        );
        self.url = format!("http://{addr}");
        self.addr = addr;
        self.child = Some(child);
    }

    /// The service's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process has exited (reaped), waiting up to `within`.
    pub fn exited_within(&mut self, within: Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            match self.child.as_mut().map(Child::try_wait) {
                None | Some(Ok(Some(_))) | Some(Err(_)) => return true,
                Some(Ok(None)) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        false
    }

    /// Whether the process is still running (not exited).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Resident memory of the process in KiB (`VmRSS`), while it runs.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Kills the service process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// GET a loopback admin endpoint as JSON.
    pub fn admin(&self, path: &str) -> serde_json::Value {
        let resp = reqwest::blocking::Client::new()
            .get(format!("{}{path}", self.url))
            .header("X-Vodfs-Admin", "1")
            .send()
            .expect("admin request");
        assert!(
            resp.status().is_success(),
            "admin {path}: {}",
            resp.status()
        );
        resp.json().expect("admin json")
    }

    /// PUTs `body` to an admin endpoint (faults, rate limits).
    pub fn admin_put(&self, path: &str, body: &str) {
        let resp = reqwest::blocking::Client::new()
            .put(format!("{}{path}", self.url))
            .header("X-Vodfs-Admin", "1")
            .body(body.to_string())
            .send()
            .expect("admin request");
        assert!(
            resp.status().is_success(),
            "admin PUT {path}: {}",
            resp.status()
        );
    }

    /// POSTs an empty body to an admin endpoint; its JSON answer.
    pub fn admin_post(&self, path: &str) -> serde_json::Value {
        let resp = reqwest::blocking::Client::new()
            .post(format!("{}{path}", self.url))
            .header("X-Vodfs-Admin", "1")
            .send()
            .expect("admin request");
        assert!(
            resp.status().is_success(),
            "admin POST {path}: {}",
            resp.status()
        );
        resp.json().expect("admin json")
    }

    /// The service's media records.
    pub fn media(&self) -> Vec<serde_json::Value> {
        let v = self.admin("/admin/media");
        v.as_array()
            .or_else(|| v["media"].as_array())
            .cloned()
            .expect("media list")
    }

    /// The open COS multipart uploads (api3, apply): (key, parts held).
    pub fn open_multipart(&self) -> Vec<(String, u64)> {
        self.admin("/admin/multipart")
            .as_array()
            .expect("multipart list")
            .iter()
            .map(|u| {
                (
                    u["key"].as_str().unwrap_or_default().to_string(),
                    u["parts"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    }

    /// The sizes of the parts each open multipart upload holds, in part
    /// order (one list per upload).
    pub fn open_multipart_sizes(&self) -> Vec<Vec<u64>> {
        self.admin("/admin/multipart")
            .as_array()
            .expect("multipart list")
            .iter()
            .map(|u| {
                u["sizes"]
                    .as_array()
                    .expect("part sizes")
                    .iter()
                    .filter_map(|v| v.as_u64())
                    .collect()
            })
            .collect()
    }

    /// Number of media the service holds.
    pub fn media_count(&self) -> usize {
        self.media().len()
    }

    /// The service's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- vodfs serve log (tail) ---\n{}", tail(&self.log(), 60));
        }
    }
}

fn spawn_service(
    data: &Path,
    listen: &str,
    extra: &[String],
    log: &Path,
    as_limit: Option<u64>,
) -> (Child, String) {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let mut cmd = Command::new(vodfs_bin());
    if let Some(limit) = as_limit {
        use std::os::unix::process::CommandExt as _;
        // SAFETY: only setrlimit (async-signal-safe) runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd
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
