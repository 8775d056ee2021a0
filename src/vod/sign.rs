//! Request signing shared by the protocol clients and by `vodfs serve`.
//!
//! Everything here is a pure function of its inputs so that the client and
//! the server compute signatures with the same code, and so that every test
//! vector of `protocol.md` §12 is a unit test.
//!
//! - v2 API signature (§1.2): HMAC-SHA1 or HMAC-SHA256 over
//!   `METHOD + host + path + "?" + sorted raw name=value pairs`.
//! - UGC v4 signature (§3.1): `base64(HMAC-SHA1(key, original) || original)`;
//!   the verifier checks the HMAC over the exact embedded bytes.
//! - `verify_content` of FinishUploadEx (§3.2).
//! - COS XML request signature (§5.3, doc 436/7778): [`cos_http_string`],
//!   [`cos_signature`], [`cos_authorization`] for signing and
//!   [`CosAuth::parse`] for taking a received `Authorization` apart.
//! - The frontwize REST scheme, our own design since the vendor's is not
//!   documented (see `doc/frontwize-auth.md`): [`frontwize_signature`],
//!   [`frontwize_authorization`], [`frontwize_presign`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::Sha1;
use sha2::Sha256;

type HmacSha1 = Hmac<Sha1>;
type HmacSha256 = Hmac<Sha256>;

/// Why a signature could not be checked or did not match.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignError {
    #[error("signature is not valid base64")]
    BadBase64,
    #[error("signature is too short")]
    TooShort,
    #[error("signature does not match")]
    Mismatch,
    #[error("signed text is not valid UTF-8")]
    NotUtf8,
}

/// The v2 signature algorithm. HmacSHA256 is used only when the request's
/// `SignatureMethod` parameter is exactly `HmacSHA256`; anything else is SHA-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigMethod {
    HmacSha1,
    HmacSha256,
}

impl SigMethod {
    /// The method a request asks for with its `SignatureMethod` parameter.
    pub fn from_param(value: Option<&str>) -> Self {
        match value {
            Some("HmacSHA256") => SigMethod::HmacSha256,
            _ => SigMethod::HmacSha1,
        }
    }
}

/// Raw HMAC-SHA1 of `msg` under `key`.
pub fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut mac = HmacSha1::new_from_slice(key).expect("hmac takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// Raw HMAC-SHA256 of `msg` under `key`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("hmac takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// The v2 string to sign: `METHOD host path ? name=value&…`, parameters sorted
/// byte-wise by name, `_` in names replaced by `.`, raw (decoded) values.
/// `params` must not contain `Signature`; it is skipped if present.
pub fn v2_plain_text(method: &str, host: &str, path: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, &str)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (k.replace('_', "."), v.as_str()))
        .collect();
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::with_capacity(64 + params.len() * 24);
    out.push_str(&method.to_ascii_uppercase());
    out.push_str(host);
    out.push_str(path);
    out.push('?');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Base64 v2 signature of a plain text.
pub fn v2_signature(secret_key: &str, plain: &str, method: SigMethod) -> String {
    match method {
        SigMethod::HmacSha1 => B64.encode(hmac_sha1(secret_key.as_bytes(), plain.as_bytes())),
        SigMethod::HmacSha256 => B64.encode(hmac_sha256(secret_key.as_bytes(), plain.as_bytes())),
    }
}

/// Signs a request: the `Signature` value for `params` sent to `method host path`.
pub fn sign_v2(
    secret_key: &str,
    method: &str,
    host: &str,
    path: &str,
    params: &[(String, String)],
) -> String {
    let algo = SigMethod::from_param(
        params
            .iter()
            .find(|(k, _)| k == "SignatureMethod")
            .map(|(_, v)| v.as_str()),
    );
    v2_signature(secret_key, &v2_plain_text(method, host, path, params), algo)
}

/// Constant-time check of a received v2 signature.
pub fn verify_v2(
    secret_key: &str,
    method: &str,
    host: &str,
    path: &str,
    params: &[(String, String)],
    received: &str,
) -> bool {
    let expected = sign_v2(secret_key, method, host, path, params);
    constant_time_eq(expected.as_bytes(), received.as_bytes())
}

