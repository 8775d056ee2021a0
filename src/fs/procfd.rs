//! Who else holds a file open: the kernel sends FLUSH on every `close()`,
//! also of a dup'd descriptor (`echo a >&3` closes one) or of a forked
//! child's copy, and RELEASE only after the last one — but `close()` does
//! not wait for RELEASE, so a commit whose failure `close()` must report has
//! to run at FLUSH. At a FLUSH the closing descriptor is already out of its
//! table, so the file is really being closed for good when no process still
//! has a descriptor open for writing on it: `/proc/*/fdinfo/*` tells
//! (`mnt_id`, `ino`, `flags`) without a request to this filesystem.
//!
//! Deadlock rule: a FLUSH can come from a process in the middle of
//! `execve` (close-on-exec descriptors are closed while exec holds its
//! locks), and reading that process's `/proc/PID/stat` then blocks until the
//! exec finishes — which waits for our reply. So sessions come from
//! getsid(2), never from `stat`, and the scan runs on its own thread with a
//! deadline: past it, the close is taken as the last one.

use std::path::Path;

/// True when some process has a descriptor open for writing on inode `ino`
/// of the mount `mnt_id`. With the closing process `pid` known, only the
/// processes of its session are searched (where dup'd and inherited
/// descriptors live), which keeps a close cheap on a busy machine.
pub(crate) fn open_for_write_elsewhere(mnt_id: u64, ino: u64, pid: u32) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    let session = (pid != 0).then(|| session_of(pid)).flatten();
    for p in procs.flatten() {
        let name = p.file_name();
        if !name.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        if session.is_some()
            && std::str::from_utf8(name.as_encoded_bytes())
                .ok()
                .and_then(|n| n.parse::<u32>().ok())
                .and_then(session_of)
                != session
        {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fdinfo")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(text) = std::fs::read_to_string(fd.path())
                && writes(&text, mnt_id, ino)
            {
                return true;
            }
        }
    }
    false
}

/// The session id of process `pid`, by getsid(2) (which never waits on the
/// process, unlike reading its `/proc/PID/stat` during an exec).
fn session_of(pid: u32) -> Option<u64> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: getsid has no memory arguments.
    let sid = unsafe { libc::getsid(pid) };
    u64::try_from(sid).ok()
}

/// [`open_for_write_elsewhere`] with a deadline: the scan runs on its own
/// thread, and a scan that has not answered by `limit` (a /proc read stuck
/// behind an exec that waits for this very FLUSH) counts as "no other
/// writer". The thread ends by itself once the exec goes on.
pub(crate) fn open_for_write_elsewhere_within(
    mnt_id: u64,
    ino: u64,
    pid: u32,
    limit: std::time::Duration,
) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("vodfs-procfd".into())
        .spawn(move || {
            let _ = tx.send(open_for_write_elsewhere(mnt_id, ino, pid));
        });
    if spawned.is_err() {
        return false;
    }
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(_) => {
            tracing::warn!(
                ino,
                pid,
                "looking for other writers took longer than {limit:?}; treating this close as the last"
            );
            false
        }
    }
}

/// Does this fdinfo describe a descriptor open for writing on (mnt_id, ino)?
fn writes(fdinfo: &str, mnt_id: u64, ino: u64) -> bool {
    let (mut m, mut i, mut flags) = (None, None, None);
    for line in fdinfo.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k {
            "mnt_id" => m = v.parse::<u64>().ok(),
            "ino" => i = v.parse::<u64>().ok(),
            "flags" => flags = u32::from_str_radix(v, 8).ok(),
            _ => {}
        }
    }
    m == Some(mnt_id)
        && i == Some(ino)
        && flags.is_some_and(|f| f & libc::O_ACCMODE as u32 != libc::O_RDONLY as u32)
}

/// The mount id of the mount at `mountpoint` (from /proc/self/mountinfo).
pub fn mount_id(mountpoint: &Path) -> Option<u64> {
    let want = std::fs::canonicalize(mountpoint).ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().rev().find_map(|line| {
        let mut f = line.split(' ');
        let id = f.next()?.parse::<u64>().ok()?;
        let point = f.nth(3)?;
        (unescape(point) == want.as_os_str().as_encoded_bytes()).then_some(id)
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fdinfo() {
        let w = "pos:\t0\nflags:\t0100001\nmnt_id:\t42\nino:\t7\n";
        assert!(writes(w, 42, 7));
        assert!(!writes(w, 41, 7));
        assert!(!writes(w, 42, 8));
        let r = "pos:\t0\nflags:\t0100000\nmnt_id:\t42\nino:\t7\n";
        assert!(!writes(r, 42, 7));
    }

    #[test]
    fn unescapes_mountinfo() {
        assert_eq!(unescape("/a\\040b"), b"/a b");
        assert_eq!(unescape("/plain"), b"/plain");
    }

    #[test]
    fn sees_an_open_descriptor_of_this_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let f = std::fs::File::create(&path).unwrap();
        let md = std::os::unix::fs::MetadataExt::ino(&f.metadata().unwrap());
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!text.is_empty());
        let fdinfo = std::fs::read_to_string(format!(
            "/proc/self/fdinfo/{}",
            std::os::fd::AsRawFd::as_raw_fd(&f)
        ))
        .unwrap();
        let mnt: u64 = fdinfo
            .lines()
            .find_map(|l| l.strip_prefix("mnt_id:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        let me = std::process::id();
        assert!(open_for_write_elsewhere(mnt, md, 0));
        assert!(open_for_write_elsewhere(mnt, md, me));
        drop(f);
        assert!(!open_for_write_elsewhere(mnt, md, 0));
        assert!(!open_for_write_elsewhere(mnt, md, me));
    }

    #[test]
    fn reads_the_session_of_a_process() {
        // SAFETY: getsid(0) only reads the caller's session id.
        let sid = unsafe { libc::getsid(0) } as u64;
        assert_eq!(session_of(std::process::id()), Some(sid));
    }
}
