//! The clients of every flow and the pipeline against the real `vodfs
//! serve` (in-process, on a loopback port 0, data in a temp directory).

use std::ffi::OsStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use vodfs::upload::hash::sha1_hex;
use vodfs::upload::{
    Committed, MemorySource, NoObserver, Observer, PaceLimits, Progress, RetryPolicy, UploadError,
    UploadJob, Uploader, UploaderConfig,
};
use vodfs::vod::playback::PlaybackReader;
use vodfs::vod::ugc::LocalSigner;
use vodfs::vod::v4::{V4Client, V4Config};

use super::data;
use crate::common::{
    Flow, SECRET_KEY, TestServer, credentials, credentials_with_key, for_each_flow,
};

const PS: u32 = 524_288;

/// The in-process service with `faults` injected, on a data directory of
/// its own.
async fn start(faults: &str) -> TestServer {
    let faults = faults.parse().unwrap();
    TestServer::start_temp(|c| c.faults = faults).await
}

/// Part bytes the service has received so far.
async fn part_bytes(srv: &TestServer) -> u64 {
    srv.admin("/admin/stats").await["partBytesReceived"]
        .as_u64()
        .unwrap()
}

/// A v4 uploader signing with the test account's id and `key`.
fn v4_uploader(srv: &TestServer, key: &str) -> Uploader {
    let cl = V4Client::new(V4Config::new(srv.base_url()), credentials_with_key(key)).unwrap();
    uploader(Arc::new(cl))
}

fn uploader(flow: Arc<dyn vodfs::vod::UploadFlow>) -> Uploader {
    Uploader::new(
        flow,
        UploaderConfig {
            retry: RetryPolicy {
                base_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(200),
                waiting_after: 3,
                give_up_after: Some(Duration::from_millis(1500)),
            },
            pace: PaceLimits::default(),
        },
    )
}

fn job(name: &str) -> UploadJob {
    UploadJob {
        part_size: PS,
        ..UploadJob::for_file_name(OsStr::new(name))
    }
}

async fn upload_with(
    up: &Uploader,
    name: &str,
    content: &Bytes,
    observer: &dyn Observer,
    cancel: &CancellationToken,
) -> Result<Committed, UploadError> {
    up.upload(
        Arc::new(MemorySource(content.clone())),
        &job(name),
        observer,
        cancel,
    )
    .await
}

async fn upload(up: &Uploader, name: &str, content: &Bytes) -> Result<Committed, UploadError> {
    upload_with(up, name, content, &NoObserver, &CancellationToken::new()).await
}

/// The media's bytes as served at its URL, read with Range requests.
async fn fetch(url: &str, len: usize) -> Vec<u8> {
    let r = PlaybackReader::default();
    let mut out = Vec::new();
    while out.len() < len {
        let chunk = r.read(url, out.len() as u64, 300_000).await.unwrap();
        assert!(!chunk.is_empty(), "short media at {}", out.len());
        out.extend_from_slice(&chunk);
    }
    assert!(r.read(url, len as u64, 10).await.unwrap().is_empty());
    out
}

for_each_flow!(async sizes_around_part_boundaries_commit_and_play_back_exactly);

/// The uploader of `flow`'s client against `srv`, signing with the test
/// account (UGC: a local signer).
fn flow_uploader(srv: &TestServer, flow: Flow) -> Uploader {
    match flow.protocol {
        "v4" => v4_uploader(srv, SECRET_KEY),
        "ugc" => {
            use vodfs::vod::client_upload::{UgcClient, UgcConfig};
            let signer = Arc::new(LocalSigner::new(credentials()));
            let cfg = UgcConfig::new(srv.base_url());
            uploader(Arc::new(UgcClient::new(cfg, signer).unwrap()))
        }
        "ugc-ex" => {
            let signer = Arc::new(LocalSigner::new(credentials()));
            uploader(Arc::new(
                V4Client::ugc(V4Config::new(srv.base_url()), signer).unwrap(),
            ))
        }
        "apply" => apply_uploader(srv),
        "api3" => {
            use vodfs::vod::api3::{Api3Client, Api3Config};
            let cfg = Api3Config::new(srv.base_url());
            uploader(Arc::new(Api3Client::new(cfg, credentials()).unwrap()))
        }
        "frontwize" => frontwize_uploader(srv, SECRET_KEY),
        other => panic!("no uploader for {other}"),
    }
}

