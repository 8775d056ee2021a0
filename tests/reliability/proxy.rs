//! The outage rig itself ([`Proxy`]): each mode observed with plain
//! `TcpStream`s against an echo server and a counting sink on loopback.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;

/// An echo server on loopback that prefixes nothing; returns its address.
fn echo_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A server that sends `greeting` on each connection, then echoes.
fn greeting_server(greeting: &'static [u8]) -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.write_all(greeting);
        }
    });
    addr
}

/// A sink that counts every byte it receives (all connections).
fn counting_sink() -> (String, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().unwrap().to_string();
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    c.fetch_add(n as u64, Ordering::SeqCst);
                }
            });
        }
    });
    (addr, count)
}

fn connect(p: &Proxy) -> TcpStream {
    let s = TcpStream::connect(&p.addr).expect("connect to proxy");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Sends `msg` and reads the same number of bytes back.
fn roundtrip(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).expect("write");
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).expect("read echo");
    back
}

/// Whether the peer reset `s`: a read gives ECONNRESET (or, when the RST
/// raced the write, the write failed and the read sees the end).
fn was_reset(s: &mut TcpStream) -> bool {
    let _ = s.write_all(b"ping");
    let mut b = [0u8; 16];
    match s.read(&mut b) {
        Err(e) => e.kind() == ErrorKind::ConnectionReset,
        Ok(n) => n == 0 && s.write_all(b"again").is_err(),
    }
}

/// Waits up to 10 s for `cond`.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn proxy_pass_forwards_both_ways_and_counts_bytes() {
    let p = Proxy::start(&echo_server());
    let mut s = connect(&p);
    assert_eq!(roundtrip(&mut s, b"hello proxy"), b"hello proxy");
    // A pump counts after its write, so the echo can arrive first.
    eventually("both directions counted", || {
        let st = p.stats();
        (st.up, st.down, st.accepted) == (11, 11, 1)
    });
}

#[test]
fn proxy_set_target_moves_new_connections_only() {
    let p = Proxy::start(&greeting_server(b"first"));
    let mut a = connect(&p);
    let mut got = [0u8; 5];
    a.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"first");
    p.set_target(&greeting_server(b"other"));
    let mut b = connect(&p);
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"other");
}

#[test]
fn proxy_refuse_resets_new_connections_and_spares_open_ones() {
    let p = Proxy::start(&echo_server());
    let mut open = connect(&p);
    assert_eq!(roundtrip(&mut open, b"a"), b"a");
    p.set_mode(Mode::Refuse);
    let mut fresh = connect(&p);
    assert!(was_reset(&mut fresh), "a new connection was served");
    assert_eq!(roundtrip(&mut open, b"still"), b"still");
    assert_eq!(p.stats().refused, 1);
    p.set_mode(Mode::Pass);
    assert_eq!(roundtrip(&mut connect(&p), b"back"), b"back");
}

#[test]
fn proxy_reset_resets_open_and_new_connections() {
    let p = Proxy::start(&echo_server());
    let mut open = connect(&p);
    assert_eq!(roundtrip(&mut open, b"a"), b"a");
    p.set_mode(Mode::Reset);
    assert!(was_reset(&mut open), "the open connection lived on");
    assert!(was_reset(&mut connect(&p)), "a new connection was served");
    assert_eq!(p.stats().reset, 1);
}

#[test]
fn proxy_a_dead_target_resets_the_client() {
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let p = Proxy::start(&addr);
    assert!(was_reset(&mut connect(&p)));
}

#[test]
fn proxy_blackhole_holds_open_and_new_connections_until_it_heals() {
    let p = Proxy::start(&echo_server());
    let mut open = connect(&p);
    assert_eq!(roundtrip(&mut open, b"a"), b"a");
    p.set_mode(Mode::Blackhole);
    let mut fresh = connect(&p);
    for s in [&mut open, &mut fresh] {
        s.write_all(b"held").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        let mut b = [0u8; 4];
        let e = s
            .read(&mut b)
            .expect_err("a blackholed connection answered");
        assert!(
            matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{e}"
        );
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    assert_eq!(p.stats().down, 1, "bytes went down during the blackhole");
    p.set_mode(Mode::Pass);
    for s in [&mut open, &mut fresh] {
        let mut b = [0u8; 4];
        s.read_exact(&mut b).expect("held bytes after healing");
        assert_eq!(&b, b"held");
    }
}

#[test]
fn proxy_cut_forwards_exactly_n_body_bytes_then_resets() {
    let (sink, received) = counting_sink();
    let p = Proxy::start(&sink);
    p.set_mode(Mode::Cut { after: 1000 });
    // A request whose body fits is forwarded whole, on the same connection
    // as the next one.
    let small = b"PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n";
    let big = b"PUT /b HTTP/1.1\r\nhost: x\r\ncontent-length: 10000\r\n\r\n";
    let mut s = connect(&p);
    s.write_all(small).unwrap();
    s.write_all(&[7u8; 500]).unwrap();
    s.write_all(big).unwrap();
    let _ = s.write_all(&[8u8; 10000]);
    let want = (small.len() + 500 + big.len() + 1000) as u64;
    eventually("the sink got the cut request", || {
        received.load(Ordering::SeqCst) == want
    });
    assert!(was_reset(&mut s), "the cut connection lived on");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(received.load(Ordering::SeqCst), want, "bytes after the cut");
    let st = p.stats();
    assert_eq!((st.cut, st.up), (1, want), "{st:?}");
}

#[test]
fn proxy_throttle_paces_the_link() {
    let p = Proxy::start(&echo_server());
    p.set_mode(Mode::Throttle {
        bytes_per_sec: 4000,
    });
    let mut s = connect(&p);
    let msg = vec![5u8; 4000];
    let t0 = Instant::now();
    assert!(roundtrip(&mut s, &msg) == msg);
    // A lower bound only (the pace cannot be beaten; a busy machine is
    // only slower): 4000 bytes each way at 4000 B/s is a second or more.
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "4000 bytes crossed a 4000 B/s link in {:?}",
        t0.elapsed()
    );
    assert_eq!(
        Mode::SLOW_LINK,
        Mode::Throttle {
            bytes_per_sec: 8000
        }
    );
}
