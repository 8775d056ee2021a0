//! [`Proxy`]: a TCP proxy under the test's control between a mount and a
//! service, for outages the test makes on purpose (issue 13).
//!
//! It listens on 127.0.0.1 port 0 and forwards each connection to a target
//! address the test can change at run time ([`Proxy::set_target`]), so the
//! mount's endpoint stays the same while the service behind it dies and
//! comes back. Its [`Mode`] can change at any moment and applies to new
//! connections and, where that means something, to open ones:
//!
//! - `Pass`: forward both ways.
//! - `Refuse`: a new connection is reset at once (RST); open ones go on.
//! - `Reset`: every open connection is reset, and so is every new one.
//! - `Blackhole`: new connections are accepted and never answered; open
//!   ones stop forwarding (bytes read are held, not dropped). When the mode
//!   changes back, held bytes and held connections go on, as after a
//!   healed partition — unless the client gave up on them meanwhile.
//! - `Cut { after }`: a request whose body is longer than `after` bytes
//!   has exactly `after` bytes of it forwarded, then its connection is
//!   reset (a body cut in the middle). Bodies are found by `Content-Length`;
//!   a chunked body counts until the connection ends.
//! - `Throttle { bytes_per_sec }`: both directions share a link of that
//!   rate (one pace per direction for all connections, like a slow line).
//!
//! Counters ([`Proxy::stats`]) give the bytes forwarded each way, the
//! connections accepted, and how many were refused, reset or cut.
//!
//! Design: std threads, two pumps per connection (client→service and
//! service→client) reading at most one chunk at a time and looking at the
//! mode before each write; a reset sets `SO_LINGER` 0 and shuts the read
//! side of both sockets, which wakes both pumps, and the last descriptor's
//! close sends the RST.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// What the proxy does with connections; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Refuse,
    Reset,
    Blackhole,
    Cut { after: u64 },
    Throttle { bytes_per_sec: u64 },
}

impl Mode {
    /// 64 kbit/s, the slow link of issue 13.
    pub const SLOW_LINK: Mode = Mode::Throttle {
        bytes_per_sec: 64_000 / 8,
    };
}

/// Counters since the proxy started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Bytes forwarded client → service.
    pub up: u64,
    /// Bytes forwarded service → client.
    pub down: u64,
    pub accepted: u64,
    /// New connections reset at once (`Refuse`, `Reset`, or the target
    /// refused the proxy's connection).
    pub refused: u64,
    /// Open connections reset by `Reset`.
    pub reset: u64,
    /// Request bodies cut by `Cut`.
    pub cut: u64,
}

/// A TCP proxy on 127.0.0.1; stops accepting and resets its connections
/// on drop.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// `127.0.0.1:PORT`
    pub addr: String,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Counters {
    up: AtomicU64,
    down: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    reset: AtomicU64,
    cut: AtomicU64,
}

struct Shared {
    target: Mutex<String>,
    mode: Mutex<Mode>,
    counters: Counters,
    /// Open connections, so `Reset` (and drop) can reach them.
    conns: Mutex<Vec<Weak<Conn>>>,
    /// When each direction's link is next free under `Throttle` (0 = up).
    pace: [Mutex<Instant>; 2],
    stop: AtomicBool,
}

/// One proxied connection: the client's socket and the service's.
struct Conn {
    client: TcpStream,
    upstream: TcpStream,
    killed: AtomicBool,
}

impl Proxy {
    /// Starts a proxy forwarding to `target` (`127.0.0.1:PORT`) in `Pass`.
    pub fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let addr = listener.local_addr().expect("proxy addr").to_string();
        let shared = Arc::new(Shared {
            target: Mutex::new(target.to_string()),
            mode: Mutex::new(Mode::Pass),
            counters: Counters::default(),
            conns: Mutex::new(Vec::new()),
            pace: [Mutex::new(Instant::now()), Mutex::new(Instant::now())],
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || accept_loop(listener, s));
        Proxy {
            url: format!("http://{addr}"),
            addr,
            shared,
        }
    }

    /// Forwards new connections to `target` from now on.
    pub fn set_target(&self, target: &str) {
        *self.shared.target.lock().unwrap() = target.to_string();
    }

