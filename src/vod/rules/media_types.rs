//! frontwize's `MediaType` (protocol.md §10): the MIME types the service
//! takes and the file type each stands for, in one table read both ways.
//! The client sends [`media_type`] of its fileType; the service keeps
//! [`extension_of`] the MediaType it is sent. A type outside the table (the
//! generic `bin` included) is sent as `application/octet-stream`, which the
//! local service takes as `bin` (the documentation lists "MP4/TS/MOV/…";
//! the real service's full list is not known).

/// (MIME type, file type) pairs; the first pair of a file type is the one
/// the client sends.
const TABLE: &[(&str, &str)] = &[
    ("video/mp4", "mp4"),
    ("video/mp4", "m4v"),
    ("video/mp2t", "ts"),
    ("video/quicktime", "mov"),
    ("video/x-flv", "flv"),
    ("video/webm", "webm"),
    ("video/x-matroska", "mkv"),
    ("video/x-msvideo", "avi"),
    ("application/vnd.apple.mpegurl", "m3u8"),
    ("application/x-mpegurl", "m3u8"),
    ("audio/mpeg", "mp3"),
    ("audio/mp4", "m4a"),
    (GENERIC_MEDIA_TYPE, super::names::GENERIC_TYPE),
];

/// The MediaType of a file type without a MIME type of its own.
pub const GENERIC_MEDIA_TYPE: &str = "application/octet-stream";

/// The MediaType the client sends for a fileType.
pub fn media_type(file_type: &str) -> &'static str {
    let t = file_type.to_ascii_lowercase();
    TABLE
        .iter()
        .find(|(_, ext)| *ext == t)
        .map_or(GENERIC_MEDIA_TYPE, |(mime, _)| mime)
}

/// The file type the service records for a MediaType it takes (lower-case
/// MIME type), `None` for one it refuses.
pub fn extension_of(media_type: &str) -> Option<&'static str> {
    TABLE
        .iter()
        .find(|(mime, _)| *mime == media_type)
        .map(|(_, ext)| *ext)
}

/// Longest frontwize `Title`, in bytes.
pub const MAX_TITLE_BYTES: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_of_common_extensions() {
        assert_eq!(media_type("MP4"), "video/mp4");
        assert_eq!(media_type("m4v"), "video/mp4");
        assert_eq!(media_type("mov"), "video/quicktime");
        assert_eq!(media_type("bin"), "application/octet-stream");
        assert_eq!(media_type("abcdefghij"), "application/octet-stream");
        assert_eq!(extension_of("application/x-mpegurl"), Some("m3u8"));
        assert_eq!(extension_of("text/html"), None);
    }

    #[test]
    fn the_service_takes_every_media_type_the_client_sends() {
        for (_, ext) in TABLE {
            assert!(extension_of(media_type(ext)).is_some(), "{ext}");
        }
        assert!(extension_of(media_type("zzz")).is_some());
    }
}
