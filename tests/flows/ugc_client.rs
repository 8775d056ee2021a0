//! `--protocol ugc` (family D: ApplyUploadUGC → COS → CommitUploadUGC) on a
//! machine with only a signer: every mount here holds no SecretId and no
//! SecretKey ([`Mount::keyless`]); the signer command holds the key and
//! runs `vodfs sign ugc`, logging which call each signature was for.
//! Resume and credential renewal are in [`super::ugc_resume`].

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// A signer command that holds the test account's key: it appends
/// `$VODFS_SIGNATURE $VODFS_UGC_ACTION` to `log`, then runs `vodfs sign ugc`
/// with `extra` arguments; when the file `expired` exists beside the log it
/// signs for a time long past (an expired signature). The key is in a
/// script only root can read, never in the mount's command line (where
/// `ps` would show it, as `bad_input_secrets_absent_from_logs_xattrs_and_ps`
/// checks of every process).
pub(super) fn signer(dir: &Path, extra: &str) -> (String, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let log = dir.join("signer.log");
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let script = dir.join(format!("signer-{n}.sh"));
    let body = format!(
        "#!/bin/sh\n\
         echo \"$VODFS_SIGNATURE $VODFS_UGC_ACTION\" >> '{log}'\n\
         if [ -e '{dir}/expired' ]; then T='--time 1000000000 --validity 60'; else T=''; fi\n\
         VODFS_SECRET_ID='{SECRET_ID}' VODFS_SECRET_KEY='{SECRET_KEY}' exec '{bin}' sign ugc $T {extra}\n",
        log = log.display(),
        dir = dir.display(),
        bin = vodfs_bin(),
    );
    std::fs::write(&script, body).expect("signer script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    (script.display().to_string(), log)
}

/// The calls the signer was asked to sign for, in order.
pub(super) fn asked(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            assert!(l.starts_with("v5 "), "the mount asked for {l:?}");
            l[3..].to_string()
        })
        .collect()
}

pub(super) fn keyless_mount(svc: &Service, signer_cmd: &str, extra: &[&str]) -> Mount {
    let mut args = vec!["--protocol", "ugc", "--ugc-signer-cmd", signer_cmd];
    args.extend_from_slice(extra);
    Mount::keyless(svc, &args)
}

/// Nothing of the key reaches the mount's log or a file's xattrs.
fn assert_no_secret(m: &Mount, paths: &[PathBuf]) {
    assert!(!m.log().contains(SECRET_KEY), "the key is in the log");
    for p in paths {
        for name in ["user.vod.error", "user.vod.url", "user.vod.file_id"] {
            if let Some(v) = getfattr(p, name) {
                assert!(!v.contains(SECRET_KEY), "{name} of {}: {v}", p.display());
            }
        }
    }
}

