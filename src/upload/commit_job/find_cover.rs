//! Finding covers in the tree: the cover of a video, and the videos an
//! image is the cover of. The rule (what counts as an image, same-stem
//! names, `user.vod.cover` paths) is `crate::settings::cover`'s; this file
//! only walks the cache with it.

use crate::cache::{Cache, CacheError, Kind};
use crate::settings::cover::{self, COVER_XATTR};

/// A cover found for a video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CoverFile {
    pub(super) ino: u64,
    /// Its name (the service name of the cover is made from it).
    pub(super) name: Vec<u8>,
}

/// The cover of the video `name` (inode `ino`) in directory `parent`:
/// `Ok(None)` when it has none, `Err` when `user.vod.cover` names a file
/// that does not exist (a cover failure, not a video failure).
pub(super) fn cover_of(
    cache: &Cache,
    ino: u64,
    parent: u64,
    name: &[u8],
) -> Result<Option<CoverFile>, String> {
    let db = |e: CacheError| format!("cache: {e}");
    if let Some(path) = cache.get_xattr(ino, COVER_XATTR).map_err(db)? {
        let shown = String::from_utf8_lossy(&path).into_owned();
        let found = cache.resolve_relative(parent, &path).map_err(db)?;
        let file = found
            .map(|i| cache.get(i))
            .transpose()
            .map_err(db)?
            .flatten()
            .filter(|r| r.kind == Kind::File);
        let Some(row) = file else {
            return Err(format!("user.vod.cover {shown:?}: no such file"));
        };
        return Ok(Some(CoverFile {
            ino: row.ino,
            name: cover::base_name(&path).to_vec(),
        }));
    }
    for candidate in cover::candidates(name) {
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
pub(super) fn videos_of(
    cache: &Cache,
    image: u64,
    parent: u64,
    name: &[u8],
) -> Result<Vec<u64>, CacheError> {
    let mut out = Vec::new();
    for e in cache.readdir(parent)? {
        if e.kind != Kind::File || e.ino == image || !cover::same_stem_video(name, &e.name) {
            continue;
        }
        let names_other = cache
            .get_xattr(e.ino, COVER_XATTR)?
            .is_some_and(|p| cache.resolve_relative(parent, &p).ok().flatten() != Some(image));
        if !names_other {
            out.push(e.ino);
        }
    }
    Ok(out)
}