/// Characters left as they are in a query value: RFC 3986 unreserved.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query name or value (space as `%20`, `+` as `%2B`).
pub fn encode_query_value(v: &str) -> String {
    utf8_percent_encode(v, QUERY_VALUE).to_string()
}

/// Builds a wire query string from raw pairs, every name and value encoded.
pub fn encode_query(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode_query_value(k), encode_query_value(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A UGC v4 (or v5: same envelope) signature: `base64(HMAC-SHA1 || original)`.
pub fn ugc_sign(secret_key: &str, original: &str) -> String {
    let mac = hmac_sha1(secret_key.as_bytes(), original.as_bytes());
    let mut buf = Vec::with_capacity(20 + original.len());
    buf.extend_from_slice(&mac);
    buf.extend_from_slice(original.as_bytes());
    B64.encode(buf)
}

/// A decoded UGC signature: the embedded HMAC and the exact signed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UgcEnvelope {
    pub mac: [u8; 20],
    /// The original text exactly as embedded (never re-serialized).
    pub original: String,
}

impl UgcEnvelope {
    /// Splits a base64 signature into HMAC and text, without checking it.
    /// Tolerates `+` having become a space in transit.
    pub fn decode(signature: &str) -> Result<Self, SignError> {
        let cleaned: String = signature.trim().replace(' ', "+");
        let raw = B64
            .decode(cleaned.as_bytes())
            .map_err(|_| SignError::BadBase64)?;
        if raw.len() <= 20 {
            return Err(SignError::TooShort);
        }
        let mut mac = [0u8; 20];
        mac.copy_from_slice(&raw[..20]);
        let original = String::from_utf8(raw[20..].to_vec()).map_err(|_| SignError::NotUtf8)?;
        Ok(UgcEnvelope { mac, original })
    }

    /// Checks the HMAC over the embedded bytes.
    pub fn verify(&self, secret_key: &str) -> Result<(), SignError> {
        let mac = hmac_sha1(secret_key.as_bytes(), self.original.as_bytes());
        if constant_time_eq(&mac, &self.mac) {
            Ok(())
        } else {
            Err(SignError::Mismatch)
        }
    }

    /// The signed fields, percent-decoded (`+` as space), in order.
    pub fn fields(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.original.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The first value of field `name`.
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// FinishUploadEx `verify_content`: `base64(HMAC-SHA1(verify_key, plain) || plain)`
/// with `plain = ExpTime=<unix>&FileId=<id>` (raw HMAC bytes, §3.2).
pub fn verify_content(verify_key: &str, exp_time: u64, file_id: &str) -> String {
    ugc_sign(verify_key, &format!("ExpTime={exp_time}&FileId={file_id}"))
}

/// Percent-encodes a COS key or value: every byte except RFC 3986
/// unreserved characters, upper-case hex (what the COS SDKs send).
pub fn cos_encode(v: &str) -> String {
    encode_query_value(v)
}

/// `name=value&…` of the signed pairs: names encoded then lower-cased, values
/// encoded, sorted by name; and the `;`-joined name list.
fn cos_pairs(pairs: &[(String, String)]) -> (String, String) {
    let mut enc: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (cos_encode(k).to_ascii_lowercase(), cos_encode(v)))
        .collect();
    enc.sort();
    let list = enc
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let joined = enc
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    (joined, list)
}

/// The COS `HttpString`: `lower(method)\npath\nparams\nheaders\n`. `path` is
/// the decoded key path (raw UTF-8, e.g. `/exampleobject(腾讯云)`); `params` and
/// `headers` are the signed subsets, raw names and values.
pub fn cos_http_string(
    method: &str,
    path: &str,
    params: &[(String, String)],
    headers: &[(String, String)],
) -> String {
    let (p, _) = cos_pairs(params);
    let (h, _) = cos_pairs(headers);
    format!("{}\n{path}\n{p}\n{h}\n", method.to_ascii_lowercase())
}

/// `hex(HMAC-SHA1(SecretKey, KeyTime))`.
pub fn cos_sign_key(secret_key: &str, key_time: &str) -> String {
    hex::encode(hmac_sha1(secret_key.as_bytes(), key_time.as_bytes()))
}

/// The COS signature of an `HttpString`: `hex(HMAC-SHA1(SignKey, "sha1\n" +
/// KeyTime + "\n" + hex(SHA1(HttpString)) + "\n"))`, the SignKey used as text.
pub fn cos_signature(secret_key: &str, key_time: &str, http_string: &str) -> String {
    use sha1::Digest as _;
    let sign_key = cos_sign_key(secret_key, key_time);
    let digest = hex::encode(Sha1::digest(http_string.as_bytes()));
    let to_sign = format!("sha1\n{key_time}\n{digest}\n");
    hex::encode(hmac_sha1(sign_key.as_bytes(), to_sign.as_bytes()))
}

/// A complete COS `Authorization` value signing `method path` with the given
/// parameter and header subsets over the validity `start;end`.
pub fn cos_authorization(
    secret_id: &str,
    secret_key: &str,
    (start, end): (u64, u64),
    method: &str,
    path: &str,
    params: &[(String, String)],
    headers: &[(String, String)],
) -> String {
    let key_time = format!("{start};{end}");
    let http = cos_http_string(method, path, params, headers);
    let sig = cos_signature(secret_key, &key_time, &http);
    let (_, param_list) = cos_pairs(params);
    let (_, header_list) = cos_pairs(headers);
    format!(
        "q-sign-algorithm=sha1&q-ak={secret_id}&q-sign-time={key_time}&q-key-time={key_time}\
         &q-header-list={header_list}&q-url-param-list={param_list}&q-signature={sig}"
    )
}

/// A received COS `Authorization`, taken apart (not yet checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosAuth {
    pub secret_id: String,
    pub key_time: String,
    /// Start and end of the key time, Unix seconds.
    pub window: (u64, u64),
    /// Lower-case names of the signed headers.
    pub header_list: Vec<String>,
    /// Lower-case names of the signed query parameters.
    pub param_list: Vec<String>,
    pub signature: String,
}

impl CosAuth {
    /// Parses `q-sign-algorithm=sha1&q-ak=…&…`; `None` when a field is
    /// missing, the algorithm is not sha1 or the key time is malformed.
    pub fn parse(value: &str) -> Option<CosAuth> {
        let mut fields = std::collections::HashMap::new();
        for part in value.trim().split('&') {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            fields.insert(k.trim(), v.trim());
        }
        if fields.get("q-sign-algorithm")? != &"sha1" {
            return None;
        }
        let key_time = (*fields.get("q-key-time")?).to_string();
        let (a, b) = key_time.split_once(';')?;
        let window = (a.parse().ok()?, b.parse().ok()?);
        let list = |name: &str| -> Option<Vec<String>> {
            let v: &str = fields.get(name)?;
            Some(
                v.split(';')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.to_ascii_lowercase())
                    .collect(),
            )
        };
        Some(CosAuth {
            secret_id: (*fields.get("q-ak")?).to_string(),
            window,
            header_list: list("q-header-list")?,
            param_list: list("q-url-param-list")?,
            signature: (*fields.get("q-signature")?).to_ascii_lowercase(),
            key_time,
        })
    }

    /// Checks the signature given the received request's decoded path and
    /// the values of the listed parameters and headers (found by the caller).
    pub fn verify(
        &self,
        secret_key: &str,
        method: &str,
        path: &str,
        params: &[(String, String)],
        headers: &[(String, String)],
    ) -> bool {
        let http = cos_http_string(method, path, params, headers);
        let expected = cos_signature(secret_key, &self.key_time, &http);
        constant_time_eq(expected.as_bytes(), self.signature.as_bytes())
    }
}

