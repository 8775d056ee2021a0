//! The media type of a file's content, for names that do not say it.
//!
//! A local name whose extension the service cannot take as a type
//! (`noext`, `clip.abcdefghijklmn`) is sent with the generic type
//! ([`super::names::GENERIC_TYPE`]), the real extension kept in the name.
//! API 3.0 refuses a generic type (its MediaType must be a video or audio
//! type), so before falling back to it the client looks at the first bytes:
//! a recognised container gives its type (`mp4`, `ts`, `mkv` …), which every
//! flow then sends. Only the containers' magic numbers are read, never
//! more than [`HEAD_LEN`] bytes.

/// How many leading bytes [`media_type`] needs at most.
pub const HEAD_LEN: usize = 512;

/// The type (an API 3.0 MediaType, lower case) of content starting with
/// `head`, when its container is recognised.
pub fn media_type(head: &[u8]) -> Option<&'static str> {
    let at = |i: usize, magic: &[u8]| head.get(i..i + magic.len()) == Some(magic);
    if at(4, b"ftyp") {
        return Some(match head.get(8..12) {
            Some(b"qt  ") => "mov",
            Some(b"M4A ") | Some(b"M4B ") => "m4a",
            Some(b"3gp4") | Some(b"3gp5") | Some(b"3gp6") | Some(b"3g2a") => "3gp",
            _ => "mp4",
        });
    }
    if head.first() == Some(&0x47) && head.get(188) == Some(&0x47) {
        return Some("ts");
    }
    if at(0, b"FLV\x01") {
        return Some("flv");
    }
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        let webm = head.windows(4).any(|w| w == b"webm");
        return Some(if webm { "webm" } else { "mkv" });
    }
    if at(0, b"RIFF") && at(8, b"AVI ") {
        return Some("avi");
    }
    if at(0, b"RIFF") && at(8, b"WAVE") {
        return Some("wav");
    }
    if at(0, &[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) {
        return Some("wmv");
    }
    if at(0, &[0x00, 0x00, 0x01, 0xBA]) {
        return Some("mpg");
    }
    if at(0, b"OggS") {
        return Some("ogg");
    }
    if at(0, b"fLaC") {
        return Some("flac");
    }
    if at(0, b"#!AMR") {
        return Some("amr");
    }
    if at(0, b"#EXTM3U") {
        return Some("m3u8");
    }
    if at(0, b"ID3") || matches!(head, [0xFF, 0xFB | 0xF3 | 0xF2, ..]) {
        return Some("mp3");
    }
    if matches!(head, [0xFF, 0xF1 | 0xF9, ..]) {
        return Some("aac");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_told_by_their_magic() {
        let mut mp4 = vec![0, 0, 0, 0x20];
        mp4.extend_from_slice(b"ftypisom");
        assert_eq!(media_type(&mp4), Some("mp4"));
        let mut mov = vec![0, 0, 0, 0x14];
        mov.extend_from_slice(b"ftypqt  ");
        assert_eq!(media_type(&mov), Some("mov"));
        let mut ts = vec![0u8; 400];
        ts[0] = 0x47;
        ts[188] = 0x47;
        assert_eq!(media_type(&ts), Some("ts"));
        assert_eq!(media_type(b"FLV\x01\x05"), Some("flv"));
        let mut webm = vec![0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x82, 0x84];
        webm.extend_from_slice(b"webm");
        assert_eq!(media_type(&webm), Some("webm"));
        assert_eq!(media_type(&[0x1A, 0x45, 0xDF, 0xA3, 0, 0]), Some("mkv"));
        assert_eq!(media_type(b"RIFF\0\0\0\0AVI LIST"), Some("avi"));
        assert_eq!(media_type(b"ID3\x04"), Some("mp3"));
        for t in ["mp4", "mov", "ts", "flv", "webm", "mkv", "avi", "mp3"] {
            assert!(super::super::api3::MEDIA_TYPES.contains(&t), "{t}");
        }
    }

    #[test]
    fn other_content_is_not_guessed() {
        assert_eq!(media_type(b""), None);
        assert_eq!(media_type(b"hello, world"), None);
        assert_eq!(
            media_type(&[0x47; 100]),
            None,
            "one sync byte is not a stream"
        );
        assert_eq!(media_type(b"RIFF\0\0\0\0WEBP"), None);
    }
}