/// Sizes around the part size (and none), a CJK name with a character
/// the service refuses: each commits once under the cleaned name and its
/// URL serves exactly its bytes. Frontwize sends each in one PUT.
async fn sizes_around_part_boundaries_commit_and_play_back_exactly(flow: Flow) {
    let srv = start("off").await;
    let up = flow_uploader(&srv, flow);
    let ps = PS as usize;
    // 2 * ps is 1 MiB, the smallest COS part (apply).
    let sizes = [
        0,
        1,
        ps - 1,
        ps,
        ps + 1,
        2 * ps,
        2 * ps + 1,
        3 * 1024 * 1024 + 11,
    ];
    for (i, len) in sizes.into_iter().enumerate() {
        let content = data(len, i as u8);
        let name = format!("clip {i}: 视频.mp4");
        let c = upload(&up, &name, &content)
            .await
            .unwrap_or_else(|e| panic!("len {len}: {e}"));
        assert!(!c.instant);
        assert_eq!(c.sha1_hex, sha1_hex(&content));
        if flow.protocol == "frontwize" {
            assert_eq!((c.parts_sent, c.bytes_sent), (1, len as u64));
        }
        let m = srv.admin(&format!("/admin/media/{}", c.file_id)).await;
        assert_eq!(m["sha1"].as_str().unwrap(), c.sha1_hex, "len {len}");
        assert_eq!(m["size"].as_u64().unwrap(), len as u64);
        assert_eq!(m["name"].as_str().unwrap(), format!("clip {i}_ 视频"));
        assert_eq!(m["flow"].as_str(), Some(flow.family), "{m}");
        if len > 0 {
            assert_eq!(
                fetch(c.url.as_deref().unwrap(), len).await,
                content.to_vec(),
                "len {len}"
            );
        }
    }
}

#[tokio::test]
async fn identical_content_is_an_instant_upload_with_the_same_file_id() {
    let srv = start("off").await;
    let up = v4_uploader(&srv, SECRET_KEY);
    let content = data(PS as usize * 2 + 3, 40);
    let first = upload(&up, "a.mp4", &content).await.unwrap();
    let bytes = part_bytes(&srv).await;
    let again = upload(&up, "b.mp4", &content).await.unwrap();
    assert!(again.instant);
    assert_eq!(again.file_id, first.file_id);
    assert_eq!(part_bytes(&srv).await, bytes);
}

/// Cancels the upload once `after` parts are done.
struct StopAfter(u64, CancellationToken, AtomicU64);

impl Observer for StopAfter {
    fn progress(&self, p: Progress) {
        self.2.store(p.parts_done, Ordering::SeqCst);
        if p.parts_done >= self.0 {
            self.1.cancel();
        }
    }
}

#[tokio::test]
async fn an_interrupted_upload_resumes_sending_only_missing_parts() {
    let srv = start("off").await;
    let up = v4_uploader(&srv, SECRET_KEY);
    let content = data(PS as usize * 8 + 1000, 7);
    let cancel = CancellationToken::new();
    let stop = StopAfter(3, cancel.clone(), AtomicU64::new(0));
    let mut j = job("resume.mp4");
    j.parallel_parts = 1;
    let e = up
        .upload(Arc::new(MemorySource(content.clone())), &j, &stop, &cancel)
        .await
        .unwrap_err();
    assert!(matches!(e, UploadError::Cancelled), "{e}");
    let sent_before = part_bytes(&srv).await;
    assert!(sent_before >= 3 * PS as u64 && sent_before < content.len() as u64);
    let c = upload(&up, "resume.mp4", &content).await.unwrap();
    let resent = part_bytes(&srv).await - sent_before;
    assert_eq!(
        sent_before + resent,
        content.len() as u64,
        "nothing sent twice"
    );
    assert_eq!(c.bytes_sent, resent);
    assert_eq!(
        fetch(c.url.as_deref().unwrap(), content.len()).await,
        content.to_vec()
    );
}

#[tokio::test]
async fn wrong_credentials_fail_at_once_naming_the_service_code() {
    let srv = start("off").await;
    let up = v4_uploader(&srv, "not the key");
    let e = upload(&up, "x.mp4", &data(10, 1)).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("InitUpload: service code "), "{msg}");
    assert!(matches!(e.code(), Some(4100) | Some(-10002)), "{msg}");
    assert!(!msg.contains("not the key"));
    let stats = srv.admin("/admin/stats").await;
    assert_eq!(stats["actions"]["InitUpload"]["requests"], 1, "not retried");
}

