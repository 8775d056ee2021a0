//! The one test account every fixture and test uses: the child-process
//! [`Service`](super::Service) and every mount get it through
//! `VODFS_SECRET_ID`/`_KEY`, the in-process [`TestServer`](super::TestServer)
//! through [`account`](super::account), clients sign with [`credentials`],
//! and scripted services verify against [`SECRET_KEY`].
//!
//! The key holds `+`, `/` and `=` on purpose: they must be escaped wherever
//! a key or a signature made with it travels in a URL or a form.

/// SecretId of the test account.
pub const SECRET_ID: &str = "AKIDvodfsTestSecretId0000000000000000";
/// SecretKey of the test account.
pub const SECRET_KEY: &str = "vodfs+Test/Secret=Key/00000000000";
/// AppId of the test account.
pub const APP_ID: u64 = 1_250_000_000;

/// Credentials of the test account for a client, with another key when a
/// test wants a wrong one.
pub fn credentials_with_key(key: &str) -> vodfs::vod::Credentials {
    vodfs::vod::Credentials::new(SECRET_ID, key)
}

/// Credentials of the test account for a client.
pub fn credentials() -> vodfs::vod::Credentials {
    credentials_with_key(SECRET_KEY)
}
