//! `vodfs serve` under hostile input (issue 14): a real `vodfs serve`
//! process under an address-space limit ([`AS_LIMIT`]), so a regression
//! that allocates by what a client declares fails its test instead of
//! taking the machine's memory.

use std::time::Duration;

use serde_json::Value;
use vodfs::vod::sign;

use crate::common::*;

/// The address space the service runs in: far above what it needs (a few
/// hundred MiB of mappings, mostly thread stacks and allocator arenas), far
/// below what a declared size would take.
const AS_LIMIT: u64 = 2 << 30;

fn service() -> Service {
    Service::start_limited(&["--no-rate-limit"], Some(AS_LIMIT))
}

/// A v2 call signed for the service's own address, parameters in the query.
fn v2(svc: &Service, method: &str, action: &str, params: &[(&str, &str)]) -> Value {
    let mut p: Vec<(String, String)> = vec![
        ("Action".into(), action.into()),
        ("Region".into(), "gz".into()),
        ("Timestamp".into(), now().to_string()),
        ("Nonce".into(), rand::random::<u32>().to_string()),
        ("SecretId".into(), SECRET_ID.into()),
    ];
    p.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let sig = sign::sign_v2(SECRET_KEY, method, &svc.addr, "/v2/index.php", &p);
    p.push(("Signature".into(), sig));
    send(svc, method, &p)
}

fn send(svc: &Service, method: &str, params: &[(String, String)]) -> Value {
    let url = format!("{}/v2/index.php?{}", svc.url, sign::encode_query(params));
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let resp = reqwest::blocking::Client::new()
        .request(m, url)
        .timeout(Duration::from_secs(60))
        .send()
        .expect("v2 request");
    resp.json().expect("v2 json")
}

fn ugc_sig(sha: &str) -> String {
    let t = now();
    let e = t + 600;
    let original = format!("s={SECRET_ID}&t={t}&e={e}&f=clip&fs={sha}&ft=mp4&uid=1&r=7");
    sign::ugc_sign(SECRET_KEY, &original)
}

fn ugc(svc: &Service, action: &str, params: &[(&str, &str)]) -> Value {
    let p: Vec<(String, String)> = std::iter::once(("Action", action))
        .chain(params.iter().copied())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    send(svc, "GET", &p)
}

fn init_a(svc: &Service, sha: &str, size: &str) -> Value {
    v2(
        svc,
        "GET",
        "InitUpload",
        &[
            ("fileName", "huge"),
            ("fileSha", sha),
            ("fileSize", size),
            ("dataSize", "524288"),
            ("fileType", "mp4"),
        ],
    )
}

#[test]
fn hostile_huge_declared_sizes_are_refused_and_finish_answers_in_bounded_memory() {
    let mut svc = service();
    let huge = "4611686018427387904";
    let sha_a = "a".repeat(40);
    let sha_b = "b".repeat(40);

    // Family A and B: a size over the largest file is refused at InitUpload
    // (−10003 naming fileSize), and no upload is left pending.
    let init = init_a(&svc, &sha_a, huge);
    assert_eq!(init["code"], -10003, "{init}");
    assert!(
        init["message"].as_str().unwrap().contains("fileSize"),
        "{init}"
    );
    let fin = v2(&svc, "POST", "FinishUpload", &[("fileSha", &sha_a)]);
    assert!(
        fin["message"].as_str().unwrap().contains("no upload"),
        "{fin}"
    );
    let sig = ugc_sig(&sha_b);
    let init = ugc(
        &svc,
        "InitUploadEx",
        &[
            ("fileSha", &sha_b),
            ("fileSize", huge),
            ("dataSize", "524288"),
            ("signature", &sig),
        ],
    );
    assert_eq!(init["code"], -10003, "{init}");

    // The largest size allowed: FinishUpload of an upload holding nothing
    // answers at once, naming the gaps as ranges, in a short message, and
    // every later Finish does the same.
    let max = vodfs::vod::rules::parts::MAX_FILE_SIZE.to_string();
    let init = init_a(&svc, &sha_a, &max);
    assert_eq!(init["code"], 0, "{init}");
    for _ in 0..3 {
        let fin = v2(&svc, "POST", "FinishUpload", &[("fileSha", &sha_a)]);
        assert_eq!(fin["code"], -10003, "{fin}");
        let msg = fin["message"].as_str().unwrap();
        assert!(
            msg.contains("missing parts") && msg.contains("[0, "),
            "{msg}"
        );
        assert!(msg.len() < 1024, "a bounded answer: {} bytes", msg.len());
    }
    let sig = ugc_sig(&sha_b);
    let init = ugc(
        &svc,
        "InitUploadEx",
        &[
            ("fileSha", &sha_b),
            ("fileSize", &max),
            ("dataSize", "524288"),
            ("signature", &sig),
        ],
    );
    assert_eq!(init["code"], 0, "{init}");
    let fin = ugc(
        &svc,
        "FinishUploadEx",
        &[("fileSha", &sha_b), ("signature", &sig)],
    );
    assert_eq!(fin["code"], -10003, "{fin}");
    assert!(svc.is_running(), "the service survived");
    let rss = svc.rss_kib().expect("rss");
    assert!(rss < 256 << 10, "RSS {rss} KiB");
}

