//! Per-action request and error counters and received part bytes, for
//! `/admin/stats`. Counted by the request guard (`guard.rs`) for every
//! family, and by the part receivers for part bytes. Imports nothing of the
//! server.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Per-action request counters, for `/admin/stats`.
#[derive(Default)]
pub struct Stats {
    actions: Mutex<BTreeMap<String, (u64, u64)>>,
    parts: AtomicU64,
    part_bytes: AtomicU64,
}

impl Stats {
    pub fn request(&self, action: &str) {
        let mut a = self.actions.lock().unwrap_or_else(|e| e.into_inner());
        a.entry(action.to_string()).or_default().0 += 1;
    }

    pub fn error(&self, action: &str) {
        let mut a = self.actions.lock().unwrap_or_else(|e| e.into_inner());
        a.entry(action.to_string()).or_default().1 += 1;
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
