//! Covers (issue 4): which image travels with which video.
//!
//! The rule, decided here and nowhere else:
//! - An *image* is a file named `*.jpg`, `*.jpeg` or `*.png` (any case).
//!   Images are never uploaded as media of their own: when one is closed it
//!   stays staged in the cache with `user.vod.state` = `image`, or `cover`
//!   once it was sent as some video's cover.
//! - The cover of a video is the file its `user.vod.cover` xattr names (a
//!   path relative to the video's directory, checked at setfattr), else the
//!   image beside it with the same stem (`movie.mp4` → `movie.jpg`, then
//!   `.jpeg`, then `.png`; each in lower, then upper case).
//! - A cover is sent when its video commits, or, when the image is closed
//!   after its video committed, right then (so both copy orders work and a
//!   changed cover replaces the old one). A cover failure never fails the
//!   video: it shows as `user.vod.cover_error` on the video and as
//!   `user.vod.error` on the image (which `vodfs retry` retries).
//!
//! These functions only read the cache; the commit job
//! (`crate::upload::commit_job`) calls them and talks to the service.

use super::{Fs, FsError};
use crate::cache::{self, Cache, CacheError, Kind};

/// The video's xattr naming its cover.
pub const COVER_XATTR: &[u8] = b"user.vod.cover";
/// Stored on a video whose cover could not be sent: why.
pub const COVER_ERROR_XATTR: &[u8] = b"user.vod.cover_error";

const IMAGE_TYPES: [&str; 3] = ["jpg", "jpeg", "png"];

fn split_ext(name: &[u8]) -> Option<(&[u8], &[u8])> {
    let dot = name.iter().rposition(|&b| b == b'.')?;
    (dot > 0).then(|| (&name[..dot], &name[dot + 1..]))
}

/// The image type (`jpg`, `jpeg`, `png`) of a file name, if it is an image.
pub fn image_type(name: &[u8]) -> Option<&'static str> {
    let (_, ext) = split_ext(name)?;
    IMAGE_TYPES
        .iter()
        .copied()
        .find(|t| ext.eq_ignore_ascii_case(t.as_bytes()))
}

pub fn is_image(name: &[u8]) -> bool {
    image_type(name).is_some()
}

fn stem(name: &[u8]) -> &[u8] {
    split_ext(name).map_or(name, |(s, _)| s)
}

/// Checks a `user.vod.cover` value set on a file `depth` directories below
/// the mount root: a relative path to an image that stays inside the mount.
pub fn check_value(value: &[u8], depth: usize) -> Result<(), String> {
    let path = std::str::from_utf8(value).map_err(|_| "the path is not UTF-8".to_string())?;
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.starts_with('/') {
        return Err(format!(
            "{path:?} is absolute; give a path relative to the video's directory"
        ));
    }
    let mut level = depth as i64;
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                level -= 1;
                if level < 0 {
                    return Err(format!("{path:?} leads out of the mount"));
                }
            }
            _ => level += 1,
        }
    }
    if !is_image(path.as_bytes()) {
        return Err(format!("{path:?} is not a .jpg, .jpeg or .png image"));
    }
    Ok(())
}

/// How many directories `dir` is below the mount root.
fn depth(cache: &Cache, dir: u64) -> Result<usize, CacheError> {
    let (mut n, mut cur) = (0, dir);
    while cur != cache::ROOT_INO && n < 4096 {
        match cache.parent_of(cur)? {
            Some((parent, _)) => cur = parent,
            None => break,
        }
        n += 1;
    }
    Ok(n)
}

/// The file at relative `path` from directory `dir`, if it exists.
fn resolve(cache: &Cache, dir: u64, path: &[u8]) -> Result<Option<u64>, CacheError> {
    let mut cur = dir;
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if cur != cache::ROOT_INO {
                    cur = cache.parent_of(cur)?.map_or(cache::ROOT_INO, |(p, _)| p);
                }
            }
            name => match cache.lookup(cur, name)? {
                Some(row) => cur = row.ino,
                None => return Ok(None),
            },
        }
    }
    Ok(Some(cur))
}

/// A cover found for a video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverFile {
    pub ino: u64,
    /// Its name (the service name of the cover is made from it).
    pub name: Vec<u8>,
}

