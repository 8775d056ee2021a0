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
}
