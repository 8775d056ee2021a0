//! [`TlsProxy`]: an https endpoint in front of a plain-http service, with a
//! certificate from a CA the test makes (openssl), so the mount's https
//! path can be tried against a local endpoint.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;
use tokio_native_tls::native_tls;

use super::tools::run;

/// An https listener on 127.0.0.1 forwarding each connection to `target`.
pub struct TlsProxy {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// The test CA's certificate (PEM), which signed the proxy's.
    pub ca_pem: PathBuf,
    runtime: Option<tokio::runtime::Runtime>,
    _dir: TempDir,
}

/// Makes a CA and a server certificate for 127.0.0.1 signed by it; returns
/// (CA certificate, server certificate, server key) paths.
fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |name: &str| dir.join(name);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(Command::new("openssl")
        .args(["req", "-x509"])
        .args(ec)
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem"))
        .args(["-days", "2", "-subj", "/CN=vodfs test CA"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]));
    run(Command::new("openssl")
        .arg("req")
        .args(ec)
        .arg("-keyout")
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr"))
        .args(["-subj", "/CN=127.0.0.1"]));
    std::fs::write(
        p("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions file");
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2"])
        .arg("-in")
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(p("server.ext"))
        .arg("-out")
        .arg(p("server.pem")));
    (p("ca.pem"), p("server.pem"), p("server.key"))
}

impl TlsProxy {
    /// Starts a proxy to `target` (`127.0.0.1:PORT` of a plain service).
    pub fn start(target: &str) -> TlsProxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ca, cert, key) = make_certificates(dir.path());
        let identity = native_tls::Identity::from_pkcs8(
            &std::fs::read(&cert).expect("cert"),
            &std::fs::read(&key).expect("key"),
        )
        .expect("server identity");
        let acceptor = tokio_native_tls::TlsAcceptor::from(
            native_tls::TlsAcceptor::new(identity).expect("tls acceptor"),
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let target = target.to_string();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, target) = (acceptor.clone(), target.clone());
                tokio::spawn(async move {
                    // A client that refuses our certificate ends here.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    if let Ok(mut up) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                    }
                });
            }
        });
        TlsProxy {
            url: format!("https://127.0.0.1:{port}"),
            ca_pem: ca,
            runtime: Some(runtime),
            _dir: dir,
        }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
