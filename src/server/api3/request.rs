//! Taking an API 3.0 request apart: which signature it carries (TC3 in
//! `Authorization`, or the v1 form signature in its parameters), its
//! action, version and region, and its business parameters as one JSON
//! object ([`Args`]) whatever the wire form: a POST JSON body, or a GET
//! query / POST form whose dotted names (`FileIds.0`, `A.0.B`) are
//! rebuilt into arrays and objects (protocol-api3.md §1.3 rule 7).
//!
//! [`Args`] gives the typed reads the actions need. Values from a query or
//! form are all strings, so an integer may be a decimal string there; in
//! JSON a wrong type is `InvalidParameter`. [`Args::only`] refuses a name
//! the action does not define (`UnknownParameter`).

use axum::http::{HeaderMap, Method};
use serde_json::{Map, Value};

use super::reply::{Api3Error, fail};
use crate::vod::rules::api3::codes;
use crate::vod::sign::tc3::ALGORITHM;

/// v1's common parameters, which are not the action's.
pub const V1_COMMON: &[&str] = &[
    "Action",
    "Nonce",
    "Timestamp",
    "Version",
    "Region",
    "SecretId",
    "Signature",
    "SignatureMethod",
    "Token",
    "Language",
    "RequestClient",
];

/// The signature a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigKind {
    /// `Authorization: TC3-HMAC-SHA256 …`.
    Tc3,
    /// `Signature` among the parameters (signature v1).
    V1,
    /// Neither.
    None,
}

/// A received request, before authentication.
pub struct Api3Request {
    pub method: Method,
    pub host: String,
    pub path: String,
    /// The raw query string as on the wire.
    pub query: String,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
    pub sig: SigKind,
    /// v1: every parameter, names and values decoded as received.
    pub pairs: Vec<(String, String)>,
    pub action: String,
    pub version: String,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Whether a request to `/` is API 3.0's rather than the media page's.
pub fn is_api3(method: &Method, headers: &HeaderMap, query: Option<&str>) -> bool {
    if *method == Method::POST
        || headers.contains_key("x-tc-action")
        || header(headers, "authorization").is_some_and(|a| a.starts_with(ALGORITHM))
    {
        return true;
    }
    let q = query.unwrap_or("");
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    // A GET with an Action is API 3.0's when it names the version or is
    // signed the v1 way (then a wrong version is answered NoSuchVersion).
    pairs.iter().any(|(k, _)| k == "Action")
        && pairs.iter().any(|(k, v)| {
            (k == "Version" && v == crate::vod::rules::api3::VERSION) || k == "Signature"
        })
}

impl Api3Request {
    pub fn new(
        method: Method,
        headers: HeaderMap,
        path: String,
        query: Option<String>,
        body: bytes::Bytes,
    ) -> Api3Request {
        let host = header(&headers, "host").unwrap_or("").to_string();
        let query = query.unwrap_or_default();
        let tc3 = header(&headers, "authorization").is_some_and(|a| a.starts_with(ALGORITHM));
        let is_form = header(&headers, "content-type")
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let pairs: Vec<(String, String)> = if tc3 {
            Vec::new()
        } else {
            let raw: &[u8] = if method == Method::POST && is_form {
                &body
            } else {
                query.as_bytes()
            };
            url::form_urlencoded::parse(raw)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        };
        let param = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let (sig, action, version) = if tc3 {
            (
                SigKind::Tc3,
                header(&headers, "x-tc-action").unwrap_or("").to_string(),
                header(&headers, "x-tc-version").unwrap_or("").to_string(),
            )
        } else {
            let sig = if param("Signature").is_some() {
                SigKind::V1
            } else {
                SigKind::None
            };
            let action = param("Action")
                .or_else(|| header(&headers, "x-tc-action").map(str::to_string))
                .unwrap_or_default();
            (sig, action, param("Version").unwrap_or_default())
        };
        Api3Request {
            method,
            host,
            path,
            query,
            headers,
            body,
            sig,
            pairs,
            action,
            version,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The business parameters (rule 7), once authenticated.
    pub fn args(&self) -> Result<Args, Api3Error> {
        if self.sig == SigKind::Tc3 && self.method == Method::POST {
            if self.body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Args::new(Map::new(), false));
            }
            return match serde_json::from_slice::<Value>(&self.body) {
                Ok(Value::Object(m)) => Ok(Args::new(m, false)),
                _ => Err(fail(
                    codes::INVALID_PARAMETER,
                    "The request body is not a JSON object.",
                )),
            };
        }
        let pairs: Vec<(String, String)> = if self.sig == SigKind::Tc3 {
            url::form_urlencoded::parse(self.query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        } else {
            self.pairs
                .iter()
                .filter(|(k, _)| !V1_COMMON.contains(&k.as_str()))
                .cloned()
                .collect()
        };
        unflatten(&pairs).map(|m| Args::new(m, true))
    }
}

/// Rebuilds dotted names into nested arrays and objects.
pub fn unflatten(pairs: &[(String, String)]) -> Result<Map<String, Value>, Api3Error> {
    let mut root = Value::Object(Map::new());
    for (k, v) in pairs {
        let segs: Vec<&str> = k.split('.').collect();
        if segs.len() > 8 || segs.iter().any(|s| s.is_empty()) {
            return Err(fail(
                codes::INVALID_PARAMETER,
                format!("The parameter name `{k}` is not valid."),
            ));
        }
        let mut cur = &mut root;
        for (i, seg) in segs.iter().enumerate() {
            let last = i + 1 == segs.len();
            let Value::Object(m) = cur else {
                return Err(fail(
                    codes::INVALID_PARAMETER,
                    format!("The parameter `{k}` conflicts with another."),
                ));
            };
            let slot = m
                .entry(seg.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if last {
                if !matches!(slot, Value::Object(o) if o.is_empty()) {
                    return Err(fail(
                        codes::INVALID_PARAMETER,
                        format!("The parameter `{k}` is given twice."),
                    ));
                }
                *slot = Value::String(v.clone());
            }
            cur = slot;
        }
    }
    let Value::Object(m) = arrays(root) else {
        return Ok(Map::new());
    };
    Ok(m)
}

/// Objects whose keys are exactly 0..n become arrays.
fn arrays(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let n = m.len();
            let is_array = n > 0 && (0..n).all(|i| m.contains_key(&i.to_string()));
            if is_array {
                let mut m = m;
                Value::Array(
                    (0..n)
                        .map(|i| arrays(m.remove(&i.to_string()).unwrap_or(Value::Null)))
                        .collect(),
                )
            } else {
                Value::Object(m.into_iter().map(|(k, v)| (k, arrays(v))).collect())
            }
        }
        other => other,
    }
}

/// An action's parameters with typed reads.
#[derive(Debug, Clone)]
pub struct Args {
    map: Map<String, Value>,
    /// From a query or form: every scalar is a string.
    from_form: bool,
}

fn wrong_type(name: &str, what: &str) -> Api3Error {
    fail(
        codes::INVALID_PARAMETER,
        format!("The parameter `{name}` must be {what}."),
    )
}

impl Args {
    pub fn new(map: Map<String, Value>, from_form: bool) -> Args {
        Args { map, from_form }
    }

