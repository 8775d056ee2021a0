//! The service's `fileName` and `fileType` for a local file name.
//!
//! Rules (protocol.md §3.1 and §11; issue 3):
//! - fileName is the name without its extension (the part after the last
//!   dot, unless that dot starts the name: `.hidden` keeps its dot);
//! - non-UTF-8 bytes are decoded lossily (U+FFFD), never refused;
//! - the forbidden characters `\ / : * ? " < >` and control characters are
//!   replaced by `_`;
//! - the result is cut to 40 bytes on a character boundary;
//! - it is never empty: an empty result becomes `untitled`.
//! - fileType is the extension in lower case, letters and digits only, at
//!   most 16 bytes; a name without one gets `bin` (the protocol requires a
//!   type and has no "unknown").

use std::ffi::OsStr;

/// Longest service fileName, in bytes.
pub const MAX_NAME_BYTES: usize = 40;

/// Characters the service refuses in a fileName.
pub const FORBIDDEN: [char; 8] = ['\\', '/', ':', '*', '?', '"', '<', '>'];

const FALLBACK_NAME: &str = "untitled";
const FALLBACK_TYPE: &str = "bin";
const MAX_TYPE_BYTES: usize = 16;

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

/// The fileName the service is given for a local file name.
pub fn service_name(file_name: &OsStr) -> String {
    let lossy = file_name.to_string_lossy();
    let (stem, _) = split(&lossy);
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if FORBIDDEN.contains(&c) || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cut = cut_to_bytes(&cleaned, MAX_NAME_BYTES);
    if cut.trim().is_empty() {
        FALLBACK_NAME.to_string()
    } else {
        cut.to_string()
    }
}

/// The fileType the service is given for a local file name.
pub fn file_type(file_name: &OsStr) -> String {
    let lossy = file_name.to_string_lossy();
    let ext: String = split(&lossy)
        .1
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if ext.is_empty() {
        FALLBACK_TYPE.to_string()
    } else {
        cut_to_bytes(&ext, MAX_TYPE_BYTES).to_string()
    }
}

/// Whether the service accepts `name` as a fileName unchanged.
pub fn is_valid_service_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.len() <= MAX_NAME_BYTES
        && !name
            .chars()
            .any(|c| FORBIDDEN.contains(&c) || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn name(s: &str) -> String {
        service_name(OsStr::new(s))
    }

    #[test]
    fn stem_and_type() {
        assert_eq!(name("holiday.mp4"), "holiday");
        assert_eq!(file_type(OsStr::new("holiday.MP4")), "mp4");
        assert_eq!(name("a.tar.gz"), "a.tar");
        assert_eq!(file_type(OsStr::new("a.tar.gz")), "gz");
        assert_eq!(name(".hidden"), ".hidden");
        assert_eq!(file_type(OsStr::new(".hidden")), "bin");
        assert_eq!(file_type(OsStr::new("noext")), "bin");
        assert_eq!(file_type(OsStr::new("x.m-p 4")), "mp4");
    }

    #[test]
    fn forbidden_characters_are_replaced() {
        assert_eq!(name(r#"a\b:c*d?e"f<g>h|i.mp4"#), "a_b_c_d_e_f_g_h|i");
        assert_eq!(name("tab\there\n.mov"), "tab_here_");
        assert!(is_valid_service_name(&name(r#"**??"".mp4"#)));
    }

    #[test]
    fn a_255_byte_name_is_cut_to_40_bytes() {
        let long = format!("{}.mp4", "x".repeat(251));
        assert_eq!(long.len(), 255);
        let n = name(&long);
        assert_eq!(n.len(), 40);
        assert!(is_valid_service_name(&n));
    }

    #[test]
    fn multi_byte_names_are_cut_on_a_char_boundary() {
        // 14 × 3-byte chars = 42 bytes → 13 chars = 39 bytes.
        let n = name(&format!("{}.mp4", "视".repeat(14)));
        assert_eq!(n, "视".repeat(13));
        assert_eq!(n.len(), 39);
        // A 4-byte char straddling byte 40.
        let n = name(&format!("{}😀.mp4", "a".repeat(38)));
        assert_eq!(n, "a".repeat(38));
    }

    #[test]
    fn non_utf8_is_lossy_and_never_empty() {
        let raw = OsStr::from_bytes(b"caf\xe9\xff.mp4");
        let n = service_name(raw);
        assert!(n.starts_with("caf"));
        assert!(n.contains('\u{FFFD}'));
        assert!(is_valid_service_name(&n));
        assert_eq!(file_type(raw), "mp4");
        assert_eq!(name(""), "untitled");
        assert_eq!(name(".mp4"), ".mp4");
        assert_eq!(name("   .mp4"), "untitled");
        assert_eq!(name("/.mp4"), "_");
    }

    #[test]
    fn cut_never_splits_characters() {
        for max in 0..12 {
            let s = "aé视😀b";
            let c = cut_to_bytes(s, max);
            assert!(c.len() <= max);
            assert!(s.starts_with(c));
        }
    }
}
