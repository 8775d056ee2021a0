//! TC3-HMAC-SHA256, the signature of API 3.0 on `vod.tencentcloudapi.com`
//! (protocol-api3.md §1.2; vectors §1.6).
//!
//! ```text
//! CanonicalRequest = METHOD \n URI \n QUERY \n CanonicalHeaders \n SignedHeaders \n hex(SHA256(payload))
//! StringToSign     = TC3-HMAC-SHA256 \n timestamp \n date/service/tc3_request \n hex(SHA256(CanonicalRequest))
//! key              = HMAC(HMAC(HMAC("TC3" + SecretKey, date), service), "tc3_request")
//! Signature        = hex(HMAC(key, StringToSign))
//! ```
//!
//! Both sides use [`Tc3Request`]: the signer lists the headers it signs
//! (they are sorted into `SignedHeaders`), the verifier lists them in the
//! order the client's `SignedHeaders` gave, with the values received — the
//! rules say to honour `SignedHeaders` as sent. The query is the raw query
//! string exactly as on the wire (never re-sorted or re-encoded), the
//! payload the raw body bytes. Header values are trimmed and lower-cased,
//! as the documentation says and the SDKs' values already are.

use sha2::{Digest as _, Sha256};

use super::primitives::{constant_time_eq, hmac_sha256};

/// First word of the `Authorization` header.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";

/// The value of `X-TC-Content-SHA256` that leaves the body unsigned.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// What a TC3 signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Tc3Request<'a> {
    /// `POST` or `GET` (upper-cased when signed).
    pub method: &'a str,
    /// The canonical URI: the path as sent, `/` for the API.
    pub path: &'a str,
    /// The raw query string as on the wire; empty for a POST.
    pub query: &'a str,
    /// The signed headers, `(name, value)`; must include `content-type`
    /// and `host`.
    pub headers: &'a [(&'a str, &'a str)],
    /// The raw body.
    pub payload: &'a [u8],
    /// `X-TC-Content-SHA256: UNSIGNED-PAYLOAD` was sent: the payload hash
    /// is that of the literal string instead of the body.
    pub unsigned_payload: bool,
    /// `X-TC-Timestamp`, Unix seconds.
    pub timestamp: u64,
    /// The service named in the scope (`vod`).
    pub service: &'a str,
}

/// The UTC date of a Unix time, `YYYY-MM-DD` (the scope's date).
pub fn date_of(timestamp: u64) -> String {
    // Days since 1970-01-01 to a civil date (proleptic Gregorian), by eras
    // of 400 years (146,097 days).
    let days = (timestamp / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `SignedHeaders`: the header names, lower-cased, `;`-joined, in the
/// order given.
pub fn signed_headers(req: &Tc3Request) -> String {
    req.headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(";")
}

/// The canonical request of §1.2.
pub fn canonical_request(req: &Tc3Request) -> String {
    let headers: String = req
        .headers
        .iter()
        .map(|(n, v)| {
            format!(
                "{}:{}\n",
                n.to_ascii_lowercase(),
                v.trim().to_ascii_lowercase()
            )
        })
        .collect();
    let payload_hash = if req.unsigned_payload {
        sha256_hex(UNSIGNED_PAYLOAD.as_bytes())
    } else {
        sha256_hex(req.payload)
    };
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        req.path,
        req.query,
        headers,
        signed_headers(req),
        payload_hash
    )
}

/// `date/service/tc3_request`.
pub fn scope(req: &Tc3Request) -> String {
    format!("{}/{}/tc3_request", date_of(req.timestamp), req.service)
}

/// The string to sign of §1.2.
pub fn string_to_sign(req: &Tc3Request) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        req.timestamp,
        scope(req),
        sha256_hex(canonical_request(req).as_bytes())
    )
}

/// The signing key for a date and service.
pub fn signing_key(secret_key: &str, date: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac_sha256(&k_date, service.as_bytes());
    hmac_sha256(&k_service, b"tc3_request")
}

/// The lower-case hex signature of `req`.
pub fn signature(secret_key: &str, req: &Tc3Request) -> String {
    let key = signing_key(secret_key, &date_of(req.timestamp), req.service);
    hex::encode(hmac_sha256(&key, string_to_sign(req).as_bytes()))
}

