//! A small, bounded reader of an MP4's `moov` box: the movie's duration
//! (`mvhd`) and the first video track's width and height (`tkhd` of a
//! `trak` whose `hdlr` is `vide`), for DescribeMediaInfos' MetaData.
//!
//! Bounded by construction: top-level boxes are walked by their headers
//! (seeking over `mdat`), at most [`MAX_BOXES`] of them; `moov` is read
//! only when it is at most [`MAX_MOOV`] bytes; every size inside it is
//! checked against what is left, so a hostile file gives `None`, never a
//! panic or a large allocation.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The most top-level boxes walked.
pub const MAX_BOXES: usize = 1000;
/// The largest `moov` read.
pub const MAX_MOOV: u64 = 16 << 20;

/// What the `moov` says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mp4Info {
    /// Seconds.
    pub duration: f64,
    pub width: u32,
    pub height: u32,
}

/// Reads `path`'s moov, if it is an MP4 with one.
pub fn probe(path: &Path) -> Option<Mp4Info> {
    let mut f = super::span::open(path).ok()?;
    let len = f.len();
    let mut pos = 0u64;
    for _ in 0..MAX_BOXES {
        if pos + 8 > len {
            return None;
        }
        f.seek(SeekFrom::Start(pos)).ok()?;
        let mut h = [0u8; 16];
        f.read_exact(&mut h[..8]).ok()?;
        let mut size = u64::from(u32::from_be_bytes(h[..4].try_into().ok()?));
        let kind: [u8; 4] = h[4..8].try_into().ok()?;
        let mut header = 8;
        if size == 1 {
            f.read_exact(&mut h[8..16]).ok()?;
            size = u64::from_be_bytes(h[8..16].try_into().ok()?);
            header = 16;
        } else if size == 0 {
            size = len - pos;
        }
        if size < header || pos + size > len {
            return None;
        }
        if &kind == b"moov" {
            if size > MAX_MOOV {
                return None;
            }
            let mut moov = vec![0u8; (size - header) as usize];
            f.read_exact(&mut moov).ok()?;
            return parse_moov(&moov);
        }
        pos += size;
    }
    None
}

/// The boxes directly inside `data`: `(type, body)`.
fn boxes(data: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.len() < 8 {
            return None;
        }
        let size = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
        let (header, size) = match size {
            1 if rest.len() >= 16 => (
                16,
                usize::try_from(u64::from_be_bytes(rest[8..16].try_into().ok()?)).ok()?,
            ),
            0 => (8, rest.len()),
            s => (8, s),
        };
        if size < header || size > rest.len() {
            return None;
        }
        let item = (&rest[4..8], &rest[header..size]);
        rest = &rest[size..];
        Some(item)
    })
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn parse_moov(moov: &[u8]) -> Option<Mp4Info> {
    let mut info = Mp4Info {
        duration: 0.0,
        width: 0,
        height: 0,
    };
    let mut found = false;
    for (kind, body) in boxes(moov) {
        match kind {
            b"mvhd" => {
                // version(1) flags(3), then v0: 4+4 times, timescale, duration(4);
                // v1: 8+8 times, timescale, duration(8).
                let (timescale, duration) = if *body.first()? == 1 {
                    (be32(body, 20)?, be64(body, 24)?)
                } else {
                    (be32(body, 12)?, u64::from(be32(body, 16)?))
                };
                if timescale > 0 {
                    info.duration = duration as f64 / f64::from(timescale);
                }
                found = true;
            }
            b"trak" if info.width == 0 => {
                if let Some((w, h)) = video_track(body) {
                    info.width = w;
                    info.height = h;
                }
            }
            _ => {}
        }
    }
    found.then_some(info)
}

/// Width and height of a video `trak`.
fn video_track(trak: &[u8]) -> Option<(u32, u32)> {
    let mut size = None;
    let mut video = false;
    for (kind, body) in boxes(trak) {
        match kind {
            b"tkhd" => {
                // Width and height are the last 8 bytes, 16.16 fixed point.
                let v1 = *body.first()? == 1;
                let at = if v1 { 88 } else { 76 };
                size = Some((be32(body, at)? >> 16, be32(body, at + 4)? >> 16));
            }
            b"mdia" => {
                for (k, b) in boxes(body) {
                    if k == b"hdlr" && b.get(8..12) == Some(b"vide") {
                        video = true;
                    }
                }
            }
            _ => {}
        }
    }
    if video { size } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn sample() -> Vec<u8> {
        let mut mvhd = vec![0u8; 100];
        mvhd[12..16].copy_from_slice(&1000u32.to_be_bytes());
        mvhd[16..20].copy_from_slice(&2500u32.to_be_bytes());
        let mut tkhd = vec![0u8; 84];
        tkhd[76..80].copy_from_slice(&(640u32 << 16).to_be_bytes());
        tkhd[80..84].copy_from_slice(&(360u32 << 16).to_be_bytes());
        let mut hdlr = vec![0u8; 24];
        hdlr[8..12].copy_from_slice(b"vide");
        let trak = bx(
            b"trak",
            &[bx(b"tkhd", &tkhd), bx(b"mdia", &bx(b"hdlr", &hdlr))].concat(),
        );
        let moov = bx(b"moov", &[bx(b"mvhd", &mvhd), trak].concat());
        [bx(b"ftyp", b"isom\0\0\0\0"), bx(b"mdat", &[7u8; 300]), moov].concat()
    }

    #[test]
    fn reads_duration_and_size_after_mdat() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.mp4");
        std::fs::write(&p, sample()).unwrap();
        assert_eq!(
            probe(&p),
            Some(Mp4Info {
                duration: 2.5,
                width: 640,
                height: 360
            })
        );
        std::fs::write(&p, b"not an mp4 at all").unwrap();
        assert_eq!(probe(&p), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_garbage(cut in 0usize..600, flip in 0usize..600, byte: u8) {
            let mut s = sample();
            if flip < s.len() { s[flip] = byte; }
            s.truncate(cut.min(s.len()));
            let _ = parse_moov(&s);
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("a.mp4");
            std::fs::write(&p, &s).unwrap();
            let _ = probe(&p);
        }
    }
}
