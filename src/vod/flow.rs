//! The contract between the upload pipeline and a protocol flow: the
//! [`UploadFlow`] trait and the requests and answers it passes. Every flow
//! file (`v4.rs`, `apply.rs`, `frontwize.rs`, the failure wrapper) imports
//! this file; it imports only [`super::error`], the cover limit and the
//! part layouts of [`super::rules`].

use std::fmt;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::error::{VodError, VodErrorKind};
use super::rules::layout::{Growth, Layout};

/// Which call of a flow; the pacer keeps one rate limit per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    Start,
    Part,
    Finish,
}

/// Optional media settings sent with the start of an upload (issue 4's
/// per-directory settings). `None` leaves the service default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSettings {
    pub class_id: Option<u64>,
    /// At most [`MAX_TAGS`](super::rules::settings::MAX_TAGS) tags are
    /// sent; the rest are ignored by the flow.
    pub tags: Vec<String>,
    pub transcode: Option<bool>,
    pub screenshot: Option<bool>,
    pub watermark: Option<bool>,
    /// A task-flow template name (v4, apply).
    #[serde(default)]
    pub procedure: Option<String>,
    /// A pass-through string echoed in the upload-complete event (apply).
    #[serde(default)]
    pub source_context: Option<String>,
    /// Echoed in task-flow callbacks when a procedure is set (api3
    /// SessionContext).
    #[serde(default)]
    pub session_context: Option<String>,
    /// The storage region to force (api3 StorageRegion, `ap-chongqing`).
    #[serde(default)]
    pub storage_region: Option<String>,
    /// When the media expires, ISO 8601 (api3 ExpireTime).
    #[serde(default)]
    pub expire_time: Option<String>,
    /// The cover to send with the upload, for flows that take it at the
    /// start ([`UploadFlow::cover_at_start`]: apply). Never persisted.
    #[serde(skip)]
    pub cover: Option<CoverRequest>,
}

impl UploadSettings {
    /// The settings both v2-signed start calls share (InitUpload and
    /// ApplyUpload): classId, procedure, isTranscode, isScreenshot,
    /// isWatermark, each only when set.
    pub fn push_common_params(&self, params: &mut Vec<(String, String)>) {
        if let Some(c) = self.class_id {
            params.push(("classId".into(), c.to_string()));
        }
        if let Some(p) = &self.procedure {
            params.push(("procedure".into(), p.clone()));
        }
        for (name, v) in [
            ("isTranscode", self.transcode),
            ("isScreenshot", self.screenshot),
            ("isWatermark", self.watermark),
        ] {
            if let Some(v) = v {
                params.push((name.into(), u8::from(v).to_string()));
            }
        }
    }
}

/// What the pipeline asks the service to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRequest {
    /// Service file name, already made valid by [`super::rules::names::ServiceFile`].
    pub file_name: String,
    /// File type without the dot (`mp4`).
    pub file_type: String,
    pub file_size: u64,
    /// Lower-case hex SHA-1 of the whole file; empty for an *open* start
    /// ([`UploadFlow::parts_before_hash`]): the file is still being written,
    /// its size (`file_size` 0) and hash are not known yet.
    pub sha1_hex: String,
    /// Preferred part size; the service may impose another on resume.
    pub part_size: u32,
    pub settings: UploadSettings,
    /// The session of an earlier attempt at this same content, if one was
    /// saved; flows that resume by content hash (v4) may ignore it.
    pub resume: Option<Session>,
}

/// One part the service already holds (InitUpload code 1's `listParts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPart {
    pub offset: u64,
    pub size: u64,
    /// Lower-case hex MD5 of the part as the service has it.
    pub md5_hex: String,
}

/// The state of one upload that later calls need; serialisable so the
/// pipeline can save it as an opaque resume token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Name of the flow that produced this session (`v4`, …).
    pub flow: String,
    /// Empty (with `file_size` 0) for an open session, started while the
    /// file was being written ([`Session::is_open`]).
    pub sha1_hex: String,
    pub file_size: u64,
    /// The part size in force: the service's on resume, else the requested.
    pub part_size: u32,
    /// Flow-specific state (a signature, a session key); `None` for v4.
    pub token: Option<String>,
    /// Parts of sizes that grow from `part_size` ([`Layout::Grown`]): an
    /// open session whose parts went up while the file was written.
    /// `None` (every session saved before it existed): uniform parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth: Option<Growth>,
}

impl Session {
    /// True for a session started before the file's size and hash were
    /// known (parts sent while it was written): the pipeline fills both in
    /// when it resumes it at the commit.
    pub fn is_open(&self) -> bool {
        self.sha1_hex.is_empty()
    }

    /// Where this session's parts lie.
    pub fn layout(&self) -> Layout {
        let part = u64::from(self.part_size);
        match self.growth {
            Some(growth) => Layout::Grown { base: part, growth },
            None => Layout::Uniform { part },
        }
    }
}

/// A committed media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub file_id: String,
    /// The playback URL; `None` when the service committed the media
    /// without one (frontwize may answer a null PlayUrl).
    pub url: Option<String>,
    /// The cover's URL when a cover went with the upload (apply).
    pub cover_url: Option<String>,
}

/// A cover image for a committed video (issue 4). Small (the v4 family
/// takes at most [`MAX_COVER`](super::rules::parts::MAX_COVER) bytes), so it travels as one buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverRequest {
    /// Service file name of the image, already valid ([`super::rules::names::ServiceFile`]).
    pub file_name: String,
    /// `jpg`, `jpeg` or `png`.
    pub file_type: String,
    pub data: Bytes,
    /// Lower-case hex SHA-1 of `data`.
    pub sha1_hex: String,
}

