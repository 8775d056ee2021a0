//! Issue 5, "never lose a video": the reliability promises checked end to
//! end with figures (printed with `--nocapture`). Real `vodfs serve` with
//! injected faults and rate limits, real `vodfs mount` killed with SIGKILL,
//! real tools. Long variants run when `VODFS_LONG_TESTS=1`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

mod bad_input;
mod concurrency;
mod crash;
mod enospc;
mod eviction;
mod faults;
mod one_holder;
mod outage;
mod outage_client;
mod proxy;
mod rate_limit;
mod recheck;
mod small_files;

/// Whether the long variants are asked for.
pub fn long_tests() -> bool {
    std::env::var("VODFS_LONG_TESTS").is_ok_and(|v| v == "1")
}

/// A source file: its name in the mount and its bytes.
pub struct Source {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// `small` files of 1–40 KiB and `multi` files of 2.5 parts (1 MiB parts),
/// deterministic from `seed`.
pub fn sources(small: usize, multi: usize, seed: u64) -> Vec<Source> {
    let mut out = Vec::new();
    for i in 0..small {
        let len = 1024 + (i * 977) % (40 * 1024);
        out.push(Source {
            name: format!("s{i:04}.mp4"),
            bytes: random_bytes(len, seed * 100_000 + i as u64),
        });
    }
    for i in 0..multi {
        out.push(Source {
            name: format!("m{i:02}.mp4"),
            bytes: random_bytes(
                2 * 1024 * 1024 + 512 * 1024 + i,
                seed * 100_000 + 90_000 + i as u64,
            ),
        });
    }
    out
}

/// `vodfs wait` on every path (in chunks, to keep argv short); panics with
/// the mount's log when it fails.
pub fn wait_all(m: &Mount, paths: &[PathBuf]) {
    for chunk in paths.chunks(200) {
        m.ctl(&["wait"], chunk);
    }
}

/// Checks the service holds exactly one media per source (by sha1), that
/// each file in the mount names it, and that its URL serves the source's
/// bytes. Returns the number of media checked.
pub fn assert_all_committed_once(svc: &Service, dir: &Path, srcs: &[Source]) -> usize {
    let records = svc.media();
    let mut by_sha: HashMap<String, usize> = HashMap::new();
    for r in &records {
        *by_sha
            .entry(r["sha1"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    assert_eq!(
        records.len(),
        srcs.len(),
        "media at the service vs files copied"
    );
    for s in srcs {
        let sha = sha1_hex(&s.bytes);
        assert_eq!(
            by_sha.get(&sha).copied(),
            Some(1),
            "{}: media with its sha1 at the service",
            s.name
        );
        let path = dir.join(&s.name);
        assert_eq!(
            getfattr(&path, "user.vod.state").as_deref(),
            Some("committed"),
            "{}: error {:?}",
            s.name,
            getfattr(&path, "user.vod.error")
        );
        assert_eq!(getfattr(&path, "user.vod.sha1"), Some(sha.clone()));
        let url = getfattr(&path, "user.vod.url").expect("url");
        let served = fetch(&url);
        assert!(served == s.bytes, "{}: bytes behind {url} differ", s.name);
    }
    records.len()
}

/// `partBytesReceived` of the service so far.
pub fn part_bytes_received(svc: &Service) -> u64 {
    svc.admin("/admin/stats")["partBytesReceived"]
        .as_u64()
        .unwrap_or(0)
}

/// `/admin/stats` of the service.
pub fn stats(svc: &Service) -> serde_json::Value {
    svc.admin("/admin/stats")
}

/// Requests the service answered beyond the fewest a clean run needs (an
/// InitUpload and a FinishUpload per file, an UploadPart per part it
/// kept): the calls the mount retried. (The service's log does not show
/// its injected faults; `/admin/stats` counts only handler errors.)
pub fn retried_requests(svc: &Service, files: usize) -> u64 {
    let st = stats(svc);
    let requests: u64 = st["actions"]
        .as_object()
        .map(|a| {
            a.values()
                .map(|v| v["requests"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    let parts = st["partsReceived"].as_u64().unwrap_or(0);
    requests.saturating_sub(2 * files as u64 + parts)
}
