//! Group commit of `vodfs serve`'s store: many requests' writes share one
//! sync of the write-ahead log, and every answered request is still there
//! after a `kill -9` of the real service process (`Service`), restarted on
//! the same port and data directory.

use serde_json::json;

use crate::common::*;

const UPLOADS: usize = 24;

/// ApplyUpload, a COS PUT with its temporary credential, CommitUpload:
/// the media's FileId and its bytes once CommitUpload answered.
async fn upload(s: &TestServer, n: usize) -> (String, Vec<u8>) {
    let a = super::api3::call(
        s,
        "ApplyUpload",
        json!({"MediaType": "mp4", "MediaName": format!("group {n}")}),
    )
    .await;
    let path = a["MediaStoragePath"]
        .as_str()
        .unwrap_or_else(|| panic!("{a}"));
    let token = a["TempCertificate"]["Token"].as_str().unwrap();
    let bytes = random_bytes(3000 + n * 17, 900 + n as u64);
    let (st, text) = super::api3::cos_put(s, &a, path, Some(token), &bytes).await;
    assert_eq!(st, 200, "{text}");
    let key = a["VodSessionKey"].as_str().unwrap();
    let c = super::api3::call(s, "CommitUpload", json!({"VodSessionKey": key})).await;
    let id = c["FileId"].as_str().unwrap_or_else(|| panic!("{c}"));
    (id.to_string(), bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_concurrent_commit_uploads_answered_before_a_kill9_are_all_there_after_restart()
 {
    let mut svc = Service::start_with(&["--no-rate-limit"]);
    let s = TestServer::attach(&svc.addr);
    let done: Vec<(String, Vec<u8>)> =
        futures::future::join_all((0..UPLOADS).map(|n| upload(&s, n))).await;
    let stats = s.admin("/admin/stats").await;
    // 3 requests per upload. A request waits for durability once, before
    // its answer, for everything its steps wrote or read (the guard's
    // `App::one_wait`), and a wait that finds its changes covered by a
    // sync already run syncs nothing: at most one sync per request (and the
    // store's opening one) whatever the timing (how many waits one sync
    // covers depends on timing, and is `server::group_sync::tests`' to
    // prove). Before the one wait per request it was up to three per
    // request (nonce, work, CommitUpload's two steps): 82 for these 72
    // requests on a loaded machine.
    let syncs = stats["storeSyncs"]
        .as_u64()
        .unwrap_or_else(|| panic!("{stats}"));
    println!("{syncs} WAL syncs for {} requests", 3 * UPLOADS);
    assert!(
        (1..=(3 * UPLOADS as u64 + 1)).contains(&syncs),
        "{syncs} WAL syncs for {UPLOADS} uploads: {stats}"
    );
    // Killed at once after the last answer: nothing answered may be lost.
    tokio::task::block_in_place(|| {
        svc.kill();
        svc.start_again();
    });
    for (id, bytes) in &done {
        let m = s.admin(&format!("/admin/media/{id}")).await;
        assert_eq!(m["size"].as_u64(), Some(bytes.len() as u64), "{id}: {m}");
        assert_eq!(m["sha1"], sha1_hex(bytes).as_str(), "{id}: {m}");
        let url = m["url"].as_str().unwrap_or_else(|| panic!("{m}"));
        assert!(
            s.get_bytes(url).await == *bytes,
            "{id}: the bytes after the restart"
        );
    }
    let ids: std::collections::HashSet<_> = done.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), UPLOADS, "distinct FileIds");
}
