//! fileName and fileType: what the service accepts ([`check_name`],
//! [`check_type`], [`check_hex`], called by `vodfs serve`) and what the
//! client derives from a local file name ([`ServiceFile::of`]), which always
//! passes those checks (the property test below holds the two together).
//!
//! The service's rules (protocol.md §2.1, §3.1, §11):
//! - fileName: 1–40 bytes, none of `\ / : * ? " < >` nor control characters;
//! - fileType: 1–10 ASCII letters or digits, compared in lower case;
//! - fileSha / dataMd5: 40 / 32 hex characters.
//!
//! What the client sends for a local name (issues 3 and 11):
//! - the extension is the part after the last dot, unless that dot starts
//!   the name (`.hidden` has none);
//! - when the extension is a type the service takes, fileType is it in
//!   lower case (`clip.MP4` → `clip` + `mp4`) and fileName is the rest;
//! - otherwise (no extension, an empty one, longer than 10 bytes, or with a
//!   character other than a letter or digit) fileType is the generic `bin`
//!   and fileName is the *whole* name, so the real extension is not lost:
//!   `clip.abcdefghijklmn` → `clip.abcdefghijklmn` + `bin`. When the name
//!   had an extension, [`ServiceFile::log_fallback`] says so once per upload;
//! - non-UTF-8 bytes are decoded lossily (U+FFFD), never refused;
//! - forbidden and control characters become `_`;
//! - the result is cut to 40 bytes on a character boundary (a long name
//!   loses its end, extension included);
//! - it is never empty or blank: such a result becomes `untitled`.

use std::ffi::OsStr;

/// Longest service fileName, in bytes.
pub const MAX_NAME_BYTES: usize = 40;

/// Longest service fileType, in bytes.
pub const MAX_TYPE_BYTES: usize = 10;

/// Characters the service refuses in a fileName.
pub const FORBIDDEN: [char; 8] = ['\\', '/', ':', '*', '?', '"', '<', '>'];

/// The fileType sent when the extension cannot be.
pub const GENERIC_TYPE: &str = "bin";

const FALLBACK_NAME: &str = "untitled";

/// Why the service refuses a parameter: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {why}")]
pub struct RuleError {
    /// The parameter's name on the wire (`fileName`, `ft`, `coverType` …).
    pub param: String,
    pub why: Why,
}

/// The "why" of a [`RuleError`]; its text is what the service's
/// `invalid parameter NAME: WHY` message says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Why {
    #[error("must be 1-{MAX_NAME_BYTES} bytes, got {0}")]
    NameLength(usize),
    #[error("contains forbidden character {0:?}")]
    ForbiddenChar(char),
    #[error("must be 1-{MAX_TYPE_BYTES} letters or digits")]
    BadType,
    #[error("must be {0} hex characters")]
    BadHex(usize),
}

fn refuse(param: &str, why: Why) -> RuleError {
    RuleError {
        param: param.to_string(),
        why,
    }
}

fn is_forbidden(c: char) -> bool {
    FORBIDDEN.contains(&c) || c.is_control()
}

/// A file name as the service accepts it in parameter `param`: 1–40
/// bytes, no forbidden or control character.
pub fn check_name(param: &str, name: &str) -> Result<(), RuleError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(refuse(param, Why::NameLength(name.len())));
    }
    match name.chars().find(|&c| is_forbidden(c)) {
        Some(c) => Err(refuse(param, Why::ForbiddenChar(c))),
        None => Ok(()),
    }
}

/// A file type as the service accepts it in parameter `param`, lower-cased: 1–10 ASCII letters
/// or digits.
pub fn check_type(param: &str, t: &str) -> Result<String, RuleError> {
    if t.is_empty() || t.len() > MAX_TYPE_BYTES || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(refuse(param, Why::BadType));
    }
    Ok(t.to_ascii_lowercase())
}

/// A hex digest of `len` characters in parameter `param`, lower-cased.
pub fn check_hex(param: &str, v: &str, len: usize) -> Result<String, RuleError> {
    if v.len() != len || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(refuse(param, Why::BadHex(len)));
    }
    Ok(v.to_ascii_lowercase())
}

/// Splits a name into (stem, extension) at the last dot that does not
/// start the name.
fn split(name: &str) -> (&str, Option<&str>) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], Some(&name[i + 1..])),
        _ => (name, None),
    }
}

/// Cuts `s` to at most `max` bytes without splitting a character.
pub fn cut_to_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// An extension the service could not take as fileType.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// The extension as the local name has it (lossy UTF-8).
    pub extension: String,
    /// Why it was not sent: "longer than 10 bytes", …
    pub why: &'static str,
}

/// The fileName and fileType the client sends for one local file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFile {
    pub name: String,
    pub file_type: String,
    /// Set when the name had an extension that was sent inside fileName
    /// instead, with [`GENERIC_TYPE`] as the type.
    pub fallback: Option<Fallback>,
}

impl ServiceFile {
    /// What the service is sent for the local file name `local`.
    pub fn of(local: &OsStr) -> ServiceFile {
        let lossy = local.to_string_lossy();
        let (stem, ext) = split(&lossy);
        let (stem, file_type, fallback) = match ext.map(|e| (e, type_refusal(e))) {
            Some((e, None)) => (stem, e.to_ascii_lowercase(), None),
            Some((e, Some(why))) => (
                &*lossy,
                GENERIC_TYPE.to_string(),
                Some(Fallback {
                    extension: e.to_string(),
                    why,
                }),
            ),
            None => (&*lossy, GENERIC_TYPE.to_string(), None),
        };
        ServiceFile {
            name: clean_name(stem),
            file_type,
            fallback,
        }
    }

    /// Logs, at info level, that `file`'s extension went into fileName
    /// (call once per upload).
    pub fn log_fallback(&self, file: &str) {
        if let Some(f) = &self.fallback {
            tracing::info!(
                file,
                file_name = %self.name,
                file_type = %self.file_type,
                "extension {:?} {}: sent as fileType {GENERIC_TYPE}, the extension kept in fileName",
                f.extension,
                f.why
            );
        }
    }
}

/// Why the service would refuse `ext` as a fileType, if it would.
fn type_refusal(ext: &str) -> Option<&'static str> {
    if ext.is_empty() {
        Some("is empty")
    } else if ext.len() > MAX_TYPE_BYTES {
        Some("is longer than 10 bytes")
    } else if !ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Some("has a character other than a letter or digit")
    } else {
        None
    }
}

/// `stem` with forbidden characters replaced, cut to the name limit, never
/// blank.
fn clean_name(stem: &str) -> String {
    let cleaned: String = stem
        .chars()
        .map(|c| if is_forbidden(c) { '_' } else { c })
        .collect();
    let cut = cut_to_bytes(&cleaned, MAX_NAME_BYTES);
    if cut.trim().is_empty() {
        FALLBACK_NAME.to_string()
    } else {
        cut.to_string()
    }
}

/// The fileName the service is given for a local file name.
pub fn service_name(file_name: &OsStr) -> String {
    ServiceFile::of(file_name).name
}

/// The fileType the service is given for a local file name.
pub fn file_type(file_name: &OsStr) -> String {
    ServiceFile::of(file_name).file_type
}

/// Whether the service accepts `name` as a fileName unchanged (and it is
/// not blank, which the client never sends).
pub fn is_valid_service_name(name: &str) -> bool {
    !name.trim().is_empty() && check_name("fileName", name).is_ok()
}

#[cfg(test)]
#[path = "names_tests.rs"]
mod tests;
