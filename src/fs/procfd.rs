//! Who else holds a file open: the kernel sends FLUSH on every `close()`,
//! also of a dup'd descriptor (`echo a >&3` closes one) or of a forked
//! child's copy, and RELEASE only after the last one — but `close()` does
//! not wait for RELEASE, so a commit whose failure `close()` must report has
//! to run at FLUSH. At a FLUSH the closing descriptor is already out of its
//! table, so the file is really being closed for good when no process still
//! has a descriptor open for writing on it: `/proc/*/fdinfo/*` tells
//! (`mnt_id`, `ino`, `flags`) without a request to this filesystem.

use std::path::Path;

/// True when some process has a descriptor open for writing on inode `ino`
/// of the mount `mnt_id`.
pub(crate) fn open_for_write_elsewhere(mnt_id: u64, ino: u64) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    for p in procs.flatten() {
        let name = p.file_name();
        if !name.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
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
        assert!(open_for_write_elsewhere(mnt, md));
        drop(f);
        assert!(!open_for_write_elsewhere(mnt, md));
    }
}
