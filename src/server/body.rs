//! Receiving request bodies: streamed to a durable temporary file with MD5
//! and SHA-1 computed on the way, never buffered whole, never form-decoded.
//!
//! A body over its limit is drained (up to a cap) before the error is sent,
//! so a client still writing its body reads our answer instead of a reset.

use std::path::{Path, PathBuf};

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt as _;
use md5::Md5;
use sha1::{Digest as _, Sha1};
use tokio::io::AsyncWriteExt as _;

use super::error::ServerError;

/// How much of an oversized body is read and discarded before answering.
const DRAIN_CAP: u64 = 256 << 20;

/// A received body in `tmp/`, removed on drop unless persisted.
#[derive(Debug)]
pub struct Incoming {
    pub path: PathBuf,
    pub len: u64,
    pub md5: String,
    pub sha1: String,
    persisted: bool,
}

impl Incoming {
    /// Moves the (already fsynced) file to `dest`, durably.
    pub fn persist_to(mut self, dest: &Path) -> std::io::Result<()> {
        super::store::persist(&self.path, dest)?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn tmp_name(dir: &Path) -> PathBuf {
    dir.join(format!("{:016x}", rand::random::<u64>()))
}

/// Streams `body` into `tmp_dir`, failing with `BodyTooLarge(limit)` past
/// `limit` bytes.
pub async fn receive(body: Body, tmp_dir: &Path, limit: u64) -> Result<Incoming, ServerError> {
    let path = tmp_name(tmp_dir);
    let mut file = tokio::fs::File::create(&path).await?;
    let mut incoming = Incoming {
        path,
        len: 0,
        md5: String::new(),
        sha1: String::new(),
        persisted: false,
    };
    let mut md5 = Md5::new();
    let mut sha = Sha1::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ServerError::Internal(format!("reading body: {e}")))?;
        incoming.len += chunk.len() as u64;
        if incoming.len > limit {
            drain(stream, incoming.len).await;
            return Err(ServerError::BodyTooLarge(limit));
        }
        md5.update(&chunk);
        sha.update(&chunk);
        file.write_all(&chunk).await?;
    }
    file.sync_all().await?;
    incoming.md5 = hex::encode(md5.finalize());
    incoming.sha1 = hex::encode(sha.finalize());
    Ok(incoming)
}

async fn drain(mut stream: axum::body::BodyDataStream, mut seen: u64) {
    while seen < DRAIN_CAP {
        match stream.next().await {
            Some(Ok(c)) => seen += c.len() as u64,
            _ => break,
        }
    }
}

/// Reads a small body (JSON, XML, form) into memory, at most `limit` bytes.
pub async fn read_small(body: Body, limit: u64) -> Result<Bytes, ServerError> {
    let mut out = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ServerError::Internal(format!("reading body: {e}")))?;
        if (out.len() + chunk.len()) as u64 > limit {
            let seen = (out.len() + chunk.len()) as u64;
            drain(stream, seen).await;
            return Err(ServerError::BodyTooLarge(limit));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// Discards a body (bounded), so that an early answer is read by the client.
pub async fn discard(body: Body) {
    drain(body.into_data_stream(), 0).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        let inc = receive(Body::from("abc"), dir.path(), 3).await.unwrap();
        assert_eq!(inc.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(inc.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        let p = inc.path.clone();
        drop(inc);
        assert!(!p.exists(), "unpersisted body is removed");
        let e = receive(Body::from("abcd"), dir.path(), 3)
            .await
            .unwrap_err();
        assert!(matches!(e, ServerError::BodyTooLarge(3)));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