#[test]
fn hostile_unique_unknown_actions_leave_no_state() {
    let svc = service();
    let http = reqwest::blocking::Client::new();
    let get = |action: &str| {
        let url = format!("{}/v2/index.php?Action={action}", svc.url);
        let v: Value = http.get(url).send().expect("request").json().expect("json");
        assert_eq!(v["code"], -10001, "an unknown Action: {v}");
    };
    for i in 0..50 {
        get(&format!("Warm{i}"));
    }
    let before = svc.rss_kib().expect("rss");
    for i in 0..1500 {
        get(&format!("{i:05}{}", "x".repeat(20 << 10)));
    }
    let after = svc.rss_kib().expect("rss");
    assert!(
        after.saturating_sub(before) < 16 << 10,
        "RSS grew from {before} to {after} KiB"
    );
    let stats = http
        .get(format!("{}/admin/stats", svc.url))
        .header("X-Vodfs-Admin", "1")
        .send()
        .expect("stats")
        .text()
        .expect("text");
    assert!(
        stats.len() < 16 << 10,
        "stats page of {} bytes",
        stats.len()
    );
    let v: Value = serde_json::from_str(&stats).expect("json");
    assert_eq!(v["actions"]["(unknown)"]["requests"], 1550, "{v}");
}

/// Slack over a documented timeout: scheduling on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(5);

/// Waits for the server to end `conn` (EOF, reset, or an answer then EOF);
/// returns how long that took, or `None` if it stayed open past `within`.
fn closed_within(conn: &mut std::net::TcpStream, within: Duration) -> Option<Duration> {
    use std::io::Read as _;
    let start = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.checked_sub(start.elapsed())?;
        conn.set_read_timeout(Some(left.max(Duration::from_millis(10))))
            .expect("timeout");
        match conn.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return None,
            Err(_) => return Some(start.elapsed()),
        }
    }
}

fn open(svc: &Service, bytes: &str) -> std::net::TcpStream {
    use std::io::Write as _;
    let mut c = std::net::TcpStream::connect(&svc.addr).expect("connect");
    c.write_all(bytes.as_bytes()).expect("write");
    c
}

#[test]
fn hostile_slow_header_connections_are_closed_within_the_header_timeout() {
    let svc = Service::start_limited(
        &["--no-rate-limit", "--header-timeout", "2"],
        Some(AS_LIMIT),
    );
    let mut conns: Vec<_> = (0..30)
        .map(|_| open(&svc, "GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: "))
        .collect();
    // Others are still served meanwhile.
    let page = reqwest::blocking::get(format!("{}/", svc.url)).expect("page");
    assert!(page.status().is_success());
    for (i, c) in conns.iter_mut().enumerate() {
        let took = closed_within(c, Duration::from_secs(2) + SLACK);
        assert!(took.is_some(), "connection {i} still open");
    }
}

#[test]
fn hostile_a_stalled_body_is_given_up_within_the_body_timeout() {
    let svc = Service::start_limited(&["--no-rate-limit", "--body-timeout", "2"], Some(AS_LIMIT));
    let mut c = half_sent_part(&svc, "d");
    let took = closed_within(&mut c, Duration::from_secs(2) + SLACK);
    assert!(took.is_some(), "a half-sent body held the connection");
}

