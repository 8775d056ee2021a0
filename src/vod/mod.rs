//! The VOD service as seen by a client: one module per upload flow behind
//! one trait, the protocol rules both sides obey, and the signing code both
//! the clients and `vodfs serve` use.
//!
//! What vod owns: everything said on the wire to the VOD service. Layering:
//! vod is the bottom layer and imports nothing else of the crate; `upload`,
//! `settings` and the wiring import it. `server` may use only [`sign`]
//! and [`rules`], so the two sides share the rules and nothing else. No file
//! here imports this `mod.rs`: the types live in named files, re-exported.
//!
//! Design (modelled on mountpoint-s3's `ObjectClient`):
//! - [`UploadFlow`] (in [`flow`]) is the whole contract between the upload
//!   pipeline and a protocol: start (or resume) an upload, send one part,
//!   finish. Every flow is one implementation in its own file, and tests
//!   put fakes or failure-injecting wrappers behind it.
//! - Methods return boxed futures so the trait is object safe: the flow is
//!   chosen at run time (`--protocol`) and held as `Arc<dyn UploadFlow>`.
//! - A flow is stateless between calls except for what it hands back in
//!   [`Session`]; anything a flow needs to carry from start to finish (a
//!   per-file signature, a session key) goes in `Session::token`, which is
//!   also what the pipeline persists for resuming after a restart.
//! - The flow validates every response strictly (see [`VodError`]); the
//!   pipeline above it owns retries, pacing, parallelism and integrity.
//! - Flows: [`api3`] (API 3.0, today's interface: ApplyUpload → COS with
//!   a temporary credential → CommitUpload), [`client_upload`] (family D,
//!   `--protocol ugc`: ApplyUploadUGC → COS → CommitUploadUGC for a
//!   machine without the key), [`v4`] (family A, and family B,
//!   `--protocol ugc-ex`, via `V4Client::ugc`; both client-upload flows
//!   take their signatures from the providers of [`ugc`]), [`apply`] (family C, COS multipart),
//!   [`frontwize`] (family F, one streamed PUT: [`Transfer::Object`]);
//!   [`failure`] wraps any flow to inject failures in tests. Shared pieces:
//!   [`credentials`], [`http`] (endpoint, v2 query signing), [`cos`] (the
//!   COS object client of apply and api3, and where it connects), [`reply`]
//!   (strict JSON reading), [`rules`] (names, part sizes, COS XML, codes),
//!   [`playback`] (Range reads).

pub mod api3;
pub mod apply;
pub mod client_upload;
pub mod cos;
pub mod credentials;
pub mod error;
pub mod failure;
pub mod flow;
pub mod frontwize;
pub mod http;
pub mod playback;
pub mod reply;
pub mod rules;
pub mod sign;
pub mod stall;
pub mod tls;
pub mod ugc;
pub mod v4;

pub use credentials::Credentials;
pub use error::{VodError, VodErrorKind};
pub use flow::{
    AbortReason, CoverRequest, HeldPart, Media, ObjectBody, Part, Session, StartRequest, Started,
    Step, Transfer, UploadFlow, UploadSettings,
};
pub use rules::names;
pub use rules::parts::{MAX_COVER, PART_SIZES, part_count, part_range};
