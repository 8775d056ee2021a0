//! Running `vodfs mount` in the background the way mount(8) users expect:
//! the command returns only once the mount is usable (or failed, with the
//! reason and a non-zero exit), and the filesystem keeps running detached.
//!
//! The parent re-executes the same binary with `--foreground` in a new
//! session, with a pipe whose write end the child inherits (its number in
//! `VODFS_READY_FD`). The child writes `ok` once mounted, or `err <message>`,
//! and the parent relays that. Secrets never travel on the child's command
//! line: the caller moves them into the environment.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Environment variable naming the readiness pipe's file descriptor.
pub const READY_FD_ENV: &str = "VODFS_READY_FD";

/// Starts `exe args…` detached and waits for it to report readiness.
/// `envs` are added to the child's environment; stderr goes to `log`.
/// Returns what the child said about itself when ready.
pub fn spawn_and_wait(
    exe: &Path,
    args: &[OsString],
    envs: &[(String, String)],
    log: &Path,
) -> anyhow::Result<String> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let (read_fd, write_fd) = (fds[0], fds[1]);
    if let Some(parent) = log.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| anyhow::anyhow!("log file {}: {e}", log.display()))?;
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .env(READY_FD_ENV, write_fd.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::fcntl(write_fd, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let spawned = cmd.spawn();
    // SAFETY: we own both descriptors; the child has its own copy of write_fd.
    let mut reader = unsafe { std::fs::File::from_raw_fd(read_fd) };
    unsafe { libc::close(write_fd) };
    let mut child = spawned?;
    let mut msg = String::new();
    reader.read_to_string(&mut msg)?;
    let msg = msg.trim();
    if let Some(said) = msg.strip_prefix("ok") {
        return Ok(said.trim().to_string());
    }
    let status = child.try_wait()?;
    match msg.strip_prefix("err ") {
        Some(reason) => Err(anyhow::anyhow!("{reason}")),
        None => Err(anyhow::anyhow!(
            "the mount process exited ({}) before the mount was ready; see {}",
            status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "still running".into()),
            log.display()
        )),
    }
}

/// In the child: reports readiness with a one-line description (or the
/// reason for failure) to the waiting parent, if there is one. Safe to call
/// more than once: only the first call writes.
pub fn notify_ready(result: Result<&str, &str>) {
    let Some(fd) = std::env::var(READY_FD_ENV)
        .ok()
        .and_then(|v| v.parse::<RawFd>().ok())
    else {
        return;
    };
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    // SAFETY: the parent passed us this descriptor and nothing else owns it.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    let line = match result {
        Ok(said) => format!("ok {}\n", said.replace('\n', " ")),
        Err(e) => format!("err {}\n", e.replace('\n', " ")),
    };
    let _ = f.write_all(line.as_bytes());
}

/// The child's arguments: the original ones minus secrets, plus
/// `--foreground`. Returns the secrets found, to pass through the environment.
pub fn foreground_args(original: &[OsString]) -> (Vec<OsString>, Vec<(String, String)>) {
    let mut out = Vec::new();
    let mut envs = Vec::new();
    let mut it = original.iter().peekable();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        let secret = [
            ("--secret-key", "VODFS_SECRET_KEY"),
            ("--secret-id", "VODFS_SECRET_ID"),
        ]
        .iter()
        .find_map(|(flag, env)| {
            if s == *flag {
                Some((*env, it.next().map(|v| v.to_string_lossy().into_owned())))
            } else {
                s.strip_prefix(&format!("{flag}="))
                    .map(|v| (*env, Some(v.to_string())))
            }
        });
        match secret {
            Some((env, Some(v))) => envs.push((env.to_string(), v)),
            Some((_, None)) => {}
            None => out.push(a.clone()),
        }
    }
    out.push("--foreground".into());
    (out, envs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_move_to_env() {
        let args: Vec<OsString> = ["mount", "--secret-key", "k", "--secret-id=i", "/mnt"]
            .iter()
            .map(OsString::from)
            .collect();
        let (a, e) = foreground_args(&args);
        assert_eq!(a, vec!["mount", "/mnt", "--foreground"]);
        assert_eq!(
            e,
            vec![
                ("VODFS_SECRET_KEY".to_string(), "k".to_string()),
                ("VODFS_SECRET_ID".to_string(), "i".to_string())
            ]
        );
    }
}
