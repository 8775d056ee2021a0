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

/// A v2 call's parameters (the common ones, then `params`) signed with the
/// test account for `host` and `path`, `Signature` last.
pub fn signed_v2(
    host: &str,
    method: &str,
    path: &str,
    action: &str,
    params: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = vec![
        ("Action".into(), action.into()),
        ("Region".into(), "gz".into()),
        ("Timestamp".into(), super::now().to_string()),
        ("Nonce".into(), rand::random::<u32>().to_string()),
        ("SecretId".into(), SECRET_ID.into()),
    ];
    p.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let sig = vodfs::vod::sign::sign_v2(SECRET_KEY, method, host, path, &p);
    p.push(("Signature".into(), sig));
    p
}
