//! `vodfs serve` over real HTTP on loopback.
