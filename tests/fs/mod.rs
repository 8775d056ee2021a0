//! Real-mount tests of the filesystem with the recording backend: the
//! kernel, real tools (cp, dd, shell redirection, tee, rsync, getfattr,
//! setfattr, truncate, mv), exactly one commit per file, byte-exact content.
//!
//! [`TestMount`] is this area's own fixture: the filesystem layer mounted
//! in-process over `RecordingBackend`, no service, so a test sees every
//! commit the layer made. Tests through a real service use
//! `common::Mount` instead.

mod diff;
mod posix;
mod tools;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vodfs::cache::Cache;
use vodfs::fs::testing::RecordingBackend;
use vodfs::fs::{Fs, FsConfig};
use vodfs::fuse::{MountHandle, MountOptions, mount};

/// A mount of a fresh cache in a temp dir; unmounts on drop, even when the
/// test panics.
pub struct TestMount {
    pub backend: Arc<RecordingBackend>,
    pub fs: Arc<Fs>,
    handle: Option<MountHandle>,
    rt: Option<tokio::runtime::Runtime>,
    mnt: tempfile::TempDir,
    cache_dir: Option<tempfile::TempDir>,
}

impl TestMount {
    pub fn new() -> TestMount {
        TestMount::with(None)
    }

    pub fn with(write_back: Option<Duration>) -> TestMount {
        TestMount::on(tempfile::tempdir().expect("cache dir"), write_back)
    }

    /// Unmounts and mounts the same cache again (a restart).
    pub fn remount(self) -> TestMount {
        let write_back = self.fs.config().write_back;
        self.remount_with(write_back)
    }

    /// Like [`TestMount::remount`], in another mode.
    pub fn remount_with(mut self, write_back: Option<Duration>) -> TestMount {
        let cache_dir = self.cache_dir.take().expect("cache dir");
        drop(self);
        TestMount::on(cache_dir, write_back)
    }

    fn on(cache_dir: tempfile::TempDir, write_back: Option<Duration>) -> TestMount {
        let mnt = tempfile::tempdir().expect("mount dir");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let cache = Cache::open(cache_dir.path(), 1 << 20, 0, 0).expect("cache");
        let backend = RecordingBackend::new(cache.clone());
        let config = FsConfig {
            write_back,
            uid: 0,
            gid: 0,
            cache_size: None,
            list_vod_xattrs: true,
            passthrough_reads: false,
        };
        let fs = Arc::new(Fs::new(
            cache,
            backend.clone(),
            backend.clone(),
            config,
            rt.handle().clone(),
        ));
        let handle = mount(fs.clone(), mnt.path(), &MountOptions::default()).expect("mount");
        TestMount {
            backend,
            fs,
            handle: Some(handle),
            rt: Some(rt),
            mnt,
            cache_dir: Some(cache_dir),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.mnt.path().join(rel)
    }

    pub fn root(&self) -> &Path {
        self.mnt.path()
    }
}

impl Drop for TestMount {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.unmount();
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}
