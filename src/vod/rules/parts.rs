//! Part geometry both sides obey: the part sizes the v4 family accepts
//! (`dataSize` of InitUpload, protocol.md §2.1), COS's smallest multipart
//! part (§5.3), the cover limit of SmallFileUpload (§2.4), and how a file is
//! cut into parts.

/// The part sizes (`dataSize`) the v4-family protocols accept, in bytes.
pub const PART_SIZES: [u32; 2] = [524_288, 1_048_576];

/// [`PART_SIZES`] as a message says them.
pub const PART_SIZES_TEXT: &str = "524288 or 1048576";

/// The part size a mount uses unless told otherwise (the larger: fewer
/// requests).
pub const DEFAULT_PART_SIZE: u32 = PART_SIZES[1];

/// Whether the service takes `size` as a part size.
pub fn is_part_size(size: u64) -> bool {
    PART_SIZES.iter().any(|&p| u64::from(p) == size)
}

/// The smallest COS multipart part but the last (1 MiB).
pub const COS_MIN_PART: u32 = 1 << 20;

/// The largest COS object body, simple PutObject or one part (5 GiB,
/// protocol.md §5.3).
pub const COS_MAX_PART: u64 = 5 << 30;

/// Largest cover SmallFileUpload takes (protocol.md §2.4: ≤ 1 MB).
pub const MAX_COVER: u64 = 1 << 20;

/// Largest file any flow takes (`fileSize` of InitUpload, InitUploadEx,
/// the object COS assembles): COS's bound, 10 000 parts of at most 5 GiB
/// (protocol.md §5.3), applied to every family [INF: the v4 pages state
/// none]. A declared size is checked against it before anything is stored.
pub const MAX_FILE_SIZE: u64 = 10_000 * COS_MAX_PART;

/// Number of parts of a file of `size` bytes cut in `part_size` pieces:
/// `ceil(size / part_size)`, so an empty file has none (the service model of
/// protocol.md §11 finishes it with no UploadPart at all).
pub fn part_count(size: u64, part_size: u32) -> u64 {
    size.div_ceil(u64::from(part_size.max(1)))
}

/// Offset and length of part `index`.
pub fn part_range(size: u64, part_size: u32, index: u64) -> (u64, u64) {
    let ps = u64::from(part_size.max(1));
    let offset = index.saturating_mul(ps);
    (offset, size.saturating_sub(offset).min(ps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_part_sizes_text_names_every_size() {
        let listed: Vec<String> = PART_SIZES.iter().map(u32::to_string).collect();
        assert_eq!(PART_SIZES_TEXT, listed.join(" or "));
    }

    #[test]
    fn part_geometry_matches_the_documented_example() {
        // protocol.md §2.2: 6 000 000 bytes, 1 MiB parts → 6 parts, last 757 120.
        assert_eq!(part_count(6_000_000, 1_048_576), 6);
        assert_eq!(part_range(6_000_000, 1_048_576, 5), (5_242_880, 757_120));
        assert_eq!(part_range(6_000_000, 1_048_576, 0), (0, 1_048_576));
        assert_eq!(part_count(0, 524_288), 0);
        assert_eq!(part_count(524_288, 524_288), 1);
        assert_eq!(part_count(524_289, 524_288), 2);
        assert_eq!(part_range(524_289, 524_288, 1), (524_288, 1));
    }
}
