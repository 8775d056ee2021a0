//! The mount end to end: real `vodfs mount` against real `vodfs serve` on
//! loopback, driven with the real tools (cp, rsync, dd, shell redirection,
//! ffmpeg, getfattr/setfattr). For every way of writing, the bytes behind the
//! playback URL must equal the source and the media must be committed once.

use std::path::Path;
use std::process::Command;

use crate::common::*;

mod semantics;
mod tools;

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

/// Number of media the service holds.
pub fn media_count(svc: &Service) -> usize {
    let v = svc.admin("/admin/media");
    v.as_array()
        .or_else(|| v["media"].as_array())
        .map(|a| a.len())
        .expect("media list")
}

/// Writes `bytes` to a fresh local temp file and returns its directory and path.
pub fn local_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path().join(name);
    std::fs::write(&p, bytes).expect("write local file");
    (d, p)
}

/// Makes a short real MP4 with ffmpeg.
pub fn make_mp4(dir: &Path, name: &str, seconds: u32) -> std::path::PathBuf {
    let out = dir.join(name);
    run(Command::new("ffmpeg").args([
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc=duration={seconds}:size=320x240:rate=25"),
        "-pix_fmt",
        "yuv420p",
        out.to_str().expect("utf-8 path"),
    ]));
    out
}