#[tokio::test]
async fn injected_faults_of_every_kind_are_retried_to_a_correct_commit() {
    let srv = start("rate=0.25,seed=11,kinds=negative+5xx+drop+4400,slow_ms=50").await;
    let up = v4_uploader(&srv, SECRET_KEY);
    let mut ids = std::collections::HashSet::new();
    for i in 0..6u8 {
        let content = data(PS as usize * 3 + usize::from(i), 100 + i);
        let c = upload(&up, &format!("f{i}.mp4"), &content).await.unwrap();
        assert!(ids.insert(c.file_id.clone()), "committed twice");
        assert_eq!(
            fetch(c.url.as_deref().unwrap(), content.len()).await,
            content.to_vec()
        );
    }
    let media = srv.admin("/admin/media").await;
    assert_eq!(media.as_array().unwrap().len(), 6);
    let stats = srv.admin("/admin/stats").await;
    // 6 files × (1 init + 4 parts + 1 finish) without faults; faulted
    // calls were made again.
    let requests: u64 = stats["actions"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| a["requests"].as_u64().unwrap_or(0))
        .sum();
    assert!(requests > 36, "no fault was retried: {stats}");
}

#[tokio::test]
async fn hostile_file_names_become_names_the_service_accepts() {
    use std::os::unix::ffi::OsStrExt;
    let srv = start("off").await;
    let up = v4_uploader(&srv, SECRET_KEY);
    let long = format!("{}.mp4", "長".repeat(83));
    let names: Vec<&OsStr> = vec![
        OsStr::new(r#"a\b:c*d?e"f<g>h|i.mp4"#),
        OsStr::new(&long),
        OsStr::from_bytes(b"bad\xff\xfe utf8.MOV"),
        OsStr::new(".mp4"),
        OsStr::new("no extension"),
        OsStr::new("\t\n.mp4"),
    ];
    for (i, name) in names.into_iter().enumerate() {
        let j = UploadJob {
            part_size: PS,
            ..UploadJob::for_file_name(name)
        };
        let content = data(100 + i, i as u8);
        let c = up
            .upload(
                Arc::new(MemorySource(content)),
                &j,
                &NoObserver,
                &CancellationToken::new(),
            )
            .await
            .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        let m = srv.admin(&format!("/admin/media/{}", c.file_id)).await;
        assert_eq!(m["name"].as_str().unwrap(), j.file_name, "{name:?}");
        assert!(j.file_name.len() <= 40);
    }
}

/// Records the last resume token, and cancels after `after` parts.
struct TokenKeeper(u64, CancellationToken, std::sync::Mutex<Option<String>>);

impl Observer for TokenKeeper {
    fn progress(&self, p: Progress) {
        if p.parts_done >= self.0 {
            self.1.cancel();
        }
    }
    fn resume_token(&self, token: &str) {
        *self.2.lock().unwrap() = Some(token.to_string());
    }
}

fn apply_uploader(srv: &TestServer) -> Uploader {
    use vodfs::vod::apply::{ApplyClient, ApplyConfig};
    let mut cfg = ApplyConfig::new(srv.base_url());
    cfg.cos_endpoint = Some(srv.base_url());
    uploader(Arc::new(ApplyClient::new(cfg, credentials()).unwrap()))
}

#[tokio::test]
async fn the_apply_flow_resumes_from_its_token() {
    let srv = start("off").await;
    let up = apply_uploader(&srv);
    let content = data(5 << 20, 9);
    let cancel = CancellationToken::new();
    let keeper = TokenKeeper(2, cancel.clone(), Default::default());
    let mut j = job("resume apply.mp4");
    j.parallel_parts = 1;
    let e = up
        .upload(
            Arc::new(MemorySource(content.clone())),
            &j,
            &keeper,
            &cancel,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, UploadError::Cancelled), "{e}");
    j.resume_token = keeper.2.lock().unwrap().clone();
    assert!(j.resume_token.is_some());
    let c = up
        .upload(
            Arc::new(MemorySource(content.clone())),
            &j,
            &NoObserver,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(c.parts_sent, 3, "only the 3 missing 1 MiB parts");
    assert_eq!(
        fetch(c.url.as_deref().unwrap(), content.len()).await,
        content.to_vec()
    );
}

/// CommitUpload's answer is lost after the service committed (the
/// connection drops mid-body): the retried CommitUpload gets the same media
/// instead of 31001, and the file commits once, its COS upload completed
/// only once. Small (one PUT) and multipart files alike.
#[tokio::test]
async fn a_lost_commit_upload_answer_retried_commits_the_same_media_once() {
    let srv = start("off").await;
    let up = apply_uploader(&srv);
    for (i, size) in [10usize, (2 << 20) + 7].into_iter().enumerate() {
        srv.set_faults("rate=1,kinds=drop,actions=CommitUpload,max=1")
            .await;
        let content = data(size, 30 + i as u8);
        let c = upload(&up, &format!("lost answer {i}.mp4"), &content)
            .await
            .unwrap_or_else(|e| panic!("size {size}: {e}"));
        let stats = srv.admin("/admin/stats").await;
        assert_eq!(
            stats["actions"]["CommitUpload"]["requests"].as_u64(),
            Some(2 * (i as u64 + 1)),
            "the answer was lost once and asked again: {stats}"
        );
        let media = srv.admin("/admin/media").await;
        let same: Vec<&serde_json::Value> = media
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["sha1"].as_str() == Some(sha1_hex(&content).as_str()))
            .collect();
        assert_eq!(same.len(), 1, "one media for the content: {media}");
        assert_eq!(same[0]["fileId"].as_str(), Some(c.file_id.as_str()));
        assert_eq!(
            fetch(c.url.as_deref().unwrap(), size).await,
            content.to_vec()
        );
    }
}

