//! Commands that talk to a running mount from outside: `vodfs wait`,
//! `vodfs retry` and `vodfs status`.
//!
//! They need no socket or daemon protocol: the mount publishes every file's
//! upload state as `user.vod.*` xattrs, so these commands read them with
//! getxattr(2) on the paths they are given (or find by walking the mount),
//! exactly as a script with `getfattr` would. Progress bars (indicatif) are
//! drawn only when the output is a terminal; otherwise plain lines.

use std::ffi::CString;
use std::io::IsTerminal;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;

/// Reads xattr `name` of `path`; `Ok(None)` when the file has no such xattr.
pub fn get_xattr(path: &Path, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let cname = CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: both strings are NUL-terminated; buf is valid for its length.
        let n = unsafe {
            libc::getxattr(
                cpath.as_ptr(),
                cname.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(Some(buf));
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENODATA) => return Ok(None),
            Some(libc::ERANGE) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            _ => return Err(err),
        }
    }
}

fn xattr_string(path: &Path, name: &str) -> std::io::Result<Option<String>> {
    Ok(get_xattr(path, name)?.map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// Parts and bytes done of the total, as `user.vod.progress` shows them
/// (`"3/8 parts, 3145728/8000000 bytes"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub parts_done: u64,
    pub parts_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

impl Progress {
    /// Parses the `user.vod.progress` text; `None` when it is not in that form.
    pub fn parse(s: &str) -> Option<Progress> {
        let (parts, bytes) = s.trim().split_once(", ")?;
        let (pd, pt) = parts.strip_suffix(" parts")?.split_once('/')?;
        let (bd, bt) = bytes.strip_suffix(" bytes")?.split_once('/')?;
        Some(Progress {
            parts_done: pd.parse().ok()?,
            parts_total: pt.parse().ok()?,
            bytes_done: bd.parse().ok()?,
            bytes_total: bt.parse().ok()?,
        })
    }
}

/// One file's upload as the mount shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileStatus {
    pub path: String,
    pub state: String,
    pub progress: Option<Progress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `user.vod.cached`: false when the content was evicted from the
    /// cache (reads come from the URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached: Option<bool>,
    /// While `waiting`: since when (seconds since the epoch) and the next
    /// try (`user.vod.waiting_since`, `user.vod.next_try`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_try: Option<u64>,
}

impl FileStatus {
    /// Reads the status of one file; `Ok(None)` if it is not a vodfs file.
    pub fn read(path: &Path) -> std::io::Result<Option<FileStatus>> {
        let Some(state) = xattr_string(path, "user.vod.state")? else {
            return Ok(None);
        };
        Ok(Some(FileStatus {
            path: path.display().to_string(),
            progress: xattr_string(path, "user.vod.progress")?
                .as_deref()
                .and_then(Progress::parse),
            error: xattr_string(path, "user.vod.error")?,
            file_id: xattr_string(path, "user.vod.file_id")?,
            url: xattr_string(path, "user.vod.url")?,
            cached: xattr_string(path, "user.vod.cached")?.map(|v| v.trim() != "0"),
            waiting_since: xattr_string(path, "user.vod.waiting_since")?
                .and_then(|v| v.trim().parse().ok()),
            next_try: xattr_string(path, "user.vod.next_try")?.and_then(|v| v.trim().parse().ok()),
            state,
        }))
    }

    /// What `vodfs wait` needs of a file: its state, then only what that
    /// state shows (fileId and URL once committed, the error once failed or
    /// while waiting, progress for a bar): two getxattrs for a settled file
    /// instead of nine, one for a file still on its way.
    fn read_for_wait(path: &Path, progress: bool) -> std::io::Result<Option<FileStatus>> {
        let Some(state) = xattr_string(path, "user.vod.state")? else {
            return Ok(None);
        };
        let mut s = FileStatus {
            path: path.display().to_string(),
            state,
            progress: None,
            error: None,
            file_id: None,
            url: None,
            cached: None,
            waiting_since: None,
            next_try: None,
        };
        match s.state.as_str() {
            "committed" => {
                s.file_id = xattr_string(path, "user.vod.file_id")?;
                s.url = xattr_string(path, "user.vod.url")?;
            }
            "failed" | "interrupted" | "waiting" => {
                s.error = xattr_string(path, "user.vod.error")?;
            }
            _ => {}
        }
        if progress && s.is_active() {
            s.progress = xattr_string(path, "user.vod.progress")?
                .as_deref()
                .and_then(Progress::parse);
        }
        Ok(Some(s))
    }

    fn is_active(&self) -> bool {
        !matches!(
            self.state.as_str(),
            "committed" | "failed" | "empty" | "interrupted" | "image" | "cover"
        )
    }
}

/// The outcome of waiting for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    Committed { file_id: String, url: String },
    Failed(String),
}

