//! How an error becomes one line of text: [`chain`].
//!
//! The crate's error types state their cause in their message
//! (`commit failed: InitUpload: service code …`) and also return it from
//! `source()`, so callers that print only `{e}` see the whole story. Walking
//! `source()` and appending every message, as `anyhow`'s `{:#}` does, then
//! prints each cause twice (`commit failed: X: X`). [`chain`] walks the
//! sources and appends a cause only when the line does not already state
//! it, so each cause appears once, whichever of the two habits an error
//! type follows (a library error that leaves its cause out of its message
//! still gets it appended).
//!
//! A leaf: imports nothing of the crate; every module may use it.

use std::error::Error;

/// `e` and its causes on one line, each cause once, joined by `": "`.
pub fn chain(e: &dyn Error) -> String {
    let mut line = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let msg = s.to_string();
        if !msg.is_empty() && !line.contains(&msg) {
            line.push_str(": ");
            line.push_str(&msg);
        }
        src = s.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("service code -10002 (AuthFailure): signature does not match")]
    struct Service;

    /// States its cause in its message and returns it as the source.
    #[derive(Debug, thiserror::Error)]
    #[error("InitUpload: {0}")]
    struct Action(#[source] Service);

    #[derive(Debug, thiserror::Error)]
    #[error("commit failed: {0}")]
    struct Commit(#[from] Action);

    /// Leaves its cause out of its message (the other habit).
    #[derive(Debug, thiserror::Error)]
    #[error("opening the cache")]
    struct Opening(#[source] std::io::Error);

    #[test]
    fn each_cause_appears_once() {
        let e = Commit(Action(Service));
        assert_eq!(
            chain(&e),
            "commit failed: InitUpload: service code -10002 (AuthFailure): signature does not match"
        );
        assert_eq!(chain(&e).matches("signature does not match").count(), 1);
    }

    #[test]
    fn a_cause_missing_from_the_message_is_appended() {
        let e = Opening(std::io::Error::other("permission denied"));
        assert_eq!(chain(&e), "opening the cache: permission denied");
    }

    #[test]
    fn anyhow_contexts_are_joined_once() {
        let e = anyhow::Error::new(Commit(Action(Service))).context("flush of clip.mp4");
        let line = chain(e.as_ref());
        assert!(
            line.starts_with("flush of clip.mp4: commit failed: InitUpload:"),
            "{line}"
        );
        assert_eq!(line.matches("InitUpload").count(), 1, "{line}");
        // What `{:#}` prints, for contrast: the cause twice.
        assert_eq!(format!("{e:#}").matches("InitUpload").count(), 2);
    }
}
