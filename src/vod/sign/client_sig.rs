//! The family D client-upload signature (protocol.md §4), the one a
//! signing service hands a machine that must not hold the SecretKey:
//! `Base64(HMAC-SHA1(SecretKey, Original) || Original)` (the envelope of
//! `ugc.rs`), where Original is a query string of URL-encoded values in
//! any order. [`ClientSignature`] is its fields: [`ClientSignature::sign`]
//! makes one (fixed field order), [`ClientSignature::parse`] takes a
//! received one apart (its HMAC is checked by the verifier, which knows
//! the key of its `secretId`). Parsing is strict where the service is:
//! integers must be integers (a JS float `currentTimeStamp` is refused,
//! §9.9), a field may appear once.

use super::primitives::SignError;
use super::ugc::{UgcEnvelope, ugc_sign};

/// Why a client signature's fields are refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientSigError {
    #[error("{0}")]
    Envelope(#[from] SignError),
    #[error("the signature lacks {0}")]
    Missing(&'static str),
    #[error("{field} must be an integer, got {value:?}")]
    NotInteger { field: &'static str, value: String },
    #[error("the signature has {0} more than once")]
    Repeated(String),
}

/// The fields of a client-upload signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSignature {
    pub secret_id: String,
    /// Unix seconds when it was made.
    pub current_time_stamp: u64,
    /// Unix seconds when it stops being valid (≤ 90 days later).
    pub expire_time: u64,
    pub random: u32,
    pub class_id: Option<i64>,
    pub procedure: Option<String>,
    pub task_priority: Option<i64>,
    pub task_notify_mode: Option<String>,
    pub source_context: Option<String>,
    /// `oneTimeValid`: Some(true) = the signature serves one call.
    pub one_time_valid: Option<bool>,
    /// Fields this type does not name (`vodSubAppId`, `sessionContext` …),
    /// in order, decoded.
    pub extra: Vec<(String, String)>,
}

fn enc(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

fn int<T: std::str::FromStr>(field: &'static str, v: &str) -> Result<T, ClientSigError> {
    // Digits (and a leading minus) only: "1.5e9", " 1", "+1" are refused.
    let digits = v.strip_prefix('-').unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ClientSigError::NotInteger {
            field,
            value: v.chars().take(32).collect(),
        });
    }
    v.parse().map_err(|_| ClientSigError::NotInteger {
        field,
        value: v.chars().take(32).collect(),
    })
}

