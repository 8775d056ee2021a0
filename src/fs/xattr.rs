//! Extended attributes. `user.vod.*` names in [`COMPUTED`] are read-only and
//! computed from the cache's upload state; the upload settings
//! (`settings::NAMES`) are stored on directories; `user.vod.retry`
//! is an action; `user.vod.cover` (and `cover_error`) belong to covers
//! (`settings::cover`). `user.vod.cached` (`1`/`0`) tells whether a file's bytes
//! are in the cache or were evicted (reads then come from its URL). Any
//! other `user.vod.*` name is refused with EINVAL and a log line (a typo
//! such as `user.vod.clas_id` must not be stored silently and then
//! ignored); other `user.*` names are stored as given.
//! A `waiting` file (the service unreachable: it is retried by itself)
//! shows its last error and next try in `user.vod.error`, and
//! `user.vod.waiting_since` / `user.vod.next_try` (seconds since the epoch)
//! for `vodfs status`.
//! `security.*`, `system.*` and `trusted.*` lookups answer ENODATA at once
//! without touching the database (the kernel asks for security.capability
//! before every write). Symlinks and special files have no `user.*`
//! attributes (EPERM to set one, as Linux); `getfattr` through a symlink
//! reads its target's, since the kernel follows the link.

use super::error::FsError;
use super::filesystem::Fs;
use crate::cache::{BY_ID_INO, Kind, MEDIA_INO_BASE, UploadRow, UploadState, UploadStatus};
use crate::settings;
use crate::settings::cover::{COVER_ERROR_XATTR, COVER_XATTR};
use crate::upload::health;

/// The computed attributes, without the `user.vod.` prefix.
pub const COMPUTED: &[&str] = &[
    "state",
    "progress",
    "error",
    "url",
    "file_id",
    "sha1",
    "name",
    "cover_url",
    "waiting_since",
    "next_try",
];

const VOD_PREFIX: &[u8] = b"user.vod.";

/// `1` when a file's content is in the cache, `0` when it was evicted.
pub const CACHED: &[u8] = b"user.vod.cached";

/// Setting it re-commits a failed file (`vodfs retry`).
pub const RETRY: &[u8] = b"user.vod.retry";

fn computed_key(name: &[u8]) -> Option<&'static str> {
    let rest = name.strip_prefix(VOD_PREFIX)?;
    COMPUTED.iter().copied().find(|k| k.as_bytes() == rest)
}

fn other_namespace(name: &[u8]) -> bool {
    !name.starts_with(b"user.")
}

/// `setxattr` flags.
const XATTR_CREATE: i32 = 1;
const XATTR_REPLACE: i32 = 2;

fn progress(s: &UploadStatus) -> String {
    format!(
        "{}/{} parts, {}/{} bytes",
        s.parts_done, s.parts_total, s.bytes_done, s.bytes_total
    )
}

/// Seconds since the epoch, as `waiting_since` and `next_try` show times.
fn unix_secs(t: std::time::SystemTime) -> String {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string()
}

/// `user.vod.error` of a waiting file: the last error, since when the
/// service has not answered, when the next try is.
fn waiting_error(s: &UploadStatus) -> Option<String> {
    let error = s.error.clone()?;
    Some(match s.waiting {
        Some(w) => format!(
            "{error} (service unreachable since {} UTC); next try in {} s",
            health::clock(w.since),
            health::secs_until(w.next_try)
        ),
        None => error,
    })
}

