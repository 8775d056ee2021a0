//! The whole content as one stream, for flows that take a single object
//! ([`crate::vod::Transfer::Object`]: a presigned PUT).
//!
//! The stream reads the source in 1 MiB blocks on blocking threads as the
//! HTTP body is sent (memory stays at one block), and hashes what it reads:
//! if the bytes do not have the SHA-1 the upload announced, the last block
//! is replaced by an error, so the request fails instead of storing other
//! content.

use std::io;
use std::sync::Arc;

use futures::StreamExt as _;
use sha1::{Digest as _, Sha1};

use super::source::PartSource;
use crate::vod::ObjectBody;

const BLOCK: u64 = 1 << 20;

struct State {
    src: Arc<dyn PartSource>,
    offset: u64,
    sha: Sha1,
}

/// A fresh body for one attempt at sending `len` bytes of `src` whose
/// SHA-1 must be `sha1_hex`.
pub fn body(src: Arc<dyn PartSource>, len: u64, sha1_hex: String) -> ObjectBody {
    let state = State {
        src,
        offset: 0,
        sha: Sha1::new(),
    };
    let stream = futures::stream::try_unfold(state, move |mut st| {
        let expected = sha1_hex.clone();
        async move {
            if st.offset >= len {
                return Ok(None);
            }
            let n = (len - st.offset).min(BLOCK) as usize;
            let (src, off) = (st.src.clone(), st.offset);
            let block = tokio::task::spawn_blocking(move || src.read_at(off, n))
                .await
                .map_err(io::Error::other)??;
            if block.len() != n {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "staged file shrank during upload",
                ));
            }
            st.sha.update(&block);
            st.offset += n as u64;
            if st.offset == len && hex::encode(st.sha.clone().finalize()) != expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "staged file changed during upload (sha1 differs)",
                ));
            }
            Ok(Some((block, st)))
        }
    })
    .boxed();
    ObjectBody { len, stream }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::MemorySource;
    use crate::upload::hash::sha1_hex;
    use bytes::Bytes;
    use futures::TryStreamExt as _;

    async fn collect(b: ObjectBody) -> io::Result<Vec<u8>> {
        let chunks: Vec<Bytes> = b.stream.try_collect().await?;
        Ok(chunks.concat())
    }

    #[tokio::test]
    async fn streams_exactly_the_content_in_blocks() {
        for len in [0usize, 1, (1 << 20) + 7] {
            let data: Vec<u8> = (0..len).map(|i| (i % 241) as u8).collect();
            let src = Arc::new(MemorySource(Bytes::from(data.clone())));
            let b = body(src, len as u64, sha1_hex(&data));
            assert_eq!(b.len, len as u64);
            assert_eq!(collect(b).await.unwrap(), data);
        }
    }

    #[tokio::test]
    async fn changed_or_short_content_ends_in_an_error() {
        let src = Arc::new(MemorySource(Bytes::from_static(b"abcdef")));
        let e = collect(body(src.clone(), 6, "0".repeat(40)))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let e = collect(body(src, 10, sha1_hex(b"abcdef")))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
