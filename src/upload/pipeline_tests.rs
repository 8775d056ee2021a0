//! Unit tests of the pipeline against the in-memory [`FakeFlow`].

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::upload::fake::{FakeFlow, service_error};
use crate::upload::{MemorySource, NoObserver};
use crate::vod::part_count;

const PS: u32 = 524_288;

fn data(len: usize, seed: u32) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as u8)
            .collect::<Vec<u8>>(),
    )
}

fn job(parallel: usize) -> UploadJob {
    UploadJob {
        file_name: "clip".into(),
        file_type: "mp4".into(),
        part_size: PS,
        parallel_parts: parallel,
        settings: Default::default(),
        resume_token: None,
    }
}

fn fast_retry() -> UploaderConfig {
    UploaderConfig {
        retry: RetryPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            waiting_after: 3,
            give_up_after: Some(Duration::from_millis(30)),
        },
        pace: PaceLimits::UNLIMITED,
    }
}

fn setup() -> (Arc<FakeFlow>, Uploader) {
    let flow = Arc::new(FakeFlow::new());
    let up = Uploader::new(flow.clone(), fast_retry());
    (flow, up)
}

#[derive(Default)]
struct Recorder {
    phases: Mutex<Vec<Phase>>,
    progress: Mutex<Vec<Progress>>,
    tokens: Mutex<Vec<String>>,
    cancel_after_parts: Option<(u64, CancellationToken)>,
}

impl Observer for Recorder {
    fn phase(&self, phase: Phase) {
        self.phases.lock().unwrap().push(phase);
    }
    fn progress(&self, p: Progress) {
        self.progress.lock().unwrap().push(p);
        if let Some((n, c)) = &self.cancel_after_parts
            && p.parts_done >= *n
        {
            c.cancel();
        }
    }
    fn resume_token(&self, token: &str) {
        self.tokens.lock().unwrap().push(token.to_string());
    }
}

#[tokio::test]
async fn sizes_around_part_boundaries_commit_exact_content() {
    let (flow, up) = setup();
    let ps = PS as usize;
    for (seed, len) in [0, 1, ps - 1, ps, ps + 1, 3 * ps + 5]
        .into_iter()
        .enumerate()
    {
        let content = data(len, seed as u32);
        let rec = Recorder::default();
        let c = up
            .upload(
                Arc::new(MemorySource(content.clone())),
                &job(4),
                &rec,
                &CancellationToken::new(),
            )
            .await
            .unwrap();
        assert_eq!(c.sha1_hex, hash::sha1_hex(&content));
        assert!(!c.instant);
        assert_eq!(c.parts_sent, part_count(len as u64, PS), "len {len}");
        assert_eq!(c.bytes_sent, len as u64);
        assert_eq!(flow.content(&c.file_id).unwrap(), content.to_vec());
        assert_eq!(
            *rec.phases.lock().unwrap(),
            vec![Phase::Hashing, Phase::Uploading, Phase::Committing]
        );
        let last = *rec.progress.lock().unwrap().last().unwrap();
        assert_eq!(last.bytes_done, len as u64);
        assert_eq!(last.parts_done, last.parts_total);
    }
}

#[tokio::test]
async fn same_content_again_is_an_instant_upload() {
    let (flow, up) = setup();
    let content = data(PS as usize * 2, 9);
    let src = Arc::new(MemorySource(content));
    let cancel = CancellationToken::new();
    let first = up
        .upload(src.clone(), &job(2), &NoObserver, &cancel)
        .await
        .unwrap();
    let parts_before = flow.part_calls.load(Ordering::SeqCst);
    let second = up.upload(src, &job(2), &NoObserver, &cancel).await.unwrap();
    assert!(second.instant);
    assert_eq!(second.file_id, first.file_id);
    assert_eq!(second.url, first.url);
    assert_eq!(second.parts_sent, 0);
    assert_eq!(flow.part_calls.load(Ordering::SeqCst), parts_before);
}

