//! The frontwize REST scheme, our own design since the vendor's is not
//! documented (see `doc/frontwize-auth.md`): [`frontwize_signature`],
//! [`frontwize_authorization`], [`frontwize_presign`].

use sha2::Sha256;

use super::primitives::hmac_sha256;

/// Name of the frontwize signing scheme, first word of `Authorization`.
pub const FRONTWIZE_SCHEME: &str = "QVOD-HMAC-SHA256";

/// Header carrying the request time (Unix seconds) covered by the signature.
pub const FRONTWIZE_DATE_HEADER: &str = "x-qvod-date";

/// Header carrying the request's nonce (1-64 of `A-Za-z0-9_-`, new for
/// every request, retries included), covered by the signature: the service
/// refuses a nonce it saw within the date window.
pub const FRONTWIZE_NONCE_HEADER: &str = "x-qvod-nonce";

/// Whether `nonce` is a well-formed [`FRONTWIZE_NONCE_HEADER`] value.
pub fn frontwize_nonce_ok(nonce: &str) -> bool {
    (1..=64).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The frontwize request signature (our design, `doc/frontwize-auth.md`):
/// `hex(HMAC-SHA256(SecretKey, "QVOD-HMAC-SHA256\n" + METHOD + "\n" + path
/// + "\n" + date + "\n" + nonce + "\n" + hex(SHA256(body))))`.
pub fn frontwize_signature(
    secret_key: &str,
    method: &str,
    path: &str,
    date: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    use sha2::Digest as _;
    let body_hash = hex::encode(Sha256::digest(body));
    let to_sign = format!(
        "{FRONTWIZE_SCHEME}\n{}\n{path}\n{date}\n{nonce}\n{body_hash}",
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
    nonce: &str,
    body: &[u8],
) -> String {
    let sig = frontwize_signature(secret_key, method, path, date, nonce, body);
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

    #[test]
    fn frontwize_round_trip() {
        let auth =
            frontwize_authorization("id", "key", "post", "/v1/media", "1700000000", "n1", b"{}");
        let (id, sig) = frontwize_parse_authorization(&auth).unwrap();
        assert_eq!(id, "id");
        assert_eq!(
            sig,
            frontwize_signature("key", "POST", "/v1/media", "1700000000", "n1", b"{}")
        );
        assert_ne!(
            sig,
            frontwize_signature("key", "POST", "/v1/media", "1700000001", "n1", b"{}")
        );
        assert_ne!(
            sig,
            frontwize_signature("key", "POST", "/v1/media", "1700000000", "n1", b"{ }")
        );
        assert_ne!(
            sig,
            frontwize_signature("key", "POST", "/v1/media", "1700000000", "n2", b"{}")
        );
        assert!(
            frontwize_nonce_ok("a-Z_09") && !frontwize_nonce_ok("") && !frontwize_nonce_ok("a b")
        );
        assert_eq!(frontwize_parse_authorization("Basic abc"), None);
        assert_ne!(
            frontwize_presign("k", "/a", 1),
            frontwize_presign("k", "/a", 2)
        );
    }
}
