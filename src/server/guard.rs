//! The request guard: what every family's request goes through before its
//! handler runs, in one place and in one order.
//!
//! 1. [`enter`] counts the request under its action name (`/admin/stats`);
//!    an endpoint may refuse a request it cannot name (v2's missing or
//!    unknown Action) after counting it, before anything else.
//! 2. [`Guard::run`] draws an injected fault for the action (`faults.rs`):
//!    `slow` sleeps, `drop` breaks the answer halfway, the refusals
//!    (`limit`, `negative`, `5xx`) are answered the family's way at once.
//! 3. The family's [`Scheme`] authenticates the request (signature, key
//!    time or timestamp, nonce), giving back the body for the handler.
//!    A scheme with nonces names the request's; the guard spends it in the
//!    database (4500-style refusal of the scheme when spent already).
//! 4. The caller is counted against the rate limiter under the SecretId and
//!    quota name the scheme names (none: not rate-limited); the counts of
//!    the window are in the database too.
//! 5. The handler runs; any error (authentication, rate limit or the
//!    handler's) is counted as an error of the action and rendered by the
//!    scheme. A body that was not read is drained before a refusal, so the
//!    client sees the answer rather than a reset.
//! 6. Steps 3–5 run inside [`App::one_wait`]: their store operations do
//!    not wait for durability one by one; the request waits once, before
//!    its answer, for everything they wrote or read (one group sync, or
//!    none when another request's sync covered it already). A failed sync
//!    is a 500, never an answer built on state that may not last.
//!
//! A new flow gets all of this by implementing [`Scheme`] (its
//! authentication and its error shapes) and calling [`enter`] and
//! [`Guard::run`]. Imports only the shared pieces (app, body, clock,
//! faults, respond).

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

use super::app::App;
use super::body::discard;
use super::faults::FaultKind;
use super::respond::{drop_mid_body, plain};

/// How one family authenticates and answers refusals.
pub trait Scheme: Sync {
    /// Who the request is from, once authenticated.
    type Caller: Send;
    /// The family's error, rendered by [`Scheme::reject`].
    type Error: Send;

    /// Checks the request's credentials. Takes the body (a scheme that
    /// signs the body reads it) and gives back what the handler reads.
    fn authenticate(
        &self,
        app: &App,
        body: Body,
    ) -> impl Future<Output = (Result<Self::Caller, Self::Error>, Body)> + Send;

    /// The SecretId and nonce a signed request spends, with the error of a
    /// replay, if the scheme has nonces. The guard spends it in the
    /// database once the request is authenticated, so a request captured
    /// before a restart is still refused after it.
    fn nonce<'a>(&'a self, _caller: &'a Self::Caller) -> Option<(&'a str, &'a str, Self::Error)> {
        None
    }

    /// The SecretId and quota name the caller is counted against, if any.
    fn quota<'a>(&'a self, caller: &'a Self::Caller) -> Option<(&'a str, &'a str)>;

    /// The error of a request over its quota.
    fn rate_limited(&self) -> Self::Error;

    /// The answer to an injected refusal (`limit`, `negative`, `5xx`).
    fn fault(&self, kind: FaultKind) -> Response;

    /// The answer to an error.
    fn reject(&self, e: Self::Error) -> Response;
}

/// A counted request on its way through the guard.
pub struct Guard<'a> {
    app: &'a Arc<App>,
    action: &'a str,
}

/// Counts a request under `action`.
pub fn enter<'a>(app: &'a Arc<App>, action: &'a str) -> Guard<'a> {
    app.stats.request(action);
    Guard { app, action }
}

