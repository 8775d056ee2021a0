//! Upload state and media records: the part of the cache the upload
//! committer reads and writes, and that the filesystem shows as xattrs and
//! `by-id/` entries.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::time::SystemTime;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::error::CacheError;
use super::inode::{Kind, from_ns, to_ns};
use super::store::Cache;

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadState {
    Staged,
    Hashing,
    Uploading,
    Committing,
    Committed,
    Failed,
    /// A transient failure (the service unreachable, stalled, 5xx): the
    /// upload is retried by itself until it commits; `error` says the last
    /// error and [`UploadStatus::waiting`] since when and the next try.
    Waiting,
    /// An empty file: nothing to upload (a VOD media has bytes). Never
    /// stored in the uploads table; computed for files of size 0.
    Empty,
    /// The mount stopped while the file was still open for writing (kill,
    /// crash): its last close never came, so it may be truncated and is
    /// not committed until rewritten or retried. Never stored; computed at
    /// mount start (`fs::interrupted`).
    Interrupted,
    /// An image closed with no video to be the cover of: kept, never
    /// uploaded as a media (`crate::settings::cover`).
    Image,
    /// An image sent as a video's cover.
    Cover,
}

impl UploadState {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Staged => "staged",
            UploadState::Hashing => "hashing",
            UploadState::Uploading => "uploading",
            UploadState::Committing => "committing",
            UploadState::Committed => "committed",
            UploadState::Failed => "failed",
            UploadState::Waiting => "waiting",
            UploadState::Empty => "empty",
            UploadState::Interrupted => "interrupted",
            UploadState::Image => "image",
            UploadState::Cover => "cover",
        }
    }

    pub fn parse(s: &str) -> Option<UploadState> {
        Some(match s {
            "staged" => UploadState::Staged,
            "hashing" => UploadState::Hashing,
            "uploading" => UploadState::Uploading,
            "committing" => UploadState::Committing,
            "committed" => UploadState::Committed,
            "failed" => UploadState::Failed,
            "waiting" => UploadState::Waiting,
            "empty" => UploadState::Empty,
            "interrupted" => UploadState::Interrupted,
            "image" => UploadState::Image,
            "cover" => UploadState::Cover,
            _ => return None,
        })
    }
}

/// Progress of one upload, as the committer reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    pub state: UploadState,
    pub parts_done: u64,
    pub parts_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Why it failed (state `failed`), or the last error while `waiting`;
    /// cleared otherwise.
    pub error: Option<String>,
    /// While `waiting`: since when, and when the next try is.
    pub waiting: Option<WaitTimes>,
}

/// When a waiting upload first failed, and when it is tried next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimes {
    pub since: SystemTime,
    pub next_try: SystemTime,
}

/// The upload row of (ino, version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    pub status: UploadStatus,
    pub file_id: Option<String>,
    pub url: Option<String>,
    /// Lower-case hex SHA-1 the service knows.
    pub sha1: Option<String>,
    pub service_name: Option<String>,
    pub cover_url: Option<String>,
}

/// What the committer needs to upload (ino, version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub ino: u64,
    pub version: u64,
    /// Current name bytes of the file and its directory.
    pub name: Vec<u8>,
    pub parent: u64,
    pub size: u64,
    pub part_size: u32,
    /// SHA-1 of the content, when computed while writing.
    pub sha1: Option<[u8; 20]>,
    /// MD5 of each part (`size.div_ceil(part_size)` entries), `None` to compute.
    pub md5s: Vec<Option<[u8; 16]>>,
    /// The data file was synced after the hashes were computed from the
    /// bytes written: they describe the bytes on disk. When false (the
    /// machine restarted between the seal and the sync) they must be
    /// computed again.
    pub verified: bool,
}

/// The outcome of a successful commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub file_id: String,
    pub url: String,
    /// Lower-case hex SHA-1.
    pub sha1: String,
    pub service_name: String,
    pub cover_url: Option<String>,
}

