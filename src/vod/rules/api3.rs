//! API 3.0's upload rules (protocol-api3.md §1.5, §2), obeyed by the api3
//! client and enforced by `vodfs serve`: the version, the error codes and
//! which of them a client retries, the MediaType and CoverType lists, the
//! parameter limits, the COS part-count limit, and the ISO 8601 times the
//! API speaks.

/// The API version of VOD's upload actions.
pub const VERSION: &str = "2018-07-17";

/// The service name in a TC3 scope.
pub const SERVICE: &str = "vod";

/// The most parts a COS multipart upload may have.
pub const MAX_PARTS: u64 = 10_000;

/// `SourceContext`: at most this many characters.
pub const MAX_SOURCE_CONTEXT_CHARS: usize = 250;
/// `SessionContext`: at most this many characters.
pub const MAX_SESSION_CONTEXT_CHARS: usize = 1000;
/// `MediaName`: at most this many characters [INF: the real limit is not
/// documented; 64 is what the console takes].
pub const MAX_MEDIA_NAME_CHARS: usize = 64;
/// `Procedure`, `ExtInfo`: at most this many characters [INF].
pub const MAX_SHORT_STRING_CHARS: usize = 256;
/// DescribeMediaInfos `FileIds`: at most this many (N from 0 to 19).
pub const MAX_FILE_IDS: usize = 20;

/// Video and audio types ApplyUpload takes (`MediaType`, compared without
/// case; protocol-api3.md §2.1).
pub const MEDIA_TYPES: &[&str] = &[
    "wmv", "rm", "mov", "mpeg", "mp4", "3gp", "flv", "avi", "rmvb", "ts", "asf", "mpg", "webm",
    "mkv", "m3u8", "wm", "asx", "ram", "mpe", "vob", "dat", "mp4v", "m4v", "f4v", "mxf", "qt",
    "ogg", "mp3", "m4a", "flac", "wav", "ra", "aac", "amr",
];

/// Audio types among [`MEDIA_TYPES`] (DescribeMediaInfos `Category`).
pub const AUDIO_TYPES: &[&str] = &["mp3", "m4a", "flac", "wav", "ra", "aac", "amr"];

/// Cover image types (`CoverType`, compared without case).
pub const COVER_TYPES: &[&str] = &[
    "jpg", "jpeg", "png", "gif", "bmp", "tiff", "ai", "cdr", "eps", "tif", "heif",
];

/// Whether `t` is an ApplyUpload MediaType.
pub fn is_media_type(t: &str) -> bool {
    MEDIA_TYPES.iter().any(|m| m.eq_ignore_ascii_case(t))
}

/// Whether `t` is an ApplyUpload CoverType.
pub fn is_cover_type(t: &str) -> bool {
    COVER_TYPES.iter().any(|m| m.eq_ignore_ascii_case(t))
}

/// The error codes of API 3.0 the service answers (§1.5).
pub mod codes {
    pub const INVALID_AUTHORIZATION: &str = "AuthFailure.InvalidAuthorization";
    pub const SECRET_ID_NOT_FOUND: &str = "AuthFailure.SecretIdNotFound";
    pub const SIGNATURE_EXPIRE: &str = "AuthFailure.SignatureExpire";
    pub const SIGNATURE_FAILURE: &str = "AuthFailure.SignatureFailure";
    pub const TOKEN_FAILURE: &str = "AuthFailure.TokenFailure";
    pub const INTERNAL_ERROR: &str = "InternalError";
    pub const INVALID_ACTION: &str = "InvalidAction";
    pub const INVALID_PARAMETER: &str = "InvalidParameter";
    pub const INVALID_PARAMETER_VALUE: &str = "InvalidParameterValue";
    pub const MISSING_PARAMETER: &str = "MissingParameter";
    pub const NO_SUCH_VERSION: &str = "NoSuchVersion";
    pub const REQUEST_LIMIT_EXCEEDED: &str = "RequestLimitExceeded";
    pub const REQUEST_SIZE_LIMIT_EXCEEDED: &str = "RequestSizeLimitExceeded";
    pub const RESOURCE_NOT_FOUND: &str = "ResourceNotFound";
    pub const FILE_NOT_EXIST: &str = "ResourceNotFound.FileNotExist";
    pub const UNKNOWN_PARAMETER: &str = "UnknownParameter";
    pub const UNSUPPORTED_PROTOCOL: &str = "UnsupportedProtocol";
    pub const VOD_SESSION_KEY: &str = "InvalidParameterValue.VodSessionKey";
    pub const SUB_APP_ID: &str = "InvalidParameterValue.SubAppId";
    pub const MEDIA_TYPE: &str = "InvalidParameterValue.MediaType";
    pub const COVER_TYPE: &str = "InvalidParameterValue.CoverType";
    pub const EXPIRE_TIME: &str = "InvalidParameterValue.ExpireTime";
    pub const STORAGE_REGION: &str = "InvalidParameterValue.StorageRegion";
    pub const CLASS_ID: &str = "InvalidParameterValue.ClassId";
    pub const PROCEDURE: &str = "InvalidParameterValue.Procedure";
    pub const SESSION_CONTEXT_TOO_LONG: &str = "InvalidParameterValue.SessionContextTooLong";
    pub const MEDIA_STORAGE_PATH: &str = "InvalidParameterValue.MediaStoragePath";
    pub const FILE_IDS_EMPTY: &str = "InvalidParameterValue.FileIdsEmpty";
    pub const FILE_IDS_TOO_MANY: &str = "InvalidParameterValue.FileIdsTooMany";
}

