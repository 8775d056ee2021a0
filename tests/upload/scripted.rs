//! A scripted HTTP service on loopback: each test supplies the handler, the
//! service checks every v2 signature over the Host header as received and
//! records what it saw. It lets the client be driven over real HTTP with
//! answers the real service would never give (garbage, changing fileIds).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use futures::future::BoxFuture;

use crate::common::SECRET_KEY;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub host: String,
    pub params: Vec<(String, String)>,
    pub body: Bytes,
    pub headers: HeaderMap,
    /// The v2 signature verified with the test account's key.
    pub signed_ok: bool,
}

impl Seen {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn action(&self) -> &str {
        self.param("Action").unwrap_or("")
    }
}

pub type Handler = Arc<dyn Fn(Seen) -> BoxFuture<'static, (u16, HeaderMap, Bytes)> + Send + Sync>;

pub struct Scripted {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Scripted {
    pub async fn start(handler: Handler) -> Scripted {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let seen2 = seen.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let handler = handler.clone();
                let seen = seen2.clone();
                async move {
                    let params: Vec<(String, String)> =
                        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                            .map(|(k, v)| (k.into_owned(), v.into_owned()))
                            .collect();
                    let host = headers
                        .get("host")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let sig = params
                        .iter()
                        .find(|(k, _)| k == "Signature")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    let signed_ok = vodfs::vod::sign::verify_v2(
                        SECRET_KEY,
                        method.as_str(),
                        &host,
                        uri.path(),
                        &params,
                        &sig,
                    );
                    let s = Seen {
                        method: method.to_string(),
                        path: uri.path().to_string(),
                        host,
                        params,
                        body,
                        headers,
                        signed_ok,
                    };
                    seen.lock().unwrap().push(s.clone());
                    let (status, headers, body) = handler(s).await;
                    let mut resp = axum::response::Response::new(axum::body::Body::from(body));
                    *resp.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
                    resp.headers_mut().extend(headers);
                    resp
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Scripted {
            addr,
            seen,
            shutdown: Some(tx),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn actions(&self) -> Vec<String> {
        self.seen().iter().map(|s| s.action().to_string()).collect()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A handler answering JSON bodies with status 200.
pub fn json<F>(f: F) -> Handler
where
    F: Fn(&Seen) -> serde_json::Value + Send + Sync + 'static,
{
    Arc::new(move |s: Seen| {
        let v = f(&s);
        Box::pin(async move { (200, HeaderMap::new(), Bytes::from(v.to_string())) })
    })
}