/// The whole `Authorization` value. The headers are signed sorted by name,
/// as the SDKs do.
pub fn authorization(secret_id: &str, secret_key: &str, req: &Tc3Request) -> String {
    let mut headers: Vec<(&str, &str)> = req.headers.to_vec();
    headers.sort_by_key(|(n, _)| n.to_ascii_lowercase());
    let req = Tc3Request {
        headers: &headers,
        ..*req
    };
    format!(
        "{ALGORITHM} Credential={secret_id}/{}, SignedHeaders={}, Signature={}",
        scope(&req),
        signed_headers(&req),
        signature(secret_key, &req)
    )
}

/// Why a received `Authorization` could not be taken apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tc3AuthError {
    #[error("Authorization is not TC3-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…")]
    Malformed,
    #[error("SignedHeaders must include content-type and host")]
    MissingSignedHeader,
}

/// A received TC3 `Authorization`, taken apart (not yet checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tc3Auth {
    pub secret_id: String,
    /// The scope's date, `YYYY-MM-DD`.
    pub date: String,
    /// The scope's service (`vod`; Node's SDK names `127` for an IP
    /// endpoint).
    pub service: String,
    /// Lower-case names, in the order sent.
    pub signed_headers: Vec<String>,
    /// 64 lower-case hex digits.
    pub signature: String,
}

