//! Per-directory upload settings: `user.vod.class_id`, `tags`, `procedure`,
//! `transcode`, `screenshot`, `watermark`, `source_context`, and API 3.0's
//! `session_context`, `storage_region`, `expire_time` set on a
//! directory apply to every file committed below it (the nearest directory
//! that has one wins; the mount's options are the defaults).
//!
//! Design decisions:
//! - Values are checked when they are set ([`check`], called by
//!   `setxattr`): an invalid one is refused with EINVAL and a log line,
//!   never discovered at upload time. Reading them back at commit time
//!   ([`resolve`]) uses the same parser, so what was accepted is what is sent.
//! - Settings belong to directories: setting one on a file is refused
//!   rather than silently ignored.
//! - The same parsers check the mount options (`--class-id`, `-o tags=…`).
//! - The nearest-directory walk is the cache's (`Cache::dir_settings`);
//!   [`resolve`] takes what it found as a map, so these rules import
//!   nothing of the store.

use std::collections::HashMap;

use crate::vod::UploadSettings;
use crate::vod::rules::api3;

/// The setting names, without the `user.vod.` prefix.
pub const NAMES: &[&str] = &[
    "class_id",
    "tags",
    "procedure",
    "transcode",
    "screenshot",
    "watermark",
    "source_context",
    "session_context",
    "storage_region",
    "expire_time",
];

/// At most this many tags are sent (the protocol's limit).
pub use crate::vod::rules::settings::MAX_TAGS;
const MAX_TAG_LEN: usize = 64;
const MAX_TEXT_LEN: usize = 1000;

/// The setting named by an xattr name (`user.vod.class_id` → `class_id`).
pub fn setting_name(xattr: &[u8]) -> Option<&'static str> {
    let rest = xattr.strip_prefix(b"user.vod.")?;
    NAMES.iter().copied().find(|n| n.as_bytes() == rest)
}

