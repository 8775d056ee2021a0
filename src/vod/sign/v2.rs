//! The v2 API signature (protocol.md §1.2): HMAC-SHA1 or HMAC-SHA256 over
//! `METHOD + host + path + "?" + sorted raw name=value pairs`. The same
//! algorithm is API 3.0's signature v1 with host and path `/`
//! (protocol-api3.md §1.4, [`super::v1`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::primitives::{constant_time_eq, hmac_sha1, hmac_sha256};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vod::sign::primitives::encode_query_value;

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
}