    /// Switches the mode; `Reset` resets every open connection at once.
    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
        if mode == Mode::Reset {
            let n = self.shared.kill_all();
            self.shared.counters.reset.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The mode now.
    pub fn mode(&self) -> Mode {
        self.shared.mode()
    }

    /// The counters so far.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProxyStats {
            up: get(&c.up),
            down: get(&c.down),
            accepted: get(&c.accepted),
            refused: get(&c.refused),
            reset: get(&c.reset),
            cut: get(&c.cut),
        }
    }

    /// Connections open now (both pumps running).
    pub fn open_connections(&self) -> usize {
        let mut conns = self.shared.conns.lock().unwrap();
        conns.retain(|w| w.strong_count() > 0);
        conns.len()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `stop`.
        let _ = TcpStream::connect(&self.addr);
        self.shared.kill_all();
    }
}

impl Shared {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap()
    }

    fn kill_all(&self) -> u64 {
        let conns: Vec<Arc<Conn>> = {
            let mut v = self.conns.lock().unwrap();
            let live = v.iter().filter_map(Weak::upgrade).collect();
            v.clear();
            live
        };
        for c in &conns {
            c.kill();
        }
        conns.len() as u64
    }

    /// Waits while the mode is `Blackhole`; false when the proxy stops or
    /// `killed` is set meanwhile.
    fn hold_while_blackholed(&self, killed: &AtomicBool) -> bool {
        while self.mode() == Mode::Blackhole {
            if self.stop.load(Ordering::Relaxed) || killed.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        !self.stop.load(Ordering::Relaxed) && !killed.load(Ordering::Relaxed)
    }

    /// Under `Throttle`, sleeps until `n` more bytes fit on direction
    /// `dir`'s link.
    fn pace(&self, dir: usize, n: usize) {
        let Mode::Throttle { bytes_per_sec } = self.mode() else {
            return;
        };
        let cost = Duration::from_secs_f64(n as f64 / bytes_per_sec.max(1) as f64);
        let until = {
            let mut next = self.pace[dir].lock().unwrap();
            let start = (*next).max(Instant::now());
            *next = start + cost;
            *next
        };
        let now = Instant::now();
        if until > now {
            std::thread::sleep(until - now);
        }
    }
}

impl Conn {
    /// Resets both sockets: linger 0, then shut the read sides, which
    /// wakes both pumps; the last close sends the RST.
    fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        for s in [&self.client, &self.upstream] {
            set_linger_zero(s);
            let _ = s.shutdown(Shutdown::Read);
        }
    }
}

/// `SO_LINGER` {on, 0}: closing the socket sends RST instead of FIN.
fn set_linger_zero(s: &TcpStream) {
    let lg = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&lg as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Resets a connection the proxy will not serve.
fn refuse(s: TcpStream, shared: &Shared) {
    shared.counters.refused.fetch_add(1, Ordering::Relaxed);
    set_linger_zero(&s);
    drop(s);
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = stream else { continue };
        shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
        match shared.mode() {
            Mode::Refuse | Mode::Reset => refuse(client, &shared),
            _ => {
                let s = shared.clone();
                std::thread::spawn(move || serve_connection(client, s));
            }
        }
    }
}

fn serve_connection(client: TcpStream, shared: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let never = AtomicBool::new(false);
    if !shared.hold_while_blackholed(&never) {
        return;
    }
    if matches!(shared.mode(), Mode::Refuse | Mode::Reset) {
        return refuse(client, &shared);
    }
    let target = shared.target.lock().unwrap().clone();
    let upstream = target
        .parse()
        .ok()
        .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_secs(5)).ok());
    let Some(upstream) = upstream else {
        return refuse(client, &shared);
    };
    let _ = upstream.set_nodelay(true);
    let conn = Arc::new(Conn {
        client,
        upstream,
        killed: AtomicBool::new(false),
    });
    shared.conns.lock().unwrap().push(Arc::downgrade(&conn));
    let (c2, s2) = (conn.clone(), shared.clone());
    let up = std::thread::spawn(move || pump(&c2, &s2, Direction::Up));
    pump(&conn, &shared, Direction::Down);
    let _ = up.join();
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Client → service.
    Up,
    /// Service → client.
    Down,
}