/// One committed media (`by-id/<file_id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Row id; the entry's inode is `MEDIA_INO_BASE + id`.
    pub id: u64,
    pub file_id: String,
    pub ino: u64,
    pub version: u64,
    pub size: u64,
    pub url: String,
    pub sha1: String,
    pub service_name: String,
    pub cover_url: Option<String>,
    pub mtime: SystemTime,
}

const MEDIA_COLS: &str =
    "id, file_id, ino, version, size, url, sha1, service_name, cover_url, mtime_ns";

fn media_from_row(r: &Row<'_>) -> rusqlite::Result<Media> {
    Ok(Media {
        id: r.get::<_, i64>(0)? as u64,
        file_id: r.get(1)?,
        ino: r.get::<_, i64>(2)? as u64,
        version: r.get::<_, i64>(3)? as u64,
        size: r.get::<_, i64>(4)? as u64,
        url: r.get(5)?,
        sha1: r.get(6)?,
        service_name: r.get(7)?,
        cover_url: r.get(8)?,
        mtime: from_ns(r.get(9)?),
    })
}

fn upload_from_row(r: &Row<'_>) -> rusqlite::Result<UploadRow> {
    let state: String = r.get(0)?;
    Ok(UploadRow {
        status: UploadStatus {
            state: UploadState::parse(&state).unwrap_or(UploadState::Failed),
            parts_done: r.get::<_, i64>(1)? as u64,
            parts_total: r.get::<_, i64>(2)? as u64,
            bytes_done: r.get::<_, i64>(3)? as u64,
            bytes_total: r.get::<_, i64>(4)? as u64,
            error: r.get(5)?,
            waiting: match (r.get::<_, Option<i64>>(11)?, r.get::<_, Option<i64>>(12)?) {
                (Some(since), Some(next)) => Some(WaitTimes {
                    since: from_ns(since),
                    next_try: from_ns(next),
                }),
                _ => None,
            },
        },
        file_id: r.get(6)?,
        url: r.get(7)?,
        sha1: r.get(8)?,
        service_name: r.get(9)?,
        cover_url: r.get(10)?,
    })
}

/// (size, part size, sha1, verified) of a sealed version.
type VersionRow = (u64, u32, Option<Vec<u8>>, bool);

fn version_size(c: &Connection, ino: u64, version: u64) -> Result<Option<VersionRow>, CacheError> {
    Ok(c.prepare_cached(
        "SELECT size, part_size, sha1, verified FROM versions WHERE ino = ?1 AND version = ?2",
    )?
    .query_row(params![ino as i64, version as i64], |r| {
        Ok((
            r.get::<_, i64>(0)? as u64,
            r.get::<_, i64>(1)? as u32,
            r.get(2)?,
            r.get::<_, i64>(3)? != 0,
        ))
    })
    .optional()?)
}

