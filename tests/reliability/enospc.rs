//! Full cache: `--cache-size` makes a write past it fail with ENOSPC at the
//! write once every clean committed byte was evicted; what fit stays
//! intact and nothing short is committed; removing the short file makes
//! room and the next copy works, while evicted files read from their URLs.

use super::*;

#[test]
fn enospc_tiny_cache_write_fails_cleanly_then_room_is_made() {
    let svc = Service::start();
    let m = Mount::with_args(&svc, &["--cache-size=3M"]);
    let a = random_bytes(1 << 20, 61);
    let b = random_bytes(1 << 20, 62);
    let c = random_bytes(4 << 20, 63);
    std::fs::write(m.path("a.mp4"), &a).expect("write a");
    std::fs::write(m.path("b.mp4"), &b).expect("write b");
    let ca = assert_committed(&svc, &m.path("a.mp4"), &a);
    assert_committed(&svc, &m.path("b.mp4"), &b);
    // 4 MiB of new (staged) data cannot fit in 3 MiB even with a and b
    // evicted: ENOSPC at the write.
    let e = std::fs::write(m.path("c.mp4"), &c).expect_err("write past --cache-size");
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
    let short = std::fs::read(m.path("c.mp4")).expect("read c");
    assert!(short.len() < c.len());
    assert!(c.starts_with(&short), "what fit is not intact");
    assert_ne!(
        getfattr(&m.path("c.mp4"), "user.vod.state").as_deref(),
        Some("committed"),
        "a short file was committed"
    );
    assert_eq!(svc.media_count(), 2, "a short file reached the service");
    // a and b were evicted to make room, and read back from their URLs.
    assert_eq!(
        getfattr(&m.path("a.mp4"), "user.vod.cached").as_deref(),
        Some("0")
    );
    assert!(std::fs::read(m.path("a.mp4")).expect("read a") == a);
    assert!(std::fs::read(m.path("b.mp4")).expect("read b") == b);
    assert!(
        m.log().contains("evicted committed data"),
        "nothing was evicted"
    );
    // Make room: the short file is removed; the next copy works.
    std::fs::remove_file(m.path("c.mp4")).expect("rm c");
    let c2 = &c[..2 << 20];
    std::fs::write(m.path("c.mp4"), c2).expect("write c again");
    assert_committed(&svc, &m.path("c.mp4"), c2);
    assert_eq!(svc.media_count(), 3);
    // by-id serves a's bytes, from its URL.
    let via_by_id = std::fs::read(m.path("by-id").join(&ca.file_id)).expect("read by-id");
    assert!(
        via_by_id == a,
        "by-id/{} differs after eviction",
        ca.file_id
    );
    println!(
        "enospc: --cache-size=3M: a 4 MiB copy failed with ENOSPC after {} bytes once the 2 MiB of \
         committed data was evicted, nothing short committed; the evicted files read back from \
         their URLs; after rm of the short file a 2 MiB copy worked",
        short.len()
    );
}
