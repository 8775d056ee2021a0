//! Names the service's rules would refuse if sent as they are (issue 11):
//! a type longer than the service takes, an upper-case type, no type, and
//! a 200-byte name each commit in every flow, with the fileName and
//! fileType `vod::rules::names` documents. A video under such a name is sent
//! with the type its container says (`vod::rules::sniff`), so it commits in
//! API 3.0 too, which takes no generic type; other content keeps the
//! generic type in the older flows.

use std::process::Command;

use crate::common::*;

/// (local name, fileName the service records, type it records for content
/// that is not a recognised video)
fn cases() -> Vec<(String, String, &'static str)> {
    vec![
        (
            "clip.abcdefghijklmn".into(),
            "clip.abcdefghijklmn".into(),
            "bin",
        ),
        ("clip.MP4".into(), "clip".into(), "mp4"),
        ("noext".into(), "noext".into(), "bin"),
        (format!("{}.mp4", "n".repeat(196)), "n".repeat(40), "mp4"),
    ]
}

fn check_record(c: &Committed, name: &str, ty: &str) {
    assert_eq!(c.record["name"].as_str(), Some(name), "{}", c.record);
    assert_eq!(c.record["type"].as_str(), Some(ty), "{}", c.record);
}

fn awkward_names_commit(flow: Flow) {
    let svc = Service::start();
    let m = flow.mount(&svc, &[]);
    let src = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(m.path("videos")).expect("mkdir");
    for (i, (local, name, ty)) in cases().into_iter().enumerate() {
        assert!(local.len() <= 200, "{local}");
        // A real video under the awkward name: its type is its container's.
        let mp4 = make_mp4(src.path(), &format!("v{i}.mp4"), 1 + i as u32);
        let video = std::fs::read(&mp4).expect("read mp4");
        let dest = m.path("videos").join(&local);
        run(Command::new("cp").arg(&mp4).arg(&dest));
        check_record(&assert_committed(&svc, &dest, &video), &name, "mp4");
        if matches!(flow.protocol, "api3" | "ugc") && ty == "bin" {
            continue; // API 3.0 and family D take only video and audio types.
        }
        let data = random_bytes(2000 + i, 70 + i as u64);
        std::fs::write(src.path().join(&local), &data).expect("write");
        run(Command::new("cp")
            .arg(src.path().join(&local))
            .arg(m.path(&local)));
        check_record(&assert_committed(&svc, &m.path(&local), &data), &name, ty);
    }
    assert!(
        m.log()
            .contains("extension \"abcdefghijklmn\" is longer than 10 bytes"),
        "the generic type is not logged:\n{}",
        m.log()
    );
    assert!(m.log().contains("type told by the content"), "{}", m.log());
}

for_each_flow!(awkward_names_commit);
