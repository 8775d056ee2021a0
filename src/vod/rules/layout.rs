//! Part layouts: where part `n` of an upload starts and how long it is.
//!
//! - [`Layout::Uniform`]: every part the same size (the last one shorter),
//!   the layout of every upload whose size is known at its start.
//! - [`Layout::Grown`]: parts whose size grows with their number, so that
//!   part `n`'s offset and size depend on `n` alone, whatever the final
//!   size of the file: the layout of parts sent while a file is still
//!   written (`upload::early`). The first [`Growth::first`] parts are one
//!   base part (the cache's 1 MiB) each, then the size doubles every
//!   [`Growth::every`] parts up to `base << max_shift`. With
//!   [`Growth::DEFAULT`], files up to 5 GiB have exactly the uniform 1 MiB
//!   parts, and files up to [`Layout::max_size`] (293.875 GiB) fit COS's
//!   10,000 parts, each between 1 MiB and 64 MiB (COS takes 1 MiB to
//!   5 GiB, the last part smaller; the mount's memory budget suits 64 MiB
//!   parts better than larger ones).
//!
//! Pure functions, shared by the client flows and the service's rules.

use serde::{Deserialize, Serialize};

/// How part sizes grow in a [`Layout::Grown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Growth {
    /// Parts of one base part each before the first doubling.
    pub first: u64,
    /// Parts of each grown size before the next doubling.
    pub every: u64,
    /// The largest part is `base << max_shift`.
    pub max_shift: u32,
}

impl Growth {
    /// 5,120 parts of 1 MiB (5 GiB), then 64 parts each of 2, 4, 8, 16,
    /// 32 MiB (to 8.875 GiB), then 64 MiB parts: 293.875 GiB in 10,000
    /// parts.
    pub const DEFAULT: Growth = Growth {
        first: 5120,
        every: 64,
        max_shift: 6,
    };

    /// A growth that every layout function can use: `first` and `every` ≥ 1
    /// (part 0 is always one base part), a shift
    /// of at most 12 (parts of at most 4 GiB of 1 MiB bases).
    pub fn new(first: u64, every: u64, max_shift: u32) -> Option<Growth> {
        (first >= 1 && every >= 1 && (1..=12).contains(&max_shift)).then_some(Growth {
            first,
            every,
            max_shift,
        })
    }
}

/// Where the parts of an upload lie (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Uniform { part: u64 },
    Grown { base: u64, growth: Growth },
}

impl Layout {
    /// The base part: the uniform size, or the grown layout's smallest.
    pub fn base(&self) -> u64 {
        match *self {
            Layout::Uniform { part } => part.max(1),
            Layout::Grown { base, .. } => base.max(1),
        }
    }

    /// Offset and nominal size of part `n` (whatever the file's size).
    pub fn part(&self, n: u64) -> (u64, u64) {
        let b = self.base();
        let Layout::Grown { growth: g, .. } = *self else {
            return (n.saturating_mul(b), b);
        };
        if n < g.first || g.max_shift == 0 {
            return (n.saturating_mul(b), b);
        }
        let j = n - g.first;
        let shift = (j / g.every.max(1) + 1).min(u64::from(g.max_shift)) as u32;
        let idx = j - (u64::from(shift) - 1) * g.every;
        let size = b << shift;
        (
            step_start(b, g, shift).saturating_add(idx.saturating_mul(size)),
            size,
        )
    }

    /// Offset and size of part `n` of a file of `len` bytes (the last part
    /// shorter; 0 bytes past the end).
    pub fn range(&self, len: u64, n: u64) -> (u64, u64) {
        let (offset, size) = self.part(n);
        (offset, size.min(len.saturating_sub(offset)))
    }

    /// The part holding byte `offset`.
    pub fn part_at(&self, offset: u64) -> u64 {
        let b = self.base();
        let Layout::Grown { growth: g, .. } = *self else {
            return offset / b;
        };
        let flat = g.first.saturating_mul(b);
        if offset < flat || g.max_shift == 0 {
            return offset / b;
        }
        let mut rest = offset - flat;
        let mut n = g.first;
        for shift in 1..g.max_shift {
            let span = g.every.saturating_mul(b << shift);
            if rest < span {
                return n + rest / (b << shift);
            }
            rest -= span;
            n += g.every;
        }
        n + rest / (b << g.max_shift)
    }

    /// Number of parts of a file of `len` bytes (none for an empty file).
    pub fn count(&self, len: u64) -> u64 {
        match len {
            0 => 0,
            _ => self.part_at(len - 1) + 1,
        }
    }

    /// The largest file that fits in `max_parts` parts.
    pub fn max_size(&self, max_parts: u64) -> u64 {
        match max_parts {
            0 => 0,
            _ => {
                let (offset, size) = self.part(max_parts - 1);
                offset.saturating_add(size)
            }
        }
    }

    /// The base parts part `n` is made of (for a file of `len` bytes).
    pub fn base_parts(&self, len: u64, n: u64) -> std::ops::Range<u64> {
        let (offset, size) = self.range(len, n);
        let b = self.base();
        offset / b..(offset + size).div_ceil(b)
    }
}

/// Offset of the first part of `base << shift` bytes (`shift` ≥ 1).
fn step_start(b: u64, g: Growth, shift: u32) -> u64 {
    // first × b, then `every` parts of each of 2b, 4b, … (2^(shift-1))b.
    let grown = g
        .every
        .saturating_mul(b)
        .saturating_mul((1u64 << shift) - 2);
    g.first.saturating_mul(b).saturating_add(grown)
}

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
