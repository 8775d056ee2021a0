//! The `vodfs serve` binary: the listening line, the generated account
//! printed once and kept across restarts, clean stop on SIGTERM.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(data: &std::path::Path, extra: &[&str]) -> (Serve, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vodfs"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(extra)
        .env_remove("VODFS_SECRET_ID")
        .env_remove("VODFS_SECRET_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    lines.push(line.trim_end().to_string());
    if extra.is_empty() {
        let mut l2 = String::new();
        // The account line (first start only) comes right after; the stop
        // below closes stdout, so this read ends either way.
        let serve = Serve(child);
        let _ = stop_and_read_rest(&serve, &mut reader, &mut l2);
        if !l2.is_empty() {
            lines.push(l2.trim_end().to_string());
        }
        return (serve, lines);
    }
    (Serve(child), lines)
}

/// Sends SIGTERM once the first line is read, then reads what is left.
fn stop_and_read_rest(
    serve: &Serve,
    reader: &mut impl std::io::BufRead,
    rest: &mut String,
) -> std::io::Result<()> {
    let pid = serve.0.id() as libc::pid_t;
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    reader.read_to_string(rest).map(|_| ())
}

#[test]
fn prints_address_and_account_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let (mut s, lines) = start(&data, &[]);
    assert!(
        lines[0].starts_with("vodfs serve: listening on http://127.0.0.1:"),
        "{lines:?}"
    );
    assert!(!lines[0].ends_with(":0"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[1].starts_with("SecretId=AKID")
            && lines[1].contains(" SecretKey=")
            && lines[1].contains(" AppId="),
        "{lines:?}"
    );
    let status = s.0.wait().unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(data.join("account.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let stored = std::fs::read_to_string(data.join("account.json")).unwrap();
    let secret_id = lines[1]
        .split(' ')
        .next()
        .unwrap()
        .trim_start_matches("SecretId=");
    assert!(stored.contains(secret_id));
    // Restart: the stored account is reused and not printed again.
    let (mut s, lines) = start(&data, &[]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(s.0.wait().unwrap().success());
    assert_eq!(
        std::fs::read_to_string(data.join("account.json")).unwrap(),
        stored
    );
}

#[test]
fn explicit_account_is_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let (s, lines) = start(
        dir.path(),
        &[
            "--secret-id",
            "AKIDx",
            "--secret-key",
            "k",
            "--no-rate-limit",
        ],
    );
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("vodfs serve: listening on http://127.0.0.1:"));
    drop(s);
    assert!(!dir.path().join("account.json").exists());
}
