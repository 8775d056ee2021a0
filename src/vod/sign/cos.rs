//! The COS XML request signature (protocol.md §5.3, doc 436/7778):
//! [`cos_http_string`], [`cos_signature`], [`cos_authorization`] for
//! signing and [`CosAuth::parse`] for taking a received `Authorization`
//! apart and checking it.

use sha1::Sha1;

use super::primitives::{constant_time_eq, encode_query_value, hmac_sha1};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
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

    /// protocol-api3.md §1.6 C1: cos-python-sdk-v5 with a temporary
    /// credential; the security token is a signed header.
    #[test]
    fn c1_cos_temporary_credential_upload_part() {
        let host = "abcd1234-1250000000.cos.ap-guangzhou.myqcloud.com";
        let path = "/abcd1234/5285890784000000001/f0.mp4";
        let params = p(&[("partNumber", "1"), ("uploadId", "UPID1")]);
        let headers = p(&[
            ("Content-Length", "5"),
            ("Host", host),
            ("x-cos-security-token", "tmp-token-EXAMPLE"),
        ]);
        let http = cos_http_string("PUT", path, &params, &headers);
        use sha1::Digest as _;
        assert_eq!(
            http,
            format!(
                "put\n{path}\npartnumber=1&uploadid=UPID1\ncontent-length=5&host={host}&x-cos-security-token=tmp-token-EXAMPLE\n"
            )
        );
        assert_eq!(
            hex::encode(Sha1::digest(http.as_bytes())),
            "e68ed6c51b1173679e5f5a2f328caf3440320939"
        );
        assert_eq!(
            cos_sign_key("tmpSecretKeyEXAMPLE", "1699999940;1700010000"),
            "f39f9944e4dafdb5edd99243d2f383de9f551336"
        );
        let auth = cos_authorization(
            "AKIDtmpSecretIdEXAMPLE",
            "tmpSecretKeyEXAMPLE",
            (1_699_999_940, 1_700_010_000),
            "PUT",
            path,
            &params,
            &headers,
        );
        assert_eq!(
            auth,
            "q-sign-algorithm=sha1&q-ak=AKIDtmpSecretIdEXAMPLE&q-sign-time=1699999940;1700010000&q-key-time=1699999940;1700010000&q-header-list=content-length;host;x-cos-security-token&q-url-param-list=partnumber;uploadid&q-signature=55489f163b06d018d35bb3a2c38ed825cef75a56"
        );
    }
}
