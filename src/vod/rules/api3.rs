//! API 3.0's rules (protocol-api3.md §1.5, §2): the version, the error
//! codes and how a client reads them, the COS part-count limit and the
//! parameter limits of ApplyUpload. The client flow (`vod::api3`) follows
//! them; `vodfs serve` enforces them.

/// The API version of the VOD upload actions.
pub const VERSION: &str = "2018-07-17";

/// The service named in a TC3 scope.
pub const SERVICE: &str = "vod";

/// The cloud's API host.
pub const CLOUD_HOST: &str = "vod.tencentcloudapi.com";

/// The region a client names unless told otherwise.
pub const DEFAULT_REGION: &str = "ap-guangzhou";

/// Most parts a COS multipart upload takes.
pub const MAX_PARTS: u64 = 10_000;

/// Longest SourceContext, in characters.
pub const MAX_SOURCE_CONTEXT: usize = 250;

/// Longest SessionContext, in characters.
pub const MAX_SESSION_CONTEXT: usize = 1000;

/// Error codes of §1.5 a client or the service names.
pub mod code {
    pub const SIGNATURE_FAILURE: &str = "AuthFailure.SignatureFailure";
    pub const SIGNATURE_EXPIRE: &str = "AuthFailure.SignatureExpire";
    pub const SECRET_ID_NOT_FOUND: &str = "AuthFailure.SecretIdNotFound";
    pub const INVALID_AUTHORIZATION: &str = "AuthFailure.InvalidAuthorization";
    pub const TOKEN_FAILURE: &str = "AuthFailure.TokenFailure";
    pub const INTERNAL_ERROR: &str = "InternalError";
    pub const REQUEST_LIMIT_EXCEEDED: &str = "RequestLimitExceeded";
    pub const MISSING_PARAMETER: &str = "MissingParameter";
    pub const INVALID_PARAMETER: &str = "InvalidParameter";
    pub const INVALID_PARAMETER_VALUE: &str = "InvalidParameterValue";
    pub const UNKNOWN_PARAMETER: &str = "UnknownParameter";
    pub const INVALID_ACTION: &str = "InvalidAction";
    pub const NO_SUCH_VERSION: &str = "NoSuchVersion";
    pub const VOD_SESSION_KEY: &str = "InvalidParameterValue.VodSessionKey";
    pub const RESOURCE_NOT_FOUND: &str = "ResourceNotFound";
}

/// `code` or a sub-code of it (`RequestLimitExceeded.UinLimitExceeded`).
fn is_family(c: &str, family: &str) -> bool {
    c == family || c.strip_prefix(family).is_some_and(|r| r.starts_with('.'))
}

/// The service asks the client to slow down: `RequestLimitExceeded*`.
pub fn is_throttled(c: &str) -> bool {
    is_family(c, code::REQUEST_LIMIT_EXCEEDED)
}

/// Whether the same call may succeed if made again: the rate limits and
/// the service's own failures. `AuthFailure.*`, `InvalidParameter*` and
/// every other code fail at once.
pub fn may_retry(c: &str) -> bool {
    is_throttled(c)
        || is_family(c, code::INTERNAL_ERROR)
        || is_family(c, "ServiceUnavailable")
        || is_family(c, "ResourceUnavailable")
}

/// The parameter a code names (`InvalidParameterValue.ClassId` → `ClassId`),
/// for the parameter-error families.
pub fn parameter_of(c: &str) -> Option<&str> {
    [
        code::INVALID_PARAMETER_VALUE,
        code::INVALID_PARAMETER,
        code::MISSING_PARAMETER,
        code::UNKNOWN_PARAMETER,
    ]
    .iter()
    .find_map(|f| c.strip_prefix(f)?.strip_prefix('.'))
    .filter(|p| !p.is_empty())
}

/// The part size for a file of `size` bytes: at least `preferred` and COS's
/// smallest part, large enough that the file fits in [`MAX_PARTS`] parts,
/// in whole MiB (a part is at most 4 GiB, so files up to 39 TiB fit).
pub fn part_size_for(size: u64, preferred: u32) -> u32 {
    const MIB: u64 = 1 << 20;
    let floor = u64::from(preferred.max(super::parts::COS_MIN_PART));
    let needed = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    u32::try_from(floor.max(needed)).unwrap_or(u32::MAX - (u32::MAX % (1 << 20)))
}