#[test]
fn hostile_sigterm_stops_the_service_with_a_half_sent_body_open() {
    let mut svc = service();
    let _slow_headers = open(&svc, "GET / HTTP/1.1\r\nHost: slow\r\n");
    // A signed UploadPart whose body never completes: the handler is
    // in flight, reading it.
    let _half = half_sent_part(&svc, "c");
    std::thread::sleep(Duration::from_millis(300));
    let pid = svc.pid().expect("pid") as i32;
    // SAFETY: a signal to our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    // The documented grace (3 s) plus slack.
    assert!(
        svc.exited_within(Duration::from_secs(3) + SLACK),
        "vodfs serve still running after SIGTERM"
    );
}

/// A signed UploadPart of a new upload whose body stops after 1,000 of its
/// 524,288 bytes: the handler is in flight, reading it.
fn half_sent_part(svc: &Service, sha_char: &str) -> std::net::TcpStream {
    let sha = sha_char.repeat(40);
    assert_eq!(init_a(svc, &sha, "1048576")["code"], 0);
    let mut p: Vec<(String, String)> = vec![
        ("Action".into(), "UploadPart".into()),
        ("Region".into(), "gz".into()),
        ("Timestamp".into(), now().to_string()),
        ("Nonce".into(), rand::random::<u32>().to_string()),
        ("SecretId".into(), SECRET_ID.into()),
        ("fileSha".into(), sha),
        ("offset".into(), "0".into()),
        ("dataSize".into(), "524288".into()),
        ("dataMd5".into(), "0".repeat(32)),
    ];
    let sig = sign::sign_v2(SECRET_KEY, "POST", &svc.addr, "/v2/index.php", &p);
    p.push(("Signature".into(), sig));
    open(
        svc,
        &format!(
            "POST /v2/index.php?{} HTTP/1.1\r\nHost: {}\r\nContent-Length: 524288\r\n\r\n{}",
            sign::encode_query(&p),
            svc.addr,
            "x".repeat(1000)
        ),
    )
}

/// Sends one raw HTTP/1.1 request and returns the status code.
fn raw_status(svc: &Service, request: &str) -> u16 {
    use std::io::Read as _;
    let mut c = open(svc, request);
    c.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while !got.windows(2).any(|w| w == b"\r\n") {
        let n = c.read(&mut buf).expect("read status");
        assert!(n > 0, "closed before a status line");
        got.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&got);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {line:?}"))
}