/// Name of the frontwize signing scheme, first word of `Authorization`.
pub const FRONTWIZE_SCHEME: &str = "QVOD-HMAC-SHA256";

/// Header carrying the request time (Unix seconds) covered by the signature.
pub const FRONTWIZE_DATE_HEADER: &str = "x-qvod-date";

/// The frontwize request signature (our design, `doc/frontwize-auth.md`):
/// `hex(HMAC-SHA256(SecretKey, "QVOD-HMAC-SHA256\n" + METHOD + "\n" + path
/// + "\n" + date + "\n" + hex(SHA256(body))))`.
pub fn frontwize_signature(
    secret_key: &str,
    method: &str,
    path: &str,
    date: &str,
    body: &[u8],
) -> String {
    use sha2::Digest as _;
    let body_hash = hex::encode(Sha256::digest(body));
    let to_sign = format!(
        "{FRONTWIZE_SCHEME}\n{}\n{path}\n{date}\n{body_hash}",
        method.to_ascii_uppercase()
    );
    hex::encode(hmac_sha256(secret_key.as_bytes(), to_sign.as_bytes()))
}

/// The `Authorization` value of a frontwize request.
pub fn frontwize_authorization(
    secret_id: &str,
    secret_key: &str,
    method: &str,
    path: &str,
    date: &str,
    body: &[u8],
) -> String {
    let sig = frontwize_signature(secret_key, method, path, date, body);
    format!("{FRONTWIZE_SCHEME} Credential={secret_id}, Signature={sig}")
}