/// cp of a multi-part file and of a real MP4, rsync of the tree twice (the
/// second sends nothing), ffmpeg writing into the mount, then write-back
/// and `vodfs wait`; every media is family D and carries the settings the
/// signature carried (classId, procedure, sourceContext of the directory).
#[test]
fn ugc_without_a_key_cp_rsync_ffmpeg_and_write_back_commit() {
    let svc = Service::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cmd, log) = signer(tmp.path(), "");
    let mut m = keyless_mount(&svc, &cmd, &[]);
    std::fs::create_dir(m.path("shows")).expect("mkdir");
    setfattr(&m.path("shows"), "user.vod.class_id", "7").expect("class");
    setfattr(
        &m.path("shows"),
        "user.vod.procedure",
        "QCVB_SimpleProcessFile(1, 1)",
    )
    .expect("procedure");
    setfattr(&m.path("shows"), "user.vod.source_context", "from a kiosk").expect("ctx");

    let src = tempfile::tempdir().expect("tempdir");
    let random = random_bytes(3 * 1_048_576 + 5, 141);
    std::fs::write(src.path().join("random.mp4"), &random).expect("write");
    let mp4 = make_mp4(src.path(), "real.mp4", 2);
    let mp4_bytes = std::fs::read(&mp4).expect("read mp4");
    run(Command::new("cp")
        .arg(src.path().join("random.mp4"))
        .arg(&mp4)
        .arg(m.path("shows")));
    let c = assert_committed(&svc, &m.path("shows/random.mp4"), &random);
    assert_eq!(c.record["flow"], "D", "{}", c.record);
    assert_eq!(c.record["classId"], 7, "{}", c.record);
    assert_eq!(
        c.record["procedure"], "QCVB_SimpleProcessFile(1, 1)",
        "{}",
        c.record
    );
    assert_eq!(c.record["sourceContext"], "from a kiosk", "{}", c.record);
    let c = assert_committed(&svc, &m.path("shows/real.mp4"), &mp4_bytes);
    assert!(ffprobe_duration(&c.url) > 1.5);

    let from = format!("{}/", src.path().display());
    std::fs::create_dir(m.path("sync")).expect("mkdir");
    let to = format!("{}/", m.path("sync").display());
    run(Command::new("rsync").args(["-a", &from, &to]));
    assert_committed(&svc, &m.path("sync/random.mp4"), &random);
    assert_committed(&svc, &m.path("sync/real.mp4"), &mp4_bytes);
    let after_first = svc.media_count();
    let stats = run(Command::new("rsync").args(["-a", "--stats", &from, &to]));
    assert!(
        stats.contains("Number of regular files transferred: 0"),
        "second rsync transferred files:\n{stats}"
    );
    assert_eq!(svc.media_count(), after_first);

    let ff = m.path("ff.mp4");
    run(Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(&mp4)
        .args(["-c", "copy"])
        .arg(&ff));
    let ff_bytes = std::fs::read(&ff).expect("read ff");
    let c = assert_committed(&svc, &ff, &ff_bytes);
    assert_eq!(c.record["flow"], "D");
    assert!(ffprobe_duration(&c.url) > 1.5);
    m.unmount();

    let m = keyless_mount(&svc, &cmd, &["--write-back=0.2"]);
    let wb = random_bytes(1_500_000, 142);
    std::fs::write(m.path("wb.mp4"), &wb).expect("write");
    let out = wait(&[&m.path("wb.mp4")]);
    let c = assert_committed(&svc, &m.path("wb.mp4"), &wb);
    assert!(out.contains(&c.file_id), "wait printed {out:?}");
    assert_eq!(svc.media_count(), after_first + 2);
    let calls = asked(&log);
    assert!(calls.iter().any(|c| c == "ApplyUploadUGC"), "{calls:?}");
    assert_no_secret(&m, &[m.path("wb.mp4")]);
}

/// The service's videos (covers are media of kind `cover`).
fn videos(svc: &Service) -> usize {
    svc.media().iter().filter(|m| m["kind"] == "video").count()
}

/// `video`'s cover is `bytes`: from the mount (`user.vod.cover_url`) and at
/// the service (the media record's `coverUrl`).
fn assert_cover(svc: &Service, m: &Mount, video: &str, bytes: &[u8]) {
    let path = m.path(video);
    assert_eq!(getfattr(&path, "user.vod.cover_error"), None, "{video}");
    let url = getfattr(&path, "user.vod.cover_url").expect("user.vod.cover_url");
    assert!(fetch(&url) == bytes, "{url} does not serve the cover bytes");
    let file_id = getfattr(&path, "user.vod.file_id").expect("file_id");
    let record = svc.admin(&format!("/admin/media/{file_id}"));
    let at_service = record["coverUrl"].as_str().expect("coverUrl").to_string();
    assert!(fetch(&at_service) == bytes, "{record}");
}

