//! The account of a data directory: given on the command line, else stored
//! in `DATA/account.json` (mode 0600), else generated and stored there.
//! Used by `vodfs serve` (`crate::serve`) and by the mount's embedded
//! service (`crate::embedded`). Imports only `config.rs` of the server.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::config::Account;

/// The generated account persisted in the data dir (mode 0600).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredAccount {
    secret_id: String,
    secret_key: String,
    app_id: u64,
}

const DEFAULT_APP_ID: u64 = 1_400_000_000;

fn random_text(len: usize) -> String {
    use rand::Rng as _;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// The account of a data directory: the given SecretId/SecretKey, else the
/// one stored in `DATA/account.json` (mode 0600), else a new one generated
/// and stored there. The flag says whether it was just generated. Used by
/// `vodfs serve` and by the mount's embedded service.
pub fn account_for(
    data: &Path,
    given: Option<(String, String)>,
    app_id: Option<u64>,
) -> anyhow::Result<(Account, bool)> {
    if let Some((secret_id, secret_key)) = given {
        return Ok((
            Account {
                secret_id,
                secret_key,
                app_id: app_id.unwrap_or(DEFAULT_APP_ID),
            },
            false,
        ));
    }
    let path = data.join("account.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let s: StoredAccount =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        return Ok((
            Account {
                secret_id: s.secret_id,
                secret_key: s.secret_key,
                app_id: app_id.unwrap_or(s.app_id),
            },
            false,
        ));
    }
    let acct = Account {
        secret_id: format!("AKID{}", random_text(32)),
        secret_key: random_text(32),
        app_id: app_id.unwrap_or(DEFAULT_APP_ID),
    };
    write_account(&path, &acct)?;
    Ok((acct, true))
}

fn write_account(path: &Path, a: &Account) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string(&StoredAccount {
        secret_id: a.secret_id.clone(),
        secret_key: a.secret_key.clone(),
        app_id: a.app_id,
    })?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}
