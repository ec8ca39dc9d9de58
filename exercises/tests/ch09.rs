//! Graders for chapter 9.

use exercises::ch09::*;
use exercises::grader::{assert_close, grade};

#[test]
fn ex_9_1_grid_size() {
    grade("9.1", || {
        assert_eq!(grid_size(1024, 256), 4);
        assert_eq!(grid_size(1025, 256), 5);
        assert_eq!(grid_size(1, 256), 1);
        assert_eq!(grid_size(0, 256), 0);
    });
}

#[test]
fn ex_9_2_launch() {
    grade("9.2", || {
        for (n, block) in [(1000usize, 256usize), (256, 256), (7, 4), (1, 32)] {
            // every (block, thread) of the grid exactly once — including the threads past n
            let grid = n.div_ceil(block);
            let mut seen = vec![0u32; grid * block];
            launch(n, block, |b, t| {
                assert!(
                    b < grid && t < block,
                    "n {n}, block {block}: thread ({b}, {t}) is outside the grid of {grid} × {block}"
                );
                seen[b * block + t] += 1;
            });
            assert!(
                seen.iter().all(|&h| h == 1),
                "n {n}, block {block}: every thread of the {grid} × {block} grid runs exactly once"
            );
        }
        // out = a + b through the bounds-checked kernel body
        let (a, b) = ([1.0f32, 2.0, 3.0], [10.0f32, 20.0, 30.0]);
        let mut out = [0.0f32; 3];
        for_each_index(3, 2, |i| out[i] = a[i] + b[i]);
        assert_close("a + b", &out, &[11.0, 22.0, 33.0], 0.0);
    });
}

#[test]
fn ex_9_3_tree_reduction() {
    grade("9.3", || {
        let v: Vec<f32> = (1..=1000).map(|i| i as f32).collect();
        // Gauss: 1 + … + 1000 = 500500 (exact in f32)
        assert_close("sum 1..=1000", &[block_reduce_sum(&v)], &[500_500.0], 0.0);
        assert_close("one value", &[block_reduce_sum(&[4.5])], &[4.5], 0.0);
        // odd, prime and just-past-a-power-of-two lengths, with fractional values in [0.5, 1.5):
        // any order of f32 additions is within γₙ·Σ|v| (n·2⁻²⁴ of the total) of the f64 sum, while
        // a dropped or doubled element moves it by at least 0.5
        let mut rng = gradschool::manual_seed(93);
        for n in [2usize, 3, 7, 13, 127, 1001, 1023, 1025] {
            let v: Vec<f32> = (0..n).map(|_| rand::Rng::random_range(&mut rng, 0.5f32..1.5)).collect();
            let want: f64 = v.iter().map(|&x| x as f64).sum();
            let got = block_reduce_sum(&v) as f64;
            let bound = n as f64 * f32::EPSILON as f64 / 2.0 * want;
            assert!(
                (got - want).abs() <= bound,
                "{n} values: got {got}, expected {want} (±{bound:.1e}); input starts {:?}",
                &v[..n.min(6)]
            );
        }
    });
}
