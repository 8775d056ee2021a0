//! Parts sent while the file is written in sizes that grow
//! (`vod::rules::layout`): with the test-only layout `8,4` (8 parts of
//! 1 MiB, then 4 each of 2, 4, 8 MiB…) a 40 MiB file reaches three growth
//! steps. The service holds the parts in those sizes before the close, the
//! commit reuses them (checked against the MD5s of the cache parts they
//! were made of, recorded in the cache, after a kill -9 too) and sends
//! again only the one written since, byte-exact, api3 and apply alike.

use std::io::{Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use crate::common::*;

const LAYOUT: (&str, &str) = ("VODFS_TEST_EARLY_LAYOUT", "8,4");

const MIB: u64 = 1 << 20;

/// 40 MiB and a tail: 17 whole parts (8 × 1, 4 × 2, 4 × 4, 1 × 8 MiB)
/// while written, the 12,345-byte part 17 at the close.
const LEN: usize = (40 << 20) + 12345;

/// The grown parts (larger than one cache part) among the whole ones.
const GROWN: i64 = 9;

fn whole_part_sizes() -> Vec<u64> {
    [[1; 8].as_slice(), &[2; 4], &[4; 4], &[8]]
        .concat()
        .into_iter()
        .map(|m| m * MIB)
        .collect()
}

fn mount(svc: &Service, args: &[&str]) -> Mount {
    Mount::with_endpoint(&svc.url, args, &[LAYOUT])
}

fn wait_until(why: &str, mut what: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !what() {
        assert!(t0.elapsed() < Duration::from_secs(120), "never: {why}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn write_in_mib(f: &mut std::fs::File, bytes: &[u8]) {
    for c in bytes.chunks(1 << 20) {
        f.write_all(c).expect("write");
    }
}

/// Grown parts the mount recorded as sent (its cache database).
fn grown_records(m: &Mount) -> i64 {
    let db = rusqlite::Connection::open(m.cache.join("cache.db")).expect("cache database");
    db.query_row("SELECT COUNT(*) FROM early_parts", [], |r| r.get(0))
        .unwrap_or(-1)
}

fn parts_received(svc: &Service) -> u64 {
    svc.admin("/admin/stats")["partsReceived"]
        .as_u64()
        .unwrap_or(0)
}

/// After a commit: no multipart upload left open, and `parts` parts
/// received by the service in all (`why` says which).
fn assert_closed_with_parts(svc: &Service, parts: u64, why: &str) {
    assert!(
        svc.open_multipart().is_empty(),
        "{:?}",
        svc.open_multipart()
    );
    assert_eq!(parts_received(svc), parts, "{why}");
}

/// `parts_hashed` of the last "upload committed" line: parts the commit
/// had to read and hash (not vouched for by the cache's MD5s or records).
fn hashed_at_commit(m: &Mount) -> Option<u64> {
    let log = m.log();
    let line = log.lines().rev().find(|l| l.contains("upload committed"))?;
    let rest = &line[line.find("parts_hashed=")? + "parts_hashed=".len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Writes the file and waits (generously) until the service holds every
/// whole part in the grown sizes and the mount recorded the grown ones.
fn write_and_wait_for_the_grown_parts(
    svc: &Service,
    m: &Mount,
    f: &mut std::fs::File,
    data: &[u8],
) {
    write_in_mib(f, data);
    let want = whole_part_sizes();
    wait_until("every whole part held in the grown layout", || {
        svc.open_multipart_sizes().contains(&want)
    });
    wait_until("the grown parts recorded", || grown_records(m) == GROWN);
    assert_eq!(svc.media_count(), 0, "nothing committed before the close");
}

fn grown_parts_commit(args: &[&str], family: &str) {
    let svc = Service::start();
    let m = mount(&svc, args);
    let path = m.path("grown.mp4");
    let data = random_bytes(LEN, 91);
    let mut f = std::fs::File::create(&path).expect("create");
    write_and_wait_for_the_grown_parts(&svc, &m, &mut f, &data);
    drop(f);
    let c = assert_committed(&svc, &path, &data);
    assert_eq!(c.record["flow"].as_str(), Some(family), "{}", c.record);
    assert_closed_with_parts(
        &svc,
        18,
        "the 17 whole parts while written, the tail at the close",
    );
    assert!(
        m.log()
            .contains("resuming the parts sent while it was written")
    );
    assert_eq!(
        hashed_at_commit(&m),
        Some(0),
        "the commit trusted the held parts without reading them\n{}",
        tail(&m.log(), 20)
    );
    assert_eq!(grown_records(&m), 0, "records outlived the commit");
}

#[test]
fn early_grown_parts_go_up_in_sizes_that_grow_and_the_commit_reuses_them() {
    grown_parts_commit(&[], "api3");
}

#[test]
fn early_grown_parts_with_the_apply_flow_too() {
    grown_parts_commit(&["--protocol", "apply"], "C");
}

#[test]
fn early_a_grown_part_written_again_after_it_was_sent_is_sent_again() {
    let svc = Service::start();
    let m = mount(&svc, &[]);
    let path = m.path("patched.mp4");
    let mut data = random_bytes(LEN, 92);
    let mut f = std::fs::File::create(&path).expect("create");
    write_and_wait_for_the_grown_parts(&svc, &m, &mut f, &data);
    // Inside part 13 (4 MiB at 20 MiB), sent and recorded already.
    let at = (21 << 20) + 100;
    let patch = random_bytes(4096, 93);
    data[at..at + patch.len()].copy_from_slice(&patch);
    f.seek(SeekFrom::Start(at as u64)).expect("seek");
    f.write_all(&patch).expect("patch");
    drop(f);
    assert_committed(&svc, &path, &data);
    assert_eq!(
        parts_received(&svc),
        19,
        "17 while written, then the tail and the rewritten part 13"
    );
    // Its record no longer matched the cache's MD5s: read, found to
    // differ from what the service holds, sent again.
    assert!(
        m.log()
            .contains("service holds a different part; sending it again index=13 "),
        "{}",
        tail(&m.log(), 20)
    );
}

/// kill -9 of the mount once the grown parts went up: the remount shows the
/// file interrupted, `vodfs retry` commits it byte-exact, reusing every part
/// held (the grown ones by their records: nothing read again).
#[test]
fn crash_kill9_after_grown_early_parts_then_retry_reuses_the_recorded_parts() {
    let svc = Service::start();
    let mut m = mount(&svc, &[]);
    let path = m.path("crash.mp4");
    let data = random_bytes(LEN, 94);
    let mut f = std::fs::File::create(&path).expect("create");
    write_and_wait_for_the_grown_parts(&svc, &m, &mut f, &data);
    m.kill9();
    drop(f);
    m.start();
    assert_eq!(
        getfattr(&path, "user.vod.state").as_deref(),
        Some("interrupted")
    );
    let held = std::fs::read(&path).expect("read the interrupted file");
    assert_eq!(held.len(), LEN, "the written bytes reached the cache");
    assert!(held == data, "the interrupted file is not what was written");
    assert_eq!(grown_records(&m), GROWN, "the records survived the kill");
    m.ctl(&["retry", "--timeout", "120"], std::slice::from_ref(&path));
    let c = assert_committed(&svc, &path, &data);
    assert_eq!(c.record["flow"].as_str(), Some("api3"));
    assert_eq!(svc.media_count(), 1);
    assert_closed_with_parts(&svc, 18, "only the tail went up after the kill");
    // The staged bytes are hashed again after the kill (41 cache parts, and
    // the tail as sent); the 9 grown parts held are trusted by their
    // records against those fresh MD5s, not read a second time (50).
    let hashed = hashed_at_commit(&m).expect("parts_hashed logged");
    let pass = LEN.div_ceil(MIB as usize) as u64;
    assert!(
        hashed <= pass + 1,
        "{hashed} parts hashed: the grown parts were read again\n{}",
        tail(&m.log(), 20)
    );
}

/// A service that takes smaller parts than the grown ones (`--max-object-body`
/// 5 MiB: part 16, 8 MiB, is refused): the early sender stops at it, the
/// commit starts the file over in uniform parts and commits it byte-exact,
/// leaving no multipart upload open.
#[test]
fn early_grown_parts_a_service_refuses_as_too_large_commit_afresh_in_uniform_parts() {
    let svc = Service::start_with(&["--max-object-body", "5242880"]);
    let m = mount(&svc, &[]);
    let path = m.path("refused.mp4");
    let data = random_bytes(LEN, 95);
    let mut f = std::fs::File::create(&path).expect("create");
    write_in_mib(&mut f, &data);
    // The session whose parts grow is under way before the close.
    wait_until("the 1 MiB parts held", || {
        svc.open_multipart().iter().any(|(_, n)| *n >= 8)
    });
    drop(f);
    let c = assert_committed(&svc, &path, &data);
    assert_eq!(c.record["flow"].as_str(), Some("api3"));
    assert_eq!(svc.media_count(), 1);
    assert!(
        m.log()
            .contains("the service takes no part this large: uploading afresh in uniform parts"),
        "{}",
        tail(&m.log(), 20)
    );
    let t0 = Instant::now();
    while !svc.open_multipart().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "multipart uploads left open: {}\nmedia: {:?}\n{}",
            svc.admin("/admin/multipart"),
            svc.media(),
            svc.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