fn outcome(s: &FileStatus) -> Option<WaitOutcome> {
    match s.state.as_str() {
        "committed" => Some(WaitOutcome::Committed {
            file_id: s.file_id.clone().unwrap_or_default(),
            url: s.url.clone().unwrap_or_default(),
        }),
        "failed" | "interrupted" => Some(WaitOutcome::Failed(s.error.clone().unwrap_or_default())),
        // An image is never a media of its own (settings::cover): settled, with
        // no fileId or URL to print.
        "image" | "cover" => Some(WaitOutcome::Committed {
            file_id: String::new(),
            url: String::new(),
        }),
        "empty" => Some(WaitOutcome::Failed(
            "empty file: nothing to upload (write bytes to it)".into(),
        )),
        _ => None,
    }
}

fn not_vodfs(path: &Path) -> std::io::Error {
    std::io::Error::other(format!("{}: not a file in a vodfs mount", path.display()))
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} {wide_msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

/// `vodfs wait` gave up at its `--timeout` (exit code [`EXIT_TIMED_OUT`]).
#[derive(Debug, thiserror::Error)]
#[error("not committed within --timeout: {0}")]
pub struct TimedOut(pub String);

/// The exit code of `vodfs wait` and `vodfs retry` when `--timeout` ran
/// out before every file settled (75, EX_TEMPFAIL: try again later).
pub const EXIT_TIMED_OUT: u8 = 75;

/// Says on stderr, once per wait, that a file waits for the service.
fn say_waiting(path: &Path, s: &FileStatus, said: &mut bool) {
    let waiting = s.state == "waiting";
    if waiting && !*said {
        eprintln!(
            "vodfs wait: {}: waiting for the service ({}); it retries by itself, still waiting",
            path.display(),
            s.error.as_deref().unwrap_or("no answer")
        );
    } else if !waiting && *said {
        eprintln!("vodfs wait: {}: the service answers again", path.display());
    }
    *said = waiting;
}

/// How often `vodfs wait` looks at the first file still on its way.
const WAIT_POLL: Duration = Duration::from_millis(20);
/// How often it reads every file still on its way (off a terminal).
const WAIT_FULL_ROUND: Duration = Duration::from_secs(1);

/// `vodfs wait PATH...`: prints `PATH<TAB>fileId<TAB>url` per committed file
/// and fails naming every file that failed. A file `waiting` for the
/// service is waited for (said once on stderr). Draws a bar per file on a
/// terminal.
pub fn wait(paths: &[PathBuf], timeout: Option<Duration>) -> anyhow::Result<()> {
    let tty = std::io::stderr().is_terminal();
    let multi = MultiProgress::new();
    let bars: Vec<Option<ProgressBar>> = paths
        .iter()
        .map(|p| {
            tty.then(|| {
                let b = multi.add(ProgressBar::new(0));
                b.set_style(bar_style());
                b.set_message(p.display().to_string());
                b
            })
        })
        .collect();
    let start = Instant::now();
    let mut done: Vec<Option<Result<WaitOutcome, String>>> = vec![None; paths.len()];
    let mut said = vec![false; paths.len()];
    let mut timed_out = Vec::new();
    let mut delay = WAIT_POLL;
    let mut last_full: Option<Instant> = None;
    while done.iter().any(Option::is_none) {
        let out_of_time = timeout.is_some_and(|t| start.elapsed() > t);
        // A full round reads every file still on its way (each round on a
        // terminal, for the bars; else once a second, to say which wait for
        // the service, and before giving up). The rounds between stop at
        // the first file still on its way: files settle mostly in the order
        // given, so waiting for many costs one getxattr a poll, and the
        // wait ends one poll after the last commit.
        let full = tty || out_of_time || last_full.is_none_or(|t| t.elapsed() >= WAIT_FULL_ROUND);
        if full {
            last_full = Some(Instant::now());
        }
        for (i, p) in paths.iter().enumerate() {
            if done[i].is_some() {
                continue;
            }
            let status = match FileStatus::read_for_wait(p, tty) {
                Ok(Some(s)) => s,
                Ok(None) => {
                    done[i] = Some(Err(not_vodfs(p).to_string()));
                    continue;
                }
                Err(e) => {
                    done[i] = Some(Err(format!("{}: {e}", p.display())));
                    continue;
                }
            };
            say_waiting(p, &status, &mut said[i]);
            if let (Some(bar), Some(pr)) = (&bars[i], status.progress) {
                bar.set_length(pr.bytes_total);
                bar.set_position(pr.bytes_done);
            }
            match outcome(&status) {
                Some(o) => {
                    if let Some(bar) = &bars[i] {
                        bar.finish_and_clear();
                    }
                    done[i] = Some(Ok(o));
                }
                None if !full => break,
                None => {}
            }
        }
        if done.iter().all(Option::is_some) {
            break;
        }
        if out_of_time {
            for (i, p) in paths.iter().enumerate() {
                if done[i].is_none() {
                    let how = if said[i] {
                        " (waiting for the service)"
                    } else {
                        ""
                    };
                    done[i] = Some(Err(format!(
                        "{}: not committed after {:.0?}{how}",
                        p.display(),
                        start.elapsed()
                    )));
                    timed_out.push(p.display().to_string());
                }
            }
            break;
        }
        std::thread::sleep(delay);
        if tty {
            // Every round reads every file: back off.
            delay = (delay * 2).min(Duration::from_millis(250));
        }
    }
    let _ = multi.clear();
    let mut failed = Vec::new();
    for (p, d) in paths.iter().zip(done) {
        match d {
            Some(Ok(WaitOutcome::Committed { file_id, url })) => {
                println!("{}\t{file_id}\t{url}", p.display());
            }
            Some(Ok(WaitOutcome::Failed(reason))) => {
                eprintln!("vodfs wait: {}: failed: {reason}", p.display());
                failed.push(p.display().to_string());
            }
            Some(Err(e)) => {
                eprintln!("vodfs wait: {e}");
                failed.push(p.display().to_string());
            }
            None => failed.push(p.display().to_string()),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else if failed.len() == timed_out.len() {
        Err(TimedOut(failed.join(", ")).into())
    } else {
        Err(anyhow::anyhow!("not committed: {}", failed.join(", ")))
    }
}

/// `vodfs retry PATH...`: sets `user.vod.retry` on every failed (or
/// waiting: try now) file among
/// `paths` (what `setfattr -n user.vod.retry -v 1` does), then waits for all
/// of them as [`wait`] does. Files already committed are reported as such.
pub fn retry(paths: &[PathBuf], timeout: Option<Duration>) -> anyhow::Result<()> {
    for p in paths {
        let status = FileStatus::read(p)
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
            .ok_or_else(|| not_vodfs(p))?;
        if !matches!(status.state.as_str(), "failed" | "interrupted" | "waiting") {
            continue;
        }
        set_xattr(p, "user.vod.retry", b"1")
            .map_err(|e| anyhow::anyhow!("{}: cannot retry: {e}", p.display()))?;
    }
    wait(paths, timeout)
}

/// Sets xattr `name` of `path` to `value`.
fn set_xattr(path: &Path, name: &str, value: &[u8]) -> std::io::Result<()> {
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let cname = CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: both strings are NUL-terminated; value is valid for its length.
    let rc = unsafe {
        libc::setxattr(
            cpath.as_ptr(),
            cname.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The vodfs mounts of this machine, from /proc/self/mounts.
pub fn vodfs_mounts() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let src = f.next()?;
            let dir = f.next()?;
            let fstype = f.next()?;
            (src == "vodfs" && fstype.starts_with("fuse"))
                .then(|| PathBuf::from(dir.replace("\\040", " ")))
        })
        .collect()
}

/// Every file below `root` (not under `by-id`) with its status; a
/// hard-linked file (one content, one media) once, under its first path.
/// Symlinks and special files are not files with a state.
pub fn scan(root: &Path) -> std::io::Result<Vec<FileStatus>> {
    let mut out = Vec::new();
    let mut inodes = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if dir == root && entry.file_name() == "by-id" {
                continue;
            }
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file()
                && let Some(s) = FileStatus::read(&path)?
            {
                let ino = std::os::unix::fs::DirEntryExt::ino(&entry);
                out.push(s);
                inodes.push(ino);
            }
        }
    }
    let mut both: Vec<_> = out.into_iter().zip(inodes).collect();
    both.sort_by(|a, b| a.0.path.cmp(&b.0.path));
    let mut seen = std::collections::HashSet::new();
    both.retain(|(_, ino)| seen.insert(*ino));
    Ok(both.into_iter().map(|(s, _)| s).collect())
}

/// Counts by state.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub committed: usize,
    pub failed: usize,
    pub active: usize,
    /// Empty files: nothing to upload.
    pub empty: usize,
    /// Files whose writer never closed them (the mount was killed).
    pub interrupted: usize,
    /// Committed files whose content was evicted from the cache.
    pub evicted: usize,
    /// Images (covers or not): never uploaded as media (`settings::cover`).
    #[serde(skip_serializing_if = "is_zero")]
    pub images: usize,
    /// Files waiting for the service (counted in `active` too).
    pub waiting: usize,
    /// While files wait: since when the service has not answered, and
    /// the next try (seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_try: Option<u64>,
}