/// Waits (generously) until `video`'s cover URL is not `old`.
fn wait_cover_change(path: &Path, old: Option<&str>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let now = getfattr(path, "user.vod.cover_url");
        if now.is_some() && now.as_deref() != old {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cover of {} did not change; cover_error {:?}",
            path.display(),
            getfattr(path, "user.vod.cover_error")
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A cover copied before its video goes with the video's ApplyUploadUGC;
/// one copied after the video committed replaces its cover (ApplyUploadUGC
/// with the fileId), and so does a second one.
#[test]
fn ugc_covers_go_with_their_video_and_replace_it_after_commit() {
    let svc = Service::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cmd, _log) = signer(tmp.path(), "");
    let m = keyless_mount(&svc, &cmd, &[]);

    let b = random_bytes(1_300_000, 143);
    let b_jpg = random_bytes(40_000, 144);
    std::fs::write(m.path("b.jpg"), &b_jpg).expect("write");
    std::fs::write(m.path("b.mp4"), &b).expect("write");
    let c = assert_committed(&svc, &m.path("b.mp4"), &b);
    assert_eq!(c.record["flow"], "D", "{}", c.record);
    assert_cover(&svc, &m, "b.mp4", &b_jpg);

    let a = random_bytes(2_500_000, 145);
    std::fs::write(m.path("a.mp4"), &a).expect("write");
    assert_committed(&svc, &m.path("a.mp4"), &a);
    assert_eq!(getfattr(&m.path("a.mp4"), "user.vod.cover_url"), None);
    let first = random_bytes(5000, 146);
    std::fs::write(m.path("a.jpg"), &first).expect("write");
    wait_cover_change(&m.path("a.mp4"), None);
    assert_cover(&svc, &m, "a.mp4", &first);
    let old = getfattr(&m.path("a.mp4"), "user.vod.cover_url");
    let second = random_bytes(7000, 147);
    std::fs::write(m.path("a.jpg"), &second).expect("write");
    wait_cover_change(&m.path("a.mp4"), old.as_deref());
    assert_cover(&svc, &m, "a.mp4", &second);
    assert_eq!(videos(&svc), 2, "covers are not videos");
}

/// An expired signature fails the file with a clear `user.vod.error` (the
/// call, the service's code and message, no secret); once the signer signs
/// properly again, `vodfs retry` asks it anew and the file commits.
#[test]
fn ugc_an_expired_signature_then_a_good_one() {
    let svc = Service::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("expired"), "").expect("mode");
    let (cmd, log) = signer(tmp.path(), "");
    let m = keyless_mount(&svc, &cmd, &[]);
    let a = random_bytes(1_200_000, 149);
    let why = write_expecting_failed_close(&m.path("a.mp4"), &a);
    assert!(
        why.contains("ApplyUploadUGC") && why.contains("10004") && why.contains("expired"),
        "user.vod.error: {why}"
    );
    assert!(!why.contains(SECRET_KEY), "{why}");
    assert!(m.log().contains("10004"), "no log line says why");
    assert_eq!(svc.media_count(), 0);
    let before = asked(&log).len();
    std::fs::remove_file(tmp.path().join("expired")).expect("rm");
    m.ctl(&["retry"], &[m.path("a.mp4")]);
    assert_committed(&svc, &m.path("a.mp4"), &a);
    assert!(
        asked(&log).len() > before,
        "the retry did not ask the signer"
    );
    assert_no_secret(&m, &[m.path("a.mp4")]);
}

/// One-time signatures (oneTimeValid=1): the service takes each once, so
/// the mount asks for one per call: ApplyUploadUGC and CommitUploadUGC of
/// every file.
#[test]
fn ugc_one_time_signatures_are_asked_for_every_call() {
    let svc = Service::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cmd, log) = signer(tmp.path(), "--one-time");
    let m = keyless_mount(&svc, &cmd, &[]);
    let a = random_bytes(2_200_000, 150);
    let b = random_bytes(10, 151);
    std::fs::write(m.path("a.mp4"), &a).expect("write");
    std::fs::write(m.path("b.mov"), &b).expect("write");
    assert_committed(&svc, &m.path("a.mp4"), &a);
    assert_committed(&svc, &m.path("b.mov"), &b);
    let calls = asked(&log);
    let count = |name: &str| calls.iter().filter(|c| *c == name).count();
    assert_eq!(count("ApplyUploadUGC"), 2, "{calls:?}");
    assert_eq!(count("CommitUploadUGC"), 2, "{calls:?}");
    assert_eq!(svc.media_count(), 2);
}

/// Without a key and without a signer, the mount refuses to start and says
/// what a machine without the key needs.
#[test]
fn ugc_without_a_key_or_a_signer_says_what_is_needed() {
    let svc = Service::start();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("mnt")).expect("mkdir");
    let out = Command::new(vodfs_bin())
        .args([
            "mount",
            "--foreground",
            "--protocol",
            "ugc",
            "--endpoint",
            &svc.url,
        ])
        .arg("--cache")
        .arg(dir.path().join("cache"))
        .arg(dir.path().join("mnt"))
        .env_remove("VODFS_SECRET_ID")
        .env_remove("VODFS_SECRET_KEY")
        .env("XDG_CONFIG_HOME", dir.path().join("cfg"))
        .output()
        .expect("vodfs mount");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no credentials") && err.contains("--ugc-signer"),
        "{err}"
    );
}

/// One-time signatures and a CommitUploadUGC whose answer is lost (the
/// connection drops after the service committed, spending the signature):
/// the retry asks the signer for a fresh signature, the commit (idempotent)
/// answers the same media, and the file commits once.
#[test]
fn ugc_a_retried_call_gets_a_fresh_one_time_signature() {
    let svc = Service::start_with(&[
        "--faults",
        "rate=1,seed=1,kinds=drop,actions=CommitUploadUGC,max=1",
    ]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cmd, log) = signer(tmp.path(), "--one-time");
    let m = keyless_mount(&svc, &cmd, &[]);
    let a = random_bytes(1_500_000, 153);
    std::fs::write(m.path("a.mp4"), &a).expect("write");
    assert_committed(&svc, &m.path("a.mp4"), &a);
    let calls = asked(&log);
    let commits = calls.iter().filter(|c| *c == "CommitUploadUGC").count();
    assert_eq!(commits, 2, "the retry did not ask again: {calls:?}");
    assert_eq!(svc.media_count(), 1);
}

