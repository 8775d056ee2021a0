//! The thin adapter between `fuser` and [`crate::fs`]: translate, call, reply.
//!
//! No semantics live here. Operations that may wait (flush, release, fsync,
//! rename, reads of remote media) come back from [`Fs`] as
//! [`Reply::Later`]; the future runs on the filesystem's tokio runtime and
//! the kernel's reply moves into it, so a FUSE worker thread never waits on
//! a commit or the network, and no reply is ever dropped. Every failed
//! request is logged once, with its cause chain (each cause once:
//! [`crate::report::chain`]), then answered.
//!
//! Layering: imports only [`crate::fs`] (and the `report` leaf); the
//! protocol, the cache and the upload pipeline are behind it.
//!
//! Session: several worker threads, 1 MiB max_write (so a part arrives in
//! one write), `default_permissions` (the kernel checks modes), fsname
//! `vodfs`, `allow_other` only when asked.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, BackgroundSession, BackingId, Config, Errno, FileAttr, FileHandle, FileType,
    Filesystem, FopenFlags, Generation, INodeNo, InitFlags, KernelConfig, LockOwner, MountOption,
    OpenAccMode, OpenFlags, RenameFlags as FuseRenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, SessionACL, TimeOrNow, WriteFlags,
};

use crate::fs::{Attr, Fs, FsError, Kind, RenameFlags, Reply, SetAttrReq};

/// Options of a mount.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Let other users access the mount (needs `user_allow_other` for
    /// non-root).
    pub allow_other: bool,
    /// FUSE worker threads.
    pub threads: usize,
    /// How long the kernel may cache attributes and entries.
    pub ttl: Duration,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            allow_other: false,
            threads: 4,
            ttl: Duration::from_secs(1),
        }
    }
}

/// A live mount. Dropping it (or [`MountHandle::unmount`]) unmounts.
#[derive(Debug)]
pub struct MountHandle {
    session: Option<BackgroundSession>,
    mountpoint: PathBuf,
}

/// Mounts `fs` on `mountpoint`; returns once the mount is usable.
pub fn mount(fs: Arc<Fs>, mountpoint: &Path, opts: &MountOptions) -> io::Result<MountHandle> {
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("vodfs".into()),
        MountOption::Subtype("vodfs".into()),
        MountOption::DefaultPermissions,
        MountOption::NoDev,
        MountOption::NoSuid,
        MountOption::RW,
    ];
    config.acl = if opts.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    config.n_threads = Some(opts.threads.max(1));
    let adapter = FuseFs {
        fs: fs.clone(),
        ttl: opts.ttl,
        passthrough: false,
        backing: Default::default(),
    };
    let session = fuser::Session::new(adapter, mountpoint, &config)?.spawn()?;
    match crate::fs::mount_id(mountpoint) {
        Some(id) => fs.set_mount_id(id),
        None => tracing::warn!(
            "mount id of {} not found: a close of a dup'd descriptor may commit early",
            mountpoint.display()
        ),
    }
    Ok(MountHandle {
        session: Some(session),
        mountpoint: mountpoint.to_owned(),
    })
}

impl MountHandle {
    /// Where it is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Unmounts and waits for the session to end.
    pub fn unmount(mut self) -> io::Result<()> {
        self.unmount_inner()
    }

    /// Waits until the filesystem is unmounted from outside (foreground
    /// mode: `fusermount -u`, `umount`).
    pub fn join(mut self) -> io::Result<()> {
        match self.session.take() {
            Some(s) => s.join(),
            None => Ok(()),
        }
    }

    fn unmount_inner(&mut self) -> io::Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        match session.umount_and_join() {
            Ok(()) => Ok(()),
            Err(e) => {
                // Busy: detach lazily so nothing stays mounted.
                tracing::warn!(
                    "unmount of {} failed ({e}); detaching",
                    self.mountpoint.display()
                );
                let c = std::ffi::CString::new(self.mountpoint.as_os_str().as_bytes())
                    .map_err(|_| io::Error::other("mountpoint has a NUL byte"))?;
                // SAFETY: `c` is a valid NUL-terminated path.
                if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
                    let _ = std::process::Command::new("fusermount3")
                        .arg("-uz")
                        .arg(&self.mountpoint)
                        .status();
                }
                Err(e)
            }
        }
    }
}

