//! Per-action request and error counters and received part bytes, for
//! `/admin/stats`. Counted by the request guard (`guard.rs`) for every
//! family, and by the part receivers for part bytes. Imports nothing of the
//! server.
//!
//! Bounded whatever clients send: at most [`MAX_NAMES`] names of at most
//! [`MAX_NAME_LEN`] bytes are kept; any other is counted under
//! [`OTHER`]. Callers pass the names they know (v2 counts an unknown
//! Action as `(unknown)`), so the bound only matters if one forgets.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most distinct names counted; more are counted under [`OTHER`].
pub const MAX_NAMES: usize = 128;
/// Longest name counted as itself.
pub const MAX_NAME_LEN: usize = 64;
/// The name of everything past the bounds.
pub const OTHER: &str = "(other)";

/// Per-action request counters, for `/admin/stats`.
#[derive(Default)]
pub struct Stats {
    actions: Mutex<BTreeMap<String, (u64, u64)>>,
    parts: AtomicU64,
    part_bytes: AtomicU64,
}

impl Stats {
    pub fn request(&self, action: &str) {
        self.count(action, |c| c.0 += 1);
    }

    pub fn error(&self, action: &str) {
        self.count(action, |c| c.1 += 1);
    }

    fn count(&self, action: &str, f: impl FnOnce(&mut (u64, u64))) {
        let mut a = self.actions.lock().unwrap_or_else(|e| e.into_inner());
        let fits = action.len() <= MAX_NAME_LEN && (a.len() < MAX_NAMES || a.contains_key(action));
        let name = if fits { action } else { OTHER };
        match a.get_mut(name) {
            Some(c) => f(c),
            None => f(a.entry(name.to_string()).or_default()),
        }
    }

    pub fn part_received(&self, bytes: u64) {
        self.parts.fetch_add(1, Ordering::Relaxed);
        self.part_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn to_json(&self) -> serde_json::Value {
        let a = self.actions.lock().unwrap_or_else(|e| e.into_inner());
        let actions: serde_json::Map<String, serde_json::Value> = a
            .iter()
            .map(|(k, (r, e))| (k.clone(), serde_json::json!({"requests": r, "errors": e})))
            .collect();
        serde_json::json!({
            "actions": actions,
            "partsReceived": self.parts.load(Ordering::Relaxed),
            "partBytesReceived": self.part_bytes.load(Ordering::Relaxed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_past_the_bounds_are_counted_as_other() {
        let s = Stats::default();
        s.request(&"x".repeat(MAX_NAME_LEN + 1));
        for i in 0..MAX_NAMES * 2 {
            s.request(&format!("A{i}"));
        }
        s.error("A0");
        let v = s.to_json();
        let actions = v["actions"].as_object().expect("actions");
        assert!(actions.len() <= MAX_NAMES + 1, "{}", actions.len());
        let total: u64 = actions
            .values()
            .map(|c| c["requests"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(total, (MAX_NAMES * 2 + 1) as u64);
        assert!(actions[OTHER]["requests"].as_u64() > Some(MAX_NAMES as u64));
        assert_eq!(actions["A0"]["errors"], 1);
    }
}
