//! Per-(SecretId, Action) request quotas over fixed one-minute windows, and
//! the replay guard (nonce memory) of v2 signatures.
//!
//! Both are in-memory: a restart forgets them, which only makes the service
//! more lenient for at most one window.

use std::collections::HashMap;
use std::sync::Mutex;

use super::config::RateLimits;

/// Counters of the current minute.
pub struct RateLimiter {
    limits: Mutex<RateLimits>,
    windows: Mutex<HashMap<(String, String), (u64, u32)>>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        RateLimiter {
            limits: Mutex::new(limits),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request at `now` (Unix seconds); false when over quota.
    pub fn admit(&self, secret_id: &str, action: &str, now: u64) -> bool {
        let (enabled, quota) = {
            let l = self.limits.lock().unwrap_or_else(|e| e.into_inner());
            (l.enabled, l.quota(action))
        };
        if !enabled {
            return true;
        }
        let minute = now / 60;
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if w.len() > 10_000 {
            w.retain(|_, (m, _)| *m == minute);
        }
        let slot = w
            .entry((secret_id.to_string(), action.to_string()))
            .or_insert((minute, 0));
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        if slot.1 >= quota {
            return false;
        }
        slot.1 += 1;
        true
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

/// Remembers (SecretId, Nonce) pairs for the replay window.
pub struct NonceCache {
    seen: Mutex<HashMap<(String, String), u64>>,
}

impl NonceCache {
    pub fn new() -> Self {
        NonceCache {
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Records the nonce; false if it was already seen within `window`.
    pub fn check_and_insert(&self, secret_id: &str, nonce: &str, now: u64, window: u64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 100_000 {
            seen.retain(|_, t| now.saturating_sub(*t) <= window);
        }
        let key = (secret_id.to_string(), nonce.to_string());
        match seen.get(&key) {
            Some(t) if now.saturating_sub(*t) <= window => false,
            _ => {
                seen.insert(key, now);
                true
            }
        }
    }
}

impl Default for NonceCache {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_per_action_and_minute() {
        let mut l = RateLimits::default();
        l.per_action.insert("InitUpload".into(), 2);
        let r = RateLimiter::new(l);
        assert!(r.admit("a", "InitUpload", 60));
        assert!(r.admit("a", "InitUpload", 61));
        assert!(!r.admit("a", "InitUpload", 62));
        assert!(
            r.admit("b", "InitUpload", 62),
            "other account has its own quota"
        );
        assert!(r.admit("a", "FinishUpload", 62));
        assert!(r.admit("a", "InitUpload", 120), "next minute");
    }

    #[test]
    fn disabled_admits_all() {
        let l = RateLimits {
            enabled: false,
            control_per_min: 0,
            ..RateLimits::default()
        };
        let r = RateLimiter::new(l);
        assert!((0..1000).all(|_| r.admit("a", "InitUpload", 0)));
    }

    #[test]
    fn nonce_replay() {
        let c = NonceCache::new();
        assert!(c.check_and_insert("a", "1", 100, 300));
        assert!(!c.check_and_insert("a", "1", 200, 300));
        assert!(c.check_and_insert("b", "1", 200, 300));
        assert!(c.check_and_insert("a", "1", 500, 300), "outside the window");
    }
}
