//! Inodes, directory entries, xattrs and content versions: what the
//! filesystem layer reads and changes. Names are bytes (non-UTF-8 allowed).
//!
//! Link counts are kept in the same transaction as the entries: a
//! non-directory's `nlink` is its number of names (hard links, see
//! `links`), a directory's 2 + its subdirectories.

use std::time::SystemTime;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::error::CacheError;
use super::hash::Hashes;
use super::inode::{BY_ID_INO, InodeRow, Kind, ROOT_INO, from_ns, to_ns};
use super::store::Cache;

/// Known MD5 of each part of a content.
pub type PartMd5s = Vec<Option<[u8; 16]>>;

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub kind: Kind,
}

/// Attribute changes of `setattr`; `None` leaves a field alone. Setting
/// anything also sets ctime to now.
#[derive(Debug, Clone, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<SystemTime>,
    pub mtime: Option<SystemTime>,
    /// `Some(true)`: a write-back close left the current version whole
    /// (its RELEASE seals it; a mount stopped before that commits it at
    /// the next start, see `Cache::unsealed_files`); `Some(false)`: a
    /// write or truncate changed it since.
    pub closed: Option<bool>,
}

/// A new inode: what [`Cache::create`] stores.
#[derive(Debug, Clone)]
pub struct NewNode {
    pub kind: Kind,
    /// Permission bits (type bits are ignored).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Device number of a device node.
    pub rdev: u32,
    /// A symlink's target.
    pub target: Option<Vec<u8>>,
}

const INODE_COLS: &str = "ino, kind, mode, uid, gid, size, atime_ns, mtime_ns, ctime_ns, crtime_ns, version, nlink, rdev";

fn inode_from_row(r: &Row<'_>) -> rusqlite::Result<InodeRow> {
    Ok(InodeRow {
        ino: r.get::<_, i64>(0)? as u64,
        kind: Kind::from_i64(r.get(1)?),
        mode: r.get::<_, i64>(2)? as u32,
        uid: r.get::<_, i64>(3)? as u32,
        gid: r.get::<_, i64>(4)? as u32,
        size: r.get::<_, i64>(5)? as u64,
        atime: from_ns(r.get(6)?),
        mtime: from_ns(r.get(7)?),
        ctime: from_ns(r.get(8)?),
        crtime: from_ns(r.get(9)?),
        version: r.get::<_, i64>(10)? as u64,
        nlink: r.get::<_, i64>(11)? as u32,
        rdev: r.get::<_, i64>(12)? as u32,
    })
}

pub(super) fn ensure_root(conn: &Connection, uid: u32, gid: u32) -> Result<(), CacheError> {
    let now = to_ns(SystemTime::now());
    for (ino, mode) in [(ROOT_INO, 0o755), (BY_ID_INO, 0o555)] {
        conn.prepare_cached("INSERT OR IGNORE INTO inodes (ino, kind, mode, uid, gid, atime_ns, mtime_ns, ctime_ns, crtime_ns, nlink)
             VALUES (?1, 2, ?2, ?3, ?4, ?5, ?5, ?5, ?5, 2)")?
                 .execute(params![ino as i64, mode, uid, gid, now])?;
    }
    Ok(())
}

/// Non-directories left unlinked (nlink 0) by an earlier mount.
pub(super) fn orphans(conn: &Connection) -> Result<Vec<u64>, CacheError> {
    let mut st = conn.prepare_cached("SELECT ino FROM inodes WHERE nlink = 0 AND kind <> 2")?;
    let rows = st.query_map([], |r| r.get::<_, i64>(0))?;
    Ok(rows
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|i| i as u64)
        .collect())
}

pub(super) fn get_inode(conn: &Connection, ino: u64) -> Result<Option<InodeRow>, CacheError> {
    let mut st = conn.prepare_cached(&format!("SELECT {INODE_COLS} FROM inodes WHERE ino = ?1"))?;
    Ok(st.query_row([ino as i64], inode_from_row).optional()?)
}

pub(super) fn lookup_ino(
    conn: &Connection,
    parent: u64,
    name: &[u8],
) -> Result<Option<u64>, CacheError> {
    let mut st = conn.prepare_cached("SELECT ino FROM dentries WHERE parent = ?1 AND name = ?2")?;
    Ok(st
        .query_row(params![parent as i64, name], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|i| i as u64))
}

pub(super) fn require_dir(conn: &Connection, ino: u64) -> Result<InodeRow, CacheError> {
    let row = get_inode(conn, ino)?.ok_or(CacheError::NotFound)?;
    if row.kind != Kind::Dir {
        return Err(CacheError::NotDir);
    }
    Ok(row)
}

