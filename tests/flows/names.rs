//! Names the service's rules would refuse if sent as they are (issue 11):
//! a type longer than the service takes, an upper-case type, no type, and
//! a 200-byte name each commit in every flow, with the fileName and
//! fileType `vod::rules::names` documents.

use std::process::Command;

use crate::common::*;

/// (local name, fileName the service records, type it records)
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

fn awkward_names_commit(flow: Flow) {
    let svc = Service::start();
    let m = flow.mount(&svc, &[]);
    let src = tempfile::tempdir().expect("tempdir");
    for (i, (local, name, ty)) in cases().into_iter().enumerate() {
        assert!(local.len() <= 200, "{local}");
        let data = random_bytes(2000 + i, 70 + i as u64);
        std::fs::write(src.path().join(&local), &data).expect("write");
        run(Command::new("cp")
            .arg(src.path().join(&local))
            .arg(m.path(&local)));
        let c = assert_committed(&svc, &m.path(&local), &data);
        assert_eq!(
            c.record["name"].as_str(),
            Some(name.as_str()),
            "{}",
            c.record
        );
        assert_eq!(c.record["type"].as_str(), Some(ty), "{}", c.record);
    }
    assert!(
        m.log()
            .contains("extension \"abcdefghijklmn\" is longer than 10 bytes"),
        "the generic type is not logged:\n{}",
        m.log()
    );
}

// api3 is left out: API 3.0 takes only its listed MediaTypes, so the
// generic `bin` is refused (tests/flows/api3_flow.rs checks how).
for_each_flow!([v4, ugc, apply, frontwize] awkward_names_commit);
