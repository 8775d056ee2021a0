//! Request signing shared by the protocol clients and by `vodfs serve`.
//!
//! Everything here is a pure function of its inputs so that the client and
//! the server compute signatures with the same code, and so that every test
//! vector of `protocol.md` §12 is a unit test.
//!
//! - v2 API signature (§1.2): HMAC-SHA1 or HMAC-SHA256 over
//!   `METHOD + host + path + "?" + sorted raw name=value pairs`.
//! - UGC v4 signature (§3.1): `base64(HMAC-SHA1(key, original) || original)`;
//!   the verifier checks the HMAC over the exact embedded bytes.
//! - `verify_content` of FinishUploadEx (§3.2).
//! - The family D client-upload signature (§4): [`ClientSignature`]
//!   (made and taken apart; same envelope as the UGC v4 one).
//! - COS XML request signature (§5.3, doc 436/7778): [`cos_http_string`],
//!   [`cos_signature`], [`cos_authorization`] for signing and
//!   [`CosAuth::parse`] for taking a received `Authorization` apart.
//! - The frontwize REST scheme, our own design since the vendor's is not
//!   documented (see `doc/frontwize-auth.md`): [`frontwize_signature`],
//!   [`frontwize_authorization`], [`frontwize_presign`].
//! - API 3.0's TC3-HMAC-SHA256 (protocol-api3.md §1.2, [`tc3`]) and its
//!   signature v1 (§1.4, [`v1`]: the v2 algorithm with host and path `/`).
//!
//! One file per scheme, each built on [`primitives`]; everything is
//! re-exported here, so callers write `vod::sign::sign_v2`. Shared by the
//! protocol clients and `vodfs serve`; imports nothing of the crate.

mod client_sig;
mod cos;
mod frontwize;
pub mod primitives;
pub mod tc3;
mod ugc;
pub mod v1;
mod v2;

pub use client_sig::*;
pub use cos::*;
pub use frontwize::*;
pub use primitives::*;
pub use ugc::*;
pub use v2::*;