fn text(value: &[u8], max: usize) -> Result<&str, String> {
    let s = std::str::from_utf8(value)
        .map_err(|_| "not UTF-8".to_string())?
        .trim();
    if s.is_empty() {
        return Err("empty (remove the attribute to unset it)".into());
    }
    if s.len() > max {
        return Err(format!("longer than {max} bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err("has control characters".into());
    }
    Ok(s)
}

fn flag(s: &str) -> Result<bool, String> {
    match s {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("{s:?} is not 1 or 0")),
    }
}

/// Parses the tags of a `tags` value: comma-separated, trimmed, at most 10.
pub fn parse_tags(s: &str) -> Result<Vec<String>, String> {
    let tags: Vec<String> = s
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    if tags.len() > MAX_TAGS {
        return Err(format!("{} tags; at most {MAX_TAGS}", tags.len()));
    }
    if let Some(t) = tags.iter().find(|t| t.len() > MAX_TAG_LEN) {
        return Err(format!("tag {t:?} is longer than {MAX_TAG_LEN} bytes"));
    }
    Ok(tags)
}

/// Applies setting `name` = `value` to `settings`, or says why the value is
/// invalid.
pub fn apply(settings: &mut UploadSettings, name: &str, value: &[u8]) -> Result<(), String> {
    match name {
        "class_id" => {
            let s = text(value, 20)?;
            let v: u64 = s
                .parse()
                .map_err(|_| format!("{s:?} is not a class id (a number)"))?;
            if v > i64::MAX as u64 {
                return Err(format!("{s:?} is too large"));
            }
            settings.class_id = Some(v);
        }
        "tags" => settings.tags = parse_tags(text(value, MAX_TEXT_LEN)?)?,
        "procedure" => settings.procedure = Some(text(value, 256)?.to_string()),
        "source_context" => settings.source_context = Some(text(value, MAX_TEXT_LEN)?.to_string()),
        "session_context" => {
            let v = text(value, MAX_TEXT_LEN * 4)?;
            if v.chars().count() > api3::MAX_SESSION_CONTEXT_CHARS {
                return Err(format!(
                    "longer than {} characters",
                    api3::MAX_SESSION_CONTEXT_CHARS
                ));
            }
            settings.session_context = Some(v.to_string());
        }
        "storage_region" => {
            let v = text(value, 32)?;
            api3::check_storage_region(v)?;
            settings.storage_region = Some(v.to_string());
        }
        "expire_time" => {
            let v = text(value, 32)?;
            api3::check_expire_time(v)?;
            settings.expire_time = Some(v.to_string());
        }
        "transcode" => settings.transcode = Some(flag(text(value, 8)?)?),
        "screenshot" => settings.screenshot = Some(flag(text(value, 8)?)?),
        "watermark" => settings.watermark = Some(flag(text(value, 8)?)?),
        _ => return Err(format!("unknown upload setting {name:?}")),
    }
    Ok(())
}

/// Checks a value about to be stored for setting `name`.
pub fn check(name: &str, value: &[u8]) -> Result<(), String> {
    apply(&mut UploadSettings::default(), name, value)
}

/// The settings a file `ino` is committed with: each one from
/// `dir_settings` (by setting name, the value of the nearest directory
/// above `ino` that has it), else from `defaults`. A stored value that no
/// longer parses (it was checked when set) leaves the default, with a log
/// line.
pub fn resolve(
    ino: u64,
    defaults: &UploadSettings,
    dir_settings: &HashMap<String, Vec<u8>>,
) -> UploadSettings {
    let mut settings = defaults.clone();
    for name in NAMES {
        if let Some(v) = dir_settings.get(*name)
            && let Err(why) = apply(&mut settings, name, v)
        {
            tracing::warn!("ignoring user.vod.{name} of inode {ino}: {why}");
        }
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked() {
        assert!(check("class_id", b"12").is_ok());
        assert!(check("class_id", b"-1").is_err());
        assert!(check("class_id", b"twelve").is_err());
        assert!(check("class_id", b"").is_err());
        assert!(check("tags", b"a, b ,c").is_ok());
        assert!(check("tags", b"1,2,3,4,5,6,7,8,9,10,11").is_err());
        assert!(check("transcode", b"1").is_ok());
        assert!(check("transcode", b"maybe").is_err());
        assert!(check("procedure", b"QCVB_SimpleProcessFile(1, 1)").is_ok());
        assert!(check("procedure", b"a\nb").is_err());
        assert!(check("source_context", &[0xff]).is_err());
        assert!(check("session_context", "ü".repeat(1000).as_bytes()).is_ok());
        assert!(check("session_context", "ü".repeat(1001).as_bytes()).is_err());
        assert!(check("storage_region", b"ap-chongqing").is_ok());
        assert!(check("storage_region", b"Chongqing").is_err());
        assert!(check("expire_time", b"2030-01-01T00:00:00Z").is_ok());
        assert!(check("expire_time", b"2030-01-01").is_err());
        let mut s = UploadSettings::default();
        apply(&mut s, "tags", b"a, b ,,c").unwrap();
        assert_eq!(s.tags, ["a", "b", "c"]);
        assert_eq!(setting_name(b"user.vod.class_id"), Some("class_id"));
        assert_eq!(setting_name(b"user.vod.state"), None);
    }

    #[test]
    fn resolve_takes_each_setting_from_the_lookup_else_the_default() {
        let defaults = UploadSettings {
            class_id: Some(7),
            procedure: Some("p".into()),
            ..UploadSettings::default()
        };
        let found = HashMap::from([
            ("class_id".to_string(), b"12".to_vec()),
            // No longer valid: the default stays.
            ("transcode".to_string(), b"maybe".to_vec()),
            // Not a setting: ignored.
            ("url".to_string(), b"x".to_vec()),
        ]);
        let got = resolve(5, &defaults, &found);
        assert_eq!(got.class_id, Some(12));
        assert_eq!(got.procedure.as_deref(), Some("p"));
        assert_eq!(got.transcode, defaults.transcode);
        assert_eq!(resolve(5, &defaults, &HashMap::new()), defaults);
    }
}