/// The cover of the video `name` (inode `ino`) in directory `parent`:
/// `Ok(None)` when it has none, `Err` when `user.vod.cover` names a file
/// that does not exist (a cover failure, not a video failure).
pub fn cover_of(
    cache: &Cache,
    ino: u64,
    parent: u64,
    name: &[u8],
) -> Result<Option<CoverFile>, String> {
    let db = |e: CacheError| format!("cache: {e}");
    if let Some(path) = cache.get_xattr(ino, COVER_XATTR).map_err(db)? {
        let shown = String::from_utf8_lossy(&path).into_owned();
        let found = resolve(cache, parent, &path).map_err(db)?;
        let file = found
            .map(|i| cache.get(i))
            .transpose()
            .map_err(db)?
            .flatten()
            .filter(|r| r.kind == Kind::File);
        let Some(row) = file else {
            return Err(format!("user.vod.cover {shown:?}: no such file"));
        };
        let base = path.rsplit(|&b| b == b'/').next().unwrap_or(&path).to_vec();
        return Ok(Some(CoverFile {
            ino: row.ino,
            name: base,
        }));
    }
    let stem = stem(name);
    let exts = IMAGE_TYPES
        .iter()
        .flat_map(|e| [e.to_string(), e.to_ascii_uppercase()]);
    for ext in exts {
        let candidate = [stem, b".", ext.as_bytes()].concat();
        if let Some(row) = cache.lookup(parent, &candidate).map_err(db)?
            && row.kind == Kind::File
            && row.ino != ino
        {
            return Ok(Some(CoverFile {
                ino: row.ino,
                name: candidate,
            }));
        }
    }
    Ok(None)
}

/// The files in `parent` whose cover the image `image` (named `name`)
/// is: its same-stem siblings that are not images and do not name another
/// cover with `user.vod.cover`.
pub fn videos_of(
    cache: &Cache,
    image: u64,
    parent: u64,
    name: &[u8],
) -> Result<Vec<u64>, CacheError> {
    let stem = stem(name);
    let mut out = Vec::new();
    for e in cache.readdir(parent)? {
        if e.kind != Kind::File
            || e.ino == image
            || is_image(&e.name)
            || self::stem(&e.name) != stem
        {
            continue;
        }
        let names_other = cache
            .get_xattr(e.ino, COVER_XATTR)?
            .is_some_and(|p| resolve(cache, parent, &p).ok().flatten() != Some(image));
        if !names_other {
            out.push(e.ino);
        }
    }
    Ok(out)
}

impl Fs {
    /// Before `vodfs retry` of a failed file: an image fails in its
    /// video's commit, while its own commit ended well, and the backend
    /// joins a version's successful commit; forget that one so the retry
    /// runs the image's commit (which sends the cover) again.
    pub(super) fn before_retry(&self, ino: u64) -> Result<(), FsError> {
        if let Some((_, name)) = self.cache.parent_of(ino)?
            && is_image(&name)
        {
            self.backend.cancel(ino);
        }
        Ok(())
    }

    /// `setfattr -n user.vod.cover`: refuses (EINVAL, with a log line) an
    /// absolute path, one leading out of the mount, or a non-image.
    pub(super) fn check_cover_xattr(&self, ino: u64, value: &[u8]) -> Result<(), FsError> {
        let dir = match self.cache.parent_of(ino)? {
            Some((parent, _)) => parent,
            None => cache::ROOT_INO,
        };
        let depth = depth(&self.cache, dir)?;
        if let Err(why) = check_value(value, depth) {
            tracing::warn!("setxattr user.vod.cover on inode {ino} refused: {why}");
            return Err(FsError::Invalid("invalid user.vod.cover"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_told_by_extension() {
        assert_eq!(image_type(b"movie.jpg"), Some("jpg"));
        assert_eq!(image_type(b"MOVIE.JPEG"), Some("jpeg"));
        assert_eq!(image_type(b"a.b.png"), Some("png"));
        assert_eq!(image_type(b"movie.mp4"), None);
        assert_eq!(image_type(b".jpg"), None);
        assert_eq!(image_type(b"jpg"), None);
        assert_eq!(stem(b"movie.mp4"), b"movie");
        assert_eq!(stem(b"a.b.mp4"), b"a.b");
    }

    #[test]
    fn cover_paths_are_checked() {
        assert!(check_value(b"covers/x.jpg", 0).is_ok());
        assert!(check_value(b"./x.png", 0).is_ok());
        assert!(check_value(b"../x.jpeg", 1).is_ok());
        assert!(check_value(b"../x.jpg", 0).unwrap_err().contains("out of"));
        assert!(check_value(b"a/../../x.jpg", 0).is_err());
        assert!(
            check_value(b"/etc/x.jpg", 3)
                .unwrap_err()
                .contains("absolute")
        );
        assert!(check_value(b"x.gif", 0).unwrap_err().contains("image"));
        assert!(check_value(b"", 0).is_err());
    }
}
