//! The request guard's scheme for family D: the client-upload signature
//! of protocol.md §4, carried in the JSON body's `signature`.
//!
//! Checks, in order (every refusal 10004 `invalid signature: <why>`, so a
//! client knows to ask its signer again): the envelope (URL-decoded if it
//! was URL-encoded; `+` turned into a space tolerated) decodes and its
//! fields parse (`vod::sign::ClientSignature`: integers are integers) →
//! `secretId` is an account of this service → the HMAC over the exact
//! embedded text matches that account's key → `currentTimeStamp` is not
//! beyond the clock skew in the future → `expireTime` is after now → and
//! at most 90 days after `currentTimeStamp` → the settings it carries are
//! in range (10001: the signer's settings are wrong, a new signature would
//! be too) → a `oneTimeValid=1` signature is spent (refused as
//! `duplicate vod signature` if it was spent before, a restart
//! notwithstanding: the store keeps it until it expires). Nothing is
//! written for a request that fails before the HMAC matched.

use axum::body::Body;
use axum::response::Response;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::reply::{UgcDError, bad_signature, error_response, fail, invalid};
use crate::server::app::App;
use crate::server::clock::unix_now;
use crate::server::config::Account;
use crate::server::faults::FaultKind;
use crate::server::guard::Scheme;
use crate::vod::rules::ugc_d as rules;
use crate::vod::sign::ClientSignature;

/// An authenticated family D caller: the account and its signature.
pub struct Caller {
    pub acct: Account,
    pub sig: ClientSignature,
}

/// The scheme of one request: its action and its parsed body.
pub struct UgcDScheme<'a> {
    pub action: &'a str,
    pub body: &'a Map<String, Value>,
}

impl Scheme for UgcDScheme<'_> {
    type Caller = Caller;
    type Error = UgcDError;

    async fn authenticate(&self, app: &App, body: Body) -> (Result<Caller, UgcDError>, Body) {
        (authenticate(app, self.body).await, body)
    }

    fn quota<'a>(&'a self, caller: &'a Caller) -> Option<(&'a str, &'a str)> {
        Some((&caller.acct.secret_id, self.action))
    }

    fn rate_limited(&self) -> UgcDError {
        fail(
            rules::RATE_LIMITED,
            format!("request limit exceeded for {}, retry later", self.action),
        )
    }

    fn fault(&self, kind: FaultKind) -> Response {
        match kind {
            FaultKind::Limit => self.reject(self.rate_limited()),
            FaultKind::Http5xx => Response::builder()
                .status(503)
                .body(Body::empty())
                .unwrap_or_default(),
            _ => self.reject(fail(rules::TRANSIENT, "injected fault, please retry")),
        }
    }

    fn reject(&self, e: UgcDError) -> Response {
        // The message names the reason, never a secret or the signature.
        tracing::info!(
            action = self.action,
            code = e.code.code,
            message = %e.message,
            "family D request refused"
        );
        error_response(&e)
    }
}

/// Checks the signature of a request body (see the module docs).
pub async fn authenticate(app: &App, body: &Map<String, Value>) -> Result<Caller, UgcDError> {
    let text = match body.get("signature") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(invalid("signature must be a string")),
        None => return Err(invalid("missing parameter signature")),
    };
    if text.len() > rules::MAX_SIGNATURE_BYTES {
        return Err(bad_signature(format_args!(
            "longer than {} bytes",
            rules::MAX_SIGNATURE_BYTES
        )));
    }
    // Base64 has no `%`: a signature with one was URL-encoded on its way
    // (protocol.md §9.10), and means the same once decoded.
    let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    let (sig, env) = ClientSignature::parse(&decoded).map_err(bad_signature)?;
    let acct = app
        .cfg
        .account_by_id(&sig.secret_id)
        .ok_or_else(|| bad_signature("the secretId is not an account of this service"))?
        .clone();
    env.verify(&acct.secret_key)
        .map_err(|_| bad_signature("the HMAC does not match the signed text"))?;
    let now = unix_now();
    check_times(&sig, now)?;
    check_settings(&sig)?;
    if sig.one_time_valid == Some(true) {
        let digest = hex::encode(Sha256::digest(env.original.as_bytes()));
        let exp = sig.expire_time;
        if !app
            .db(move |s| s.spend_signature(&digest, exp, now))
            .await?
        {
            return Err(bad_signature(
                "duplicate vod signature: this one-time signature (oneTimeValid=1) was used already",
            ));
        }
    }
    Ok(Caller { acct, sig })
}

