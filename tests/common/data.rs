//! Test data: deterministic pseudo-random bytes (the one generator; a
//! failure replays from its seed), real MP4s made by ffmpeg, local source
//! files, the digests the protocol names, and the one COS
//! CompleteMultipartUpload body the tests send.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::tools::run;

/// Deterministic pseudo-random bytes (xorshift), so failures replay.
/// Different seeds give different bytes; one seed at two lengths gives a
/// prefix and its extension.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// SHA-1 (hex) of bytes.
pub fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(bytes))
}

/// MD5 (hex) of bytes.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

/// Writes `bytes` to a fresh local temp file and returns its directory and path.
pub fn local_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path().join(name);
    std::fs::write(&p, bytes).expect("write local file");
    (d, p)
}

/// Makes a short real MP4 with ffmpeg.
pub fn make_mp4(dir: &Path, name: &str, seconds: u32) -> PathBuf {
    let out = dir.join(name);
    ffmpeg_mp4(&out, seconds, "320x240", &[]);
    out
}

/// ffmpeg writes a test-pattern MP4 of `seconds` at `size` to `out` (which
/// may be in a mount: the muxer seeks back to patch its header), with more
/// output options (`-vf noise=…` and a codec for a bigger file).
pub fn ffmpeg_mp4(out: &Path, seconds: u32, size: &str, more: &[&str]) {
    let src = format!("testsrc=duration={seconds}:size={size}:rate=25");
    let mut args = vec!["-v", "error", "-y", "-f", "lavfi", "-i", &src];
    args.extend_from_slice(more);
    args.extend_from_slice(&["-pix_fmt", "yuv420p", out.to_str().expect("utf-8 path")]);
    run(Command::new("ffmpeg").args(&args));
}

/// The CompleteMultipartUpload body listing `etags` as parts 1, 2, ….
pub fn complete_multipart_body(etags: &[String]) -> Vec<u8> {
    let parts: String = etags
        .iter()
        .enumerate()
        .map(|(i, e)| {
            format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{e}</ETag></Part>",
                i + 1
            )
        })
        .collect();
    format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>").into_bytes()
}