impl Cache {
    /// Everything a commit of (ino, version) needs; `None` when that
    /// version was never sealed or the file has no name any more. A version
    /// sealed without syncing since this boot is synced first (a write-back
    /// commit may start before the sync that follows its close; the mount
    /// may have been killed before it): the kernel still holds the bytes
    /// written, so it is verified. Blocks for that sync.
    pub fn commit_info(&self, ino: u64, version: u64) -> Result<Option<CommitInfo>, CacheError> {
        let boot = self.boot_id();
        let sealed_this_boot = self.db().read(|c| {
            Ok(c.prepare_cached(
                "SELECT 1 FROM versions WHERE ino = ?1 AND version = ?2 AND verified = 0 AND sealed_boot = ?3",
            )?
            .query_row(params![ino as i64, version as i64, boot], |_| Ok(()))
            .optional()?
            .is_some())
        })?;
        if sealed_this_boot {
            self.sync_data(ino, version)?;
        }
        self.db().read(|c| {
            let Some((size, part_size, sha1, verified)) = version_size(c, ino, version)? else {
                return Ok(None);
            };
            let Some((parent, name)) = c
                // A hard-linked file goes up once, under the name that sorts
                // first by (directory inode, name bytes): `Cache::names_of`.
                .prepare_cached(
                    "SELECT parent, name FROM dentries WHERE ino = ?1 ORDER BY parent, name LIMIT 1",
                )?
                .query_row([ino as i64], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
                })
                .optional()?
            else {
                return Ok(None);
            };
            let nparts = size.div_ceil(u64::from(part_size.max(1))) as usize;
            let mut md5s = vec![None; nparts];
            let mut st =
                c.prepare_cached("SELECT idx, md5 FROM chunks WHERE ino = ?1 AND version = ?2")?;
            let rows = st.query_map(params![ino as i64, version as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)? as usize,
                    r.get::<_, Option<Vec<u8>>>(1)?,
                ))
            })?;
            for row in rows {
                let (i, m) = row?;
                if let (Some(slot), Some(m)) = (md5s.get_mut(i), m) {
                    *slot = <[u8; 16]>::try_from(m).ok();
                }
            }
            Ok(Some(CommitInfo {
                ino,
                version,
                name,
                parent,
                size,
                part_size,
                sha1: sha1.and_then(|s| <[u8; 20]>::try_from(s).ok()),
                md5s,
                verified,
            }))
        })
    }

    /// Reads up to `len` bytes at `offset` of (ino, version); shorter at the
    /// end of the content. Usable from any thread.
    pub fn read_at(
        &self,
        ino: u64,
        version: u64,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, CacheError> {
        use std::io::{Read, Seek, SeekFrom};
        let path = self.data_path(ino, version);
        let mut file = std::fs::File::open(&path)
            .map_err(|e| CacheError::io(format!("opening {}", path.display()), e))?;
        // The descriptor is this call's own, so is its cursor; `read_to_end`
        // fills the spare capacity without zeroing it first (the memset of a
        // zeroed buffer was 7 % of the mount's upload-phase samples).
        let mut buf = Vec::with_capacity(len);
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.take(len as u64).read_to_end(&mut buf))
            .map_err(|e| CacheError::io(format!("reading {}", path.display()), e))?;
        Ok(buf)
    }

    /// [`Cache::read_at`] for bytes read once, an upload's part: read
    /// around the page cache where the file system allows it. The staged
    /// bytes were mostly written that way, so a buffered read would fetch
    /// them from disk into page-cache pages only to copy them out (the
    /// mount's CPU per GiB uploaded tripled when staged writes went direct
    /// and part reads stayed buffered, doc/bench.md).
    pub fn read_part(
        &self,
        ino: u64,
        version: u64,
        offset: u64,
        len: usize,
    ) -> Result<bytes::Bytes, CacheError> {
        let path = self.data_path(ino, version);
        match crate::direct_io::read_at(&path, offset, len) {
            Ok(Some(b)) => Ok(b),
            Ok(None) => self
                .read_at(ino, version, offset, len)
                .map(bytes::Bytes::from),
            Err(e) => Err(CacheError::io(format!("reading {}", path.display()), e)),
        }
    }

    /// Records the progress of the upload of (ino, version).
    pub fn set_upload_status(
        &self,
        ino: u64,
        version: u64,
        s: &UploadStatus,
    ) -> Result<(), CacheError> {
        self.save_progress(ino, version, Some(s.clone()), None)
    }

    /// Records the progress and/or the resume token (opaque bytes) of the
    /// upload of (ino, version) in one trip to the writer (an upload's flusher has
    /// both at its start).
    pub fn save_progress(
        &self,
        ino: u64,
        version: u64,
        status: Option<UploadStatus>,
        token: Option<Vec<u8>>,
    ) -> Result<(), CacheError> {
        self.db().write(false, move |c| {
            if let Some(s) = status {
                write_status(c, ino, version, &s)?;
            }
            if let Some(t) = token {
                write_token(c, ino, version, &t)?;
            }
            Ok(())
        })
    }

    /// Records a successful commit of (ino, version) and creates its media
    /// record (`by-id/<file_id>`), which keeps that version's bytes.
    pub fn mark_committed(
        &self,
        ino: u64,
        version: u64,
        m: &Committed,
    ) -> Result<Media, CacheError> {
        let m = m.clone();
        self.db().write(true, move |c| {
            let (size, _, _, _) = version_size(c, ino, version)?.ok_or(CacheError::NotSealed { ino, version })?;
            c.prepare_cached("UPDATE uploads SET state = 'committed', error = NULL, waiting_since_ns = NULL,
                 next_try_ns = NULL, file_id = ?3, url = ?4, sha1 = ?5,
                 service_name = ?6, cover_url = ?7, parts_done = parts_total, bytes_done = bytes_total
                 WHERE ino = ?1 AND version = ?2")?
                     .execute(params![ino as i64, version as i64, m.file_id, m.url, m.sha1, m.service_name, m.cover_url])?;
            c.prepare_cached("INSERT INTO media (file_id, ino, version, size, url, sha1, service_name, cover_url, mtime_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(file_id) DO UPDATE SET ino = excluded.ino, version = excluded.version,
                   size = excluded.size, url = excluded.url, sha1 = excluded.sha1,
                   service_name = excluded.service_name, cover_url = excluded.cover_url")?
                       .execute(params![
                    m.file_id,
                    ino as i64,
                    version as i64,
                    size as i64,
                    m.url,
                    m.sha1,
                    m.service_name,
                    m.cover_url,
                    to_ns(SystemTime::now())
                ])?;
            let media = c
                .prepare_cached(&format!("SELECT {MEDIA_COLS} FROM media WHERE file_id = ?1"))?
                .query_row([&m.file_id], media_from_row)?;
            Ok(media)
        })
    }

    /// The resume token saved for (ino, version).
    pub fn load_resume_token(&self, ino: u64, version: u64) -> Result<Option<Vec<u8>>, CacheError> {
        self.db().read(|c| {
            Ok(c.prepare_cached(
                "SELECT resume_token FROM uploads WHERE ino = ?1 AND version = ?2",
            )?
            .query_row(params![ino as i64, version as i64], |r| {
                r.get::<_, Option<Vec<u8>>>(0)
            })
            .optional()?
            .flatten())
        })
    }

    /// Sealed (ino, version) pairs of live files whose upload is not
    /// committed: what a new mount resumes.
    pub fn pending_uploads(&self) -> Result<Vec<(u64, u64)>, CacheError> {
        self.db().read(|c| {
            let mut st = c.prepare_cached(
                "SELECT u.ino, u.version FROM uploads u JOIN inodes i ON i.ino = u.ino AND i.version = u.version
                 WHERE u.state NOT IN ('committed', 'image', 'cover') AND i.nlink > 0 ORDER BY u.ino",
            )?;
            let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The upload row of (ino, version).
    pub fn upload(&self, ino: u64, version: u64) -> Result<Option<UploadRow>, CacheError> {
        self.db().read(|c| {
            Ok(c.prepare_cached(
                "SELECT state, parts_done, parts_total, bytes_done, bytes_total, error, file_id, url,
                 sha1, service_name, cover_url, waiting_since_ns, next_try_ns
                 FROM uploads WHERE ino = ?1 AND version = ?2",
            )?
            .query_row(params![ino as i64, version as i64], upload_from_row)
            .optional()?)
        })
    }

    /// Every `user.vod.<setting>` that applies to `ino`, by setting: each
    /// from the nearest directory at or above it that has one (a file
    /// starts at its parent). One walk up the tree for all of them: a
    /// commit resolves every setting, and one read per setting and level
    /// was 4 % of the mount's CPU with small files.
    pub fn dir_settings(&self, ino: u64) -> Result<HashMap<String, Vec<u8>>, CacheError> {
        self.db().read(move |c| {
            let mut found = HashMap::new();
            let mut cur = ino;
            for _ in 0..10_000 {
                let kind: Option<i64> = c
                    .prepare_cached("SELECT kind FROM inodes WHERE ino = ?1")?
                    .query_row([cur as i64], |r| r.get(0))
                    .optional()?;
                if kind.map(Kind::from_i64) == Some(Kind::Dir) {
                    // The `user.vod.` names, by the primary key's range.
                    let mut st = c.prepare_cached(
                        "SELECT name, value FROM xattrs WHERE ino = ?1 \
                         AND name >= CAST('user.vod.' AS BLOB) AND name < CAST('user.vod/' AS BLOB)",
                    )?;
                    let rows = st.query_map([cur as i64], |r| {
                        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
                    })?;
                    for row in rows {
                        let (name, value) = row?;
                        if let Ok(setting) = String::from_utf8(name["user.vod.".len()..].to_vec()) {
                            found.entry(setting).or_insert(value);
                        }
                    }
                }
                let parent: Option<i64> = c
                    .prepare_cached("SELECT parent FROM dentries WHERE ino = ?1 LIMIT 1")?
                    .query_row([cur as i64], |r| r.get(0))
                    .optional()?;
                match parent {
                    Some(p) if p as u64 != cur => cur = p as u64,
                    _ => break,
                }
            }
            Ok(found)
        })
    }

    /// All media records, by file id.
    pub fn media_list(&self) -> Result<Vec<Media>, CacheError> {
        self.db().read(|c| {
            let mut st =
                c.prepare_cached(&format!("SELECT {MEDIA_COLS} FROM media ORDER BY file_id"))?;
            let rows = st.query_map([], media_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The media record named `file_id`.
    pub fn media_by_file_id(&self, file_id: &str) -> Result<Option<Media>, CacheError> {
        self.db().read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {MEDIA_COLS} FROM media WHERE file_id = ?1"
            ))?
            .query_row([file_id], media_from_row)
            .optional()?)
        })
    }

    /// The media record with row id `id`.
    pub fn media(&self, id: u64) -> Result<Option<Media>, CacheError> {
        self.db().read(|c| {
            Ok(
                c.prepare_cached(&format!("SELECT {MEDIA_COLS} FROM media WHERE id = ?1"))?
                    .query_row([id as i64], media_from_row)
                    .optional()?,
            )
        })
    }
}

/// Positional read of up to `len` bytes; shorter only at end of file.
pub(crate) fn read_file_at(
    file: &std::fs::File,
    offset: u64,
    len: usize,
) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// The UPDATE of an upload's state and progress; a version not sealed (no
/// upload row) is an error.
fn write_status(
    c: &rusqlite::Connection,
    ino: u64,
    version: u64,
    s: &UploadStatus,
) -> Result<(), CacheError> {
    let n = c
        .prepare_cached(
            "UPDATE uploads SET state = ?3, parts_done = ?4, parts_total = ?5, bytes_done = ?6,
             bytes_total = ?7, error = ?8, waiting_since_ns = ?9, next_try_ns = ?10
             WHERE ino = ?1 AND version = ?2",
        )?
        .execute(params![
            ino as i64,
            version as i64,
            s.state.as_str(),
            s.parts_done as i64,
            s.parts_total as i64,
            s.bytes_done as i64,
            s.bytes_total as i64,
            s.error,
            s.waiting.map(|w| to_ns(w.since)),
            s.waiting.map(|w| to_ns(w.next_try)),
        ])?;
    if n == 0 {
        return Err(CacheError::NotSealed { ino, version });
    }
    Ok(())
}

/// The UPDATE of an upload's resume token.
fn write_token(
    c: &rusqlite::Connection,
    ino: u64,
    version: u64,
    token: &[u8],
) -> Result<(), CacheError> {
    let n = c
        .prepare_cached("UPDATE uploads SET resume_token = ?3 WHERE ino = ?1 AND version = ?2")?
        .execute(params![ino as i64, version as i64, token])?;
    if n == 0 {
        return Err(CacheError::NotSealed { ino, version });
    }
    // The upload's own token now owns the session (if it was one started
    // while the file was written).
    c.prepare_cached("DELETE FROM early_sessions WHERE ino = ?1 AND version = ?2")?
        .execute(params![ino as i64, version as i64])?;
    Ok(())
}
