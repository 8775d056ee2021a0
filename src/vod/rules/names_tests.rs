use super::*;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use proptest::prelude::*;

fn name(s: &str) -> String {
    service_name(OsStr::new(s))
}

fn ty(s: &str) -> String {
    file_type(OsStr::new(s))
}

/// What the service says of what the client sends for `local`.
fn service_accepts(local: &OsStr) -> Result<(), String> {
    let sent = ServiceFile::of(local);
    check_name("fileName", &sent.name).map_err(|e| format!("fileName {:?} {e}", sent.name))?;
    let t = check_type("fileType", &sent.file_type)
        .map_err(|e| format!("fileType {:?} {e}", sent.file_type))?;
    if t != sent.file_type {
        return Err(format!("fileType {:?} is not lower case", sent.file_type));
    }
    if sent.name.trim().is_empty() {
        return Err("blank fileName".into());
    }
    Ok(())
}

#[test]
fn stem_and_type() {
    assert_eq!(name("holiday.mp4"), "holiday");
    assert_eq!(ty("holiday.MP4"), "mp4");
    assert_eq!(name("a.tar.gz"), "a.tar");
    assert_eq!(ty("a.tar.gz"), "gz");
    assert_eq!(name(".hidden"), ".hidden");
    assert_eq!(ty(".hidden"), "bin");
    assert_eq!(ty("noext"), "bin");
    assert_eq!(name("noext"), "noext");
}

#[test]
fn a_type_the_service_cannot_take_stays_in_the_name() {
    let f = ServiceFile::of(OsStr::new("clip.abcdefghijklmn"));
    assert_eq!(
        (f.name.as_str(), f.file_type.as_str()),
        ("clip.abcdefghijklmn", "bin")
    );
    assert_eq!(f.fallback.unwrap().extension, "abcdefghijklmn");
    // Ten bytes is still a type.
    assert_eq!(ty("clip.abcdefghij"), "abcdefghij");
    assert_eq!(name("clip.abcdefghij"), "clip");
    // Not letters or digits: the whole name goes, forbidden characters
    // replaced as anywhere in a name.
    assert_eq!(ty("x.m-p 4"), "bin");
    assert_eq!(name("x.m-p 4"), "x.m-p 4");
    assert_eq!(name("x.a*b"), "x.a_b");
    assert_eq!(name("x.é"), "x.é");
    assert_eq!((name("clip."), ty("clip.")), ("clip.".into(), "bin".into()));
    // No extension at all is not a fallback worth logging.
    assert_eq!(ServiceFile::of(OsStr::new("noext")).fallback, None);
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

#[test]
fn service_checks_say_why() {
    assert_eq!(
        check_name("f", &"x".repeat(41)).unwrap_err().to_string(),
        "f: must be 1-40 bytes, got 41"
    );
    assert_eq!(
        check_name("f", "a:b").unwrap_err().why.to_string(),
        "contains forbidden character ':'"
    );
    assert_eq!(check_type("ft", "MP4").unwrap(), "mp4");
    assert_eq!(
        check_type("ft", "abcdefghijk").unwrap_err().why.to_string(),
        "must be 1-10 letters or digits"
    );
    assert_eq!(check_hex("fileSha", "AB", 2).unwrap(), "ab");
    assert!(check_hex("fileSha", "xy", 2).is_err());
}

#[test]
fn regression_the_issue_11_names_pass() {
    for n in [
        "clip.abcdefghijklmn",
        "clip.MP4",
        "noext",
        "a.",
        ".",
        "..",
        "...mp4",
        // What the property test shrank to against the old 16-byte type limit.
        "a.a0aa00Aa0Aa",
    ] {
        service_accepts(OsStr::new(n)).unwrap();
    }
    service_accepts(OsStr::new(&format!("{}.mp4", "n".repeat(196)))).unwrap();
}

/// Pieces local names are made of: what makes names hard for the rules.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-zA-Z0-9]{1,12}".prop_map(String::into_bytes),
        "[视频测试😀é]{1,8}".prop_map(String::into_bytes),
        Just(b".".to_vec()),
        Just(b"..".to_vec()),
        Just(b" ".to_vec()),
        "[\\\\:*?\"<>|\t]{1,3}".prop_map(String::into_bytes),
        proptest::collection::vec(0x80u8..=0xff, 1..4),
        "[a-zA-Z0-9]{8,40}".prop_map(String::into_bytes),
    ]
}

/// An extension, often one the service cannot take.
fn extension() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        "[a-zA-Z0-9]{1,10}".prop_map(|e| format!(".{e}").into_bytes()),
        "[a-zA-Z0-9]{11,30}".prop_map(|e| format!(".{e}").into_bytes()),
        "\\.[a-z0-9 _+\\-é视]{1,12}".prop_map(String::into_bytes),
        Just(b".".to_vec()),
        proptest::collection::vec(0x80u8..=0xff, 1..4).prop_map(|b| [&b"."[..], &b].concat()),
    ]
}

/// A local file name: 1–255 bytes, no `/` or NUL (what a kernel passes).
fn local_name() -> impl Strategy<Value = OsString> {
    (proptest::collection::vec(piece(), 0..12), extension()).prop_filter_map(
        "a name the kernel can pass",
        |(pieces, ext)| {
            let mut b = pieces.concat();
            b.extend(ext);
            b.truncate(255);
            let ok = !b.is_empty() && !b.contains(&b'/') && !b.contains(&0);
            ok.then(|| OsString::from_vec(b))
        },
    )
}

proptest! {
    #[test]
    fn what_the_client_sends_passes_the_service_checks(local in local_name()) {
        if let Err(why) = service_accepts(&local) {
            return Err(TestCaseError::fail(format!("{local:?}: {why}")));
        }
    }
}
