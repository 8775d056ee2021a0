//! Who else holds a file open: the kernel sends FLUSH on every `close()`,
//! also of a dup'd descriptor (`echo a >&3` closes one) or of a forked
//! child's copy, and RELEASE only after the last one — but `close()` does
//! not wait for RELEASE, so a commit whose failure `close()` must report has
//! to run at FLUSH (the default mode; a write-back close reports no commit
//! and leaves the seal to RELEASE, without a scan). At a FLUSH the closing descriptor is already out of its
//! table, so the file is really being closed for good when no process still
//! has a descriptor open for writing on it: `/proc/*/fdinfo/*` tells
//! (`mnt_id`, `ino`, `flags`) without a request to this filesystem.
//!
//! Deadlock rule: a FLUSH can come from a process in the middle of
//! `execve` (close-on-exec descriptors are closed while exec holds its
//! locks), and reading that process's `/proc/PID/stat` then blocks until the
//! exec finishes — which waits for our reply. So sessions come from
//! getsid(2), never from `stat` (nor a readlink of `/proc/PID/fd/N`, which
//! waits the same way), and the scan runs on a scanner thread with a
//! deadline: past it, the close is taken as the last one.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// True when some process has a descriptor open for writing on inode `ino`
/// of the mount `mnt_id`. With the closing process `pid` known, only the
/// processes of its session are searched (where dup'd and inherited
/// descriptors live), which keeps a close cheap on a busy machine; the
/// closing process itself first (a dup'd descriptor is most often there),
/// and never this process (a mount does not open files through itself; a
/// `--foreground` mount is often in the session of the `cp` it serves, with
/// a descriptor table far larger than the copy's).
pub(crate) fn open_for_write_elsewhere(mnt_id: u64, ino: u64, pid: u32) -> bool {
    let mut buf = [0u8; FDINFO_HEAD];
    if pid != 0 && process_writes(pid, mnt_id, ino, &mut buf) {
        return true;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    let session = (pid != 0).then(|| session_of(pid)).flatten();
    let me = std::process::id();
    for p in procs.flatten() {
        let Some(other) = std::str::from_utf8(p.file_name().as_bytes())
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // This process (the mount) never opens its own mount's files; the
        // closer was searched first.
        if other == pid || other == me || (session.is_some() && session_of(other) != session) {
            continue;
        }
        if process_writes(other, mnt_id, ino, &mut buf) {
            return true;
        }
    }
    false
}

/// Bytes of an fdinfo read: `pos`, `flags`, `mnt_id` and `ino` are its
/// first lines (what follows, e.g. an epoll's watch list, is not needed).
const FDINFO_HEAD: usize = 256;

/// Whether process `pid` has a descriptor open for writing on (mnt_id, ino):
/// each descriptor's fdinfo is read once, its head only (no size query, no
/// second read). Never a readlink of `/proc/PID/fd/N`: that waits for a
/// process in the middle of an exec, the FLUSH's own sender.
fn process_writes(pid: u32, mnt_id: u64, ino: u64, buf: &mut [u8]) -> bool {
    let dir = format!("/proc/{pid}/fdinfo");
    let Ok(fds) = std::fs::read_dir(&dir) else {
        return false;
    };
    for fd in fds.flatten() {
        // Closed since the listing: skipped.
        let Ok(mut f) = std::fs::File::open(fd.path()) else {
            continue;
        };
        let Ok(n) = f.read(buf) else {
            continue;
        };
        if writes(&String::from_utf8_lossy(&buf[..n]), mnt_id, ino) {
            return true;
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

/// One scan for [`open_for_write_elsewhere_within`]: its arguments and
/// where to send the answer.
struct Scan {
    mnt_id: u64,
    ino: u64,
    pid: u32,
    answer: Sender<bool>,
}

/// Idle scanner threads, each waiting on its own channel. A close takes one
/// (or starts one when none is idle) and the thread puts itself back once
/// it answered, so a close costs a wake-up, not a thread's creation; a
/// scanner stuck behind an exec is simply not idle, and the closes after it
/// use another.
static IDLE: OnceLock<Mutex<Vec<Sender<Scan>>>> = OnceLock::new();

/// Idle scanners kept beyond this many end.
const MAX_IDLE: usize = 8;

fn idle() -> &'static Mutex<Vec<Sender<Scan>>> {
    IDLE.get_or_init(Mutex::default)
}

fn scanner(jobs: Receiver<Scan>, me: Sender<Scan>) {
    while let Ok(job) = jobs.recv() {
        let found = open_for_write_elsewhere(job.mnt_id, job.ino, job.pid);
        // Back in the pool before answering, so the close that follows this
        // one finds it idle instead of starting a thread (a job sent before
        // the answer waits in the channel).
        let keep = {
            let mut pool = idle().lock().unwrap_or_else(|e| e.into_inner());
            let keep = pool.len() < MAX_IDLE;
            if keep {
                pool.push(me.clone());
            }
            keep
        };
        let _ = job.answer.send(found);
        if !keep {
            return;
        }
    }
}

/// Hands `scan` to an idle scanner or a new one; gives it back when no
/// thread can be started.
fn dispatch(mut scan: Scan) -> Result<(), ()> {
    loop {
        let next = idle().lock().unwrap_or_else(|e| e.into_inner()).pop();
        match next {
            Some(tx) => match tx.send(scan) {
                Ok(()) => return Ok(()),
                // That scanner ended: try the next.
                Err(e) => scan = e.0,
            },
            None => {
                let (tx, rx) = std::sync::mpsc::channel();
                let me = tx.clone();
                std::thread::Builder::new()
                    .name("vodfs-procfd".into())
                    .spawn(move || scanner(rx, me))
                    .map_err(|_| ())?;
                return tx.send(scan).map_err(|_| ());
            }
        }
    }
}

/// [`open_for_write_elsewhere`] with a deadline: the scan runs on a scanner
/// thread, and a scan that has not answered by `limit` (a /proc read stuck
/// behind an exec that waits for this very FLUSH) counts as "no other
/// writer". The scanner goes on by itself once the exec does.
pub(crate) fn open_for_write_elsewhere_within(
    mnt_id: u64,
    ino: u64,
    pid: u32,
    limit: Duration,
) -> bool {
    let (answer, rx) = std::sync::mpsc::channel();
    let scan = Scan {
        mnt_id,
        ino,
        pid,
        answer,
    };
    if dispatch(scan).is_err() {
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
        // The closer itself is searched; with no closer known, every
        // process but this one (a mount never writes through itself).
        assert!(open_for_write_elsewhere(mnt, md, me));
        assert!(!open_for_write_elsewhere(mnt, md, 0));
        // A child holding it (inherited, as a forked writer's) is found
        // by a search of everyone and of the closer's session.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdout(f.try_clone().unwrap())
            .spawn()
            .unwrap();
        assert!(open_for_write_elsewhere(mnt, md, 0));
        assert!(open_for_write_elsewhere(mnt, md, me));
        assert!(open_for_write_elsewhere(mnt, md, child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        drop(f);
        assert!(!open_for_write_elsewhere(mnt, md, 0));
        assert!(!open_for_write_elsewhere(mnt, md, me));
    }

    /// The mount id and inode of an open file.
    fn id_of(f: &std::fs::File) -> (u64, u64) {
        let ino = std::os::unix::fs::MetadataExt::ino(&f.metadata().unwrap());
        let fdinfo = std::fs::read_to_string(format!(
            "/proc/self/fdinfo/{}",
            std::os::fd::AsRawFd::as_raw_fd(f)
        ))
        .unwrap();
        let mnt = fdinfo
            .lines()
            .find_map(|l| l.strip_prefix("mnt_id:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        (mnt, ino)
    }

    #[test]
    fn a_dup_and_a_second_open_count_a_read_only_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let f = std::fs::File::create(&path).unwrap();
        let (mnt, ino) = id_of(&f);
        let me = std::process::id();
        // Sockets beside it are not mistaken for it.
        let _pair = std::os::unix::net::UnixStream::pair().unwrap();
        let dup = f.try_clone().unwrap();
        drop(f);
        let mut buf = [0u8; FDINFO_HEAD];
        assert!(process_writes(me, mnt, ino, &mut buf), "the dup writes");
        drop(dup);
        assert!(!process_writes(me, mnt, ino, &mut buf));
        let ro = std::fs::File::open(&path).unwrap();
        assert!(!open_for_write_elsewhere(mnt, ino, me), "read-only");
        let rw = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        assert!(open_for_write_elsewhere(mnt, ino, me), "a second open");
        drop((ro, rw));
        assert!(!open_for_write_elsewhere(mnt, ino, 0));
    }

    #[test]
    fn scans_with_a_deadline_reuse_their_threads_and_answer_concurrent_closes() {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join("f")).unwrap();
        let (mnt, ino) = id_of(&f);
        let me = std::process::id();
        let limit = Duration::from_secs(30);
        for _ in 0..20 {
            assert!(open_for_write_elsewhere_within(mnt, ino, me, limit));
        }
        // Answered scanners wait in the pool for the next close.
        assert!(!idle().lock().unwrap().is_empty());
        let threads: Vec<_> = (0..12)
            .map(|i| {
                std::thread::spawn(move || {
                    // Half ask about the open file, half about another inode.
                    let want = i % 2 == 0;
                    let asked = if want { ino } else { u64::MAX };
                    assert_eq!(open_for_write_elsewhere_within(mnt, asked, me, limit), want);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(idle().lock().unwrap().len() <= MAX_IDLE);
        drop(f);
        assert!(!open_for_write_elsewhere_within(mnt, ino, me, limit));
    }

    #[test]
    fn the_head_of_a_long_fdinfo_has_the_fields() {
        // An epoll's fdinfo lists every watch after the four fields: far
        // longer than the head read.
        // SAFETY: epoll_create1 has no memory arguments.
        let ep = unsafe { libc::epoll_create1(0) };
        assert!(ep >= 0);
        let socks: Vec<_> = (0..20)
            .map(|_| std::os::unix::net::UnixStream::pair().unwrap())
            .collect();
        for (a, _) in &socks {
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: 0,
            };
            let fd = std::os::fd::AsRawFd::as_raw_fd(a);
            // SAFETY: ev is a valid epoll_event for the call.
            assert_eq!(
                unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) },
                0
            );
        }
        let path = format!("/proc/self/fdinfo/{ep}");
        let full = std::fs::read_to_string(&path).unwrap();
        assert!(full.len() > FDINFO_HEAD, "{full}");
        let field = |k: &str| -> u64 {
            full.lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.trim().parse().ok())
                .unwrap()
        };
        let (mnt, ino) = (field("mnt_id:"), field("ino:"));
        let mut buf = [0u8; FDINFO_HEAD];
        let n = std::fs::File::open(&path).unwrap().read(&mut buf).unwrap();
        assert!(n <= FDINFO_HEAD);
        // The epoll descriptor is O_RDWR: "open for writing" on its inode.
        assert!(writes(&String::from_utf8_lossy(&buf[..n]), mnt, ino));
        // SAFETY: ep is a descriptor this test opened.
        unsafe { libc::close(ep) };
    }

    #[test]
    fn reads_the_session_of_a_process() {
        // SAFETY: getsid(0) only reads the caller's session id.
        let sid = unsafe { libc::getsid(0) } as u64;
        assert_eq!(session_of(std::process::id()), Some(sid));
    }
}