impl Tc3Auth {
    /// Parses `TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request,
    /// SignedHeaders=a;b, Signature=<64 hex>` (protocol-api3.md §1.3 rules
    /// 1 and 2).
    pub fn parse(value: &str) -> Result<Tc3Auth, Tc3AuthError> {
        let rest = value
            .strip_prefix(ALGORITHM)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or(Tc3AuthError::Malformed)?;
        let mut fields = rest.split(',').map(str::trim);
        let credential = fields
            .next()
            .and_then(|f| f.strip_prefix("Credential="))
            .ok_or(Tc3AuthError::Malformed)?;
        let signed = fields
            .next()
            .and_then(|f| f.strip_prefix("SignedHeaders="))
            .ok_or(Tc3AuthError::Malformed)?;
        let signature = fields
            .next()
            .and_then(|f| f.strip_prefix("Signature="))
            .ok_or(Tc3AuthError::Malformed)?;
        if fields.next().is_some() {
            return Err(Tc3AuthError::Malformed);
        }
        let parts: Vec<&str> = credential.split('/').collect();
        let [id, date, service, "tc3_request"] = parts[..] else {
            return Err(Tc3AuthError::Malformed);
        };
        let date_ok = date.len() == 10
            && date.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        let names_ok = !signed.is_empty()
            && signed
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b';' || b == b'-');
        let sig_ok = signature.len() == 64
            && signature
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if id.is_empty() || service.is_empty() || !date_ok || !names_ok || !sig_ok {
            return Err(Tc3AuthError::Malformed);
        }
        let signed_headers: Vec<String> = signed.split(';').map(str::to_string).collect();
        if !signed_headers.iter().any(|h| h == "content-type")
            || !signed_headers.iter().any(|h| h == "host")
        {
            return Err(Tc3AuthError::MissingSignedHeader);
        }
        Ok(Tc3Auth {
            secret_id: id.to_string(),
            date: date.to_string(),
            service: service.to_string(),
            signed_headers,
            signature: signature.to_string(),
        })
    }

    /// Whether the signature matches `req`, whose headers must be the
    /// [`Tc3Auth::signed_headers`] in that order with the values received
    /// and whose service is [`Tc3Auth::service`]. The caller checks the
    /// time window and that [`Tc3Auth::date`] is the timestamp's date.
    pub fn verify(&self, secret_key: &str, req: &Tc3Request) -> bool {
        let key = signing_key(secret_key, &self.date, &self.service);
        let expected = hex::encode(hmac_sha256(&key, string_to_sign(req).as_bytes()));
        constant_time_eq(expected.as_bytes(), self.signature.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
    const KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";

    fn post<'a>(headers: &'a [(&'a str, &'a str)], body: &'a [u8], ts: u64) -> Tc3Request<'a> {
        Tc3Request {
            method: "POST",
            path: "/",
            query: "",
            headers,
            payload: body,
            unsigned_payload: false,
            timestamp: ts,
            service: "vod",
        }
    }

    #[test]
    fn dates_of_timestamps() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(1_700_000_000), "2023-11-14");
        assert_eq!(date_of(1_717_171_717), "2024-05-31");
        assert_eq!(date_of(951_782_400), "2000-02-29");
        assert_eq!(date_of(4_107_542_399), "2100-02-28");
    }

    #[test]
    fn signing_key_of_the_vectors() {
        assert_eq!(
            hex::encode(signing_key(KEY, "2023-11-14", "vod")),
            "5e6848079547ffc787bbc8ab9f114035179d9a92de06205b452f9a7156e9273e"
        );
    }

    /// §1.6 V1: tencentcloud-sdk-python, POST JSON, ApplyUpload.
    #[test]
    fn v1_python_post_apply_upload() {
        let body = br#"{"MediaType": "mp4", "MediaName": "\u6d4b\u8bd5 video", "SubAppId": 1500000001, "Procedure": "LongVideoPreset"}"#;
        assert_eq!(body.len(), 111);
        let h = [
            ("Content-Type", "application/json"),
            ("Host", "vod.tencentcloudapi.com"),
        ];
        let req = post(&h, body, 1_700_000_000);
        assert_eq!(
            canonical_request(&req),
            "POST\n/\n\ncontent-type:application/json\nhost:vod.tencentcloudapi.com\n\ncontent-type;host\nf035e77ddc896bc51802a74f78ccafbd330885890f6e07df5c75505d5d32618b"
        );
        assert_eq!(
            sha256_hex(canonical_request(&req).as_bytes()),
            "52cec659c3c25a77bc6286fb7d94806dcbecfdd520975a3c2d6c6454b2fb1a54"
        );
        assert_eq!(
            signature(KEY, &req),
            "bb99f039cdbb5b337a5ed80bd49995c2371e7c60394bfceb954d951cfbbb262c"
        );
        let auth = authorization(ID, KEY, &req);
        assert_eq!(
            auth,
            format!(
                "TC3-HMAC-SHA256 Credential={ID}/2023-11-14/vod/tc3_request, SignedHeaders=content-type;host, Signature=bb99f039cdbb5b337a5ed80bd49995c2371e7c60394bfceb954d951cfbbb262c"
            )
        );
        // The verifier's side of the same vector.
        let parsed = Tc3Auth::parse(&auth).unwrap();
        assert_eq!(parsed.secret_id, ID);
        assert!(parsed.verify(KEY, &req));
        assert!(!parsed.verify("other", &req));
        let changed = post(&h, b"{}", 1_700_000_000);
        assert!(!parsed.verify(KEY, &changed));
    }

    /// §1.6 V2: Python, GET, CommitUpload (the raw query is signed as is).
    #[test]
    fn v2_python_get_commit_upload() {
        let h = [
            ("content-type", "application/x-www-form-urlencoded"),
            ("host", "vod.tencentcloudapi.com"),
        ];
        let req = Tc3Request {
            method: "GET",
            query: "VodSessionKey=3KEGq9DWHl1xF819mM4jVFkGn5WON80N%2FrTrx56U%2BoEF%3D%3D&SubAppId=1500000001",
            ..post(&h, b"", 1_700_000_000)
        };
        assert_eq!(
            sha256_hex(canonical_request(&req).as_bytes()),
            "407b129b20c9cf18f7a741a2b4e2151c91120f4c00b3e7887215edef85b24a4b"
        );
        assert_eq!(
            signature(KEY, &req),
            "830d7cd7e4eb11e28f1048a6253f00f1b21d47147dbabbe7918cbf94f15a75be"
        );
    }

    /// §1.6 V3: a local Host with its port, signed as sent; the token is
    /// not signed.
    #[test]
    fn v3_python_local_host_with_port() {
        let body = br#"{"FileIds": ["5285890784000000001", "5285890784000000002"], "Filters": ["basicInfo", "metaData"]}"#;
        assert_eq!(body.len(), 97);
        assert_eq!(
            sha256_hex(body),
            "a17e108a511ce8f632e1d0ab8d22c07d1c1ab453e848b1dc135f13bcd74951ec"
        );
        let h = [
            ("content-type", "application/json"),
            ("host", "127.0.0.1:18931"),
        ];
        let req = post(&h, body, 1_717_171_717);
        assert_eq!(
            sha256_hex(canonical_request(&req).as_bytes()),
            "112b6cb44a78fc3dff9afcba689e2d02f6d25b706827ca066b815551e442022c"
        );
        assert_eq!(
            hex::encode(signing_key(KEY, "2024-05-31", "vod")),
            "d3c6a7b2dd4c9c224467f215dedc242e88c3495660872e15e7f61051368954c2"
        );
        assert_eq!(
            signature(KEY, &req),
            "4b48ea49aa87103fcace28f6776fd29fcfa02a8e8a93f8986e45f0a11d93df7e"
        );
        // Without the port the same request signs differently: a verifier
        // tries the Host as received first.
        let h2 = [("content-type", "application/json"), ("host", "127.0.0.1")];
        assert_ne!(
            signature(KEY, &post(&h2, body, 1_717_171_717)),
            signature(KEY, &req)
        );
    }

    /// §1.6 V4: tencentcloud-sdk-nodejs `sign3`, raw UTF-8 body.
    #[test]
    fn v4_node_raw_utf8_body() {
        let body =
            r#"{"MediaType":"mp4","MediaName":"测试 video","SubAppId":1500000001,"ClassId":0}"#;
        assert_eq!(body.len(), 80);
        let h = [
            ("content-type", "application/json"),
            ("host", "vod.tencentcloudapi.com"),
        ];
        let req = post(&h, body.as_bytes(), 1_700_000_000);
        assert_eq!(
            sha256_hex(body.as_bytes()),
            "f287c35b7d8b371a9f8d88b965a4cb7afaedb4d0b5af3c2ad6c9575fb03846ba"
        );
        assert_eq!(
            sha256_hex(canonical_request(&req).as_bytes()),
            "a712fd940afb84b4b01e65b60fa3dbf4816e815187dd64b86d3b164dc7c2a9ab"
        );
        assert_eq!(
            signature(KEY, &req),
            "a0568bdddfb695527f6a88ae7a76c9e05c86ac419e4c4dda23a6e64ba3d5a442"
        );
    }

    #[test]
    fn signed_headers_are_honoured_as_sent() {
        // The official demo also signs x-tc-action, with its value
        // lower-cased; a verifier must sign what the client listed.
        let h = [
            ("content-type", "application/json; charset=utf-8"),
            ("host", "vod.tencentcloudapi.com"),
            ("x-tc-action", "ApplyUpload"),
        ];
        let req = post(&h, b"{}", 1_700_000_000);
        let auth = Tc3Auth::parse(&authorization(ID, KEY, &req)).unwrap();
        assert_eq!(auth.signed_headers, ["content-type", "host", "x-tc-action"]);
        assert!(canonical_request(&req).contains("x-tc-action:applyupload\n"));
        assert!(auth.verify(KEY, &req));
    }

    #[test]
    fn unsigned_payload_hashes_the_literal() {
        let h = [("content-type", "application/json"), ("host", "h")];
        let a = Tc3Request {
            unsigned_payload: true,
            ..post(&h, b"{\"a\":1}", 1)
        };
        let b = Tc3Request {
            payload: b"{}",
            ..a
        };
        assert_eq!(signature(KEY, &a), signature(KEY, &b));
        assert!(canonical_request(&a).ends_with(&sha256_hex(b"UNSIGNED-PAYLOAD")));
    }

    #[test]
    fn malformed_authorizations_are_refused() {
        let sig = "a".repeat(64);
        let ok = format!(
            "TC3-HMAC-SHA256 Credential=id/2023-11-14/vod/tc3_request, SignedHeaders=content-type;host, Signature={sig}"
        );
        assert!(Tc3Auth::parse(&ok).is_ok());
        for bad in [
            String::new(),
            "TC3-HMAC-SHA256".into(),
            ok.replace("TC3-HMAC-SHA256", "TC3-HMAC-SHA1"),
            ok.replace("tc3_request", "tc4_request"),
            ok.replace("2023-11-14", "2023-1-14"),
            ok.replace(&sig, &"A".repeat(64)),
            ok.replace(&sig, &"a".repeat(63)),
            ok.replace("Credential=id/", "Credential=/"),
            ok.replace("content-type;host", "Content-Type;host"),
            format!("{ok}, Extra=1"),
        ] {
            assert_eq!(Tc3Auth::parse(&bad), Err(Tc3AuthError::Malformed), "{bad}");
        }
        assert_eq!(
            Tc3Auth::parse(&ok.replace("content-type;host", "host")),
            Err(Tc3AuthError::MissingSignedHeader)
        );
    }
}
