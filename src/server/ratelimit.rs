//! Per-(SecretId, Action) request quotas over fixed windows (one minute;
//! one second for API 3.0's `api3.<Action>` quotas): the quotas
//! (changeable at run time) live here; the counts of each window are kept
//! in the database (`store_replay.rs`, counted by the request guard through
//! `App::admit`), so a restart forgets none.
//! Nonces are spent in the database too (`App::spend_nonce`).

use std::sync::Mutex;

use super::config::RateLimits;

/// The quotas in force.
pub struct RateLimiter {
    limits: Mutex<RateLimits>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        RateLimiter {
            limits: Mutex::new(limits),
        }
    }

    /// The quota of `action` and the length of its window in seconds, or
    /// none when limits are off.
    pub fn quota_of(&self, action: &str) -> Option<(u32, u64)> {
        let l = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        l.enabled.then(|| (l.quota(action), l.window_secs(action)))
    }

    pub fn limits(&self) -> RateLimits {
        self.limits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_limits(&self, limits: RateLimits) {
        *self.limits.lock().unwrap_or_else(|e| e.into_inner()) = limits;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_by_action_or_none_when_off() {
        let mut l = RateLimits::default();
        l.per_action.insert("InitUpload".into(), 2);
        let r = RateLimiter::new(l.clone());
        assert_eq!(r.quota_of("InitUpload"), Some((2, 60)));
        assert_eq!(r.quota_of("UploadPart"), Some((10_000, 60)));
        assert_eq!(r.quota_of("FinishUpload"), Some((100, 60)));
        assert_eq!(r.quota_of("api3.ApplyUpload"), Some((100, 1)));
        l.enabled = false;
        r.set_limits(l);
        assert_eq!(r.quota_of("InitUpload"), None);
    }
}