impl Drop for MountHandle {
    fn drop(&mut self) {
        let _ = self.unmount_inner();
    }
}

struct FuseFs {
    fs: Arc<Fs>,
    ttl: Duration,
    /// The kernel accepted FUSE_PASSTHROUGH at init.
    passthrough: bool,
    backing: std::sync::Mutex<Backing>,
}

/// Backing files registered for passthrough: one per inode for all its
/// open handles (the kernel refuses a second), dropped with the last.
#[derive(Default)]
struct Backing {
    by_ino: std::collections::HashMap<u64, (BackingId, usize)>,
    handles: std::collections::HashSet<u64>,
}

/// Logs a failed request once and gives its errno.
fn errno(op: &str, e: &FsError) -> Errno {
    let code = e.errno();
    match code {
        libc::ENOENT | libc::ENODATA | libc::EEXIST | libc::ENOTEMPTY => {
            tracing::debug!("{op}: {e}");
        }
        _ => {
            tracing::warn!("{op} failed: {}", crate::report::chain(e));
        }
    }
    Errno::from_i32(code)
}

/// `blksize` is the part size: `cp` and friends size their writes by it, so
/// a part arrives in one FUSE write.
fn file_attr(a: &Attr, blksize: u32) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: a.atime,
        mtime: a.mtime,
        ctime: a.ctime,
        crtime: a.crtime,
        kind: file_type(a.kind),
        perm: (a.mode & 0o7777) as u16,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: a.rdev,
        blksize,
        flags: 0,
    }
}