fn computed_value(up: &UploadRow, key: &str) -> Option<Vec<u8>> {
    let committed = up.status.state == UploadState::Committed;
    let waiting = up
        .status
        .waiting
        .filter(|_| up.status.state == UploadState::Waiting);
    let v = match key {
        "state" => Some(up.status.state.as_str().to_string()),
        "progress" => Some(progress(&up.status)),
        "error"
            if matches!(
                up.status.state,
                UploadState::Failed | UploadState::Interrupted
            ) =>
        {
            up.status.error.clone()
        }
        "error" if up.status.state == UploadState::Waiting => waiting_error(&up.status),
        "waiting_since" => waiting.map(|w| unix_secs(w.since)),
        "next_try" => waiting.map(|w| unix_secs(w.next_try)),
        // Committed without a URL (frontwize's null PlayUrl): no value.
        "url" if committed => up.url.clone().filter(|u| !u.is_empty()),
        "file_id" if committed => up.file_id.clone(),
        "sha1" if committed => up.sha1.clone(),
        "name" if committed => up.service_name.clone(),
        "cover_url" if committed => up.cover_url.clone(),
        _ => None,
    };
    v.map(String::into_bytes)
}

impl Fs {
    /// The upload row shown by `ino`'s computed attributes (`None` for
    /// directories).
    fn shown_upload(&self, ino: u64) -> Result<Option<UploadRow>, FsError> {
        if ino == BY_ID_INO {
            return Ok(None);
        }
        if ino >= MEDIA_INO_BASE {
            let m = self.media_of(ino)?;
            return Ok(Some(UploadRow {
                status: UploadStatus {
                    state: UploadState::Committed,
                    parts_done: 0,
                    parts_total: 0,
                    bytes_done: m.size,
                    bytes_total: m.size,
                    error: None,
                    waiting: None,
                },
                file_id: Some(m.file_id),
                url: Some(m.url),
                sha1: Some(m.sha1),
                service_name: Some(m.service_name),
                cover_url: m.cover_url,
            }));
        }
        let row = self.cache.get(ino)?.ok_or(FsError::NotFound)?;
        if row.kind != Kind::File {
            return Ok(None);
        }
        let live = self.state().open.get(&ino).cloned();
        let (version, size, dirty) = live.map_or((row.version, row.size, false), |l| {
            let g = l.lock();
            (g.version, g.size, g.dirty)
        });
        // An empty file has nothing to upload: say so, rather than
        // "staged" forever.
        let state = if size == 0 {
            UploadState::Empty
        } else {
            UploadState::Staged
        };
        if let Some(up) = self.cache.upload(ino, version)? {
            return Ok(Some(up));
        }
        if size > 0
            && let Some(up) = self.interrupted_status(ino, version, dirty)
        {
            return Ok(Some(up));
        }
        Ok(Some(self.cache.upload(ino, version)?.unwrap_or(
            UploadRow {
                status: UploadStatus {
                    state,
                    parts_done: 0,
                    parts_total: 0,
                    bytes_done: 0,
                    bytes_total: 0,
                    error: None,
                    waiting: None,
                },
                file_id: None,
                url: None,
                sha1: None,
                service_name: None,
                cover_url: None,
            },
        )))
    }

    /// Whether the content of file `ino` is in the cache (`None`: not a
    /// file).
    fn cached(&self, ino: u64) -> Result<Option<bool>, FsError> {
        if ino == BY_ID_INO {
            return Ok(None);
        }
        if ino >= MEDIA_INO_BASE {
            let m = self.media_of(ino)?;
            return Ok(Some(!self.cache.is_evicted(m.ino, m.version)));
        }
        let row = self.cache.get(ino)?.ok_or(FsError::NotFound)?;
        if row.kind != Kind::File {
            return Ok(None);
        }
        let live = self.state().open.get(&ino).cloned();
        if let Some(live) = live {
            return Ok(Some(!self.evicted(ino, &live.lock())));
        }
        let sealed = self.cache.is_sealed(ino, row.version)?;
        Ok(Some(!(sealed && self.cache.is_evicted(ino, row.version))))
    }

