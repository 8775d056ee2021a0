use super::*;
use crate::vod::rules::api3::MAX_PARTS;
use crate::vod::rules::parts::{COS_MIN_PART, part_count, part_range};
use proptest::prelude::*;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn grown(growth: Growth) -> Layout {
    Layout::Grown { base: MIB, growth }
}

#[test]
fn the_default_layout_is_uniform_1_mib_up_to_5_gib_and_holds_293_gib() {
    let l = grown(Growth::DEFAULT);
    let uniform = Layout::Uniform { part: MIB };
    for n in [0, 1, 4000, 5119] {
        assert_eq!(l.part(n), uniform.part(n), "part {n}");
    }
    assert_eq!(l.count(5 * GIB), 5120);
    assert_eq!(l.part(5120), (5 * GIB, 2 * MIB));
    assert_eq!(l.part(5120 + 64), (5 * GIB + 128 * MIB, 4 * MIB));
    // 64 MiB parts from 8.875 GiB on, none larger (the mount's memory).
    assert_eq!(l.part(5120 + 5 * 64), (5 * GIB + 3968 * MIB, 64 * MIB));
    assert_eq!(l.part(MAX_PARTS - 1).1, 64 * MIB);
    assert_eq!(l.max_size(MAX_PARTS), 300_928 * MIB);
    assert_eq!(l.count(l.max_size(MAX_PARTS)), MAX_PARTS);
    assert_eq!(l.count(l.max_size(MAX_PARTS) + 1), MAX_PARTS + 1);
    // A 10 GiB file: 5,120 parts of 1 MiB then grown ones, far below the limit.
    assert!(l.count(10 * GIB) < 5500, "{}", l.count(10 * GIB));
}

#[test]
fn a_lowered_growth_crosses_its_steps_in_a_few_mib() {
    // What the tests use (VODFS_TEST_EARLY_LAYOUT=8,4): a 40 MiB file.
    let l = grown(Growth::new(8, 4, 7).unwrap());
    let sizes: Vec<u64> = (0..l.count(40 * MIB))
        .map(|n| l.range(40 * MIB, n).1 / MIB)
        .collect();
    assert_eq!(
        sizes,
        [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 8],
        "{sizes:?}"
    );
    assert_eq!(l.base_parts(40 * MIB, 12), 16..20);
    assert_eq!(l.part_at(33 * MIB), 16);
}

#[test]
fn uniform_matches_the_part_geometry() {
    for (len, ps) in [
        (6_000_000u64, 1_048_576u32),
        (0, 524_288),
        (524_289, 524_288),
    ] {
        let l = Layout::Uniform {
            part: u64::from(ps),
        };
        assert_eq!(l.count(len), part_count(len, ps));
        for n in 0..l.count(len) {
            assert_eq!(l.range(len, n), part_range(len, ps, n));
        }
    }
}

#[test]
fn invalid_growths_are_refused() {
    assert!(Growth::new(0, 4, 7).is_none());
    assert!(Growth::new(8, 0, 7).is_none());
    assert!(Growth::new(8, 4, 0).is_none());
    assert!(Growth::new(8, 4, 13).is_none());
}

fn any_growth() -> impl Strategy<Value = Growth> {
    (1u64..6000, 1u64..300, 1u32..=8).prop_map(|(f, e, s)| Growth::new(f, e, s).unwrap())
}

proptest! {
    #[test]
    fn parts_are_contiguous_and_each_offset_maps_back(g in any_growth(), n in 0u64..20_000) {
        let l = grown(g);
        let (offset, size) = l.part(n);
        let (next, _) = l.part(n + 1);
        prop_assert_eq!(offset + size, next, "gap after part {}", n);
        prop_assert_eq!(l.part_at(offset), n);
        prop_assert_eq!(l.part_at(offset + size - 1), n);
        prop_assert!(size >= u64::from(COS_MIN_PART) && size <= 5 * GIB);
        prop_assert_eq!(size % MIB, 0);
    }

    #[test]
    fn a_file_is_cut_whole_into_its_count_of_parts(g in any_growth(), len in 0u64..(64 * GIB)) {
        let l = grown(g);
        let count = l.count(len);
        if len == 0 {
            prop_assert_eq!(count, 0);
        } else {
            let (last_off, last) = l.range(len, count - 1);
            prop_assert_eq!(last_off + last, len);
            prop_assert!(last >= 1);
            prop_assert_eq!(l.range(len, count).1, 0);
            let b = l.base_parts(len, count - 1);
            prop_assert_eq!(b.end, len.div_ceil(MIB));
        }
    }

    #[test]
    fn the_default_fits_every_size_up_to_its_maximum(len in 0u64..=(300_928 * MIB)) {
        let l = grown(Growth::DEFAULT);
        prop_assert!(l.count(len) <= MAX_PARTS);
        if len <= 5 * GIB {
            prop_assert_eq!(l.count(len), part_count(len, 1 << 20));
        }
    }
}
