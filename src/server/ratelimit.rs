//! Per-(SecretId, Action) request quotas over fixed windows (one minute;
//! one second for API 3.0's `api3.<Action>` quotas), and
//! the replay guard (nonce memory) of v2 signatures.
//!
//! Both are in-memory: a restart forgets them, which only makes the service
//! more lenient for at most one window.

use std::collections::HashMap;
use std::sync::Mutex;

use super::config::RateLimits;

/// One counter: `(window number, requests in it, window length in s)`.
type Slot = (u64, u32, u64);

/// Counters of the current windows.
pub struct RateLimiter {
    limits: Mutex<RateLimits>,
    windows: Mutex<HashMap<(String, String), Slot>>,
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
        let (enabled, quota, len) = {
            let l = self.limits.lock().unwrap_or_else(|e| e.into_inner());
            (l.enabled, l.quota(action), l.window_secs(action))
        };
        if !enabled {
            return true;
        }
        // Windows are numbered from the epoch; a slot remembers its number
        // and length, so slots of both lengths age out together.
        let window = now / len;
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if w.len() > 10_000 {
            w.retain(|_, (m, _, l)| *m == now / *l);
        }
        let slot = w
            .entry((secret_id.to_string(), action.to_string()))
            .or_insert((window, 0, len));
        if slot.0 != window || slot.2 != len {
            *slot = (window, 0, len);
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
    fn api3_quotas_are_per_second() {
        let mut l = RateLimits::default();
        l.per_action.insert("api3.ApplyUpload".into(), 2);
        let r = RateLimiter::new(l);
        assert!(r.admit("a", "api3.ApplyUpload", 100));
        assert!(r.admit("a", "api3.ApplyUpload", 100));
        assert!(!r.admit("a", "api3.ApplyUpload", 100));
        assert!(r.admit("a", "api3.ApplyUpload", 101), "next second");
        let d = RateLimits::default();
        assert_eq!(
            (
                d.quota("api3.CommitUpload"),
                d.window_secs("api3.CommitUpload")
            ),
            (100, 1)
        );
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
