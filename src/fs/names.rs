//! Name rules: rsync temp names, the reserved `by-id`, length limits (of
//! names, symlink targets and files).

use super::error::FsError;

/// The directory of committed media at the root.
pub const BY_ID: &[u8] = b"by-id";

/// Longest name accepted (bytes).
pub const NAME_MAX: usize = 255;

/// The largest file the mount holds: 16 TiB, the largest file ext4 (the
/// usual filesystem of the cache) takes with 4 KiB blocks. A truncate or a
/// write past it fails with EFBIG, as on ext4; so does one the cache's own
/// filesystem refuses below it.
pub const MAX_FILE_SIZE: u64 = 16 << 40;

/// Longest symlink target (bytes): PATH_MAX less its NUL, as Linux.
pub const SYMLINK_MAX: usize = 4095;

/// True for rsync's temp names `.NAME.XXXXXX`: a leading dot, a non-empty
/// name, a dot and six letters or digits (mkstemp's alphabet).
pub fn is_rsync_temp(name: &[u8]) -> bool {
    let n = name.len();
    n >= 9
        && name[0] == b'.'
        && name[n - 7] == b'.'
        && name[n - 6..].iter().all(|c| c.is_ascii_alphanumeric())
}

/// Refuses names the kernel would not send or we cannot store.
pub(crate) fn check(name: &[u8]) -> Result<(), FsError> {
    if name.len() > NAME_MAX {
        return Err(FsError::NameTooLong);
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(FsError::Invalid("bad file name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsync_temp_names() {
        assert!(is_rsync_temp(b".video.mp4.a1B2c3"));
        assert!(is_rsync_temp(b".x.Ab12Zz"));
        assert!(!is_rsync_temp(b"video.mp4.a1B2c3"));
        assert!(!is_rsync_temp(b"..abcdef"));
        assert!(!is_rsync_temp(b".video.mp4"));
        assert!(!is_rsync_temp(b".video.mp4.ab_cde"));
        assert!(!is_rsync_temp(b".bashrc"));
    }

    #[test]
    fn name_checks() {
        assert!(check(b"ok").is_ok());
        assert!(matches!(check(&[b'a'; 256]), Err(FsError::NameTooLong)));
        assert!(check(b"a/b").is_err());
        assert!(check(b"..").is_err());
    }
}