#[test]
fn hostile_admin_refuses_cross_site_and_foreign_host_requests() {
    let svc = service();
    let host = &svc.addr;
    let req = |method: &str, path: &str, headers: &str, body: &str| {
        format!(
            "{method} {path} HTTP/1.1\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    // What a web page can send without a preflight: text/plain bodies.
    for (method, path, body) in [
        ("POST", "/admin/faults", "rate=1"),
        ("PUT", "/admin/faults", "rate=1"),
        ("POST", "/admin/rate-limits", "Report=0"),
        ("PUT", "/admin/rate-limits", "Report=0"),
    ] {
        let headers =
            format!("Host: {host}\r\nOrigin: http://evil.example\r\nContent-Type: text/plain\r\n");
        assert_eq!(
            raw_status(&svc, &req(method, path, &headers, body)),
            403,
            "{method} {path}"
        );
        let headers = format!("Host: {host}\r\nContent-Type: text/plain\r\n");
        assert_eq!(
            raw_status(&svc, &req(method, path, &headers, body)),
            403,
            "{method} {path}"
        );
    }
    // DNS rebinding: a page whose name resolves to 127.0.0.1.
    for h in ["evil.example", "evil.example:80", "127.0.0.1.evil.example"] {
        let headers = format!("Host: {h}\r\nX-Vodfs-Admin: 1\r\n");
        assert_eq!(
            raw_status(&svc, &req("GET", "/admin/account", &headers, "")),
            403,
            "{h}"
        );
    }
    // A custom header, but a foreign Origin.
    let headers = format!("Host: {host}\r\nX-Vodfs-Admin: 1\r\nOrigin: http://evil.example\r\n");
    assert_eq!(
        raw_status(&svc, &req("GET", "/admin/account", &headers, "")),
        403
    );
    // The faults stayed off; the service's own tooling still gets in.
    let faults = reqwest::blocking::Client::new()
        .get(format!("{}/admin/faults", svc.url))
        .header("X-Vodfs-Admin", "1")
        .send()
        .expect("faults");
    assert_eq!(faults.status(), 200);
    assert!(!faults.text().expect("text").contains("rate=1"));
    let headers = format!("Host: {host}\r\nContent-Type: application/json\r\n");
    assert_eq!(
        raw_status(&svc, &req("GET", "/admin/account", &headers, "")),
        200
    );
    let headers = "Host: localhost\r\nX-Vodfs-Admin: 1\r\nOrigin: http://localhost\r\n".to_string();
    assert_eq!(
        raw_status(&svc, &req("GET", "/admin/account", &headers, "")),
        200
    );
}

/// A signed v2 call's full parameter list (to send, and send again).
fn signed(
    svc: &Service,
    method: &str,
    action: &str,
    params: &[(&str, &str)],
) -> Vec<(String, String)> {
    signed_v2(&svc.addr, method, "/v2/index.php", action, params)
}

#[test]
fn hostile_a_request_replayed_after_a_restart_is_refused_and_quotas_survive() {
    // Not across a minute boundary: the quota's window is the minute.
    if now() % 60 > 45 {
        std::thread::sleep(Duration::from_secs(61 - now() % 60));
    }
    let mut svc = Service::start_limited(&["--rate-limit", "FinishUpload=2"], Some(AS_LIMIT));
    let sha = "e".repeat(40);
    let init = signed(
        &svc,
        "GET",
        "InitUpload",
        &[
            ("fileName", "replayed"),
            ("fileSha", &sha),
            ("fileSize", "10"),
            ("dataSize", "524288"),
            ("fileType", "mp4"),
        ],
    );
    assert_eq!(send(&svc, "GET", &init)["code"], 0);
    for _ in 0..2 {
        let fin = v2(&svc, "POST", "FinishUpload", &[("fileSha", &sha)]);
        assert_eq!(fin["code"], -10003, "missing parts: {fin}");
    }
    svc.restart();
    let again = send(&svc, "GET", &init);
    assert_eq!(again["code"], 4500, "a replay after the restart: {again}");
    let fin = v2(&svc, "POST", "FinishUpload", &[("fileSha", &sha)]);
    assert_eq!(fin["code"], 4400, "the quota's count survived: {fin}");
}

#[test]
fn hostile_a_request_signed_for_another_host_is_refused() {
    let svc = service();
    let call = |host: &str| -> Value {
        let mut p: Vec<(String, String)> = vec![
            ("Action".into(), "Report".into()),
            ("Region".into(), "gz".into()),
            ("Timestamp".into(), now().to_string()),
            ("Nonce".into(), rand::random::<u32>().to_string()),
            ("SecretId".into(), SECRET_ID.into()),
        ];
        let sig = sign::sign_v2(SECRET_KEY, "GET", host, "/v2/index.php", &p);
        p.push(("Signature".into(), sig));
        let url = format!("{}/v2/index.php?{}", svc.url, sign::encode_query(&p));
        reqwest::blocking::Client::new()
            .get(url)
            .header("Host", host)
            .send()
            .expect("request")
            .json()
            .expect("json")
    };
    for foreign in ["other-vodfs.example:8700", "evil.example"] {
        let v = call(foreign);
        assert_eq!(v["code"], 4100, "{foreign}: {v}");
        assert!(v["message"].as_str().unwrap().contains("Host"), "{v}");
    }
    for own in [svc.addr.as_str(), "localhost", "vod2.qcloud.com"] {
        assert_eq!(call(own)["code"], 0, "{own}");
    }
}

#[test]
fn hostile_a_resent_frontwize_call_creates_no_second_media() {
    let mut svc = service();
    let body = br#"{"Title":"fw clip","Region":"pek3b","MediaType":"video/mp4"}"#.to_vec();
    let date = now().to_string();
    let nonce = "resent-1";
    let auth = sign::frontwize_authorization(
        SECRET_ID,
        SECRET_KEY,
        "POST",
        "/v1/media",
        &date,
        nonce,
        &body,
    );
    let send = |svc: &Service| {
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/v1/media", svc.url))
            .header("Content-Type", "application/json")
            .header("X-Qvod-Date", &date)
            .header("X-Qvod-Nonce", nonce)
            .header("Authorization", &auth)
            .body(body.clone())
            .send()
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json::<Value>().expect("json"))
    };
    let (status, first) = send(&svc);
    assert_eq!(status, 200, "{first}");
    assert!(first["MediaId"].is_string(), "{first}");
    let (status, again) = send(&svc);
    assert_eq!(
        (status, again["code"].as_str()),
        (401, Some("RequestReplayed")),
        "{again}"
    );
    svc.restart();
    let (status, after) = send(&svc);
    assert_eq!(
        (status, after["code"].as_str()),
        (401, Some("RequestReplayed")),
        "{after}"
    );
    // Without a nonce: refused, not served unprotected.
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/media", svc.url))
        .header("X-Qvod-Date", &date)
        .header("Authorization", &auth)
        .body(body.clone())
        .send()
        .expect("request");
    assert_eq!(r.status(), 401);
}

#[test]
fn hostile_smaller_cases_get_the_documented_answers() {
    let svc = service();
    let http = reqwest::blocking::Client::new();
    // No Action: −10001, a missing common parameter (README).
    let v: Value = http
        .get(format!("{}/v2/index.php?Nonce=1", svc.url))
        .send()
        .expect("request")
        .json()
        .expect("json");
    assert_eq!(v["code"], -10001, "{v}");
    // An unknown SignatureMethod is refused, not taken for SHA-1.
    for m in ["HmacMD5", "none"] {
        let v = v2(&svc, "GET", "InitUpload", &[("SignatureMethod", m)]);
        assert_eq!(v["code"], -10003, "{m}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains("SignatureMethod"),
            "{v}"
        );
    }
    // A UGC signature dated two hours ahead.
    let sha = "f".repeat(40);
    let t = now() + 7200;
    let original = format!(
        "s={SECRET_ID}&t={t}&e={}&f=clip&fs={sha}&ft=mp4&uid=1&r=7",
        t + 600
    );
    let sig = sign::ugc_sign(SECRET_KEY, &original);
    let v = ugc(
        &svc,
        "InitUploadEx",
        &[
            ("fileSha", &sha),
            ("fileSize", "10"),
            ("dataSize", "524288"),
            ("signature", &sig),
        ],
    );
    assert_ne!(v["code"], 0, "a signature from the future: {v}");

    // If-Range with another ETag: the whole media, not a part.
    let content = b"0123456789".to_vec();
    let sha = sha1_hex(&content);
    assert_eq!(init_a(&svc, &sha, "10")["code"], 0);
    let md5 = md5_hex(&content);
    let p = signed(
        &svc,
        "POST",
        "UploadPart",
        &[
            ("fileSha", &sha),
            ("offset", "0"),
            ("dataSize", "10"),
            ("dataMd5", &md5),
        ],
    );
    let url = format!("{}/v2/index.php?{}", svc.url, sign::encode_query(&p));
    let v: Value = http
        .post(url)
        .body(content.clone())
        .send()
        .expect("part")
        .json()
        .expect("json");
    assert_eq!(v["code"], 0, "{v}");
    let fin = v2(&svc, "POST", "FinishUpload", &[("fileSha", &sha)]);
    let media_url = fin["url"].as_str().expect("url").to_string();
    let r = http
        .get(&media_url)
        .header("Range", "bytes=2-3")
        .header("If-Range", "\"another\"")
        .send()
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().expect("bytes").to_vec(), content);
    let etag = http.head(&media_url).send().expect("head").headers()["etag"]
        .to_str()
        .expect("etag")
        .to_string();
    let r = http
        .get(&media_url)
        .header("Range", "bytes=2-3")
        .header("If-Range", &etag)
        .send()
        .expect("get");
    assert_eq!(r.status(), 206);
}

