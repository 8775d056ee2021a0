//! Assertions over a real mount against a [`Service`]: a file committed
//! with exactly its bytes, a close that fails as a failed commit.

use std::path::Path;

use super::data::sha1_hex;
use super::service::Service;
use super::tools::{fetch, getfattr};

/// The xattrs of a committed file, checked against the service's record.
pub struct Committed {
    pub file_id: String,
    pub url: String,
    pub record: serde_json::Value,
}

/// Asserts `path` in the mount is committed with exactly the bytes of
/// `expected`, and that its URL serves those bytes.
pub fn assert_committed(svc: &Service, path: &Path, expected: &[u8]) -> Committed {
    let state = getfattr(path, "user.vod.state");
    assert_eq!(
        state.as_deref(),
        Some("committed"),
        "{} not committed; error: {:?}",
        path.display(),
        getfattr(path, "user.vod.error")
    );
    let url = getfattr(path, "user.vod.url").expect("user.vod.url");
    let file_id = getfattr(path, "user.vod.file_id").expect("user.vod.file_id");
    let sha1 = getfattr(path, "user.vod.sha1").expect("user.vod.sha1");
    assert_eq!(
        sha1,
        sha1_hex(expected),
        "user.vod.sha1 of {}",
        path.display()
    );
    let served = fetch(&url);
    assert_eq!(served.len(), expected.len(), "length behind {url}");
    assert!(
        served == expected,
        "bytes behind {url} differ from the source"
    );
    let record = svc.admin(&format!("/admin/media/{file_id}"));
    assert_eq!(record["sha1"].as_str(), Some(sha1.as_str()));
    assert!(
        std::fs::read(path).expect("read back") == expected,
        "reading {} back gives other bytes",
        path.display()
    );
    Committed {
        file_id,
        url,
        record,
    }
}

/// Writes `bytes` to a new file at `path` and closes it with close(2)
/// (std's drop ignores close errors), asserting the close fails with EIO —
/// a failed commit — and that the file is then in state `failed`. Returns
/// its `user.vod.error`.
pub fn write_expecting_failed_close(path: &Path, bytes: &[u8]) -> String {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path).expect("create");
    f.write_all(bytes).expect("write");
    let fd = std::os::fd::IntoRawFd::into_raw_fd(f);
    // SAFETY: we own fd and close it once.
    let rc = unsafe { libc::close(fd) };
    assert_eq!(rc, -1, "close must fail");
    let e = std::io::Error::last_os_error();
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    assert_eq!(getfattr(path, "user.vod.state").as_deref(), Some("failed"));
    getfattr(path, "user.vod.error").expect("user.vod.error")
}
