//! Rate limits: 4400 answers are waited out, never surfaced to the user.

use std::time::Instant;

use super::*;

fn copy_all(svc: &Service, m: &Mount, srcs: &[Source]) -> f64 {
    let t0 = Instant::now();
    for s in srcs {
        std::fs::write(m.path(&s.name), &s.bytes).expect("write");
    }
    let paths: Vec<_> = srcs.iter().map(|s| m.path(&s.name)).collect();
    wait_all(m, &paths);
    assert_all_committed_once(svc, &m.mountpoint, srcs);
    t0.elapsed().as_secs_f64()
}

/// 4400 answers waited out: the calls made again (see [`retried_requests`]).
fn throttled(svc: &Service, files: usize) -> u64 {
    retried_requests(svc, files)
}

/// The service answers 4400 to a third of the control calls: the uploads
/// wait them out and every file commits, with no error shown.
#[test]
fn rate_limit_4400_answers_are_waited_out() {
    let svc = Service::start_with(&[
        "--faults",
        "rate=0.3,seed=5,kinds=4400,actions=ApplyUpload+CommitUpload+InitUpload+FinishUpload",
    ]);
    let m = Mount::with_args(&svc, &["--write-back=0.1"]);
    let srcs = sources(12, 0, 31);
    let secs = copy_all(&svc, &m, &srcs);
    let n = throttled(&svc, srcs.len());
    println!(
        "rate limit (injected 4400 at 30%): {} files committed in {secs:.1} s; {n} 4400 answers waited out",
        srcs.len()
    );
    assert!(n > 0, "no 4400 was answered");
}

/// The service's real quota: InitUpload at 8 per minute and 12 files, so
/// the fixed window runs out and the rest wait for the next minute.
#[test]
fn rate_limit_quota_exhausted_then_next_window() {
    if !long_tests() {
        eprintln!("skipped: set VODFS_LONG_TESTS=1 (waits for the next minute window)");
        return;
    }
    let svc = Service::start_with(&[
        "--rate-limit",
        "InitUpload=8",
        "--rate-limit",
        "ApplyUpload=8",
    ]);
    let m = Mount::with_args(&svc, &["--write-back=0.1"]);
    let srcs = sources(12, 0, 32);
    let secs = copy_all(&svc, &m, &srcs);
    println!(
        "rate limit (quota 8/min): {} files committed in {secs:.1} s; {} 4400 waited out",
        srcs.len(),
        throttled(&svc, srcs.len())
    );
}

/// The documented run: 300 small files against a 100/min limit. Over three
/// minutes, most of it waiting for the pacer's windows, so it is part of
/// the default suite (its nextest timeout is raised in
/// `.config/nextest.toml`).
#[test]
fn rate_limit_long_300_files_at_100_per_minute() {
    let svc = Service::start_with(&[
        "--rate-limit",
        "InitUpload=100",
        "--rate-limit",
        "ApplyUpload=100",
    ]);
    let m = Mount::with_args(&svc, &["--write-back=0.1"]);
    let srcs = sources(300, 0, 33);
    let secs = copy_all(&svc, &m, &srcs);
    let paced = m
        .log()
        .lines()
        .filter(|l| l.contains("pacing: a call waits"))
        .count();
    println!(
        "rate limit (100/min): 300 files committed in {secs:.1} s; {paced} calls paced by the mount; {} 4400 waited out",
        throttled(&svc, srcs.len())
    );
    // The mount kept under the limit itself (calls waited for their
    // window; how many depends on how many files were in flight).
    assert!(paced > 0, "the mount paced no call");
    assert_eq!(
        stats(&svc)["actions"]["InitUpload"]["errors"]
            .as_u64()
            .unwrap_or(0),
        0,
        "InitUpload drew 4400s"
    );
}

/// Errors the service answered to `action` (a 4400 is one).
fn errors(svc: &Service, action: &str) -> u64 {
    stats(svc)["actions"][action]["errors"]
        .as_u64()
        .unwrap_or(0)
}

/// An account with a higher limit: the service at 300/min and the mount
/// told so (`--rate-limit start=300,finish=300`, and the repeated-flag
/// form). 150 files commit with no 4400 and without the pacer ever making
/// a call wait, which at the default 100/min it would have to for 50 of
/// them: counts, not times.
#[test]
fn rate_limit_configured_300_per_minute_commits_without_4400_or_pacing() {
    let svc = Service::start_with(&[
        "--rate-limit",
        "InitUpload=300",
        "--rate-limit",
        "FinishUpload=300",
    ]);
    for (round, args) in [
        &["--write-back=0.1", "--rate-limit", "start=300,finish=300"][..],
        &[
            "--write-back=0.1",
            "--rate-limit",
            "InitUpload=300",
            "--rate-limit",
            "FinishUpload=300",
        ][..],
    ]
    .into_iter()
    .enumerate()
    {
        // v4: the service's limits named here are InitUpload's and FinishUpload's.
        let mut args = args.to_vec();
        args.extend(["--protocol", "v4"]);
        let m = Mount::with_args(&svc, &args);
        let n = if round == 0 { 150 } else { 10 };
        let srcs: Vec<Source> = sources(n, 0, 34 + round as u64)
            .into_iter()
            .map(|s| Source {
                name: format!("r{round}-{}", s.name),
                bytes: s.bytes,
            })
            .collect();
        for s in &srcs {
            std::fs::write(m.path(&s.name), &s.bytes).expect("write");
        }
        let paths: Vec<_> = srcs.iter().map(|s| m.path(&s.name)).collect();
        wait_all(&m, &paths);
        let log = m.log();
        let paced = log
            .lines()
            .filter(|l| l.contains("pacing: a call waits"))
            .count();
        println!(
            "rate limit (300/min, mount {args:?}): {n} files committed; {paced} calls paced; {} InitUpload and {} FinishUpload errors",
            errors(&svc, "InitUpload"),
            errors(&svc, "FinishUpload")
        );
        assert!(
            log.contains("start_per_min=300") && log.contains("finish_per_min=300"),
            "{}",
            tail(&log, 30)
        );
        assert_eq!(paced, 0, "the pacer made calls wait:\n{}", tail(&log, 30));
        assert_eq!(errors(&svc, "InitUpload"), 0, "InitUpload 4400s");
        assert_eq!(errors(&svc, "FinishUpload"), 0, "FinishUpload 4400s");
    }
    assert_eq!(svc.media_count(), 160);
}

/// `-o no_rate_limit` (`--no-rate-limit`): 110 files, more than the
/// default 100/min allows in a window, and no call is paced.
#[test]
fn rate_limit_off_in_the_mount_never_paces() {
    let svc = Service::start_with(&["--no-rate-limit"]);
    let m = Mount::with_args(&svc, &["--write-back=0.1", "-o", "no_rate_limit"]);
    let srcs = sources(110, 0, 36);
    copy_all(&svc, &m, &srcs);
    let log = m.log();
    let paced = log
        .lines()
        .filter(|l| l.contains("pacing: a call waits"))
        .count();
    println!("rate limit off: 110 files committed; {paced} calls paced");
    assert!(
        log.contains("start_per_min=0 part_per_min=0 finish_per_min=0"),
        "{}",
        tail(&log, 30)
    );
    assert_eq!(paced, 0);
}