/// Whether a client retries a call answered with `code` (with backoff):
/// the rate limits and internal errors; never authentication or parameter
/// errors, which fail at once.
pub fn is_retryable(code: &str) -> bool {
    code == codes::INTERNAL_ERROR
        || code.starts_with("InternalError.")
        || code == codes::REQUEST_LIMIT_EXCEEDED
        || code.starts_with("RequestLimitExceeded.")
        || code == "ServiceUnavailable"
}

/// Unix seconds as ISO 8601 UTC, `2030-01-01T00:00:00Z`.
pub fn iso8601(unix: u64) -> String {
    let days = (unix / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let s = unix % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Parses ISO 8601 `YYYY-MM-DDTHH:MM:SS` with `Z` or `±HH:MM` (fractions
/// of a second allowed) to Unix seconds; years 1970–9999.
pub fn parse_iso8601(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &r[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let (sign, r) = match rest.as_bytes().first()? {
                b'+' => (1, &rest[1..]),
                b'-' => (-1, &rest[1..]),
                _ => return None,
            };
            let (oh, om) = r.split_once(':')?;
            if oh.len() != 2 || om.len() != 2 {
                return None;
            }
            let (oh, om): (i64, i64) = (oh.parse().ok()?, om.parse().ok()?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&mo) {
        return None;
    }
    if d < 1 || d > month_days[(mo - 1) as usize] || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (the inverse of `iso8601`'s conversion).
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let t = days * 86_400 + h * 3600 + mi * 60 + se - offset;
    u64::try_from(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(parse_iso8601("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_iso8601("2023-11-15T06:13:20.5+08:00"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_iso8601("9999-12-31T23:59:59Z")
                .map(iso8601)
                .as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        for bad in [
            "2023-02-30T00:00:00Z",
            "2023-11-14 22:13:20Z",
            "2023-11-14T22:13:20",
            "x",
            "2023-11-14T25:00:00Z",
            "",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }

    #[test]
    fn types_and_retry() {
        assert!(is_media_type("MP4") && is_media_type("m3u8") && !is_media_type("exe"));
        assert!(is_cover_type("JPG") && !is_cover_type("mp4"));
        assert!(
            is_retryable("RequestLimitExceeded.UinLimitExceeded") && is_retryable("InternalError")
        );
        assert!(!is_retryable(codes::SIGNATURE_FAILURE) && !is_retryable(codes::MEDIA_TYPE));
    }

    proptest::proptest! {
        #[test]
        fn iso_round_trips(t in 0u64..253_402_300_799) {
            proptest::prop_assert_eq!(parse_iso8601(&iso8601(t)), Some(t));
        }
    }
}

/// The cloud's API host.
pub const CLOUD_HOST: &str = "vod.tencentcloudapi.com";

/// The region a client names unless told otherwise.
pub const DEFAULT_REGION: &str = "ap-guangzhou";

/// `code` or a sub-code of it (`RequestLimitExceeded.UinLimitExceeded`).
fn is_family(c: &str, family: &str) -> bool {
    c == family || c.strip_prefix(family).is_some_and(|r| r.starts_with('.'))
}

/// The service asks the client to slow down: `RequestLimitExceeded*`.
pub fn is_throttled(c: &str) -> bool {
    is_family(c, codes::REQUEST_LIMIT_EXCEEDED)
}

/// The parameter a code names (`InvalidParameterValue.ClassId` → `ClassId`),
/// for the parameter-error families.
pub fn parameter_of(c: &str) -> Option<&str> {
    [
        codes::INVALID_PARAMETER_VALUE,
        codes::INVALID_PARAMETER,
        codes::MISSING_PARAMETER,
        codes::UNKNOWN_PARAMETER,
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

/// Checks an ExpireTime as the service reads it ([`parse_iso8601`]).
pub fn check_expire_time(v: &str) -> Result<(), String> {
    parse_iso8601(v)
        .map(|_| ())
        .ok_or_else(|| format!("{v:?} is not an ISO 8601 time such as 2030-01-01T00:00:00Z"))
}

#[cfg(test)]
mod client_tests {
    use super::*;

    #[test]
    fn codes_are_read_by_family() {
        assert!(is_throttled("RequestLimitExceeded"));
        assert!(is_throttled("RequestLimitExceeded.UinLimitExceeded"));
        assert!(!is_throttled("RequestLimitExceededX"));
        assert!(!is_retryable("FailedOperation"));
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
    }
}