/// Splits a frontwize `Authorization` into (SecretId, signature).
pub fn frontwize_parse_authorization(value: &str) -> Option<(String, String)> {
    let rest = value.trim().strip_prefix(FRONTWIZE_SCHEME)?.trim_start();
    let mut id = None;
    let mut sig = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => id = Some(v.to_string()),
            "Signature" => sig = Some(v.to_ascii_lowercase()),
            _ => return None,
        }
    }
    Some((id?, sig?))
}

/// The signature of a presigned frontwize upload URL: `hex(HMAC-SHA256(
/// SecretKey, "PUT\n" + path + "\n" + expires))`.
pub fn frontwize_presign(secret_key: &str, path: &str, expires: u64) -> String {
    let to_sign = format!("PUT\n{path}\n{expires}");
    hex::encode(hmac_sha256(secret_key.as_bytes(), to_sign.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3Cozk1qA";
    const ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA";

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn common(action: &str) -> Vec<(String, String)> {
        p(&[
            ("Action", action),
            ("Nonce", "11886"),
            ("Region", "gz"),
            ("SecretId", ID),
            ("Timestamp", "1465185768"),
        ])
    }

    #[test]
    fn t1_official_describe_instances_sha1() {
        let params = p(&[
            ("Action", "DescribeInstances"),
            ("Nonce", "11886"),
            ("Region", "gz"),
            ("SecretId", ID),
            ("Timestamp", "1465185768"),
            ("instanceIds.0", "ins-09dx96dg"),
            ("limit", "20"),
            ("offset", "0"),
        ]);
        let plain = v2_plain_text("GET", "cvm.api.qcloud.com", "/v2/index.php", &params);
        assert_eq!(
            plain,
            "GETcvm.api.qcloud.com/v2/index.php?Action=DescribeInstances&Nonce=11886&Region=gz&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA&Timestamp=1465185768&instanceIds.0=ins-09dx96dg&limit=20&offset=0"
        );
        let sig = v2_signature(KEY, &plain, SigMethod::HmacSha1);
        assert_eq!(sig, "NSI3UqqD99b/UJb4tbG/xZpRW64=");
        assert_eq!(
            encode_query_value(&sig),
            "NSI3UqqD99b%2FUJb4tbG%2FxZpRW64%3D"
        );
    }

    #[test]
    fn t1_note_masked_id_gives_other_value() {
        let plain = "GETcvm.api.qcloud.com/v2/index.php?Action=DescribeInstances&Nonce=11886&Region=gz&SecretId=AKIDxxxxxxxxz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA&Timestamp=1465185768&instanceIds.0=ins-09dx96dg&limit=20&offset=0";
        // protocol.md says the masked id gives this value; it is not T1's.
        let sig = v2_signature(KEY, plain, SigMethod::HmacSha1);
        assert_ne!(sig, "NSI3UqqD99b/UJb4tbG/xZpRW64=");
    }

    #[test]
    fn t2_t3_sha256_and_sha1() {
        let mut params = p(&[
            ("Action", "DescribeInstances"),
            ("InstanceIds.0", "ins-09dx96dg"),
            ("Nonce", "11886"),
            ("Region", "ap-guangzhou"),
            ("SecretId", ID),
            ("SignatureMethod", "HmacSHA256"),
            ("Timestamp", "1465185768"),
        ]);
        assert_eq!(
            sign_v2(KEY, "GET", "cvm.api.qcloud.com", "/v2/index.php", &params),
            "0EEm/HtGRr/VJXTAD9tYMth1Bzm3lLHz5RCDv1GdM8s="
        );
        params[5].1 = "HmacSHA1".into();
        assert_eq!(
            sign_v2(KEY, "GET", "cvm.api.qcloud.com", "/v2/index.php", &params),
            "nPVnY6njQmwQ8ciqbPl5Qe+Oru4="
        );
    }

    #[test]
    fn sc1_upload_part_post() {
        let mut params = common("UploadPart");
        params.extend(p(&[
            ("fileSha", "b4a5c70c76e79e01ab3a5c306de3d9eedeadeca9"),
            ("offset", "0"),
            ("dataSize", "1048576"),
            ("dataMd5", "0bee89b07a248e27c83fc3d5951213c1"),
        ]));
        let plain = v2_plain_text("POST", "vod2.qcloud.com", "/v2/index.php", &params);
        assert_eq!(
            plain,
            "POSTvod2.qcloud.com/v2/index.php?Action=UploadPart&Nonce=11886&Region=gz&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA&Timestamp=1465185768&dataMd5=0bee89b07a248e27c83fc3d5951213c1&dataSize=1048576&fileSha=b4a5c70c76e79e01ab3a5c306de3d9eedeadeca9&offset=0"
        );
        let sig = sign_v2(KEY, "POST", "vod2.qcloud.com", "/v2/index.php", &params);
        assert_eq!(sig, "LOod9k0inEiX+nqogSMW1PIsRas=");
        assert_eq!(encode_query_value(&sig), "LOod9k0inEiX%2BnqogSMW1PIsRas%3D");
        assert!(verify_v2(
            KEY,
            "POST",
            "vod2.qcloud.com",
            "/v2/index.php",
            &params,
            &sig
        ));
        assert!(!verify_v2(
            KEY,
            "GET",
            "vod2.qcloud.com",
            "/v2/index.php",
            &params,
            &sig
        ));
        assert!(!verify_v2(
            KEY,
            "POST",
            "vod2.qcloud.com",
            "/v3/index.php",
            &params,
            &sig
        ));
    }

    fn sc2_params() -> Vec<(String, String)> {
        let mut params = common("InitUpload");
        params.extend(p(&[
            ("fileName", "测试 视频"),
            ("fileSha", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            ("fileSize", "3"),
            ("dataSize", "524288"),
            ("fileType", "mp4"),
            ("tags.1", "foo"),
            ("classId", "0"),
            ("isTranscode", "0"),
            ("isScreenshot", "0"),
            ("isWatermark", "0"),
        ]));
        params
    }

    #[test]
    fn sc2_init_upload_utf8_name() {
        let params = sc2_params();
        assert_eq!(
            sign_v2(KEY, "GET", "vod2.qcloud.com", "/v2/index.php", &params),
            "yXOPOAsQ58v9vF4k2ZvQdVlJt3M="
        );
        assert_eq!(
            encode_query_value("测试 视频"),
            "%E6%B5%8B%E8%AF%95%20%E8%A7%86%E9%A2%91"
        );
    }

    #[test]
    fn sc3_finish_upload_sha256() {
        let mut params = common("FinishUpload");
        params.push((
            "fileSha".into(),
            "a9993e364706816aba3e25717850c26c9cd0d89d".into(),
        ));
        params.push(("SignatureMethod".into(), "HmacSHA256".into()));
        assert_eq!(
            sign_v2(KEY, "GET", "vod2.qcloud.com", "/v2/index.php", &params),
            "CIrg9LBMemAxft8kIUUUR9txFYe+gzPn7u9itT9sRV0="
        );
    }

    #[test]
    fn underscore_in_names_becomes_dot() {
        let a = p(&[("tags_1", "x"), ("Action", "A")]);
        let b = p(&[("tags.1", "x"), ("Action", "A")]);
        assert_eq!(
            v2_plain_text("GET", "h", "/p", &a),
            v2_plain_text("GET", "h", "/p", &b)
        );
    }

    const UGC_KEY: &str = "bLcPnl88WU30VY57ipRhSePfPdOfSruK";
    const SC4_ORIGINAL: &str = "s=AKIDxxxxxxxxUfLUEUigQiXqm7CVSspKJnuaiIKtxqAv&t=1500000000&e=1500086400&f=tencent_test&fs=a9993e364706816aba3e25717850c26c9cd0d89d&ft=mp4&uid=1234&r=12345";
    const SC4_SIG: &str = "e9qzN8PgWOWz+nrSyeWH60iZ+j1zPUFLSUR4eHh4eHh4eFVmTFVFVWlnUWlYcW03Q1ZTc3BLSm51YWlJS3R4cUF2JnQ9MTUwMDAwMDAwMCZlPTE1MDAwODY0MDAmZj10ZW5jZW50X3Rlc3QmZnM9YTk5OTNlMzY0NzA2ODE2YWJhM2UyNTcxNzg1MGMyNmM5Y2QwZDg5ZCZmdD1tcDQmdWlkPTEyMzQmcj0xMjM0NQ==";

    #[test]
    fn sc4_ugc_v4_sign_and_verify() {
        assert_eq!(
            hex::encode(hmac_sha1(UGC_KEY.as_bytes(), SC4_ORIGINAL.as_bytes())),
            "7bdab337c3e058e5b3fa7ad2c9e587eb4899fa3d"
        );
        assert_eq!(ugc_sign(UGC_KEY, SC4_ORIGINAL), SC4_SIG);
        let env = UgcEnvelope::decode(SC4_SIG).unwrap();
        assert_eq!(env.original, SC4_ORIGINAL);
        env.verify(UGC_KEY).unwrap();
        assert_eq!(env.verify("other"), Err(SignError::Mismatch));
        assert_eq!(
            env.field("fs").as_deref(),
            Some("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(env.field("e").as_deref(), Some("1500086400"));
        // A '+' turned into a space in transit still decodes to the same bytes.
        let spaced = SC4_SIG.replace('+', " ");
        assert_eq!(UgcEnvelope::decode(&spaced).unwrap(), env);
    }

    #[test]
    fn sc5_ugc_v5_hmac() {
        let original = "secretId=AKIDxxxxxxxxUfLUEUigQiXqm7CVSspKJnuaiIKtxqAv&currentTimeStamp=1500000000&expireTime=1500086400&random=12345&classId=0&procedure=QCVB_SimpleProcessFile%281%2C+1%29&oneTimeValid=0";
        assert_eq!(
            hex::encode(hmac_sha1(UGC_KEY.as_bytes(), original.as_bytes())),
            "a4ec76d914864281ea86df9a2adf0cab154fd4e6"
        );
        assert!(ugc_sign(UGC_KEY, original).starts_with("pOx22RSGQoHqht+aKt8MqxVP1OZz"));
    }

    #[test]
    fn t4_verify_content() {
        let key = "6367c48dd193d56ea7b0baad25b19455e529f5ee";
        let plain = "ExpTime=1488160264&FileId=7031868222808505913";
        assert_eq!(
            hex::encode(hmac_sha1(key.as_bytes(), plain.as_bytes())),
            "3329644b0598a76c6c49c597a2a73d8a5f07abe9"
        );
        let vc = verify_content(key, 1488160264, "7031868222808505913");
        let env = UgcEnvelope::decode(&vc).unwrap();
        assert_eq!(env.original, plain);
        env.verify(key).unwrap();
    }

    #[test]
    fn garbage_signatures_are_errors() {
        assert_eq!(UgcEnvelope::decode("%%%"), Err(SignError::BadBase64));
        assert_eq!(UgcEnvelope::decode("YWJj"), Err(SignError::TooShort));
    }

    const COS_KEY: &str = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz";
    const COS_HOST: &str = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com";

    #[test]
    fn t5_cos_put_object() {
        let headers = p(&[
            ("Date", "Thu, 16 May 2019 06:45:51 GMT"),
            ("Host", COS_HOST),
            ("Content-Type", "text/plain"),
            ("Content-Length", "13"),
            ("Content-MD5", "mQ/fVh815F3k6TAUm8m0eg=="),
            ("x-cos-acl", "private"),
            ("x-cos-grant-read", "uin=\"100000000011\""),
        ]);
        let key_time = "1557989151;1557996351";
        assert_eq!(
            cos_sign_key(COS_KEY, key_time),
            "eb2519b498b02ac213cb1f3d1a3d27a3b3c9bc5f"
        );
        let http = cos_http_string("PUT", "/exampleobject(腾讯云)", &[], &headers);
        use sha1::Digest as _;
        assert_eq!(
            hex::encode(Sha1::digest(http.as_bytes())),
            "8b2751e77f43a0995d6e9eb9477f4b685cca4172"
        );
        assert_eq!(
            cos_signature(COS_KEY, key_time, &http),
            "3b8851a11a569213c17ba8fa7dcf2abec6935172"
        );
        let auth = cos_authorization(
            "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q",
            COS_KEY,
            (1557989151, 1557996351),
            "put",
            "/exampleobject(腾讯云)",
            &[],
            &headers,
        );
        assert!(auth.ends_with(
            "q-header-list=content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read&q-url-param-list=&q-signature=3b8851a11a569213c17ba8fa7dcf2abec6935172"
        ));
        let parsed = CosAuth::parse(&auth).unwrap();
        assert_eq!(parsed.window, (1557989151, 1557996351));
        assert!(parsed.verify(COS_KEY, "PUT", "/exampleobject(腾讯云)", &[], &headers));
        assert!(!parsed.verify(COS_KEY, "PUT", "/exampleobject", &[], &headers));
    }

    #[test]
    fn t6_cos_get_object_with_params() {
        let params = p(&[
            ("response-content-type", "application/octet-stream"),
            ("response-cache-control", "max-age=600"),
        ]);
        let headers = p(&[
            ("Date", "Thu, 16 May 2019 06:55:53 GMT"),
            ("Host", COS_HOST),
        ]);
        let key_time = "1557989753;1557996953";
        assert_eq!(
            cos_sign_key(COS_KEY, key_time),
            "937914bf490e9e8c189836aad2052e4feeb35eaf"
        );
        let http = cos_http_string("get", "/exampleobject(腾讯云)", &params, &headers);
        assert!(http.contains(
            "\nresponse-cache-control=max-age%3D600&response-content-type=application%2Foctet-stream\n"
        ));
        assert_eq!(
            cos_signature(COS_KEY, key_time, &http),
            "01681b8c9d798a678e43b685a9f1bba0f6c0e012"
        );
    }

    #[test]
    fn cos_auth_parse_rejects_garbage() {
        assert_eq!(CosAuth::parse(""), None);
        assert_eq!(CosAuth::parse("q-sign-algorithm=md5&q-ak=x"), None);
        assert_eq!(
            CosAuth::parse(
                "q-sign-algorithm=sha1&q-ak=a&q-sign-time=1;2&q-key-time=x;2&q-header-list=&q-url-param-list=&q-signature=ab"
            ),
            None
        );
    }

    #[test]
    fn frontwize_round_trip() {
        let auth = frontwize_authorization("id", "key", "post", "/v1/media", "1700000000", b"{}");
        let (id, sig) = frontwize_parse_authorization(&auth).unwrap();
        assert_eq!(id, "id");
        assert_eq!(
            sig,
            frontwize_signature("key", "POST", "/v1/media", "1700000000", b"{}")
        );
        assert_ne!(
            sig,
            frontwize_signature("key", "POST", "/v1/media", "1700000001", b"{}")
        );
        assert_ne!(
            sig,
            frontwize_signature("key", "POST", "/v1/media", "1700000000", b"{ }")
        );
        assert_eq!(frontwize_parse_authorization("Basic abc"), None);
        assert_ne!(
            frontwize_presign("k", "/a", 1),
            frontwize_presign("k", "/a", 2)
        );
    }
}
