//! Progress advances during an upload, as the user sees it: a write-back
//! copy of a multi-part file against a service that answers each part
//! slowly; `user.vod.progress` (N/M parts) is polled until the commit and
//! must show parts done between none and all of the same part count,
//! never going back, with the state `uploading` meanwhile.

use crate::common::*;

/// `(parts_done, parts_total)` of "N/M parts, A/B bytes".
fn parts(progress: &str) -> Option<(u64, u64)> {
    let (done, rest) = progress.split_once('/')?;
    let total = rest.split_once(' ')?.0;
    Some((done.trim().parse().ok()?, total.parse().ok()?))
}

#[test]
fn progress_advances_part_by_part_while_uploading() {
    let svc = Service::start_with(&[
        "--faults",
        "rate=1,seed=1,kinds=slow,slow_ms=200,actions=UploadPart",
    ]);
    let m = Flow::named("v4").mount(
        &svc,
        &[
            "--write-back=0.1",
            "--part-size=524288",
            "--parallel-parts=1",
        ],
    );
    let data = random_bytes(8 * 524_288 + 11, 93);
    let path = m.path("p.mp4");
    std::fs::write(&path, &data).expect("write");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let mut uploading = false;
    loop {
        let state = getfattr(&path, "user.vod.state").unwrap_or_default();
        if state == "committed" {
            break;
        }
        assert!(state != "failed", "{}", m.log());
        uploading |= state == "uploading";
        if let Some(p) = getfattr(&path, "user.vod.progress")
            .as_deref()
            .and_then(parts)
            && seen.last() != Some(&p)
        {
            seen.push(p);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not committed: {seen:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    wait(&[&path]);
    assert_committed(&svc, &path, &data);
    println!("progress seen: {seen:?}");
    assert!(uploading, "state never showed uploading: {seen:?}");
    assert!(
        seen.iter().any(|&(d, t)| t == 9 && d > 0 && d < t),
        "no progress between none and all of 9 parts: {seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[1].0 >= w[0].0),
        "progress went back: {seen:?}"
    );
    assert!(
        seen.iter().all(|&(_, t)| t == 9),
        "the part count changed on the way (a bar would jump): {seen:?}"
    );
    assert_eq!(
        getfattr(&path, "user.vod.progress")
            .as_deref()
            .and_then(parts),
        Some((9, 9))
    );
}