    /// The value of xattr `name` of `ino`.
    pub fn getxattr(&self, ino: u64, name: &[u8]) -> Result<Vec<u8>, FsError> {
        if other_namespace(name) {
            return Err(FsError::NoData);
        }
        if name == CACHED
            && let Some(cached) = self.cached(ino)?
        {
            return Ok(if cached { b"1".to_vec() } else { b"0".to_vec() });
        }
        if let Some(key) = computed_key(name)
            && let Some(up) = self.shown_upload(ino)?
        {
            return computed_value(&up, key).ok_or(FsError::NoData);
        }
        if ino == BY_ID_INO || ino >= MEDIA_INO_BASE {
            return Err(FsError::NoData);
        }
        self.cache.get_xattr(ino, name)?.ok_or(FsError::NoData)
    }

    /// The names of the xattrs of `ino`.
    pub fn listxattr(&self, ino: u64) -> Result<Vec<Vec<u8>>, FsError> {
        let mut out = Vec::new();
        if !self.config().list_vod_xattrs {
            // Computed attributes are read by name only (FsConfig).
        } else if let Some(up) = self.shown_upload(ino)? {
            for key in COMPUTED {
                if computed_value(&up, key).is_some() {
                    out.push([VOD_PREFIX, key.as_bytes()].concat());
                }
            }
            out.push(CACHED.to_vec());
        }
        if ino != BY_ID_INO && ino < MEDIA_INO_BASE {
            out.extend(self.cache.list_xattrs(ino)?);
        }
        Ok(out)
    }

    fn check_xattr_writable(&self, ino: u64, name: &[u8]) -> Result<(), FsError> {
        if other_namespace(name) {
            return Err(FsError::NotSupported("only user.* attributes are stored"));
        }
        if ino == BY_ID_INO || ino >= MEDIA_INO_BASE {
            return Err(FsError::ReadOnly);
        }
        let kind = self.cache.get(ino)?.ok_or(FsError::NotFound)?.kind;
        if !matches!(kind, Kind::File | Kind::Dir) {
            // As Linux: user.* attributes only on files and directories.
            return Err(FsError::NotPermitted(
                "user.* attributes on symlinks and special files",
            ));
        }
        if (computed_key(name).is_some() || name == CACHED) && self.shown_upload(ino)?.is_some() {
            return Err(FsError::NotPermitted(
                "user.vod.* attributes of a file are read-only",
            ));
        }
        Ok(())
    }

    /// Refuses an invalid upload setting, or one set on a file (they
    /// belong to directories), with a log line.
    fn check_setting(&self, ino: u64, setting: &str, value: &[u8]) -> Result<(), FsError> {
        if self.shown_upload(ino)?.is_some() {
            tracing::warn!(
                "setxattr user.vod.{setting} on inode {ino} refused: upload settings are set on directories"
            );
            return Err(FsError::Invalid("upload settings are set on directories"));
        }
        if let Err(why) = settings::check(setting, value) {
            tracing::warn!("setxattr user.vod.{setting} on inode {ino} refused: {why}");
            return Err(FsError::Invalid("invalid upload setting"));
        }
        Ok(())
    }

    /// Refuses a `user.vod.*` name vodfs does not know, with a log line.
    fn check_known_vod_name(&self, ino: u64, name: &[u8]) -> Result<(), FsError> {
        if !name.starts_with(VOD_PREFIX)
            || name == CACHED
            || name == COVER_XATTR
            || name == COVER_ERROR_XATTR
            || computed_key(name).is_some()
            || settings::setting_name(name).is_some()
        {
            return Ok(());
        }
        let file = self.cache.display_path(ino);
        tracing::warn!(
            file = %file,
            "setxattr {} refused: not a user.vod.* attribute vodfs knows (EINVAL)",
            String::from_utf8_lossy(name)
        );
        Err(FsError::Invalid("unknown user.vod.* attribute"))
    }

    /// Stores user xattr `name` (flags: XATTR_CREATE / XATTR_REPLACE).
    pub fn setxattr(&self, ino: u64, name: &[u8], value: &[u8], flags: i32) -> Result<(), FsError> {
        if name == RETRY {
            return self.retry(ino);
        }
        self.check_xattr_writable(ino, name)?;
        self.check_known_vod_name(ino, name)?;
        if name.len() > 255 {
            return Err(FsError::NameTooLong);
        }
        if let Some(setting) = settings::setting_name(name) {
            self.check_setting(ino, setting, value)?;
        }
        if name == COVER_XATTR {
            self.check_cover_xattr(ino, value)?;
        }
        Ok(self.cache.set_xattr(
            ino,
            name,
            value,
            flags & XATTR_CREATE != 0,
            flags & XATTR_REPLACE != 0,
        )?)
    }

