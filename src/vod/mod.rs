//! The VOD service as seen by a client: one module per upload flow behind one
//! trait, and the signing code both the clients and `vodfs serve` use.

pub mod sign;
