//! Resume skips what the service holds, proven at mount level: the mount
//! is killed (SIGKILL) mid-upload of a multi-part file sent one part at a
//! time against a slowed service; after the remount the service's
//! `partBytesReceived` shows the parts it held before the kill were not
//! sent again (at most the part in flight at the kill is), and the whole
//! upload cost less than twice the file.

use crate::common::*;

fn part_bytes(svc: &Service) -> u64 {
    svc.admin("/admin/stats")["partBytesReceived"]
        .as_u64()
        .expect("partBytesReceived")
}

/// Frontwize sends one streamed PUT: nothing to resume part by part.
fn resume_sends_only_missing_parts(flow: Flow) {
    let protocol = flow.protocol;
    // COS multipart parts (apply, api3, ugc) are at least 1 MiB.
    let (part, parts): (u64, u64) = if matches!(protocol, "apply" | "api3" | "ugc") {
        (1_048_576, 6)
    } else {
        (524_288, 8)
    };
    let svc = Service::start_with(&[
        "--faults",
        "rate=1,seed=1,kinds=slow,slow_ms=150,actions=UploadPart+UploadPartEx+CosPut",
    ]);
    let part_arg = format!("--part-size={part}");
    let mut m = flow.mount(&svc, &["--write-back=0.1", &part_arg, "--parallel-parts=1"]);
    let data = random_bytes((parts * part + 7) as usize, 91);
    let len = data.len() as u64;
    std::fs::write(m.path("big.mp4"), &data).expect("write");
    // Kill once the service holds at least three parts.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while part_bytes(&svc) < 3 * part {
        assert!(std::time::Instant::now() < deadline, "no parts arrived");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    m.kill9();
    let held = part_bytes(&svc);
    assert!(held < len, "the whole file arrived before the kill");
    svc.admin_put("/admin/faults", "off");
    m.start();
    let path = m.path("big.mp4");
    wait(&[&path]);
    let c = assert_committed(&svc, &path, &data);
    assert_eq!(svc.media_count(), 1, "committed once: {}", c.record);
    let total = part_bytes(&svc);
    let after = total - held;
    println!(
        "{protocol}: {len} bytes; {held} held at the kill; {after} sent after the remount; \
         {total} in all = {:.2}× the file",
        total as f64 / len as f64
    );
    assert!(
        after <= len - held + part,
        "{protocol}: {after} bytes sent after the remount, but only {} were missing \
         (+ at most one part in flight)",
        len - held
    );
    assert!(total < 2 * len, "{protocol}: {total} bytes sent for {len}");
}

for_each_flow!([v4, ugc, ugc_ex, apply, api3] resume_sends_only_missing_parts);
