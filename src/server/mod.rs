//! `vodfs serve`: a persistent single-node implementation of the VOD upload
//! service.