pub(super) fn is_empty_dir(conn: &Connection, ino: u64) -> Result<bool, CacheError> {
    let mut st = conn.prepare_cached("SELECT 1 FROM dentries WHERE parent = ?1 LIMIT 1")?;
    Ok(st.query_row([ino as i64], |_| Ok(())).optional()?.is_none())
}

pub(super) fn touch_dir(conn: &Connection, ino: u64, now: i64) -> Result<(), CacheError> {
    conn.prepare_cached("UPDATE inodes SET mtime_ns = ?2, ctime_ns = ?2 WHERE ino = ?1")?
        .execute(params![ino as i64, now])?;
    Ok(())
}

/// Adds `delta` to the link count of `ino`.
pub(super) fn add_links(conn: &Connection, ino: u64, delta: i64) -> Result<(), CacheError> {
    conn.prepare_cached("UPDATE inodes SET nlink = max(nlink + ?2, 0) WHERE ino = ?1")?
        .execute(params![ino as i64, delta])?;
    Ok(())
}

/// Removes the entry (parent, name) of a non-directory: one name fewer.
pub(super) fn unlink_entry(
    conn: &Connection,
    parent: u64,
    name: &[u8],
    ino: u64,
    now: i64,
) -> Result<(), CacheError> {
    conn.prepare_cached("DELETE FROM dentries WHERE parent = ?1 AND name = ?2")?
        .execute(params![parent as i64, name])?;
    conn.prepare_cached(
        "UPDATE inodes SET nlink = max(nlink - 1, 0), ctime_ns = ?2 WHERE ino = ?1",
    )?
    .execute(params![ino as i64, now])?;
    touch_dir(conn, parent, now)
}

/// Deletes a removed directory's row.
pub(super) fn drop_dir(
    conn: &Connection,
    parent: u64,
    name: &[u8],
    ino: u64,
    now: i64,
) -> Result<(), CacheError> {
    conn.prepare_cached("DELETE FROM dentries WHERE parent = ?1 AND name = ?2")?
        .execute(params![parent as i64, name])?;
    conn.prepare_cached("DELETE FROM xattrs WHERE ino = ?1")?
        .execute([ino as i64])?;
    conn.prepare_cached("DELETE FROM inodes WHERE ino = ?1")?
        .execute([ino as i64])?;
    add_links(conn, parent, -1)?;
    touch_dir(conn, parent, now)
}

/// True when `ancestor` is `ino` or one of its ancestors.
pub(super) fn is_ancestor(
    conn: &Connection,
    ancestor: u64,
    mut ino: u64,
) -> Result<bool, CacheError> {
    for _ in 0..10_000 {
        if ino == ancestor {
            return Ok(true);
        }
        if ino == ROOT_INO {
            return Ok(false);
        }
        let mut st = conn.prepare_cached("SELECT parent FROM dentries WHERE ino = ?1 LIMIT 1")?;
        match st
            .query_row([ino as i64], |r| r.get::<_, i64>(0))
            .optional()?
        {
            Some(p) => ino = p as u64,
            None => return Ok(false),
        }
    }
    Err(CacheError::Invalid("directory tree too deep"))
}

impl Cache {
    /// The inode `ino`, if it exists.
    pub fn get(&self, ino: u64) -> Result<Option<InodeRow>, CacheError> {
        self.db().read(|c| get_inode(c, ino))
    }

    /// The inode named `name` in directory `parent`.
    pub fn lookup(&self, parent: u64, name: &[u8]) -> Result<Option<InodeRow>, CacheError> {
        let name = name.to_vec();
        self.db()
            .read(move |c| match lookup_ino(c, parent, &name)? {
                Some(ino) => get_inode(c, ino),
                None => Ok(None),
            })
    }

