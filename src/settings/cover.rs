//! Covers (issue 4): which image travels with which video, as rules on
//! names and paths. Walking the tree to apply them is the commit job's
//! (`crate::upload::commit_job`), checking `user.vod.cover` at setfattr
//! the filesystem's (`crate::fs`); both take the rule from here.
//!
//! The rule, decided here and nowhere else:
//! - An *image* is a file named `*.jpg`, `*.jpeg` or `*.png` (any case).
//!   Images are never uploaded as media of their own: when one is closed it
//!   stays staged in the cache with `user.vod.state` = `image`, or `cover`
//!   once it was sent as some video's cover.
//! - The cover of a video is the file its `user.vod.cover` xattr names (a
//!   path relative to the video's directory, checked at setfattr), else the
//!   image beside it with the same stem (`movie.mp4` → `movie.jpg`, then
//!   `.jpeg`, then `.png`; each in lower, then upper case: [`candidates`]).
//! - A cover is sent when its video commits, or, when the image is closed
//!   after its video committed, right then (so both copy orders work and a
//!   changed cover replaces the old one). A cover failure never fails the
//!   video: it shows as `user.vod.cover_error` on the video and as
//!   `user.vod.error` on the image (which `vodfs retry` retries).

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

/// A name without its extension (the whole name when it has none).
pub fn stem(name: &[u8]) -> &[u8] {
    split_ext(name).map_or(name, |(s, _)| s)
}

/// The names of the same-stem images that may be the cover of the video
/// named `video`, in the order they are tried.
pub fn candidates(video: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let stem = stem(video);
    IMAGE_TYPES
        .iter()
        .flat_map(|e| [e.to_string(), e.to_ascii_uppercase()])
        .map(move |ext| [stem, b".", ext.as_bytes()].concat())
}

/// Whether the file named `file` is, by name, a video the image named
/// `image` is the same-stem cover of.
pub fn same_stem_video(image: &[u8], file: &[u8]) -> bool {
    !is_image(file) && stem(file) == stem(image)
}

/// The file name a `user.vod.cover` path ends in (the cover's name).
pub fn base_name(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
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
    fn same_stem_images_are_tried_in_order() {
        let c: Vec<Vec<u8>> = candidates(b"movie.mp4").collect();
        let want: [&[u8]; 6] = [
            b"movie.jpg",
            b"movie.JPG",
            b"movie.jpeg",
            b"movie.JPEG",
            b"movie.png",
            b"movie.PNG",
        ];
        assert_eq!(c, want);
        assert!(same_stem_video(b"movie.jpg", b"movie.mp4"));
        assert!(!same_stem_video(b"movie.jpg", b"movie.png"));
        assert!(!same_stem_video(b"movie.jpg", b"other.mp4"));
        assert_eq!(base_name(b"covers/x.jpg"), b"x.jpg");
        assert_eq!(base_name(b"x.jpg"), b"x.jpg");
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