/// Copies one direction of `conn` until end of stream or a reset.
fn pump(conn: &Conn, shared: &Shared, dir: Direction) {
    let (mut src, mut dst) = match dir {
        Direction::Up => (&conn.client, &conn.upstream),
        Direction::Down => (&conn.upstream, &conn.client),
    };
    let mut requests = RequestBodies::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let chunk = match shared.mode() {
            Mode::Throttle { bytes_per_sec } => (bytes_per_sec as usize / 8).clamp(1, 1024),
            _ => buf.len(),
        };
        let n = match src.read(&mut buf[..chunk]) {
            // End of stream: pass the half-close on.
            Ok(0) => {
                if !conn.killed.load(Ordering::SeqCst) {
                    let _ = dst.shutdown(Shutdown::Write);
                }
                return;
            }
            // A reset (a killed service, say): reset the other side too.
            Err(_) => {
                conn.kill();
                return;
            }
            Ok(n) => n,
        };
        if !shared.hold_while_blackholed(&conn.killed) {
            return;
        }
        let mut data = &buf[..n];
        let mut cut = false;
        if let (Direction::Up, Mode::Cut { after }) = (dir, shared.mode()) {
            if let Some(at) = requests.feed(data, Some(after)) {
                data = &data[..at];
                cut = true;
            }
        } else if dir == Direction::Up {
            requests.feed(data, None);
        }
        shared.pace(dir as usize, data.len());
        if dst.write_all(data).is_err() {
            conn.kill();
            return;
        }
        let counter = match dir {
            Direction::Up => &shared.counters.up,
            Direction::Down => &shared.counters.down,
        };
        counter.fetch_add(data.len() as u64, Ordering::Relaxed);
        if cut {
            shared.counters.cut.fetch_add(1, Ordering::Relaxed);
            conn.kill();
            return;
        }
    }
}

/// Follows the requests on one connection's client → service stream far
/// enough to know which bytes are body bytes (by `Content-Length`).
#[derive(Default)]
struct RequestBodies {
    /// The head of the current request so far (until its blank line).
    head: Vec<u8>,
    /// In a body: bytes of it seen, and its length (`None`: until the
    /// connection ends).
    body: Option<(u64, Option<u64>)>,
}

impl RequestBodies {
    /// Takes the next bytes of the stream; with `cut_after`, returns where
    /// in `data` a body passes `cut_after` bytes, if it does.
    fn feed(&mut self, mut data: &[u8], cut_after: Option<u64>) -> Option<usize> {
        let start_len = data.len();
        while !data.is_empty() {
            let offset = start_len - data.len();
            match &mut self.body {
                None => {
                    let old = self.head.len();
                    self.head.extend_from_slice(data);
                    let Some(end) = find(&self.head, b"\r\n\r\n") else {
                        // Keep only enough to find a blank line across reads.
                        if self.head.len() > 64 * 1024 {
                            self.head.drain(..self.head.len() - 3);
                        }
                        return None;
                    };
                    let used = end + 4 - old;
                    let len = content_length(&self.head[..end]);
                    self.head.clear();
                    self.body = match len {
                        Some(0) => None,
                        other => Some((0, other)),
                    };
                    data = &data[used..];
                }
                Some((seen, len)) => {
                    let left = len.map_or(u64::MAX, |l| l - *seen);
                    let take = (data.len() as u64).min(left);
                    if let Some(limit) = cut_after
                        && *seen + take > limit
                    {
                        return Some(offset + limit.saturating_sub(*seen) as usize);
                    }
                    *seen += take;
                    if Some(*seen) == *len {
                        self.body = None;
                    }
                    data = &data[take as usize..];
                }
            }
        }
        None
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The `Content-Length` of a request head; `None` when it has none (a
/// chunked body, or no body: a head without either has a zero length).
fn content_length(head: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(head);
    let mut chunked = false;
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            return value.trim().parse().ok();
        }
        if name.trim().eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    if chunked { None } else { Some(0) }
}
