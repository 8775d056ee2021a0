//! A test service and a signing client.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::Value;
use sha1::Digest as _;
use vodfs::server::{Account, ServerConfig, serve};
use vodfs::vod::sign;

pub const ID: &str = "AKIDtestSecretId0000000000000000";
pub const KEY: &str = "testSecretKey0000000000000000000";
pub const APP_ID: u64 = 1_250_000_000;

pub fn account() -> Account {
    Account {
        secret_id: ID.into(),
        secret_key: KEY.into(),
        app_id: APP_ID,
    }
}

pub fn now() -> u64 {
    vodfs::server::unix_now()
}

pub fn sha1_hex(b: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(b))
}

pub fn md5_hex(b: &[u8]) -> String {
    hex::encode(md5::Md5::digest(b))
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// A service running in-process on a loopback port.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub http: reqwest::Client,
}

impl TestServer {
    pub async fn start(data_dir: &Path) -> TestServer {
        Self::start_with(data_dir, |_| {}).await
    }

    pub async fn start_with(data_dir: &Path, tune: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut cfg =
            ServerConfig::new(data_dir.to_path_buf(), format!("http://{addr}"), account());
        tune(&mut cfg);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, cfg, async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            stop: Some(tx),
            task: Some(task),
            http: reqwest::Client::new(),
        }
    }

    /// Stops the service abruptly, like a crash at the request level: the
    /// accept loop is aborted without a graceful shutdown.
    pub fn kill(mut self) {
        self.stop.take();
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Stops the service and waits for it to finish.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Signs `params` (plus the common ones) as `method` on `path`; returns
    /// the full parameter list including `Signature`.
    pub fn signed(
        &self,
        method: &str,
        path: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = vec![
            ("Action".into(), action.into()),
            ("Region".into(), "gz".into()),
            ("Timestamp".into(), now().to_string()),
            ("Nonce".into(), rand::random::<u32>().to_string()),
            ("SecretId".into(), ID.into()),
        ];
        for (k, v) in params {
            p.push((k.to_string(), v.to_string()));
        }
        let sig = sign::sign_v2(KEY, method, &self.host(), path, &p);
        p.push(("Signature".into(), sig));
        p
    }

    /// Sends already-built parameters in the query.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        params: &[(String, String)],
        body: Vec<u8>,
    ) -> Value {
        let url = format!("{}?{}", self.url(path), sign::encode_query(params));
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = self.http.request(m, url).body(body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// A signed v2 call on `/v2/index.php`.
    pub async fn v2(
        &self,
        method: &str,
        action: &str,
        params: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Value {
        let p = self.signed(method, "/v2/index.php", action, params);
        self.send(method, "/v2/index.php", &p, body).await
    }

    pub async fn admin(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn set_faults(&self, spec: &str) {
        let r = self
            .http
            .put(self.url("/admin/faults"))
            .body(spec.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// Uploads `content` with family A; returns the FinishUpload body.
    pub async fn upload_a(&self, name: &str, ty: &str, content: &[u8], part: usize) -> Value {
        let sha = sha1_hex(content);
        let size = content.len().to_string();
        let ds = part.to_string();
        let init = self
            .v2(
                "GET",
                "InitUpload",
                &[
                    ("fileName", name),
                    ("fileSha", &sha),
                    ("fileSize", &size),
                    ("dataSize", &ds),
                    ("fileType", ty),
                ],
                vec![],
            )
            .await;
        assert_eq!(init["code"], 0, "{init}");
        for (i, chunk) in content.chunks(part).enumerate() {
            self.part(&sha, i * part, part, chunk).await;
        }
        let fin = self
            .v2("POST", "FinishUpload", &[("fileSha", &sha)], vec![])
            .await;
        assert_eq!(fin["code"], 0, "{fin}");
        fin
    }

    /// One UploadPart; asserts success.
    pub async fn part(&self, sha: &str, offset: usize, part: usize, chunk: &[u8]) {
        let r = self
            .part_raw(sha, offset, part, &md5_hex(chunk), chunk.to_vec())
            .await;
        assert_eq!(r["code"], 0, "{r}");
    }

    pub async fn part_raw(
        &self,
        sha: &str,
        offset: usize,
        part: usize,
        md5: &str,
        body: Vec<u8>,
    ) -> Value {
        let (off, ds) = (offset.to_string(), part.to_string());
        self.v2(
            "POST",
            "UploadPart",
            &[
                ("fileSha", sha),
                ("offset", &off),
                ("dataSize", &ds),
                ("dataMd5", md5),
            ],
            body,
        )
        .await
    }

    pub async fn get_bytes(&self, url: &str) -> Vec<u8> {
        let r = self.http.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap().to_vec()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
