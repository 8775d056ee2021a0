//! The upload side over real HTTP: the v4 client and the pipeline against
//! scripted services (answers the real service never gives) and, in
//! `serve`, against the real `vodfs serve`.

mod fake_http;
mod playback;
mod scripted;
mod serve;
mod v4_http;

/// [`random_bytes`](crate::common::random_bytes) as the `Bytes` the
/// uploader takes.
pub fn data(len: usize, seed: u8) -> bytes::Bytes {
    crate::common::random_bytes(len, u64::from(seed)).into()
}