#[test]
fn hostile_a_terabyte_body_is_refused_without_100_continue() {
    use std::io::Read as _;
    let svc = service();
    let sha = "9".repeat(40);
    assert_eq!(init_a(&svc, &sha, "1048576")["code"], 0);
    let p = signed(
        &svc,
        "POST",
        "UploadPart",
        &[
            ("fileSha", &sha),
            ("offset", "0"),
            ("dataSize", "524288"),
            ("dataMd5", &"0".repeat(32)),
        ],
    );
    let mut c = open(
        &svc,
        &format!(
            "POST /v2/index.php?{} HTTP/1.1\r\nHost: {}\r\nContent-Length: 1099511627776\r\nExpect: 100-continue\r\n\r\n",
            sign::encode_query(&p),
            svc.addr
        ),
    );
    c.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") || !got.ends_with(b"}") {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(!text.contains(" 100 "), "sent 100 Continue: {text}");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"code\":-10006"), "{text}");
}

#[test]
fn hostile_cos_refuses_an_unsigned_host_and_a_century_long_key() {
    let svc = service();
    let acct = svc.admin("/admin/account");
    let host = format!(
        "{}.cos.ap-guangzhou.myqcloud.com",
        acct["bucket"].as_str().expect("bucket")
    );
    let get = |window: (u64, u64), headers: &[(String, String)]| {
        let auth = sign::cos_authorization(
            SECRET_ID,
            SECRET_KEY,
            window,
            "GET",
            "/nothing",
            &[],
            headers,
        );
        reqwest::blocking::Client::new()
            .get(format!("{}/nothing", svc.url))
            .header("Host", &host)
            .header("Authorization", auth)
            .send()
            .expect("cos get")
    };
    let n = now();
    let signed_host = [("host".to_string(), host.clone())];
    // Well signed: the signature holds, the object does not exist.
    assert_eq!(get((n - 60, n + 3600), &signed_host).status(), 404);
    let r = get((n - 60, n + 3600), &[]);
    assert_eq!(r.status(), 403);
    assert!(r.text().expect("text").contains("host"));
    let r = get((n - 60, n + 100 * 365 * 86_400), &signed_host);
    assert_eq!(r.status(), 403);
    assert!(r.text().expect("text").contains("q-key-time"));
}

