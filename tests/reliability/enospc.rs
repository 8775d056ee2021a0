//! Full cache: `--cache-size` makes a write past it fail with ENOSPC at the
//! write; what fit stays intact and nothing short is committed; removing a
//! committed file makes its data evictable, and the next copy works while
//! `by-id` still serves the removed file's bytes from its URL.

use super::*;

#[test]
fn enospc_tiny_cache_write_fails_cleanly_then_room_is_made() {
    let svc = Service::start();
    let m = Mount::with_args(&svc, &["--cache-size=3M"]);
    let a = random_bytes(1 << 20, 61);
    let b = random_bytes(1 << 20, 62);
    let c = random_bytes(2 << 20, 63);
    std::fs::write(m.path("a.mp4"), &a).expect("write a");
    std::fs::write(m.path("b.mp4"), &b).expect("write b");
    let ca = crate::mount::assert_committed(&svc, &m.path("a.mp4"), &a);
    crate::mount::assert_committed(&svc, &m.path("b.mp4"), &b);
    // 2 MiB more does not fit in 3 MiB beside 2 MiB of current data.
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
    assert_eq!(
        crate::mount::media_count(&svc),
        2,
        "a short file reached the service"
    );
    assert!(std::fs::read(m.path("a.mp4")).expect("read a") == a);
    // Make room: a is removed (its media stays, its data becomes clean and
    // evictable); the next copy of c works.
    std::fs::remove_file(m.path("a.mp4")).expect("rm a");
    std::fs::write(m.path("c.mp4"), &c).expect("write c again");
    crate::mount::assert_committed(&svc, &m.path("c.mp4"), &c);
    assert_eq!(crate::mount::media_count(&svc), 3);
    // by-id serves a's bytes, now from its URL.
    let via_by_id = std::fs::read(m.path("by-id").join(&ca.file_id)).expect("read by-id");
    assert!(
        via_by_id == a,
        "by-id/{} differs after eviction",
        ca.file_id
    );
    assert!(
        m.log().contains("evicted committed data"),
        "nothing was evicted"
    );
    println!(
        "enospc: --cache-size=3M: a 2 MiB copy beside 2 MiB of current data failed with ENOSPC \
         after {} bytes, nothing short committed; after rm of a 1 MiB committed file its data was \
         evicted, the copy worked, and by-id still reads the removed file from its URL",
        short.len()
    );
}