/// How a flow takes the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// Part by part ([`UploadFlow::send_part`]), resumable.
    Parts,
    /// As one object streamed in a single request ([`UploadFlow::send_object`]).
    Object,
}

/// The whole content as a stream, for [`Transfer::Object`] flows. A new one
/// is made for every attempt.
pub struct ObjectBody {
    pub len: u64,
    pub stream: futures::stream::BoxStream<'static, std::io::Result<Bytes>>,
}

impl fmt::Debug for ObjectBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectBody")
            .field("len", &self.len)
            .finish()
    }
}

/// Why an unfinished upload is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortReason {
    /// The file was unlinked or replaced: free everything.
    Cancelled,
    /// The upload failed for good; flows that can resume keep their state.
    Failed,
}

/// The service's answer to a start request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// Parts must be sent. `held` lists what the service already has (empty
    /// for a new upload); `resumed` is true when the service said so.
    Upload {
        session: Session,
        held: Vec<HeldPart>,
        resumed: bool,
    },
    /// The service already has this content (instant upload). The flow has
    /// already done whatever the protocol requires to complete it.
    Complete { session: Session, media: Media },
}

impl Started {
    pub fn session(&self) -> &Session {
        match self {
            Started::Upload { session, .. } | Started::Complete { session, .. } => session,
        }
    }
}

/// One part to send.
#[derive(Debug, Clone)]
pub struct Part {
    pub index: u64,
    pub offset: u64,
    /// The part's bytes (shared, never copied by the flow).
    pub data: Bytes,
    /// Lower-case hex MD5 of `data`.
    pub md5_hex: String,
}

/// One protocol flow of the VOD service.
pub trait UploadFlow: Send + Sync + 'static {
    /// Short name (`v4`), stored in [`Session::flow`].
    fn name(&self) -> &'static str;

    /// The service's name of the call made for `step` (for messages).
    fn action(&self, step: Step) -> &'static str;

    /// Starts or resumes the upload of a file.
    fn start<'a>(&'a self, req: &'a StartRequest) -> BoxFuture<'a, Result<Started, VodError>>;

    /// Sends one part of the session's file.
    fn send_part<'a>(
        &'a self,
        session: &'a Session,
        part: Part,
    ) -> BoxFuture<'a, Result<(), VodError>>;

    /// Completes the upload once every part is held.
    fn finish<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Result<Media, VodError>>;

    /// True when the service needs neither the file's size nor its hash
    /// before the first part (COS multipart: api3), so [`UploadFlow::start`]
    /// takes an open request (empty `sha1_hex`, `file_size` 0) and answers
    /// a multipart session whose parts may be sent while the file is still
    /// written. False by default (v4 needs the whole-file SHA-1 first).
    fn parts_before_hash(&self) -> bool {
        false
    }

    /// How this flow takes the bytes; [`Transfer::Parts`] unless it says.
    fn transfer(&self) -> Transfer {
        Transfer::Parts
    }

    /// Sends the whole content in one request ([`Transfer::Object`] flows).
    /// The flow may update the session (e.g. a fresh presigned URL).
    fn send_object<'a>(
        &'a self,
        _session: &'a mut Session,
        _body: ObjectBody,
    ) -> BoxFuture<'a, Result<(), VodError>> {
        let action = self.action(Step::Part);
        Box::pin(async move {
            Err(VodError::new(
                action,
                VodErrorKind::Request("this flow takes parts".into()),
            ))
        })
    }

    /// True when this flow takes a video's cover with the upload itself
    /// (in [`UploadSettings::cover`]) rather than after it.
    fn cover_at_start(&self) -> bool {
        false
    }

    /// Adds `cover` to the committed `video` and returns the cover's URL.
    /// The default refuses: only flows with a cover call for an existing
    /// video (v4's SmallFileUpload) implement it.
    fn upload_cover<'a>(
        &'a self,
        _video: &'a Media,
        _cover: &'a CoverRequest,
    ) -> BoxFuture<'a, Result<String, VodError>> {
        let name = self.name();
        Box::pin(async move {
            Err(VodError::new(
                "cover",
                VodErrorKind::Request(format!(
                    "the {name} flow has no call that adds a cover to a committed video"
                )),
            ))
        })
    }

    /// Asks the service, with the mount's credentials, for something
    /// harmless: `Err` with [`VodError::is_credential_refusal`] when it
    /// refuses them (the mount fails at once), a transport error when it
    /// does not answer (the mount goes on offline), `Ok` otherwise, whatever
    /// else it says. The default asks nothing (flows whose every call needs
    /// a file: their credentials are checked by the first upload).
    fn check_account(&self) -> BoxFuture<'_, Result<(), VodError>> {
        Box::pin(async { Ok(()) })
    }

    /// Gives up an unfinished upload: `Cancelled` when its file was unlinked
    /// or replaced (free what the service holds, where the protocol allows
    /// it), `Failed` when it failed for good (tell the service, where the
    /// protocol has a way, but keep what a later retry can resume). The
    /// default does nothing (v4 and UGC have no such call).
    fn abort<'a>(
        &'a self,
        _session: &'a Session,
        _reason: AbortReason,
    ) -> BoxFuture<'a, Result<(), VodError>> {
        Box::pin(async { Ok(()) })
    }
}