    /// The entries of directory `ino`, sorted by name (no `.`/`..`).
    pub fn readdir(&self, ino: u64) -> Result<Vec<DirEntry>, CacheError> {
        self.db().read(|c| {
            let mut st = c.prepare_cached(
                "SELECT d.name, d.ino, i.kind FROM dentries d JOIN inodes i ON i.ino = d.ino
                 WHERE d.parent = ?1 ORDER BY d.name",
            )?;
            let rows = st.query_map([ino as i64], |r| {
                Ok(DirEntry {
                    name: r.get(0)?,
                    ino: r.get::<_, i64>(1)? as u64,
                    kind: Kind::from_i64(r.get(2)?),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The parent and name of `ino` (`None` for the root or an unlinked file).
    pub fn parent_of(&self, ino: u64) -> Result<Option<(u64, Vec<u8>)>, CacheError> {
        self.db().read(|c| {
            let mut st =
                c.prepare_cached("SELECT parent, name FROM dentries WHERE ino = ?1 LIMIT 1")?;
            Ok(st
                .query_row([ino as i64], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
                })
                .optional()?)
        })
    }

    /// Creates a file or directory `name` in `parent`.
    pub fn create_node(
        &self,
        parent: u64,
        name: &[u8],
        kind: Kind,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<InodeRow, CacheError> {
        self.create(
            parent,
            name,
            NewNode {
                kind,
                mode,
                uid,
                gid,
                rdev: 0,
                target: None,
            },
        )
    }

    /// Creates `name` in `parent` as `node` describes (any kind).
    pub fn create(&self, parent: u64, name: &[u8], node: NewNode) -> Result<InodeRow, CacheError> {
        let name = name.to_vec();
        self.db().write(false, move |c| {
            require_dir(c, parent)?;
            if lookup_ino(c, parent, &name)?.is_some() {
                return Err(CacheError::Exists);
            }
            let now = to_ns(SystemTime::now());
            let nlink = if node.kind == Kind::Dir { 2 } else { 1 };
            let size = node.target.as_ref().map_or(0, |t| t.len() as i64);
            c.prepare_cached(
                "INSERT INTO inodes (kind, mode, uid, gid, atime_ns, mtime_ns, ctime_ns, crtime_ns,
                 nlink, size, rdev, target)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                node.kind.to_i64(),
                node.mode & 0o7777,
                node.uid,
                node.gid,
                now,
                nlink,
                size,
                node.rdev,
                node.target
            ])?;
            let ino = c.last_insert_rowid() as u64;
            c.prepare_cached("INSERT INTO dentries (parent, name, ino) VALUES (?1, ?2, ?3)")?
                .execute(params![parent as i64, name, ino as i64])?;
            if node.kind == Kind::Dir {
                add_links(c, parent, 1)?;
            }
            touch_dir(c, parent, now)?;
            get_inode(c, ino)?.ok_or(CacheError::NotFound)
        })
    }

    /// Changes attributes of `ino`; returns the new row.
    pub fn set_attr(&self, ino: u64, a: SetAttr) -> Result<InodeRow, CacheError> {
        self.db().write(false, move |c| {
            let mut row = get_inode(c, ino)?.ok_or(CacheError::NotFound)?;
            if let Some(m) = a.mode {
                row.mode = m & 0o7777;
            }
            if let Some(u) = a.uid {
                row.uid = u;
            }
            if let Some(g) = a.gid {
                row.gid = g;
            }
            if let Some(s) = a.size {
                row.size = s;
            }
            if let Some(t) = a.atime {
                row.atime = t;
            }
            if let Some(t) = a.mtime {
                row.mtime = t;
            }
            row.ctime = SystemTime::now();
            let closed: Option<i64> = a.closed.map(i64::from);
            c.prepare_cached(
                "UPDATE inodes SET mode = ?2, uid = ?3, gid = ?4, size = ?5, atime_ns = ?6,
                 mtime_ns = ?7, ctime_ns = ?8,
                 closed_version = CASE ?9 WHEN 1 THEN version WHEN 0 THEN NULL
                                  ELSE closed_version END
                 WHERE ino = ?1",
            )?
            .execute(params![
                ino as i64,
                row.mode,
                row.uid,
                row.gid,
                row.size as i64,
                to_ns(row.atime),
                to_ns(row.mtime),
                to_ns(row.ctime),
                closed
            ])?;
            Ok(row)
        })
    }

    /// Removes the entry (parent, name) of a non-directory: its nlink drops
    /// by one; at 0 the row stays until [`Cache::forget`]. Returns its inode.
    pub fn unlink(&self, parent: u64, name: &[u8]) -> Result<u64, CacheError> {
        let name = name.to_vec();
        self.db().write(false, move |c| {
            let ino = lookup_ino(c, parent, &name)?.ok_or(CacheError::NotFound)?;
            let row = get_inode(c, ino)?.ok_or(CacheError::NotFound)?;
            if row.kind == Kind::Dir {
                return Err(CacheError::IsDir);
            }
            unlink_entry(c, parent, &name, ino, to_ns(SystemTime::now()))?;
            Ok(ino)
        })
    }

    /// Removes the empty directory (parent, name).
    pub fn rmdir(&self, parent: u64, name: &[u8]) -> Result<(), CacheError> {
        let name = name.to_vec();
        self.db().write(false, move |c| {
            let ino = lookup_ino(c, parent, &name)?.ok_or(CacheError::NotFound)?;
            require_dir(c, ino)?;
            if !is_empty_dir(c, ino)? {
                return Err(CacheError::NotEmpty);
            }
            drop_dir(c, parent, &name, ino, to_ns(SystemTime::now()))
        })
    }

    /// Deletes an unlinked non-directory that nothing has open: its row,
    /// xattrs, and the bytes of every version that no media record keeps.
    pub fn forget(&self, ino: u64) -> Result<(), CacheError> {
        let doomed = self.db().write(false, move |c| {
            let Some(row) = get_inode(c, ino)? else { return Ok(Vec::new()) };
            if row.nlink > 0 || row.kind == Kind::Dir {
                return Ok(Vec::new());
            }
            c.prepare_cached("DELETE FROM xattrs WHERE ino = ?1")?.execute([ino as i64])?;
            c.prepare_cached("DELETE FROM inodes WHERE ino = ?1")?.execute([ino as i64])?;
            let mut st = c.prepare_cached(
                "SELECT v.version FROM versions v WHERE v.ino = ?1
                 AND NOT EXISTS (SELECT 1 FROM media m WHERE m.ino = v.ino AND m.version = v.version)",
            )?;
            let mut doomed: Vec<u64> = st
                .query_map([ino as i64], |r| r.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(|v| v as u64)
                .collect();
            c.prepare_cached("DELETE FROM versions WHERE ino = ?1
                 AND NOT EXISTS (SELECT 1 FROM media m WHERE m.ino = versions.ino AND m.version = versions.version)")?
                     .execute([ino as i64])?;
            if !doomed.contains(&row.version) {
                let kept: bool = c
                    .prepare_cached("SELECT 1 FROM media WHERE ino = ?1 AND version = ?2")?
                        .query_row(params![ino as i64, row.version as i64],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if !kept {
                    doomed.push(row.version);
                }
            }
            Ok(doomed)
        })?;
        for v in doomed {
            let _ = std::fs::remove_file(self.data_path(ino, v));
        }
        Ok(())
    }

    /// Starts a new content version of `ino` (a sealed content is written
    /// again). With `keep`, it starts as a copy of the old bytes. An old
    /// version that never committed is dropped. Returns the new version and
    /// the old version's known part MD5s (valid for the copy).
    pub fn new_version(&self, ino: u64, keep: bool) -> Result<(u64, PartMd5s), CacheError> {
        let row = self.get(ino)?.ok_or(CacheError::NotFound)?;
        let old = row.version;
        let new = old + 1;
        let new_path = self.data_path(ino, new);
        // A sealed version whose data file is gone was evicted: never start
        // the new one from nothing (the filesystem restores it first).
        if keep && row.size > 0 && !self.data_path(ino, old).exists() {
            return Err(CacheError::io(
                format!("version {old} of inode {ino} has no data file (evicted)"),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        if keep && self.data_path(ino, old).exists() {
            std::fs::copy(self.data_path(ino, old), &new_path)
                .map_err(|e| CacheError::io(format!("copying version {old} of inode {ino}"), e))?;
        } else {
            std::fs::File::create(&new_path)
                .map_err(|e| CacheError::io(format!("creating {}", new_path.display()), e))?;
        }
        let part_size = self.part_size();
        let (md5s, drop_old) = self.db().write(false, move |c| {
            // MD5s carry over only when the parts are the same size.
            let md5s: Vec<Option<[u8; 16]>> = {
                let mut st = c.prepare_cached(
                    // ... and only from a verified version (see `seal_with`).
                    "SELECT c.md5 FROM chunks c JOIN versions v ON v.ino = c.ino AND v.version = c.version
                     WHERE c.ino = ?1 AND c.version = ?2 AND v.part_size = ?3 AND v.verified = 1
                     ORDER BY c.idx",
                )?;
                st.query_map(params![ino as i64, old as i64, part_size], |r| {
                    r.get::<_, Option<Vec<u8>>>(0)
                })?
                .map(|m| m.map(|m| m.and_then(|m| <[u8; 16]>::try_from(m).ok())))
                .collect::<Result<_, _>>()?
            };
            let kept: bool = c
                .prepare_cached("SELECT 1 FROM media WHERE ino = ?1 AND version = ?2")?
                    .query_row(params![ino as i64, old as i64],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !kept {
                c.prepare_cached("DELETE FROM versions WHERE ino = ?1 AND version = ?2")?
                    .execute(params![ino as i64, old as i64])?;
            }
            c.prepare_cached("UPDATE inodes SET version = ?2 WHERE ino = ?1")?
                .execute(params![ino as i64, new as i64])?;
            Ok((md5s, !kept))
        })?;
        if drop_old {
            let _ = std::fs::remove_file(self.data_path(ino, old));
        }
        Ok((new, md5s))
    }

    /// Makes (ino, version) ready to commit: syncs its bytes, records size,
    /// hashes and an upload row in state `staged`, durably.
    pub fn seal(
        &self,
        ino: u64,
        version: u64,
        size: u64,
        hashes: &Hashes,
    ) -> Result<(), CacheError> {
        self.seal_with(ino, version, size, hashes, true)
    }

    /// [`Cache::seal`], syncing the data file and committing the seal
    /// durably only when `sync`: write-back closes do both right after
    /// replying ([`Cache::sync_data`]); a kill of the process loses nothing
    /// either way (the bytes and the WAL are in the kernel).
    /// The version is *verified* (its hashes describe the bytes on disk, so
    /// the upload sends parts without hashing them again) once its data was
    /// synced: here when `sync`, else by [`Cache::sync_data`] (after the
    /// close, or before its commit while the machine has not restarted). A
    /// version a restart left unverified is hashed again from its data file.
    pub fn seal_with(
        &self,
        ino: u64,
        version: u64,
        size: u64,
        hashes: &Hashes,
        sync: bool,
    ) -> Result<(), CacheError> {
        let file = self.open_data(ino, version)?;
        file.set_len(size)
            .and_then(|()| if sync { file.sync_data() } else { Ok(()) })
            .map_err(|e| CacheError::io(format!("syncing version {version} of inode {ino}"), e))?;
        let hashes = hashes.clone();
        let part_size = self.part_size();
        let boot = self.boot_id();
        // Durable with the data: at once when `sync`, else the post-close
        // [`Cache::sync_data`] commits it durably right after the data sync
        // (until then a kill -9 loses nothing: the WAL is in the kernel).
        self.db().write(sync, move |c| {
            c.prepare_cached("INSERT OR REPLACE INTO versions (ino, version, size, part_size, sha1, verified, sealed_boot)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?.execute(params![
                    ino as i64,
                    version as i64,
                    size as i64,
                    part_size,
                    hashes.sha1.map(|s| s.to_vec()),
                    sync,
                    boot
                ])?;
            c.prepare_cached("DELETE FROM chunks WHERE ino = ?1 AND version = ?2")?
                .execute(params![ino as i64, version as i64])?;
            let mut st = c.prepare_cached(
                "INSERT INTO chunks (ino, version, idx, md5) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (i, m) in hashes.md5s.iter().enumerate() {
                st.execute(params![
                    ino as i64,
                    version as i64,
                    i as i64,
                    m.map(|m| m.to_vec())
                ])?;
            }
            c.prepare_cached("INSERT OR REPLACE INTO uploads (ino, version, state, bytes_total, parts_total)
                 VALUES (?1, ?2, 'staged', ?3, ?4)")?.execute(params![
                    ino as i64,
                    version as i64,
                    size as i64,
                    hashes.md5s.len() as i64
                ])?;
            c.prepare_cached("UPDATE inodes SET size = ?2 WHERE ino = ?1 AND version = ?3")?
                .execute(params![ino as i64, size as i64, version as i64])?;
            Ok(())
        })
    }

    /// Makes the bytes of the sealed version (ino, version) durable and
    /// marks it verified (see [`Cache::seal_with`]), in a durable commit of
    /// the cache's writer that also makes the seal durable (shared with
    /// whatever else is queued).
    /// A version dropped meanwhile (its data file gone) has nothing to sync.
    pub fn sync_data(&self, ino: u64, version: u64) -> Result<(), CacheError> {
        let what = || format!("syncing version {version} of inode {ino}");
        let file = match std::fs::File::open(self.data_path(ino, version)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            r => r.map_err(|e| CacheError::io(what(), e))?,
        };
        file.sync_data().map_err(|e| CacheError::io(what(), e))?;
        self.db().write(true, move |c| {
            c.prepare_cached("UPDATE versions SET verified = 1 WHERE ino = ?1 AND version = ?2")?
                .execute(params![ino as i64, version as i64])?;
            Ok(())
        })
    }

    /// True when (ino, version) was sealed (handed to a commit).
    pub fn is_sealed(&self, ino: u64, version: u64) -> Result<bool, CacheError> {
        self.db().read(|c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM uploads WHERE ino = ?1 AND version = ?2")?
                    .query_row(params![ino as i64, version as i64], |_| Ok(()))
                    .optional()?
                    .is_some(),
            )
        })
    }
}
