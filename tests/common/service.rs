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

    /// PUTs `body` to an admin endpoint (faults, rate limits).
    pub fn admin_put(&self, path: &str, body: &str) {
        let resp = reqwest::blocking::Client::new()
            .put(format!("{}{path}", self.url))
            .body(body.to_string())
            .send()
            .expect("admin request");
        assert!(
            resp.status().is_success(),
            "admin PUT {path}: {}",
            resp.status()
        );
    }

    /// The service's media records.
    pub fn media(&self) -> Vec<serde_json::Value> {
        let v = self.admin("/admin/media");
        v.as_array()
            .or_else(|| v["media"].as_array())
            .cloned()
            .expect("media list")
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