#[tokio::test(start_paused = true)]
async fn parts_in_flight_are_bounded_by_parallel_parts() {
    let (flow, up) = setup();
    flow.set_part_delay(Duration::from_millis(100));
    let content = data(PS as usize * 10, 1);
    let start = tokio::time::Instant::now();
    let c = up
        .upload(
            Arc::new(MemorySource(content)),
            &job(3),
            &NoObserver,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(c.parts_sent, 10);
    assert_eq!(flow.max_in_flight.load(Ordering::SeqCst), 3);
    // 10 parts, 3 at a time, 100 ms each: 4 rounds.
    assert_eq!(start.elapsed(), Duration::from_millis(400));
}

#[tokio::test]
async fn resume_sends_only_missing_and_mismatching_parts_with_the_service_part_size() {
    let (flow, up) = setup();
    let content = data(PS as usize * 4 + 100, 3);
    let sha = hash::sha1_hex(&content);
    let len = content.len() as u64;
    let ps = PS as usize;
    // The service holds parts 0 and 2 intact and a corrupt part 1, cut in
    // 512 KiB parts although this job asks for 1 MiB.
    flow.preload(&sha, len, PS, 0, content.slice(0..ps));
    flow.preload(&sha, len, PS, PS as u64, data(ps, 77));
    flow.preload(&sha, len, PS, 2 * PS as u64, content.slice(2 * ps..3 * ps));
    let mut j = job(2);
    j.part_size = 1_048_576;
    let rec = Recorder::default();
    let c = up
        .upload(
            Arc::new(MemorySource(content.clone())),
            &j,
            &rec,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    // Parts 1 (mismatch), 3 and 4 (missing).
    assert_eq!(c.parts_sent, 3);
    assert_eq!(
        flow.bytes_received.load(Ordering::SeqCst),
        2 * PS as u64 + 100
    );
    assert_eq!(flow.content(&c.file_id).unwrap(), content.to_vec());
    let first = rec.progress.lock().unwrap()[0];
    assert_eq!(first.parts_done, 2);
    assert_eq!(first.parts_total, 5);
    let token: Session = serde_json::from_str(&rec.tokens.lock().unwrap()[0]).unwrap();
    assert_eq!(token.part_size, PS);
    assert_eq!(token.sha1_hex, sha);
}

#[tokio::test]
async fn cancellation_stops_the_upload_before_finish() {
    let (flow, up) = setup();
    let cancel = CancellationToken::new();
    let rec = Recorder {
        cancel_after_parts: Some((2, cancel.clone())),
        ..Default::default()
    };
    let e = up
        .upload(
            Arc::new(MemorySource(data(PS as usize * 8, 4))),
            &job(1),
            &rec,
            &cancel,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, UploadError::Cancelled), "{e}");
    assert_eq!(flow.finish_calls.load(Ordering::SeqCst), 0);
    assert!(flow.part_calls.load(Ordering::SeqCst) < 8);
    // Cancelled before it starts: no call at all.
    let (flow, up) = setup();
    let c = CancellationToken::new();
    c.cancel();
    let e = up
        .upload(
            Arc::new(MemorySource(data(10, 1))),
            &job(1),
            &NoObserver,
            &c,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, UploadError::Cancelled));
    assert_eq!(flow.start_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_failing_part_is_retried_alone() {
    let (flow, up) = setup();
    flow.fail_next(
        Step::Part,
        service_error("UploadPart", -10004, true, "cache write"),
    );
    flow.fail_next(
        Step::Start,
        service_error("InitUpload", -10005, true, "cache read"),
    );
    flow.fail_next(
        Step::Part,
        service_error("UploadPart", -10004, true, "cache write"),
    );
    flow.fail_next(
        Step::Finish,
        service_error("FinishUpload", 4400, false, "slow down"),
    );
    let content = data(PS as usize * 3, 5);
    let c = up
        .upload(
            Arc::new(MemorySource(content.clone())),
            &job(1),
            &NoObserver,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(flow.start_calls.load(Ordering::SeqCst), 2);
    assert_eq!(flow.part_calls.load(Ordering::SeqCst), 5);
    assert_eq!(flow.finish_calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        flow.bytes_received.load(Ordering::SeqCst),
        content.len() as u64
    );
    assert_eq!(flow.content(&c.file_id).unwrap(), content.to_vec());
}

#[tokio::test]
async fn a_non_retryable_part_error_fails_with_action_part_code_and_message() {
    let (flow, up) = setup();
    flow.fail_next(
        Step::Part,
        service_error("UploadPart", -10006, true, "flaky"),
    );
    flow.fail_next(
        Step::Part,
        service_error("UploadPart", -10006, false, "invalid packet size"),
    );
    let e = up
        .upload(
            Arc::new(MemorySource(data(PS as usize * 6, 6))),
            &job(1),
            &NoObserver,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "UploadPart (part 0 at offset 0): service code -10006: invalid packet size"
    );
    assert_eq!(e.code(), Some(-10006));
    assert_eq!(flow.part_calls.load(Ordering::SeqCst), 2);
    assert_eq!(flow.finish_calls.load(Ordering::SeqCst), 0);
}

/// A source whose precomputed hashes do not describe its bytes.
struct Lying(MemorySource, Option<String>, Option<[u8; 16]>);

impl PartSource for Lying {
    fn len(&self) -> u64 {
        self.0.len()
    }
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Bytes> {
        self.0.read_at(offset, len)
    }
    fn sha1_hex(&self) -> Option<String> {
        self.1.clone()
    }
    fn part_md5(&self, _part_size: u32, _index: u64) -> Option<[u8; 16]> {
        self.2
    }
}

#[tokio::test]
async fn staged_bytes_that_differ_from_their_hashes_never_commit() {
    let (flow, up) = setup();
    let content = data(1000, 8);
    let sha = hash::sha1_hex(&content);
    // A wrong part MD5: caught before sending.
    let src = Lying(MemorySource(content.clone()), Some(sha), Some([0u8; 16]));
    let e = up
        .upload(
            Arc::new(src),
            &job(1),
            &NoObserver,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, UploadError::SourceChanged(_)), "{e}");
    assert_eq!(flow.part_calls.load(Ordering::SeqCst), 0);
    // A wrong SHA-1: the service refuses at finish.
    let src = Lying(MemorySource(content), Some("0".repeat(40)), None);
    let e = up
        .upload(
            Arc::new(src),
            &job(1),
            &NoObserver,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(-10003), "{e}");
    assert!(e.to_string().starts_with("FinishUpload: "), "{e}");
}

#[tokio::test]
async fn precomputed_hashes_skip_the_hashing_pass() {
    let (_flow, up) = setup();
    let content = data(2 * PS as usize, 2);
    let sha = hash::sha1_hex(&content);
    let src = Lying(MemorySource(content), Some(sha.to_uppercase()), None);
    let rec = Recorder::default();
    let c = up
        .upload(Arc::new(src), &job(2), &rec, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(c.sha1_hex, sha);
    assert!(!rec.phases.lock().unwrap().contains(&Phase::Hashing));
}

/// A source whose known hashes are right, vouched for or not.
struct Known {
    mem: MemorySource,
    md5s: Vec<[u8; 16]>,
    sha1: String,
    verified: bool,
}

impl PartSource for Known {
    fn len(&self) -> u64 {
        self.mem.len()
    }
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Bytes> {
        self.mem.read_at(offset, len)
    }
    fn sha1_hex(&self) -> Option<String> {
        Some(self.sha1.clone())
    }
    fn part_md5(&self, part_size: u32, index: u64) -> Option<[u8; 16]> {
        (part_size == PS).then(|| self.md5s.get(index as usize).copied())?
    }
    fn md5s_verified(&self) -> bool {
        self.verified
    }
}

fn known(content: &Bytes, verified: bool) -> Known {
    Known {
        mem: MemorySource(content.clone()),
        md5s: content.chunks(PS as usize).map(hash::md5).collect(),
        sha1: hash::sha1_hex(content),
        verified,
    }
}

#[tokio::test]
async fn verified_md5s_are_sent_without_hashing_the_parts_again() {
    let (flow, up) = setup();
    let content = data(3 * PS as usize + 7, 5);
    let cancel = CancellationToken::new();
    let c = up
        .upload(
            Arc::new(known(&content, true)),
            &job(2),
            &NoObserver,
            &cancel,
        )
        .await
        .unwrap();
    assert_eq!(c.parts_hashed, 0);
    assert_eq!(c.parts_sent, 4);
    assert_eq!(flow.content(&c.file_id).unwrap(), content.to_vec());
    // The same MD5s not vouched for: every part is hashed (and checked).
    let other = data(3 * PS as usize + 7, 6);
    let c = up
        .upload(
            Arc::new(known(&other, false)),
            &job(2),
            &NoObserver,
            &cancel,
        )
        .await
        .unwrap();
    assert_eq!(c.parts_hashed, 4);
    assert_eq!(flow.content(&c.file_id).unwrap(), other.to_vec());
}

#[tokio::test]
async fn a_vouched_md5_that_is_wrong_is_refused_by_the_service_not_committed() {
    let (flow, up) = setup();
    let content = data(PS as usize + 3, 7);
    let mut src = known(&content, true);
    src.md5s[1] = [0u8; 16];
    let e = up
        .upload(
            Arc::new(src),
            &job(1),
            &NoObserver,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("md5 mismatch"), "{e}");
    assert_eq!(
        flow.finish_calls.load(Ordering::SeqCst),
        0,
        "nothing committed"
    );
}

#[test]
fn the_upload_future_can_be_spawned() {
    fn assert_send<T: Send + 'static>(_: T) {}
    let (_flow, up) = setup();
    let src: Arc<dyn PartSource> = Arc::new(MemorySource(data(10, 1)));
    let observer: Arc<dyn Observer> = Arc::new(NoObserver);
    assert_send(async move {
        up.upload(src, &job(1), observer.as_ref(), &CancellationToken::new())
            .await
    });
}

#[tokio::test]
async fn lost_answers_are_retried_idempotently() {
    use crate::vod::failure::{FailureFlow, When};
    let fake = Arc::new(FakeFlow::new());
    let flow = Arc::new(FailureFlow::new(fake.clone()));
    let lost = || {
        crate::vod::VodError::new(
            "X",
            crate::vod::VodErrorKind::Transport {
                message: "connection reset".into(),
                timeout: false,
            },
        )
    };
    // The service acted on each of these, but the answer never came back.
    flow.fail(Step::Start, 1, When::After, lost());
    flow.fail(Step::Part, 2, When::After, lost());
    flow.fail(Step::Finish, 1, When::After, lost());
    flow.fail(Step::Part, 3, When::Before, lost());
    let up = Uploader::new(flow.clone(), fast_retry());
    let content = data(PS as usize * 3, 12);
    let c = up
        .upload(
            Arc::new(MemorySource(content.clone())),
            &job(1),
            &NoObserver,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(fake.content(&c.file_id).unwrap(), content.to_vec());
    assert_eq!(flow.calls(Step::Start), 2);
    assert_eq!(flow.calls(Step::Part), 5);
    assert_eq!(flow.calls(Step::Finish), 2);
}

/// A fake flow that records the aborts it is asked for.
struct Aborts(Arc<FakeFlow>, Mutex<Vec<crate::vod::AbortReason>>);

impl crate::vod::UploadFlow for Aborts {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn action(&self, step: Step) -> &'static str {
        self.0.action(step)
    }
    fn start<'a>(
        &'a self,
        req: &'a crate::vod::StartRequest,
    ) -> futures::future::BoxFuture<'a, Result<Started, crate::vod::VodError>> {
        self.0.start(req)
    }
    fn send_part<'a>(
        &'a self,
        session: &'a Session,
        part: crate::vod::Part,
    ) -> futures::future::BoxFuture<'a, Result<(), crate::vod::VodError>> {
        self.0.send_part(session, part)
    }
    fn finish<'a>(
        &'a self,
        session: &'a Session,
    ) -> futures::future::BoxFuture<'a, Result<crate::vod::Media, crate::vod::VodError>> {
        self.0.finish(session)
    }
    fn abort<'a>(
        &'a self,
        _session: &'a Session,
        reason: crate::vod::AbortReason,
    ) -> futures::future::BoxFuture<'a, Result<(), crate::vod::VodError>> {
        self.1.lock().unwrap().push(reason);
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn a_failure_for_good_is_reported_to_the_flow_but_a_cancel_is_not() {
    use crate::vod::AbortReason;
    let fake = Arc::new(FakeFlow::new());
    let flow = Arc::new(Aborts(fake.clone(), Mutex::new(Vec::new())));
    let up = Uploader::new(flow.clone(), fast_retry());
    fake.fail_next(
        Step::Finish,
        service_error("FinishUpload", -10003, false, "no"),
    );
    let src = Arc::new(MemorySource(data(100, 1)));
    let e = up
        .upload(src.clone(), &job(1), &NoObserver, &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(-10003));
    assert_eq!(*flow.1.lock().unwrap(), vec![AbortReason::Failed]);
    // Cancelled: nothing reported; the committer decides (abandon or keep).
    let cancel = CancellationToken::new();
    let rec = Recorder {
        cancel_after_parts: Some((1, cancel.clone())),
        ..Default::default()
    };
    let e = up
        .upload(
            Arc::new(MemorySource(data(PS as usize * 3, 2))),
            &job(1),
            &rec,
            &cancel,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, UploadError::Cancelled));
    assert_eq!(flow.1.lock().unwrap().len(), 1);
    // abandon() asks for a cancel-abort of the saved session.
    let token = rec.tokens.lock().unwrap()[0].clone();
    up.abandon(&token).await.unwrap();
    assert_eq!(
        *flow.1.lock().unwrap(),
        vec![AbortReason::Failed, AbortReason::Cancelled]
    );
}

