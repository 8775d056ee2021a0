//! Page-cache advice (`posix_fadvise`) on an open file: the one wrapper the
//! mount's staging reads and the service's bodies both use.
//!
//! Advice only: a failure (or a range past `off_t`) changes nothing, so
//! neither function returns an error. A leaf: imports nothing of the crate
//! (`fs` and `server` may both import it).

use std::fs::File;
use std::os::fd::AsRawFd as _;

/// Lets the pages of `len` bytes at `offset` go (POSIX_FADV_DONTNEED):
/// clean pages are dropped at once, dirty ones once written back.
pub fn dont_need(file: &File, offset: u64, len: u64) {
    advise(file, offset, len, libc::POSIX_FADV_DONTNEED);
}

/// Asks the kernel to start reading `len` bytes at `offset` into the page
/// cache (POSIX_FADV_WILLNEED), without waiting for them.
pub fn will_need(file: &File, offset: u64, len: u64) {
    advise(file, offset, len, libc::POSIX_FADV_WILLNEED);
}

fn advise(file: &File, offset: u64, len: u64, advice: libc::c_int) {
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return;
    };
    // SAFETY: a plain syscall on an open descriptor; no memory is passed.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), offset, len, advice);
    }
}
