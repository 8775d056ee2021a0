//! The UGC v4 signature (protocol.md §3.1): `base64(HMAC-SHA1(key,
//! original) || original)`, checked over the exact embedded bytes; and
//! `verify_content` of FinishUploadEx (§3.2).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::primitives::{SignError, constant_time_eq, hmac_sha1};

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
