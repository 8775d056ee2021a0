//! A small signing client for the in-process [`TestServer`]: v2 calls
//! signed with `vodfs::vod::sign` and the test account, raw enough to send
//! what the real client never would.

use serde_json::Value;
use vodfs::vod::sign;

use crate::common::*;

/// The signing client: raw protocol calls on a [`TestServer`], signed
/// with the test account.
impl TestServer {
    /// Signs `params` (plus the common ones) as `method` on `path`; returns
    /// the full parameter list including `Signature`.
    pub fn signed(
        &self,
        method: &str,
        path: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        signed_v2(&self.host(), method, path, action, params)
    }

    /// Sends already-built parameters in the query.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        params: &[(String, String)],
        body: Vec<u8>,
    ) -> Value {
        let url = format!("{}?{}", self.url(path), sign::encode_query(params));
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = self.http.request(m, url).body(body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// A signed v2 call on `/v2/index.php`.
    pub async fn v2(
        &self,
        method: &str,
        action: &str,
        params: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Value {
        let p = self.signed(method, "/v2/index.php", action, params);
        self.send(method, "/v2/index.php", &p, body).await
    }

    /// Uploads `content` with family A; returns the FinishUpload body.
    pub async fn upload_a(&self, name: &str, ty: &str, content: &[u8], part: usize) -> Value {
        let sha = sha1_hex(content);
        let size = content.len().to_string();
        let ds = part.to_string();
        let init = self
            .v2(
                "GET",
                "InitUpload",
                &[
                    ("fileName", name),
                    ("fileSha", &sha),
                    ("fileSize", &size),
                    ("dataSize", &ds),
                    ("fileType", ty),
                ],
                vec![],
            )
            .await;
        assert_eq!(init["code"], 0, "{init}");
        for (i, chunk) in content.chunks(part).enumerate() {
            self.part(&sha, i * part, part, chunk).await;
        }
        let fin = self
            .v2("POST", "FinishUpload", &[("fileSha", &sha)], vec![])
            .await;
        assert_eq!(fin["code"], 0, "{fin}");
        fin
    }

    /// One UploadPart; asserts success.
    pub async fn part(&self, sha: &str, offset: usize, part: usize, chunk: &[u8]) {
        let r = self
            .part_raw(sha, offset, part, &md5_hex(chunk), chunk.to_vec())
            .await;
        assert_eq!(r["code"], 0, "{r}");
    }

    pub async fn part_raw(
        &self,
        sha: &str,
        offset: usize,
        part: usize,
        md5: &str,
        body: Vec<u8>,
    ) -> Value {
        let (off, ds) = (offset.to_string(), part.to_string());
        self.v2(
            "POST",
            "UploadPart",
            &[
                ("fileSha", sha),
                ("offset", &off),
                ("dataSize", &ds),
                ("dataMd5", md5),
            ],
            body,
        )
        .await
    }

    pub async fn get_bytes(&self, url: &str) -> Vec<u8> {
        let r = self.http.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap().to_vec()
    }
}
