//! API 3.0's signature v1 (protocol-api3.md §1.4): what vod-node-sdk and
//! the older tencentcloud SDKs send to `vod.tencentcloudapi.com`.
//!
//! `Signature = base64(HMAC(SecretKey, METHOD + Host + "/" + "?" +
//! join("&", sorted(name=value))))` over the decoded values, `Signature`
//! itself left out, SHA-256 when `SignatureMethod=HmacSHA256`, else SHA-1.
//! Unlike the v2 rule ([`super::v2_plain_text`]) names are signed as
//! received: Python's SDK turns `_` into `.` before it sends, Node's not at
//! all, so the verifier takes the names on the wire. Host is the Host
//! header as sent, port included.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::primitives::{constant_time_eq, hmac_sha1, hmac_sha256};
use super::v2::SigMethod;

/// The string v1 signs.
pub fn plain_text(method: &str, host: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.sort();
    let joined = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!("{}{host}/?{joined}", method.to_ascii_uppercase())
}

/// The base64 signature of `params` for `host`.
pub fn signature(
    secret_key: &str,
    method: &str,
    host: &str,
    params: &[(String, String)],
) -> String {
    let plain = plain_text(method, host, params);
    let method = SigMethod::from_param(
        params
            .iter()
            .find(|(k, _)| k == "SignatureMethod")
            .map(|(_, v)| v.as_str()),
    );
    match method {
        SigMethod::HmacSha1 => B64.encode(hmac_sha1(secret_key.as_bytes(), plain.as_bytes())),
        SigMethod::HmacSha256 => B64.encode(hmac_sha256(secret_key.as_bytes(), plain.as_bytes())),
    }
}

/// Whether `received` is the signature of `params` for `host`.
pub fn verify(
    secret_key: &str,
    method: &str,
    host: &str,
    params: &[(String, String)],
    received: &str,
) -> bool {
    let expected = signature(secret_key, method, host, params);
    constant_time_eq(expected.as_bytes(), received.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §1.6 V5: Python `_build_req_with_old_signature`, CommitUpload.
    #[test]
    fn v5_python_hmac_sha256_commit_upload() {
        let body = "VodSessionKey=sess%2Bkey%2F1%3D&SubAppId=1500000001&Action=CommitUpload&RequestClient=SDK_PYTHON_3.1.195&Nonce=11886&Timestamp=1700000000&Version=2018-07-17&Region=ap-guangzhou&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&SignatureMethod=HmacSHA256&Language=zh-CN&Signature=xyjukdegUT4fojozFATG0pesq8VgQsQqcMEDySKD4QQ%3D";
        let params: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let host = "vod.tencentcloudapi.com";
        assert_eq!(
            plain_text("POST", host, &params),
            "POSTvod.tencentcloudapi.com/?Action=CommitUpload&Language=zh-CN&Nonce=11886&Region=ap-guangzhou&RequestClient=SDK_PYTHON_3.1.195&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&SignatureMethod=HmacSHA256&SubAppId=1500000001&Timestamp=1700000000&Version=2018-07-17&VodSessionKey=sess+key/1="
        );
        let key = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
        assert_eq!(
            signature(key, "POST", host, &params),
            "xyjukdegUT4fojozFATG0pesq8VgQsQqcMEDySKD4QQ="
        );
        assert!(verify(
            key,
            "POST",
            host,
            &params,
            "xyjukdegUT4fojozFATG0pesq8VgQsQqcMEDySKD4QQ="
        ));
        assert!(!verify(
            key,
            "POST",
            "vod.tencentcloudapi.com:443",
            &params,
            "xyjukdegUT4fojozFATG0pesq8VgQsQqcMEDySKD4QQ="
        ));
    }

    #[test]
    fn names_are_signed_as_received() {
        let p = |k: &str| vec![(k.to_string(), "1".to_string())];
        assert_ne!(
            plain_text("GET", "h", &p("Sub_AppId")),
            plain_text("GET", "h", &p("Sub.AppId"))
        );
        // No SignatureMethod: SHA-1 (28 base64 characters).
        assert_eq!(signature("k", "GET", "h", &p("a")).len(), 28);
    }
}