impl Summary {
    fn count_waiting(&mut self, f: &FileStatus) {
        if f.state != "waiting" {
            return;
        }
        self.waiting += 1;
        let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.unreachable_since = min(self.unreachable_since, f.waiting_since);
        self.next_try = min(self.next_try, f.next_try);
    }

    /// "service unreachable since 12:31 UTC, 3 files waiting, next try in 40 s".
    pub fn waiting_line(&self) -> Option<String> {
        if self.waiting == 0 {
            return None;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let since = self.unreachable_since.map_or("(unknown)".to_string(), |t| {
            let day = t % 86_400;
            format!("{:02}:{:02} UTC", day / 3600, day % 3600 / 60)
        });
        let files = if self.waiting == 1 { "file" } else { "files" };
        let next = self.next_try.map_or(String::new(), |t| {
            format!(", next try in {} s", t.saturating_sub(now))
        });
        Some(format!(
            "service unreachable since {since}, {} {files} waiting{next}",
            self.waiting
        ))
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// `vodfs status [MOUNT...]`: every upload not committed yet (with a bar
/// for each active one on a terminal), failures with their reason, and the
/// counts; `--json` prints everything as one JSON document.
pub fn status(mounts: &[PathBuf], json: bool, all: bool) -> anyhow::Result<()> {
    let found = mounts.is_empty();
    let mounts = if found {
        vodfs_mounts()
    } else {
        mounts.to_vec()
    };
    if mounts.is_empty() {
        anyhow::bail!("no vodfs mount found (give the mount point)");
    }
    let mut report = Vec::new();
    for m in &mounts {
        let files = match scan(m) {
            Ok(files) => files,
            // Found in /proc/self/mounts but unmounted since, with its
            // mount point removed: nothing to report.
            Err(e) if found && e.kind() == std::io::ErrorKind::NotFound => continue,
            // Found but not answering (a killed mount not unmounted yet):
            // said, and the others reported.
            Err(e) if found => {
                eprintln!("vodfs: {}: {e}", m.display());
                continue;
            }
            Err(e) => anyhow::bail!("{}: {e}", m.display()),
        };
        let mut summary = Summary::default();
        for f in &files {
            summary.count_waiting(f);
            match f.state.as_str() {
                "committed" => {
                    summary.committed += 1;
                    if f.cached == Some(false) {
                        summary.evicted += 1;
                    }
                }
                "failed" => summary.failed += 1,
                "empty" => summary.empty += 1,
                "interrupted" => summary.interrupted += 1,
                "image" | "cover" => summary.images += 1,
                _ => summary.active += 1,
            }
        }
        report.push((m.clone(), files, summary));
    }
    if report.is_empty() {
        anyhow::bail!("no vodfs mount answered (give the mount point)");
    }
    if json {
        let doc: Vec<_> = report
            .iter()
            .map(|(m, files, summary)| {
                serde_json::json!({
                    "mount": m.display().to_string(),
                    "summary": summary,
                    "files": files,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let tty = std::io::stdout().is_terminal();
    for (m, files, summary) in &report {
        let mut empty = match summary.empty {
            0 => String::new(),
            n => format!(", {n} empty (not uploaded)"),
        };
        if summary.evicted > 0 {
            empty += &format!(
                ", {} evicted from the cache (read from their URL)",
                summary.evicted
            );
        }
        if summary.interrupted > 0 {
            empty += &format!(
                ", {} interrupted (writer killed before close)",
                summary.interrupted
            );
        }
        let empty = match summary.images {
            0 => empty,
            n => format!("{empty}, {n} images (covers, not media)"),
        };
        println!(
            "{}: {} committed, {} in progress, {} failed{empty}",
            m.display(),
            summary.committed,
            summary.active,
            summary.failed
        );
        if let Some(line) = summary.waiting_line() {
            println!("  {line}");
        }
        for f in files {
            if matches!(f.state.as_str(), "committed" | "image" | "cover") && !all {
                continue;
            }
            let pr = f.progress.unwrap_or_default();
            match f.state.as_str() {
                "failed" | "interrupted" | "waiting" => println!(
                    "  {:<10} {}: {}",
                    f.state,
                    f.path,
                    f.error.as_deref().unwrap_or("(no reason recorded)")
                ),
                "committed" => println!(
                    "  {:<10} {}\t{}\t{}",
                    if f.cached == Some(false) {
                        "evicted"
                    } else {
                        "committed"
                    },
                    f.path,
                    f.file_id.as_deref().unwrap_or(""),
                    f.url.as_deref().unwrap_or("")
                ),
                state if tty && f.is_active() => {
                    let bar = ProgressBar::new(pr.bytes_total);
                    bar.set_style(bar_style());
                    bar.set_message(format!("{state:<10} {}", f.path));
                    bar.set_position(pr.bytes_done);
                    bar.abandon();
                }
                state => println!(
                    "  {state:<10} {}  {}/{} parts, {}/{} bytes",
                    f.path, pr.parts_done, pr.parts_total, pr.bytes_done, pr.bytes_total
                ),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_text_parses() {
        assert_eq!(
            Progress::parse("3/8 parts, 3145728/8000000 bytes"),
            Some(Progress {
                parts_done: 3,
                parts_total: 8,
                bytes_done: 3_145_728,
                bytes_total: 8_000_000
            })
        );
        assert_eq!(Progress::parse("garbage"), None);
        assert_eq!(Progress::parse("a/b parts, 1/2 bytes"), None);
    }

    fn waiting(since: u64, next: u64) -> FileStatus {
        FileStatus {
            path: "/m/a.mp4".into(),
            state: "waiting".into(),
            progress: None,
            error: Some("UploadPart: transport error: connection refused".into()),
            file_id: None,
            url: None,
            cached: Some(true),
            waiting_since: Some(since),
            next_try: Some(next),
        }
    }

    #[test]
    fn the_waiting_line_says_since_when_how_many_and_the_next_try() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let midnight = now - now % 86_400;
        let mut s = Summary::default();
        assert_eq!(s.waiting_line(), None);
        s.count_waiting(&waiting(midnight + 12 * 3600 + 31 * 60 + 5, now + 40));
        s.count_waiting(&waiting(midnight + 12 * 3600 + 35 * 60, now + 90));
        s.count_waiting(&FileStatus {
            state: "uploading".into(),
            ..waiting(1, 1)
        });
        let line = s.waiting_line().unwrap();
        assert!(
            line.starts_with("service unreachable since 12:31 UTC, 2 files waiting, next try in "),
            "{line}"
        );
        let secs: u64 = line.rsplit(' ').nth(1).unwrap().parse().unwrap();
        assert!((38..=40).contains(&secs), "{line}");
    }
}
