//! The mount end to end: real `vodfs mount` against real `vodfs serve` on
//! loopback, driven with the real tools (cp, rsync, dd, shell redirection,
//! ffmpeg, getfattr/setfattr). For every way of writing, the bytes behind the
//! playback URL must equal the source and the media must be committed once.

mod posix;
mod semantics;
mod tools;