/// `--ugc-signer URL` on a machine without the key: the signing service is
/// told which signature (`signature=v5`), for which call (`action=`), and
/// the settings to sign in; the media carries them.
#[test]
fn ugc_url_signer_is_told_the_call_and_the_settings() {
    let svc = Service::start();
    let (url, count, seen) = super::signers::url_signer_seen();
    let m = Mount::keyless(&svc, &["--protocol", "ugc", "--ugc-signer", &url]);
    std::fs::create_dir(m.path("d")).expect("mkdir");
    setfattr(&m.path("d"), "user.vod.class_id", "21").expect("setfattr");
    setfattr(&m.path("d"), "user.vod.source_context", "ctx 9").expect("setfattr");
    let a = random_bytes(1_500_000, 154);
    std::fs::write(m.path("d/a.mp4"), &a).expect("write");
    let c = assert_committed(&svc, &m.path("d/a.mp4"), &a);
    assert_eq!(c.record["flow"], "D", "{}", c.record);
    assert_eq!(c.record["classId"], 21, "{}", c.record);
    assert_eq!(c.record["sourceContext"], "ctx 9", "{}", c.record);
    let seen = seen.lock().expect("lock").clone();
    assert!(count.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let first = seen.first().expect("the signer was asked");
    for part in [
        "signature=v5",
        "action=ApplyUploadUGC",
        "classId=21",
        "sourceContext=ctx+9",
    ] {
        assert!(first.contains(part), "{part} not in {first}");
    }
}

/// `vodfs sign ugc` makes the §4 "v5" signature by default, every field
/// in it (oneTimeValid and the settings included) and verifiable with the
/// key; `--format v4` the older per-file one; v4 without the file refuses.
#[test]
fn vodfs_sign_ugc_makes_v5_signatures_and_v4_on_request() {
    use vodfs::vod::sign::UgcEnvelope;
    let sign = |args: &[&str]| {
        Command::new(vodfs_bin())
            .args(["sign", "ugc"])
            .args(args)
            .env("VODFS_SECRET_ID", SECRET_ID)
            .env("VODFS_SECRET_KEY", SECRET_KEY)
            .env_remove("VODFS_SIGNATURE")
            .output()
            .expect("vodfs sign ugc")
    };
    let out = sign(&[
        "--time",
        "1500000000",
        "--validity",
        "600",
        "--one-time",
        "--class-id",
        "3",
        "--procedure",
        "p(1, 1)",
        "--source-context",
        "s&c",
        "--task-priority",
        "-3",
        "--task-notify-mode",
        "Finish",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = UgcEnvelope::decode(String::from_utf8_lossy(&out.stdout).trim()).expect("base64");
    env.verify(SECRET_KEY).expect("verifies with the key");
    let f = |k: &str| {
        env.field(k)
            .unwrap_or_else(|| panic!("no {k} in {}", env.original))
    };
    assert_eq!(f("secretId"), SECRET_ID);
    assert_eq!(f("currentTimeStamp"), "1500000000");
    assert_eq!(f("expireTime"), "1500000600");
    assert!(f("random").parse::<u32>().is_ok());
    assert_eq!(f("oneTimeValid"), "1");
    assert_eq!(f("classId"), "3");
    assert_eq!(f("procedure"), "p(1, 1)");
    assert_eq!(f("sourceContext"), "s&c");
    assert_eq!(f("taskPriority"), "-3");
    assert_eq!(f("taskNotifyMode"), "Finish");

    let sha = "a9993e364706816aba3e25717850c26c9cd0d89d";
    let args = [
        "--format",
        "v4",
        "--file-sha",
        sha,
        "--file-name",
        "n",
        "--file-type",
        "mp4",
    ];
    let out = sign(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = UgcEnvelope::decode(String::from_utf8_lossy(&out.stdout).trim()).expect("base64");
    env.verify(SECRET_KEY).expect("verifies");
    assert_eq!(env.field("fs").as_deref(), Some(sha));
    assert_eq!(env.field("expireTime"), None);
    let out = sign(&["--format", "v4"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--file-sha"));
}