fn file_type(k: Kind) -> FileType {
    match k {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
        Kind::Symlink => FileType::Symlink,
        Kind::Fifo => FileType::NamedPipe,
        Kind::Socket => FileType::Socket,
        Kind::CharDevice => FileType::CharDevice,
        Kind::BlockDevice => FileType::BlockDevice,
    }
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

fn is_write(flags: OpenFlags) -> bool {
    !matches!(flags.acc_mode(), OpenAccMode::O_RDONLY)
}

impl FuseFs {
    /// Answers an open: passed through to the cached data file when the
    /// filesystem allows it for this handle, else served by the mount.
    fn opened(&self, ino: u64, fh: u64, reply: ReplyOpen) {
        let file = self
            .passthrough
            .then(|| self.fs.passthrough_file(fh))
            .flatten();
        if let Some(file) = file {
            let mut backing = self.backing.lock().unwrap_or_else(|p| p.into_inner());
            let backing = &mut *backing;
            if let std::collections::hash_map::Entry::Vacant(v) = backing.by_ino.entry(ino) {
                match reply.open_backing(&file) {
                    Ok(id) => {
                        v.insert((id, 0));
                    }
                    Err(e) => tracing::debug!(ino, "no passthrough: {e}"),
                }
            }
            if !backing.by_ino.contains_key(&ino) {
                self.fs.passthrough_refused(fh);
            }
            if let Some((id, handles)) = backing.by_ino.get_mut(&ino) {
                *handles += 1;
                backing.handles.insert(fh);
                tracing::debug!(ino, fh, "open passed through to the cached data file");
                return reply.opened_passthrough(FileHandle(fh), FopenFlags::empty(), id);
            }
        }
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    /// A passed-through handle of `ino` is released: its backing file is
    /// unregistered with the last one.
    fn release_backing(&self, ino: u64, fh: u64) {
        let mut backing = self.backing.lock().unwrap_or_else(|p| p.into_inner());
        if !backing.handles.remove(&fh) {
            return;
        }
        if let Some((_, handles)) = backing.by_ino.get_mut(&ino) {
            *handles -= 1;
            if *handles == 0 {
                backing.by_ino.remove(&ino);
            }
        }
    }

    fn attr(&self, a: &Attr) -> FileAttr {
        file_attr(a, self.fs.cache().part_size())
    }

    /// Replies to an empty-result operation now or from the runtime.
    fn empty(&self, op: &'static str, r: Reply<()>, reply: ReplyEmpty) {
        match r {
            Reply::Now(Ok(())) => reply.ok(),
            Reply::Now(Err(e)) => reply.error(errno(op, &e)),
            Reply::Later(fut) => {
                self.fs.runtime().spawn(async move {
                    match fut.await {
                        Ok(()) => reply.ok(),
                        Err(e) => reply.error(errno(op, &e)),
                    }
                });
            }
        }
    }

    fn entry(&self, op: &str, r: Result<Attr, FsError>, reply: ReplyEntry) {
        match r {
            Ok(a) => reply.entry(&self.ttl, &self.attr(&a), Generation(0)),
            Err(e) => reply.error(errno(op, &e)),
        }
    }

    fn xattr_reply(op: &str, r: Result<Vec<u8>, FsError>, size: u32, reply: ReplyXattr) {
        match r {
            Ok(v) if size == 0 => reply.size(v.len() as u32),
            Ok(v) if v.len() > size as usize => reply.error(Errno::from_i32(libc::ERANGE)),
            Ok(v) => reply.data(&v),
            Err(e) => reply.error(errno(op, &e)),
        }
    }
}

impl Filesystem for FuseFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        if let Err(max) = config.set_max_write(1 << 20) {
            let _ = config.set_max_write(max);
        }
        let _ = config.set_max_readahead(1 << 20);
        // `ls -l`: entries come with their attributes (the kernel decides
        // per directory when that pays), saving a LOOKUP per file.
        let _ = config
            .add_capabilities(InitFlags::FUSE_DO_READDIRPLUS | InitFlags::FUSE_READDIRPLUS_AUTO);
        // by-id reads (and with --passthrough-reads, reads of the tree) go
        // straight to the cached data file (fs::passthrough).
        self.passthrough = config.add_capabilities(InitFlags::FUSE_PASSTHROUGH).is_ok()
            && config.set_max_stack_depth(1).is_ok();
        match self.passthrough {
            true => tracing::info!("FUSE passthrough: by-id reads go to the cached data files"),
            false => tracing::info!(
                "FUSE passthrough not offered by the kernel: by-id reads go through the mount"
            ),
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        self.entry("lookup", self.fs.lookup(parent.0, name.as_bytes()), reply);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.fs.getattr(ino.0) {
            Ok(a) => reply.attr(&self.ttl, &self.attr(&a)),
            Err(e) => reply.error(errno("getattr", &e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let req = SetAttrReq {
            mode,
            uid,
            gid,
            size,
            atime: atime.map(time),
            mtime: mtime.map(time),
            fh: fh.map(|f| f.0),
        };
        match self.fs.setattr_when_free(ino.0, req) {
            Reply::Now(Ok(a)) => reply.attr(&self.ttl, &self.attr(&a)),
            Reply::Now(Err(e)) => reply.error(errno("setattr", &e)),
            Reply::Later(fut) => {
                let (ttl, blksize) = (self.ttl, self.fs.cache().part_size());
                self.fs.runtime().spawn(async move {
                    match fut.await {
                        Ok(a) => reply.attr(&ttl, &file_attr(&a, blksize)),
                        Err(e) => reply.error(errno("setattr", &e)),
                    }
                });
            }
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let r = self.fs.mknod(
            parent.0,
            name.as_bytes(),
            mode & !umask,
            rdev,
            req.uid(),
            req.gid(),
        );
        self.entry("mknod", r, reply);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let r = self.fs.mkdir(
            parent.0,
            name.as_bytes(),
            mode & !umask,
            req.uid(),
            req.gid(),
        );
        self.entry("mkdir", r, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.empty(
            "unlink",
            self.fs.unlink(parent.0, name.as_bytes()).into(),
            reply,
        );
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.empty(
            "rmdir",
            self.fs.rmdir(parent.0, name.as_bytes()).into(),
            reply,
        );
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let r = self.fs.symlink(
            parent.0,
            link_name.as_bytes(),
            target.as_os_str().as_bytes(),
            req.uid(),
            req.gid(),
        );
        self.entry("symlink", r, reply);
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.fs.readlink(ino.0) {
            Ok(t) => reply.data(&t),
            Err(e) => reply.error(errno("readlink", &e)),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: FuseRenameFlags,
        reply: ReplyEmpty,
    ) {
        let flags = RenameFlags {
            noreplace: flags.contains(FuseRenameFlags::RENAME_NOREPLACE),
            exchange: flags.contains(FuseRenameFlags::RENAME_EXCHANGE),
            whiteout: !(flags
                - FuseRenameFlags::RENAME_NOREPLACE
                - FuseRenameFlags::RENAME_EXCHANGE)
                .is_empty(),
        };
        let r = self.fs.rename(
            parent.0,
            name.as_bytes(),
            newparent.0,
            newname.as_bytes(),
            flags,
        );
        self.empty("rename", r, reply);
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        self.entry(
            "link",
            self.fs.link(ino.0, newparent.0, newname.as_bytes()),
            reply,
        );
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        match self.fs.open_when_free(ino.0, is_write(flags)) {
            Reply::Now(Ok(fh)) => self.opened(ino.0, fh, reply),
            Reply::Now(Err(e)) => reply.error(errno("open", &e)),
            // Only a write open waits (for passed-through readers), and a
            // write is never passed through.
            Reply::Later(fut) => {
                self.fs.runtime().spawn(async move {
                    match fut.await {
                        Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
                        Err(e) => reply.error(errno("open", &e)),
                    }
                });
            }
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.fs.read(fh.0, offset, size) {
            Reply::Now(Ok(d)) => reply.data(&d),
            Reply::Now(Err(e)) => reply.error(errno("read", &e)),
            Reply::Later(fut) => {
                self.fs.runtime().spawn(async move {
                    match fut.await {
                        Ok(d) => reply.data(&d),
                        Err(e) => reply.error(errno("read", &e)),
                    }
                });
            }
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.fs.write(fh.0, offset, data) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(errno("write", &e)),
        }
    }

    fn flush(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.empty("flush", self.fs.flush(fh.0, req.pid()), reply);
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.release_backing(ino.0, fh.0);
        self.empty("release", self.fs.release(fh.0), reply);
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.empty("fsync", self.fs.fsync(fh.0), reply);
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.fs.getattr(ino.0) {
            Ok(a) if a.kind == Kind::Dir => reply.opened(FileHandle(0), FopenFlags::empty()),
            Ok(_) => reply.error(Errno::ENOTDIR),
            Err(e) => reply.error(errno("opendir", &e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let entries = match self.fs.readdir(ino.0) {
            Ok(e) => e,
            Err(e) => return reply.error(errno("readdir", &e)),
        };
        for (i, e) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(
                INodeNo(e.ino),
                (i + 1) as u64,
                file_type(e.kind),
                OsStr::from_bytes(&e.name),
            ) {
                break;
            }
        }
        reply.ok();
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let entries = match self.fs.readdir(ino.0) {
            Ok(e) => e,
            Err(e) => return reply.error(errno("readdirplus", &e)),
        };
        for (i, e) in entries.iter().enumerate().skip(offset as usize) {
            // An entry gone since the listing is skipped.
            let Ok(a) = self.fs.getattr(e.ino) else {
                continue;
            };
            let name = OsStr::from_bytes(&e.name);
            if reply.add(
                INodeNo(e.ino),
                (i + 1) as u64,
                name,
                &self.ttl,
                &self.attr(&a),
                Generation(0),
            ) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.fs.statfs() {
            Ok(s) => reply.statfs(
                s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namelen, s.bsize,
            ),
            Err(e) => reply.error(errno("statfs", &e)),
        }
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        self.empty(
            "setxattr",
            self.fs
                .setxattr(ino.0, name.as_bytes(), value, flags)
                .into(),
            reply,
        );
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        Self::xattr_reply(
            "getxattr",
            self.fs.getxattr(ino.0, name.as_bytes()),
            size,
            reply,
        );
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let r = self.fs.listxattr(ino.0).map(|names| {
            let mut out = Vec::new();
            for n in names {
                out.extend_from_slice(&n);
                out.push(0);
            }
            out
        });
        Self::xattr_reply("listxattr", r, size, reply);
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.empty(
            "removexattr",
            self.fs.removexattr(ino.0, name.as_bytes()).into(),
            reply,
        );
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let write = is_write(OpenFlags(flags));
        match self.fs.create(
            parent.0,
            name.as_bytes(),
            mode & !umask,
            req.uid(),
            req.gid(),
            write,
        ) {
            Ok((a, fh)) => reply.created(
                &self.ttl,
                &self.attr(&a),
                Generation(0),
                FileHandle(fh),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(errno("create", &e)),
        }
    }
}