/// Checks a StorageRegion: a COS region name such as `ap-chongqing`
/// (lower-case letters, digits and `-`, at most 32 bytes).
pub fn check_storage_region(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 32
        && v.starts_with(|c: char| c.is_ascii_lowercase())
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{v:?} is not a storage region (such as ap-chongqing)"
        ))
    }
}

/// Checks an ExpireTime: ISO 8601 `YYYY-MM-DDThh:mm:ssZ` or with an offset
/// `±hh:mm` (`2030-01-01T00:00:00Z`, `2030-01-01T08:00:00+08:00`).
pub fn check_expire_time(v: &str) -> Result<(), String> {
    let bad = || format!("{v:?} is not an ISO 8601 time such as 2030-01-01T00:00:00Z");
    let b = v.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = v.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let fields = [
        (num(0..4), 0, 9999),
        (num(5..7), 1, 12),
        (num(8..10), 1, 31),
        (num(11..13), 0, 23),
        (num(14..16), 0, 59),
        (num(17..19), 0, 60),
    ];
    if !fields
        .iter()
        .all(|(n, lo, hi)| n.is_some_and(|n| (*lo..=*hi).contains(&n)))
    {
        return Err(bad());
    }
    let zone = &v[19..];
    let zb = zone.as_bytes();
    let zone_ok = zone == "Z"
        || (zb.len() == 6
            && matches!(zb[0], b'+' | b'-')
            && zb[3] == b':'
            && num(20..22).is_some_and(|h| h <= 23)
            && num(23..25).is_some_and(|m| m <= 59));
    if zone_ok { Ok(()) } else { Err(bad()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_values_are_checked() {
        assert!(check_storage_region("ap-chongqing").is_ok());
        assert!(check_storage_region("ap-guangzhou-2").is_ok());
        assert!(check_storage_region("").is_err());
        assert!(check_storage_region("AP-x").is_err());
        assert!(check_storage_region("ap chongqing").is_err());
        assert!(check_expire_time("2030-01-01T00:00:00Z").is_ok());
        assert!(check_expire_time("2030-01-01T08:00:00+08:00").is_ok());
        assert!(check_expire_time("2030-13-01T00:00:00Z").is_err());
        assert!(check_expire_time("2030-01-01 00:00:00Z").is_err());
        assert!(check_expire_time("2030-01-01T00:00:00").is_err());
        assert!(check_expire_time("tomorrow").is_err());
        assert!(check_expire_time("2030-01-01T00:00:00+8").is_err());
    }

    #[test]
    fn codes_are_read_by_family() {
        assert!(is_throttled("RequestLimitExceeded"));
        assert!(is_throttled("RequestLimitExceeded.UinLimitExceeded"));
        assert!(!is_throttled("RequestLimitExceededX"));
        assert!(may_retry("InternalError"));
        assert!(may_retry("RequestLimitExceeded.IPLimitExceeded"));
        assert!(!may_retry("AuthFailure.SignatureFailure"));
        assert!(!may_retry("InvalidParameterValue.ClassId"));
        assert!(!may_retry("FailedOperation"));
        assert_eq!(
            parameter_of("InvalidParameterValue.ClassId"),
            Some("ClassId")
        );
        assert_eq!(
            parameter_of("InvalidParameter.ExpireTime"),
            Some("ExpireTime")
        );
        assert_eq!(parameter_of("MissingParameter"), None);
        assert_eq!(parameter_of("AuthFailure.TokenFailure"), None);
    }

    #[test]
    fn any_file_fits_in_ten_thousand_parts() {
        assert_eq!(part_size_for(0, 524_288), 1 << 20);
        assert_eq!(part_size_for(5 << 20, 1 << 20), 1 << 20);
        assert_eq!(part_size_for(10_000 << 20, 1 << 20), 1 << 20);
        assert_eq!(part_size_for((10_000 << 20) + 1, 1 << 20), 2 << 20);
        for size in [1u64 << 40, 39 << 40, (1 << 36) + 12_345] {
            let ps = part_size_for(size, 1 << 20);
            assert!(
                super::super::parts::part_count(size, ps) <= MAX_PARTS,
                "{size}"
            );
            assert_eq!(ps % (1 << 20), 0);
        }
    }
}
