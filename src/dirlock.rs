//! One holder per directory: a mount's cache, a `vodfs serve`'s data.
//!
//! Two mounts on one cache would be two writers and two upload pipelines
//! over the same files; two services on one data directory, two stores.
//! [`DirLock::acquire`] takes an exclusive `flock` on `DIR/vodfs.lock` and
//! writes who holds it (pid and what it serves) into the file; a second
//! holder is refused with that text. The kernel releases the lock when its
//! holder's descriptor closes — on exit, however it exits — so a mount
//! after a `kill -9` of the first works. The file itself stays (its
//! content is only read when the lock is taken).
//!
//! A leaf: imports nothing of the crate.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};

/// Name of the lock file inside the directory.
pub const LOCK_FILE: &str = "vodfs.lock";

/// Why a directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum DirLockError {
    #[error("{dir} is in use by {holder}; stop that one first (its lock is {lock})")]
    Held {
        dir: String,
        holder: String,
        lock: String,
    },
    #[error("locking {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; dropping it releases the directory.
#[derive(Debug)]
pub struct DirLock {
    file: File,
    pub path: PathBuf,
}

impl DirLock {
    /// Locks `dir` for `holder` (e.g. `vodfs mount on /home/me/vod`),
    /// recording `pid N: holder` in the lock file.
    pub fn acquire(dir: &Path, holder: &str) -> Result<DirLock, DirLockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| DirLockError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io(err));
            }
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let text = text.trim();
            return Err(DirLockError::Held {
                dir: dir.display().to_string(),
                holder: if text.is_empty() {
                    "another vodfs".to_string()
                } else {
                    text.to_string()
                },
                lock: path.display().to_string(),
            });
        }
        let mut lock = DirLock {
            file,
            path: path.clone(),
        };
        lock.set_holder(holder).map_err(io)?;
        Ok(lock)
    }

    /// Rewrites who holds the lock (once the holder knows more, such as
    /// the address it bound).
    pub fn set_holder(&mut self, holder: &str) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        writeln!(self.file, "pid {}: {holder}", std::process::id())?;
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_naming_the_first_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path(), "vodfs mount on /mnt/a").unwrap();
        let e = DirLock::acquire(dir.path(), "vodfs mount on /mnt/b")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/mnt/a"), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(!e.contains("/mnt/b"), "{e}");
        drop(first);
        let again = DirLock::acquire(dir.path(), "vodfs mount on /mnt/b").unwrap();
        let text = std::fs::read_to_string(&again.path).unwrap();
        assert_eq!(
            text,
            format!("pid {}: vodfs mount on /mnt/b\n", std::process::id())
        );
    }
}