fn check_times(sig: &ClientSignature, now: u64) -> Result<(), UgcDError> {
    let (ts, exp) = (sig.current_time_stamp, sig.expire_time);
    if ts > now.saturating_add(rules::MAX_CLOCK_SKEW) {
        return Err(bad_signature(format_args!(
            "currentTimeStamp {ts} is in the future (now {now})"
        )));
    }
    if exp <= now {
        return Err(bad_signature(format_args!(
            "the signature expired at {exp} (expireTime; now {now})"
        )));
    }
    if exp <= ts || exp - ts > rules::MAX_VALIDITY {
        return Err(bad_signature(format_args!(
            "expireTime {exp} must be after currentTimeStamp {ts} and at most {} s (90 days) later",
            rules::MAX_VALIDITY
        )));
    }
    Ok(())
}

fn check_settings(sig: &ClientSignature) -> Result<(), UgcDError> {
    let bad = |field: &str, why: String| invalid(format!("{field} in the signature {why}"));
    if let Some(c) = sig.class_id
        && !(0..=i64::from(i32::MAX)).contains(&c)
    {
        return Err(bad("classId", format!("is {c}, not a class id")));
    }
    if let Some(p) = sig.task_priority
        && !rules::TASK_PRIORITY.contains(&p)
    {
        return Err(bad("taskPriority", format!("is {p}, not in -10..10")));
    }
    if let Some(m) = &sig.task_notify_mode
        && !rules::TASK_NOTIFY_MODES.contains(&m.as_str())
    {
        return Err(bad(
            "taskNotifyMode",
            "must be Finish, Change or None".into(),
        ));
    }
    for (field, v, max) in [
        (
            "sourceContext",
            &sig.source_context,
            rules::MAX_SOURCE_CONTEXT_CHARS,
        ),
        ("procedure", &sig.procedure, rules::MAX_PROCEDURE_CHARS),
    ] {
        if let Some(v) = v {
            if v.chars().count() > max {
                return Err(bad(field, format!("is longer than {max} characters")));
            }
            if v.chars().any(char::is_control) {
                return Err(bad(field, "contains control characters".into()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ts: u64, exp: u64) -> ClientSignature {
        ClientSignature {
            secret_id: "AK".into(),
            current_time_stamp: ts,
            expire_time: exp,
            ..Default::default()
        }
    }

    #[test]
    fn the_time_rules_at_their_edges() {
        let now = 1_800_000_000;
        let skew = rules::MAX_CLOCK_SKEW;
        assert!(check_times(&at(now, now + 1), now).is_ok());
        assert!(check_times(&at(now - 10, now), now).is_err(), "expires now");
        assert!(check_times(&at(now + skew, now + skew + 1), now).is_ok());
        assert!(check_times(&at(now + skew + 1, now + skew + 2), now).is_err());
        let max = rules::MAX_VALIDITY;
        assert!(check_times(&at(now, now + max), now).is_ok());
        assert!(check_times(&at(now, now + max + 1), now).is_err());
        assert!(
            check_times(&at(now + 5, now + 5), now).is_err(),
            "expires at its start"
        );
        for e in [
            check_times(&at(now - 10, now - 1), now),
            check_times(&at(now + 999, now + 1999), now),
        ] {
            assert_eq!(e.unwrap_err().code, rules::INVALID_SIGNATURE);
        }
    }

    #[test]
    fn settings_out_of_range_are_invalid_requests() {
        let base = at(1, 2);
        let cases = [
            ClientSignature {
                class_id: Some(-1),
                ..base.clone()
            },
            ClientSignature {
                task_priority: Some(11),
                ..base.clone()
            },
            ClientSignature {
                task_notify_mode: Some("finish".into()),
                ..base.clone()
            },
            ClientSignature {
                source_context: Some("x".repeat(rules::MAX_SOURCE_CONTEXT_CHARS + 1)),
                ..base.clone()
            },
            ClientSignature {
                procedure: Some("a\u{7}b".into()),
                ..base.clone()
            },
        ];
        for c in cases {
            assert_eq!(
                check_settings(&c).unwrap_err().code,
                rules::INVALID_REQUEST,
                "{c:?}"
            );
        }
        let fine = ClientSignature {
            class_id: Some(0),
            task_priority: Some(-10),
            task_notify_mode: Some("None".into()),
            source_context: Some("x".repeat(rules::MAX_SOURCE_CONTEXT_CHARS)),
            ..base
        };
        assert!(check_settings(&fine).is_ok());
    }
}
