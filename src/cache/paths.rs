//! Paths in the tree: a file's path for log lines, how deep a directory
//! is, and the file a relative path leads to. Walks the stored tree only;
//! what a path means (which image is whose cover) is `crate::settings`'s.

use super::error::CacheError;
use super::inode::ROOT_INO;
use super::store::Cache;

/// Walks stop after this many levels (a loop in a damaged tree ends).
const MAX_DEPTH: usize = 4096;

impl Cache {
    /// The path of `ino` below the mount root, for log lines; `(inode N)`
    /// when it cannot be told.
    pub fn display_path(&self, ino: u64) -> String {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut cur = ino;
        while cur != ROOT_INO && parts.len() < 256 {
            match self.parent_of(cur) {
                Ok(Some((parent, name))) => {
                    parts.push(name);
                    cur = parent;
                }
                _ => return format!("(inode {ino})"),
            }
        }
        let mut out = String::new();
        for p in parts.iter().rev() {
            out.push('/');
            out.push_str(&String::from_utf8_lossy(p));
        }
        out
    }

    /// How many directories `dir` is below the mount root.
    pub fn depth(&self, dir: u64) -> Result<usize, CacheError> {
        let (mut n, mut cur) = (0, dir);
        while cur != ROOT_INO && n < MAX_DEPTH {
            match self.parent_of(cur)? {
                Some((parent, _)) => cur = parent,
                None => break,
            }
            n += 1;
        }
        Ok(n)
    }

    /// The inode at relative `path` (`/`-separated, `.` and `..` allowed,
    /// `..` of the root is the root) from directory `dir`, if it exists.
    pub fn resolve_relative(&self, dir: u64, path: &[u8]) -> Result<Option<u64>, CacheError> {
        let mut cur = dir;
        for c in path.split(|&b| b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => {
                    if cur != ROOT_INO {
                        cur = self.parent_of(cur)?.map_or(ROOT_INO, |(p, _)| p);
                    }
                }
                name => match self.lookup(cur, name)? {
                    Some(row) => cur = row.ino,
                    None => return Ok(None),
                },
            }
        }
        Ok(Some(cur))
    }
}