fn expired() -> crate::vod::VodError {
    crate::vod::VodError::new(
        "CosUploadPart",
        crate::vod::VodErrorKind::SessionExpired("the credential expires in 0 s".into()),
    )
}

#[tokio::test]
async fn an_expired_session_starts_the_file_over_with_a_new_one() {
    use crate::vod::failure::{FailureFlow, When};
    let fake = Arc::new(FakeFlow::new());
    let flow = Arc::new(FailureFlow::new(fake.clone()));
    flow.fail(Step::Part, 2, When::Before, expired());
    flow.fail(Step::Finish, 1, When::Before, expired());
    let up = Uploader::new(flow.clone(), fast_retry());
    let content = data(PS as usize * 3, 21);
    let rec = Recorder::default();
    let c = up
        .upload(
            Arc::new(MemorySource(content.clone())),
            &job(1),
            &rec,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(fake.content(&c.file_id).unwrap(), content.to_vec());
    // Two restarts, each a new start that ignores the saved session.
    assert_eq!(flow.calls(Step::Start), 3);
    assert_eq!(rec.tokens.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_session_that_always_expires_fails_after_the_restarts() {
    use crate::vod::failure::{FailureFlow, When};
    let fake = Arc::new(FakeFlow::new());
    let flow = Arc::new(FailureFlow::new(fake.clone()));
    for n in 1..=(MAX_SESSION_RESTARTS as u64 + 1) {
        flow.fail(Step::Part, n, When::Before, expired());
    }
    let up = Uploader::new(flow.clone(), fast_retry());
    let e = up
        .upload(
            Arc::new(MemorySource(data(PS as usize * 2, 22))),
            &job(1),
            &NoObserver,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(e.is_session_expired(), "{e}");
    assert!(e.to_string().contains("session expired"), "{e}");
    assert_eq!(flow.calls(Step::Start), u64::from(MAX_SESSION_RESTARTS) + 1);
}

/// A [`Known`] source with one grown part recorded as sent early.
struct Recorded {
    known: Known,
    sent: (u64, u64, [u8; 16], [u8; 16]),
}

impl PartSource for Recorded {
    fn len(&self) -> u64 {
        self.known.len()
    }
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Bytes> {
        self.known.read_at(offset, len)
    }
    fn part_md5(&self, part_size: u32, index: u64) -> Option<[u8; 16]> {
        self.known.part_md5(part_size, index)
    }
    fn sent_part(&self, offset: u64, len: u64) -> Option<([u8; 16], [u8; 16])> {
        let (o, l, md5, digest) = self.sent;
        (o == offset && l == len).then_some((md5, digest))
    }
}

#[test]
fn a_grown_part_is_known_by_its_record_only_while_its_base_md5s_match() {
    use crate::vod::rules::layout::Growth;
    // Parts: 1, 1, then 2 base parts (bytes [2 PS, 4 PS)), then the tail.
    let content = data(4 * PS as usize + 9, 11);
    let grown = &content[2 * PS as usize..4 * PS as usize];
    let session = Session {
        flow: "fake".into(),
        sha1_hex: hash::sha1_hex(&content),
        file_size: content.len() as u64,
        part_size: PS,
        token: None,
        growth: Some(Growth::new(2, 8, 3).unwrap()),
    };
    let base = known(&content, true);
    let digest = hash::parts_digest(&base.md5s[2..4]);
    let ctx = |src: Recorded| PartCtx {
        src: Arc::new(src),
        hashes: None,
        session: &session,
        len: content.len() as u64,
        hook: &crate::upload::retry::NoHook,
        hashed: AtomicU64::new(0),
    };
    let record = (
        2 * u64::from(PS),
        2 * u64::from(PS),
        hash::md5(grown),
        digest,
    );
    let c = ctx(Recorded {
        known: known(&content, true),
        sent: record,
    });
    assert_eq!(c.known_md5(2), Some(hash::md5(grown)));
    assert_eq!(c.known_md5(0), Some(base.md5s[0]));
    // A base part changed since: the record is not trusted.
    let mut changed = known(&content, true);
    changed.md5s[3] = [0; 16];
    let c = ctx(Recorded {
        known: changed,
        sent: record,
    });
    assert_eq!(c.known_md5(2), None);
    // No record: unknown (the commit reads and hashes it).
    let c = ctx(Recorded {
        known: known(&content, true),
        sent: (0, 0, [0; 16], [0; 16]),
    });
    assert_eq!(c.known_md5(2), None);
}

#[test]
fn grown_sessions_keep_parallel_parts_times_their_largest_part_bounded() {
    use crate::vod::rules::layout::Growth;
    let mut s = Session {
        flow: "fake".into(),
        sha1_hex: String::new(),
        file_size: 0,
        part_size: 1 << 20,
        token: None,
        growth: None,
    };
    assert_eq!(parallel_for(&s, 1 << 40, 4), 4);
    s.growth = Some(Growth::new(4, 1, 6).unwrap());
    // Up to 64 MiB parts: one at a time; a small file of 1 MiB parts: 4.
    assert_eq!(parallel_for(&s, 1 << 34, 4), 1);
    assert_eq!(parallel_for(&s, 3 << 20, 4), 4);
    // 10 MiB: parts up to 8 MiB, 64 / 8 = 8; 20 MiB: up to 16 MiB, 4.
    assert_eq!(parallel_for(&s, 10 << 20, 8), 8);
    assert_eq!(parallel_for(&s, 20 << 20, 8), 4);
}