#[test]
fn hostile_cos_get_object_honours_range() {
    let svc = service();
    let acct = svc.admin("/admin/account");
    let host = format!(
        "{}.cos.ap-guangzhou.myqcloud.com",
        acct["bucket"].as_str().expect("bucket")
    );
    let http = reqwest::blocking::Client::new();
    let auth = |method: &str| {
        let n = now();
        let h = [("host".to_string(), host.clone())];
        sign::cos_authorization(
            SECRET_ID,
            SECRET_KEY,
            (n - 60, n + 600),
            method,
            "/obj",
            &[],
            &h,
        )
    };
    let put = http
        .put(format!("{}/obj", svc.url))
        .header("Host", &host)
        .header("Authorization", auth("PUT"))
        .body(b"0123456789".to_vec())
        .send()
        .expect("put");
    assert_eq!(put.status(), 200, "{}", put.text().unwrap_or_default());
    let get = |range: &str| {
        http.get(format!("{}/obj", svc.url))
            .header("Host", &host)
            .header("Authorization", auth("GET"))
            .header("Range", range)
            .send()
            .expect("get")
    };
    let r = get("bytes=2-4");
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 2-4/10");
    assert_eq!(r.bytes().expect("bytes").as_ref(), b"234");
    assert_eq!(get("bytes=-3").bytes().expect("bytes").as_ref(), b"789");
    assert_eq!(get("bytes=50-").status(), 416);
}

#[test]
fn hostile_the_connection_limit_holds_and_frees_as_slow_clients_are_cut() {
    let svc = Service::start_limited(
        &["--max-connections", "4", "--header-timeout", "3"],
        Some(AS_LIMIT),
    );
    let _slow: Vec<_> = (0..4)
        .map(|_| open(&svc, "GET / HTTP/1.1\r\nHost: slow\r\n"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let url = format!("{}/", svc.url);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = reqwest::blocking::Client::new()
            .get(url)
            .timeout(Duration::from_secs(30))
            .send()
            .map(|r| r.status().as_u16());
        let _ = tx.send(r.ok());
    });
    // The fifth waits while four connections are held …
    assert!(
        rx.recv_timeout(Duration::from_secs(1)).is_err(),
        "a fifth connection was served beside four"
    );
    // … and is served once the header timeout has cut them.
    let got = rx
        .recv_timeout(Duration::from_secs(3) + SLACK)
        .expect("served");
    assert_eq!(got, Some(200));
}