    /// `setfattr -n user.vod.retry`: commits a failed upload again, or
    /// tries a waiting one now (from the parts the service holds) rather
    /// than at its next try (the value is ignored). Nothing is stored. A
    /// file that is neither answers EINVAL (committed, empty or under way:
    /// nothing to retry).
    pub fn retry(&self, ino: u64) -> Result<(), FsError> {
        let Some(up) = self.shown_upload(ino)? else {
            let kind = self.getattr(ino)?.kind;
            return Err(match kind {
                Kind::Dir => FsError::IsDir,
                _ => FsError::NotPermitted("user.* attributes on symlinks and special files"),
            });
        };
        if up.status.state == UploadState::Interrupted {
            return self.commit_interrupted(ino);
        }
        if !matches!(up.status.state, UploadState::Failed | UploadState::Waiting) {
            return Err(FsError::Invalid(
                "user.vod.retry: the file has not failed and is not waiting",
            ));
        }
        if up.status.state == UploadState::Waiting {
            // Its upload is still running, waiting between tries: the
            // waits end now and every waiting call tries at once.
            tracing::info!(ino, "trying the waiting uploads now");
            self.backend.retry_now();
            return Ok(());
        }
        let version = self.cache.get(ino)?.ok_or(FsError::NotFound)?.version;
        tracing::info!(ino, version, "retrying a failed upload");
        // Staged again before this returns, so `vodfs wait` right after
        // does not see the old failure.
        let staged = UploadStatus {
            state: UploadState::Staged,
            error: None,
            waiting: None,
            ..up.status
        };
        self.cache.set_upload_status(ino, version, &staged)?;
        self.before_retry(ino)?;
        self.commit_background(ino, version);
        Ok(())
    }

    /// Removes user xattr `name`. Removing a computed `user.vod.*` name of
    /// a file is a no-op that succeeds: `rsync -X` removes every attribute
    /// of the destination that its source lacks.
    pub fn removexattr(&self, ino: u64, name: &[u8]) -> Result<(), FsError> {
        if other_namespace(name) {
            return Err(FsError::NoData);
        }
        if ino != BY_ID_INO
            && ino < MEDIA_INO_BASE
            && (computed_key(name).is_some() || name == CACHED)
            && self.shown_upload(ino)?.is_some()
        {
            return Ok(());
        }
        self.check_xattr_writable(ino, name)?;
        Ok(self.cache.remove_xattr(ino, name)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_without_a_url_shows_state_and_id_but_no_url() {
        let up = UploadRow {
            status: UploadStatus {
                state: UploadState::Committed,
                parts_done: 1,
                parts_total: 1,
                bytes_done: 10,
                bytes_total: 10,
                error: None,
                waiting: None,
            },
            file_id: Some("52746780168687616".into()),
            url: Some(String::new()),
            sha1: Some("ab".into()),
            service_name: Some("x".into()),
            cover_url: None,
        };
        assert_eq!(
            computed_value(&up, "state").as_deref(),
            Some(&b"committed"[..])
        );
        assert_eq!(
            computed_value(&up, "file_id").as_deref(),
            Some(&b"52746780168687616"[..])
        );
        assert_eq!(computed_value(&up, "url"), None, "an empty URL is no URL");
        assert_eq!(computed_value(&up, "error"), None);
        let with = UploadRow {
            url: Some("http://h/v.mp4".into()),
            ..up
        };
        assert_eq!(
            computed_value(&with, "url").as_deref(),
            Some(&b"http://h/v.mp4"[..])
        );
    }
}
