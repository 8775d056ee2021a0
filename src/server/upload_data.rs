//! The data file of a v4/UGC upload (`parts/<id>/data`): parts are written
//! into it at their offsets; at finish it is hashed (unless the running
//! hashes of [`super::running`] have it already) and renamed into place.
//! Stores from before it kept one file per part: [`assemble`].

use sha1::{Digest as _, Sha1};

/// Parts up to this size are kept in memory after they are written, for
/// the upload's running hashes ([`super::running`]).
pub const KEEP_FOR_HASHING: u64 = 8 << 20;

/// Opens (creating, durably) the data file of an upload.
pub fn open_upload_data(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
    };
    if path.exists() {
        return open();
    }
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let f = open()?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(f)
}

/// Makes the data file of an upload exactly `size` bytes long.
pub fn trim(path: &std::path::Path, size: u64) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    if f.metadata()?.len() != size {
        f.set_len(size)?;
        f.sync_all()?;
    }
    Ok(())
}

/// Trims the data file of an upload to `size` and returns its SHA-1 (the
/// whole-content hash FinishUpload checks; no MD5, which nothing checks).
pub fn hash_data(path: &std::path::Path, size: u64) -> std::io::Result<Sha1> {
    use std::io::Read as _;
    trim(path, size)?;
    let mut sha1 = Sha1::new();
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha1.update(&buf[..n]);
    }
    Ok(sha1)
}

/// The MD5 (hex) of `len` bytes of the data file at `offset`; an error
/// when the file is shorter.
pub fn range_md5(path: &std::path::Path, offset: u64, len: u64) -> std::io::Result<String> {
    use md5::Digest as _;
    use std::os::unix::fs::FileExt as _;
    let f = std::fs::File::open(path)?;
    let mut md5 = md5::Md5::new();
    let mut buf = vec![0u8; (1 << 20).min(len as usize)];
    let mut done = 0u64;
    while done < len {
        let n = buf.len().min((len - done) as usize);
        f.read_exact_at(&mut buf[..n], offset + done)?;
        md5.update(&buf[..n]);
        done += n as u64;
    }
    Ok(hex::encode(md5.finalize()))
}

/// Concatenates `parts` into `dest` (fsynced), returning its SHA-1.
pub fn assemble(parts: &[std::path::PathBuf], dest: &std::path::Path) -> std::io::Result<Sha1> {
    use std::io::{Read as _, Write as _};
    let mut out = std::fs::File::create(dest)?;
    let mut sha1 = Sha1::new();
    let mut buf = vec![0u8; 1 << 20];
    for p in parts {
        let mut f = std::fs::File::open(p)?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            sha1.update(&buf[..n]);
            out.write_all(&buf[..n])?;
        }
    }
    out.sync_all()?;
    Ok(sha1)
}

/// Copies the verified body at `src` into the data file at `offset` and
/// syncs it (a part sent again with different bytes).
pub fn copy_into(
    src: &std::path::Path,
    data: &std::path::Path,
    offset: u64,
) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    let bytes = std::fs::read(src)?;
    let f = open_upload_data(data)?;
    f.write_all_at(&bytes, offset)?;
    f.sync_data()
}
