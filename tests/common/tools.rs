//! The real tools the tests drive, wrapped so that a failure panics with
//! the tool's output: any command, `sh -c`, `getfattr`/`setfattr`,
//! `sha1sum`, `ffprobe`, and an HTTP GET.

use std::io::Read;
use std::path::Path;
use std::process::Command;

/// Path of the `vodfs` binary under test.
pub fn vodfs_bin() -> &'static str {
    env!("CARGO_BIN_EXE_vodfs")
}

/// Runs a command, panicking with its output when it fails; returns its
/// stdout.
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

/// `sh -c script`, checked; returns its stdout.
pub fn sh(script: &str) -> String {
    run(Command::new("sh").arg("-c").arg(script))
}

/// `getfattr --only-values -n NAME PATH`, or None when the attribute is absent.
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

/// `setfattr -n NAME -v VALUE PATH`; the output of the failure if it fails.
pub fn setfattr(path: &Path, name: &str, value: &str) -> Result<(), String> {
    let out = Command::new("setfattr")
        .args(["-n", name, "-v", value])
        .arg(path)
        .output()
        .expect("setfattr");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
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

/// Reads a whole child stream into a string (for diagnostics).
pub fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}

/// The last `n` lines of a log.
pub fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A `cp` from a FIFO to `dest`, fed by the test: the test decides how far
/// the copy gets and when its source ends (`drop` the writer), so that it
/// can act while cp still holds `dest` open. The FIFO is made in `dir`.
pub fn cp_from_fifo(
    dir: &Path,
    dest: &Path,
    stderr: std::process::Stdio,
) -> (std::process::Child, std::fs::File) {
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("no NUL");
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let cp = Command::new("cp")
        .arg(&fifo)
        .arg(dest)
        .stderr(stderr)
        .spawn()
        .expect("cp");
    let w = std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("open fifo");
    (cp, w)
}
