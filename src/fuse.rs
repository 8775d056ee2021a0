//! The thin adapter between `fuser` and [`crate::fs`]: translate, call, reply.