impl Guard<'_> {
    /// Faults, authentication, rate limit, then `handler`; errors counted
    /// and rendered by `scheme`.
    pub async fn run<S, F, Fut>(self, scheme: &S, body: Body, handler: F) -> Response
    where
        S: Scheme,
        F: FnOnce(S::Caller, Body) -> Fut,
        Fut: Future<Output = Result<Response, S::Error>>,
    {
        let (app, action) = (self.app, self.action);
        let mut drop_reply = false;
        if let Some((kind, slow_ms)) = app.faults.draw(action) {
            tracing::info!(?kind, action, "injecting fault");
            match kind {
                FaultKind::Slow => {
                    tokio::time::sleep(std::time::Duration::from_millis(slow_ms)).await
                }
                FaultKind::Drop => drop_reply = true,
                FaultKind::Limit | FaultKind::Negative | FaultKind::Http5xx => {
                    discard(body).await;
                    return scheme.fault(kind);
                }
            }
        }
        // One wait for durability per request, before its answer, for
        // everything its steps wrote or read (nonce, quota, the handler's).
        let settled = app.one_wait(Self::steps(app, scheme, body, handler)).await;
        let result = match settled {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(action, error = %e, "the request's changes are not durable; not answering it");
                app.stats.error(action);
                return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
            }
        };
        let resp = result.unwrap_or_else(|e| {
            app.stats.error(action);
            scheme.reject(e)
        });
        if drop_reply {
            drop_mid_body(resp).await
        } else {
            resp
        }
    }

    /// Authentication, the nonce, the rate limit and the handler.
    async fn steps<S, F, Fut>(
        app: &App,
        scheme: &S,
        body: Body,
        handler: F,
    ) -> Result<Response, S::Error>
    where
        S: Scheme,
        F: FnOnce(S::Caller, Body) -> Fut,
        Fut: Future<Output = Result<Response, S::Error>>,
    {
        match scheme.authenticate(app, body).await {
            (Err(e), body) => {
                discard(body).await;
                Err(e)
            }
            (Ok(caller), body) => {
                let replayed = match scheme.nonce(&caller) {
                    Some((id, nonce, replay)) => match app.spend_nonce(id, nonce).await {
                        Ok(true) => None,
                        Ok(false) => Some(replay),
                        Err(e) => {
                            // Fail closed: a nonce that cannot be recorded
                            // could be replayed.
                            tracing::error!(error = %e, "spending a nonce");
                            Some(replay)
                        }
                    },
                    None => None,
                };
                let over = match (&replayed, scheme.quota(&caller)) {
                    (None, Some((id, quota))) => !app.admit(id, quota).await,
                    _ => false,
                };
                if let Some(replay) = replayed {
                    discard(body).await;
                    Err(replay)
                } else if over {
                    discard(body).await;
                    Err(scheme.rate_limited())
                } else {
                    handler(caller, body).await
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::server::config::{Account, ServerConfig};

    /// A scheme that admits `"alice"` and nobody else.
    struct Toy {
        who: &'static str,
        limited: bool,
    }

    impl Scheme for Toy {
        type Caller = String;
        type Error = &'static str;

        async fn authenticate(&self, _: &App, body: Body) -> (Result<String, &'static str>, Body) {
            let r = if self.who == "alice" {
                Ok(self.who.to_string())
            } else {
                Err("who are you")
            };
            (r, body)
        }

        fn quota<'a>(&'a self, caller: &'a String) -> Option<(&'a str, &'a str)> {
            self.limited.then_some((caller.as_str(), "Toy"))
        }

        fn rate_limited(&self) -> &'static str {
            "slow down"
        }

        fn fault(&self, kind: FaultKind) -> Response {
            self.reject(if kind == FaultKind::Limit {
                "fault limit"
            } else {
                "fault"
            })
        }

        fn reject(&self, e: &'static str) -> Response {
            Response::builder()
                .status(400)
                .header("x-why", e)
                .body(Body::empty())
                .unwrap_or_default()
        }
    }

    fn app(dir: &std::path::Path, cfg: impl FnOnce(&mut ServerConfig)) -> Arc<App> {
        let acct = Account {
            secret_id: "alice".into(),
            secret_key: "k".into(),
            app_id: 1,
        };
        let mut c = ServerConfig::new(dir.to_path_buf(), "http://x".into(), acct);
        cfg(&mut c);
        Arc::new(App::open(c).expect("open"))
    }

    async fn call(app: &Arc<App>, scheme: &Toy, runs: &AtomicU32) -> (u16, String) {
        let resp = enter(app, "Toy")
            .run(scheme, Body::empty(), |_, _| async {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(Response::new(Body::empty()))
            })
            .await;
        let why = resp
            .headers()
            .get("x-why")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (resp.status().as_u16(), why)
    }

    fn counts(app: &App) -> (u64, u64) {
        let v = app.stats.to_json();
        let a = &v["actions"]["Toy"];
        (
            a["requests"].as_u64().unwrap_or(0),
            a["errors"].as_u64().unwrap_or(0),
        )
    }

    #[tokio::test]
    async fn counts_authenticates_and_renders_errors_the_schemes_way() {
        let dir = tempfile::tempdir().expect("tmp");
        let app = app(dir.path(), |_| {});
        let runs = AtomicU32::new(0);
        let ok = Toy {
            who: "alice",
            limited: true,
        };
        assert_eq!(call(&app, &ok, &runs).await, (200, String::new()));
        let stranger = Toy {
            who: "mallory",
            limited: true,
        };
        assert_eq!(
            call(&app, &stranger, &runs).await,
            (400, "who are you".into())
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1, "no handler for a stranger");
        assert_eq!(counts(&app), (2, 1));
    }

    #[tokio::test]
    async fn rate_limits_after_authentication_under_the_schemes_quota() {
        let dir = tempfile::tempdir().expect("tmp");
        let app = app(dir.path(), |c| {
            c.rate_limits.per_action.insert("Toy".into(), 1);
        });
        let runs = AtomicU32::new(0);
        let limited = Toy {
            who: "alice",
            limited: true,
        };
        assert_eq!(call(&app, &limited, &runs).await.0, 200);
        assert_eq!(call(&app, &limited, &runs).await, (400, "slow down".into()));
        let unlimited = Toy {
            who: "alice",
            limited: false,
        };
        assert_eq!(call(&app, &unlimited, &runs).await.0, 200);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(counts(&app), (3, 1));
    }

    #[tokio::test]
    async fn a_request_waits_for_durability_once_for_all_its_store_steps() {
        let dir = tempfile::tempdir().expect("tmp");
        let app = app(dir.path(), |_| {});
        let ok = Toy {
            who: "alice",
            limited: false,
        };
        let before = app.store.wal_syncs();
        let handler_app = app.clone();
        let resp = enter(&app, "Toy")
            .run(&ok, Body::empty(), |_, _| async move {
                // Three writes, each once a sync of its own.
                for _ in 0..3 {
                    handler_app.db(|s| s.alloc_ids(1)).await.map_err(|_| "db")?;
                }
                let mark = handler_app.store.change_mark();
                assert!(
                    !handler_app.store.settled_at(mark),
                    "not synced step by step"
                );
                Ok(Response::new(Body::empty()))
            })
            .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            app.store.wal_syncs() - before,
            1,
            "one sync for the request"
        );
        assert!(
            app.store.settled_at(app.store.change_mark()),
            "durable before the answer"
        );
        // Outside a request, `App::db` still waits at each call.
        app.db(|s| s.alloc_ids(1)).await.expect("db");
        assert_eq!(app.store.wal_syncs() - before, 2);
    }

    #[tokio::test]
    async fn an_injected_refusal_comes_before_authentication_and_is_no_error() {
        let dir = tempfile::tempdir().expect("tmp");
        let app = app(dir.path(), |c| {
            c.faults = "rate=1,kinds=limit".parse().expect("spec");
        });
        let runs = AtomicU32::new(0);
        let stranger = Toy {
            who: "mallory",
            limited: true,
        };
        assert_eq!(
            call(&app, &stranger, &runs).await,
            (400, "fault limit".into())
        );
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        assert_eq!(counts(&app), (1, 0));
    }
}