#[tokio::test]
async fn abandoning_an_apply_upload_aborts_its_multipart_upload() {
    let srv = start("off").await;
    let up = apply_uploader(&srv);
    let content = data(3 << 20, 2);
    let cancel = CancellationToken::new();
    let keeper = TokenKeeper(1, cancel.clone(), Default::default());
    let mut j = job("abandoned.mp4");
    j.parallel_parts = 1;
    let e = up
        .upload(
            Arc::new(MemorySource(content.clone())),
            &j,
            &keeper,
            &cancel,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, UploadError::Cancelled), "{e}");
    let token = keeper.2.lock().unwrap().clone().unwrap();
    up.abandon(&token).await.unwrap();
    // The upload is gone: resuming from the token starts afresh.
    j.resume_token = Some(token);
    let c = up
        .upload(
            Arc::new(MemorySource(content.clone())),
            &j,
            &NoObserver,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(c.parts_sent, 3);
    // Abandoning a token of another flow, or garbage, does nothing.
    up.abandon("not a token").await.unwrap();
    v4_uploader(&srv, SECRET_KEY)
        .abandon(j.resume_token.as_deref().unwrap())
        .await
        .unwrap();
}

fn frontwize_uploader(srv: &TestServer, key: &str) -> Uploader {
    use vodfs::vod::frontwize::{FrontwizeClient, FrontwizeConfig};
    uploader(Arc::new(
        FrontwizeClient::new(
            FrontwizeConfig::new(srv.base_url()),
            credentials_with_key(key),
        )
        .unwrap(),
    ))
}

#[tokio::test]
async fn frontwize_faults_are_retried_and_wrong_keys_refused() {
    let srv = start("rate=0.3,seed=5,kinds=5xx+drop+4400").await;
    let up = frontwize_uploader(&srv, SECRET_KEY);
    for i in 0..4u8 {
        let content = data((1 << 20) + usize::from(i), i);
        let c = upload(&up, &format!("f{i}.mov"), &content).await.unwrap();
        assert_eq!(
            fetch(c.url.as_deref().unwrap(), content.len()).await,
            content.to_vec()
        );
    }
    let e = upload(&frontwize_uploader(&srv, "bad"), "x.mp4", &data(5, 1))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("401"), "{e}");
}

/// A frontwize upload given up after its MediaId exists is reported to the
/// service (`uploaded` with Status FAILED, or CANCELLED when the file was
/// unlinked); the service then refuses to commit that MediaId, and its
/// answer's null PlayUrl is not an error.
#[tokio::test]
async fn frontwize_abort_reports_failed_and_cancelled_to_the_service() {
    use vodfs::vod::frontwize::{FrontwizeClient, FrontwizeConfig};
    use vodfs::vod::{AbortReason, StartRequest, Started, UploadFlow};
    let srv = start("off").await;
    let client = FrontwizeClient::new(FrontwizeConfig::new(srv.base_url()), credentials()).unwrap();
    for (i, reason) in [AbortReason::Failed, AbortReason::Cancelled]
        .into_iter()
        .enumerate()
    {
        let req = StartRequest {
            file_name: format!("gone{i}"),
            file_type: "mp4".into(),
            file_size: 10,
            sha1_hex: sha1_hex(&[i as u8; 10]),
            part_size: 1 << 20,
            settings: Default::default(),
            resume: None,
        };
        let Started::Upload { session, .. } = client.start(&req).await.unwrap() else {
            panic!("a frontwize upload always sends its bytes");
        };
        client
            .abort(&session, reason)
            .await
            .unwrap_or_else(|e| panic!("{reason:?}: {e}"));
        // The MediaId is no longer APPLIED: committing it now is refused
        // for its state (not merely for its missing bytes).
        let e = client.finish(&session).await.unwrap_err().to_string();
        let state = match reason {
            AbortReason::Failed => "is FAILED",
            AbortReason::Cancelled => "is CANCELLED",
        };
        assert!(
            e.contains("InvalidState") && e.contains(state),
            "{reason:?}: {e}"
        );
    }
}
