//! Commands that talk to a running mount from outside: `vodfs wait`.
//!
//! They need no socket or daemon protocol: the mount publishes every file's
//! upload state as `user.vod.*` xattrs, so these commands read them with
//! getxattr(2) on the paths they are given, exactly as a script with
//! `getfattr` would.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Reads xattr `name` of `path`; `Ok(None)` when the file has no such xattr.
pub fn get_xattr(path: &Path, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let cname = CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: both strings are NUL-terminated; buf is valid for its length.
        let n = unsafe {
            libc::getxattr(
                cpath.as_ptr(),
                cname.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(Some(buf));
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENODATA) => return Ok(None),
            Some(libc::ERANGE) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            _ => return Err(err),
        }
    }
}

fn xattr_string(path: &Path, name: &str) -> std::io::Result<Option<String>> {
    Ok(get_xattr(path, name)?.map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// The outcome of waiting for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    Committed { file_id: String, url: String },
    Failed(String),
}

/// Polls `path` until its upload is committed or failed, or `timeout` passes.
pub fn wait_one(path: &Path, timeout: Option<Duration>) -> std::io::Result<WaitOutcome> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(20);
    loop {
        let state = xattr_string(path, "user.vod.state")?.ok_or_else(|| {
            std::io::Error::other(format!("{}: not a file in a vodfs mount", path.display()))
        })?;
        match state.as_str() {
            "committed" => {
                let file_id = xattr_string(path, "user.vod.file_id")?.unwrap_or_default();
                let url = xattr_string(path, "user.vod.url")?.unwrap_or_default();
                return Ok(WaitOutcome::Committed { file_id, url });
            }
            "failed" => {
                let err = xattr_string(path, "user.vod.error")?.unwrap_or_default();
                return Ok(WaitOutcome::Failed(err));
            }
            _ => {}
        }
        if timeout.is_some_and(|t| start.elapsed() > t) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "{}: still {state} after {:?}",
                    path.display(),
                    start.elapsed()
                ),
            ));
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}

/// `vodfs wait PATH...`: prints `PATH<TAB>fileId<TAB>url` per committed file
/// and fails naming every file that failed.
pub fn wait(paths: &[PathBuf], timeout: Option<Duration>) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for p in paths {
        match wait_one(p, timeout) {
            Ok(WaitOutcome::Committed { file_id, url }) => {
                println!("{}\t{file_id}\t{url}", p.display());
            }
            Ok(WaitOutcome::Failed(reason)) => {
                eprintln!("vodfs wait: {}: failed: {reason}", p.display());
                failed.push(p.display().to_string());
            }
            Err(e) => {
                eprintln!("vodfs wait: {e}");
                failed.push(p.display().to_string());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("not committed: {}", failed.join(", ")))
    }
}
