//! The service's clock: Unix seconds, the unit of every timestamp the
//! protocol carries (Timestamp, key times, expiries) and the store keeps.
//! Imports nothing of the server.

/// Unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
