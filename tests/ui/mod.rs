//! The media page of `vodfs serve`, seen in a real browser: headless
//! Chromium (Debian's `chromium` package) loads `/` after a real MP4 was
//! copied into a real mount, and the DOM it dumps must list the video and
//! show that its player loaded a positive duration from the playback URL.
//! Skipped, saying so, when chromium is not installed. `mount_helper`: the
//! mount(8) helper in scripts/.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::*;

mod logs;
mod mount_helper;

/// The chromium binary, if installed.
fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Runs headless chromium on `url` with `extra` arguments (e.g.
/// `--dump-dom`) and a throw-away profile; returns its stdout.
fn headless(bin: &Path, url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1000,700",
            // Virtual time: the page's loads and scripts run to completion
            // (or the budget), then the DOM is dumped.
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of attribute `name` in the first tag of `html` that follows
/// `after` and starts with `<tag`.
fn attr_after(html: &str, after: &str, tag: &str, name: &str) -> Option<String> {
    let start = html.find(after)?;
    let rest = &html[start..];
    let t = rest.find(&format!("<{tag}"))?;
    let tag_text = &rest[t..t + rest[t..].find('>')?];
    let key = format!("{name}=\"");
    let v = tag_text.find(&key)? + key.len();
    let end = tag_text[v..].find('"')?;
    Some(tag_text[v..v + end].to_string())
}

#[test]
fn media_page_lists_a_copied_video_and_its_player_plays() {
    let Some(bin) = chromium() else {
        eprintln!("SKIPPED: chromium is not installed (apt-get install chromium)");
        return;
    };
    let svc = Service::start();
    let m = Mount::new(&svc);
    let d = tempfile::tempdir().expect("tempdir");
    let src = make_mp4(d.path(), "beach.mp4", 2);
    let name = "beach & <waves>.mp4";
    run(Command::new("cp").arg(&src).arg(m.path(name)));
    let c = assert_committed(&svc, &m.path(name), &std::fs::read(&src).expect("src"));

    let dom = headless(&bin, &format!("{}/", svc.url), &["--dump-dom"]);
    let item = format!("data-file-id=\"{}\"", c.file_id);
    assert!(
        dom.contains(&item),
        "page does not list {}:\n{dom}",
        c.file_id
    );
    assert!(dom.contains("<p id=\"count\">1 media</p>"), "{dom}");
    let shown_name = c.record["name"].as_str().expect("name");
    let escaped = shown_name
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(
        dom.contains(&escaped),
        "name {shown_name:?} not on the page"
    );
    assert_eq!(
        attr_after(&dom, &item, "video", "src").as_deref(),
        Some(c.url.as_str()),
        "the player plays from the media's URL"
    );
    assert_eq!(attr_after(&dom, &item, "video", "data-error"), None);
    let duration: f64 = attr_after(&dom, &item, "video", "data-duration")
        .unwrap_or_else(|| panic!("the player never loaded metadata:\n{dom}"))
        .parse()
        .expect("duration is a number");
    assert!(
        duration > 1.5 && duration.is_finite(),
        "player duration {duration}"
    );

    // A screenshot, kept next to the test output for a human to look at.
    let shot = std::env::temp_dir().join("vodfs-media-page.png");
    headless(
        &bin,
        &format!("{}/", svc.url),
        &[&format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
}