    /// Refuses any parameter not in `known` (`UnknownParameter`).
    pub fn only(&self, known: &[&str]) -> Result<(), Api3Error> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(fail(
                codes::UNKNOWN_PARAMETER,
                format!("The parameter `{k}` is not recognized."),
            )),
            None => Ok(()),
        }
    }

    fn present(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, Api3Error> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(wrong_type(name, "a string")),
        }
    }

    pub fn req_string(&self, name: &str) -> Result<String, Api3Error> {
        self.string(name)?.ok_or_else(|| {
            fail(
                codes::MISSING_PARAMETER,
                format!("The request is missing a required parameter `{name}`."),
            )
        })
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, Api3Error> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| wrong_type(name, "an integer")),
            Some(Value::String(s)) if self.from_form => s
                .parse()
                .map(Some)
                .map_err(|_| wrong_type(name, "an integer")),
            Some(_) => Err(wrong_type(name, "an integer")),
        }
    }

    /// An array of strings (a lone string from a form counts as one).
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, Api3Error> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(wrong_type(name, "an array of strings")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(wrong_type(name, "an array of strings")),
        }
    }

    /// Whether the parameter was sent.
    pub fn has(&self, name: &str) -> bool {
        self.present(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(s.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn dotted_names_become_arrays_and_objects() {
        let m = unflatten(&p("FileIds.0=a&FileIds.1=b&SubAppId=1&D.0.Type=x&Name=a+b")).unwrap();
        assert_eq!(m["FileIds"], serde_json::json!(["a", "b"]));
        assert_eq!(m["D"], serde_json::json!([{"Type": "x"}]));
        assert_eq!(m["Name"], "a b");
        let a = Args::new(m, true);
        assert_eq!(a.int("SubAppId").unwrap(), Some(1));
        assert!(a.only(&["FileIds", "SubAppId", "D", "Name"]).is_ok());
        assert_eq!(
            a.only(&["FileIds"]).unwrap_err().code,
            codes::UNKNOWN_PARAMETER
        );
        assert!(unflatten(&p("A=1&A.0=2")).is_err());
        assert!(unflatten(&p("A=1&A=2")).is_err());
        assert!(unflatten(&p("A..B=1")).is_err());
    }

    #[test]
    fn json_types_are_checked() {
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"SubAppId": "1", "MediaType": 3, "FileIds": ["a", 1]}"#)
                .unwrap();
        let a = Args::new(m, false);
        assert_eq!(
            a.int("SubAppId").unwrap_err().code,
            codes::INVALID_PARAMETER
        );
        assert_eq!(
            a.string("MediaType").unwrap_err().code,
            codes::INVALID_PARAMETER
        );
        assert!(a.strings("FileIds").is_err());
        assert_eq!(
            a.req_string("X").unwrap_err().code,
            codes::MISSING_PARAMETER
        );
    }

    proptest::proptest! {
        #[test]
        fn unflatten_never_panics(s in "[A-Za-z0-9.=&%]{0,80}") {
            let _ = unflatten(&p(&s));
        }
    }
}