impl ClientSignature {
    /// The original (signed) text: the fields that are set, in a fixed
    /// order, values URL-encoded.
    pub fn original(&self) -> String {
        let mut pairs: Vec<(&str, String)> = vec![
            ("secretId", self.secret_id.clone()),
            ("currentTimeStamp", self.current_time_stamp.to_string()),
            ("expireTime", self.expire_time.to_string()),
            ("random", self.random.to_string()),
        ];
        let opt = [
            ("classId", self.class_id.map(|c| c.to_string())),
            ("procedure", self.procedure.clone()),
            ("taskPriority", self.task_priority.map(|p| p.to_string())),
            ("taskNotifyMode", self.task_notify_mode.clone()),
            ("sourceContext", self.source_context.clone()),
            (
                "oneTimeValid",
                self.one_time_valid.map(|o| u8::from(o).to_string()),
            ),
        ];
        pairs.extend(opt.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
        let mut out: Vec<String> = pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={}", enc(&v)))
            .collect();
        out.extend(
            self.extra
                .iter()
                .map(|(k, v)| format!("{}={}", enc(k), enc(v))),
        );
        out.join("&")
    }

    /// The signature, made with the account's SecretKey.
    pub fn sign(&self, secret_key: &str) -> String {
        ugc_sign(secret_key, &self.original())
    }

    /// Takes a received signature apart (the HMAC is not checked here:
    /// see [`UgcEnvelope::verify`]); the envelope comes back with it.
    pub fn parse(signature: &str) -> Result<(ClientSignature, UgcEnvelope), ClientSigError> {
        let env = UgcEnvelope::decode(signature)?;
        let mut seen: Vec<String> = Vec::new();
        let mut s = ClientSignature::default();
        let (mut has_ts, mut has_exp, mut has_rand) = (false, false, false);
        for (k, v) in env.fields() {
            if seen.contains(&k) {
                return Err(ClientSigError::Repeated(k.chars().take(32).collect()));
            }
            seen.push(k.clone());
            match k.as_str() {
                "secretId" => s.secret_id = v,
                "currentTimeStamp" => {
                    s.current_time_stamp = int("currentTimeStamp", &v)?;
                    has_ts = true;
                }
                "expireTime" => {
                    s.expire_time = int("expireTime", &v)?;
                    has_exp = true;
                }
                "random" => {
                    s.random = int("random", &v)?;
                    has_rand = true;
                }
                "classId" => s.class_id = Some(int("classId", &v)?),
                "procedure" => s.procedure = Some(v),
                "taskPriority" => s.task_priority = Some(int("taskPriority", &v)?),
                "taskNotifyMode" => s.task_notify_mode = Some(v),
                "sourceContext" => s.source_context = Some(v),
                "oneTimeValid" => s.one_time_valid = Some(int::<u8>("oneTimeValid", &v)? == 1),
                _ => s.extra.push((k, v)),
            }
        }
        if s.secret_id.is_empty() {
            return Err(ClientSigError::Missing("secretId"));
        }
        for (has, name) in [
            (has_ts, "currentTimeStamp"),
            (has_exp, "expireTime"),
            (has_rand, "random"),
        ] {
            if !has {
                return Err(ClientSigError::Missing(name));
            }
        }
        Ok((s, env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "bLcPnl88WU30VY57ipRhSePfPdOfSruK";
    /// protocol.md §12 vector SC5.
    const SC5: &str = "secretId=AKIDxxxxxxxxUfLUEUigQiXqm7CVSspKJnuaiIKtxqAv&currentTimeStamp=1500000000&expireTime=1500086400&random=12345&classId=0&procedure=QCVB_SimpleProcessFile%281%2C+1%29&oneTimeValid=0";

    fn sc5() -> ClientSignature {
        ClientSignature {
            secret_id: "AKIDxxxxxxxxUfLUEUigQiXqm7CVSspKJnuaiIKtxqAv".into(),
            current_time_stamp: 1_500_000_000,
            expire_time: 1_500_086_400,
            random: 12345,
            class_id: Some(0),
            procedure: Some("QCVB_SimpleProcessFile(1, 1)".into()),
            one_time_valid: Some(false),
            ..Default::default()
        }
    }

    #[test]
    fn sc5_is_made_and_read_back() {
        assert_eq!(sc5().original(), SC5);
        let sig = sc5().sign(KEY);
        assert!(sig.starts_with("pOx22RSGQoHqht+aKt8MqxVP1OZz"));
        let (parsed, env) = ClientSignature::parse(&sig).unwrap();
        assert_eq!(parsed, sc5());
        env.verify(KEY).unwrap();
    }

    #[test]
    fn fields_in_any_order_and_extras_are_kept() {
        let original = "random=7&expireTime=20&sourceContext=a%26b%3Dc&vodSubAppId=150&currentTimeStamp=10&secretId=AK&oneTimeValid=1";
        let (s, env) = ClientSignature::parse(&ugc_sign(KEY, original)).unwrap();
        assert_eq!(env.original, original, "the exact bytes are kept");
        assert_eq!((s.current_time_stamp, s.expire_time, s.random), (10, 20, 7));
        assert_eq!(s.source_context.as_deref(), Some("a&b=c"));
        assert_eq!(s.one_time_valid, Some(true));
        assert_eq!(s.extra, vec![("vodSubAppId".into(), "150".into())]);
    }

    #[test]
    fn bad_fields_are_refused() {
        let parse = |o: &str| ClientSignature::parse(&ugc_sign(KEY, o)).map(|_| ());
        assert!(matches!(
            parse("secretId=A&currentTimeStamp=1500000000.5&expireTime=2&random=1"),
            Err(ClientSigError::NotInteger {
                field: "currentTimeStamp",
                ..
            })
        ));
        assert_eq!(
            parse("secretId=A&currentTimeStamp=1&random=1"),
            Err(ClientSigError::Missing("expireTime"))
        );
        assert_eq!(
            parse("currentTimeStamp=1&expireTime=2&random=1"),
            Err(ClientSigError::Missing("secretId"))
        );
        assert!(matches!(
            parse("secretId=A&currentTimeStamp=1&expireTime=2&random=1&random=2"),
            Err(ClientSigError::Repeated(_))
        ));
        assert!(matches!(
            parse("secretId=A&currentTimeStamp=1&expireTime=2&random=99999999999"),
            Err(ClientSigError::NotInteger {
                field: "random",
                ..
            })
        ));
        assert!(ClientSignature::parse("%%").is_err());
    }

    proptest::proptest! {
        /// Whatever a client sends, parsing answers (never panics), and
        /// what parses signs back to a text that parses to the same fields.
        #[test]
        fn parsing_never_panics_and_round_trips(x in "\\PC{0,160}") {
            let _ = ClientSignature::parse(&x);
            let full = format!("secretId=A&currentTimeStamp=1&expireTime=2&random=3&{x}");
            if let Ok((s, _)) = ClientSignature::parse(&ugc_sign(KEY, &full)) {
                let (again, _) = ClientSignature::parse(&s.sign(KEY)).expect("re-signed parses");
                proptest::prop_assert_eq!(again, s);
            }
        }
    }
}
