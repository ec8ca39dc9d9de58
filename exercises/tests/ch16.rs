//! Graders for chapter 16, against the trainer's own rule (`gradschool::distributed::shard`),
//! NumPy's `array_split` sizes, and the ring's order of additions computed here element by
//! element.

use exercises::ch16::*;
use exercises::grader::grade;
use gradschool::manual_seed;
use rand::Rng;

#[test]
fn ex_16_1_my_micro_batches() {
    grade("16.1", || {
        let mut rng = manual_seed(160);
        for _ in 0..300 {
            let (ranks, accum): (usize, usize) = (rng.random_range(1..6), rng.random_range(1..5));
            let batches: usize = rng.random_range(1..40);
            // a step's start: a multiple of ranks × accum inside the epoch, often its last step
            let steps = batches.div_ceil(ranks * accum);
            let start = rng.random_range(0..steps) * ranks * accum;
            let group = start..(start + ranks * accum).min(batches);
            let mut covered = Vec::new();
            for rank in 0..ranks {
                let want = gradschool::distributed::shard(group.clone(), rank, accum);
                let got = my_micro_batches(start, batches, ranks, accum, rank);
                assert_eq!(got, want, "start {start}, {batches} batches, {ranks} ranks × accum {accum}: rank {rank}");
                covered.extend(got);
            }
            // every micro-batch of the step once, in rank order
            assert_eq!(covered, group.collect::<Vec<_>>());
        }
    });
}

#[test]
fn ex_16_2_shard_bounds() {
    grade("16.2", || {
        let mut rng = manual_seed(161);
        let mut cases: Vec<(usize, usize)> = vec![(10, 3), (0, 4), (3, 5), (12, 4), (1, 1), (7, 7), (100, 8)];
        cases.extend((0..200).map(|_| (rng.random_range(0..60), rng.random_range(1..10))));
        for (len, parts) in cases {
            let mut next = 0;
            for part in 0..parts {
                // array_split: the first len % parts shards hold one element more
                let size = len / parts + usize::from(part < len % parts);
                let got = shard_bounds(len, parts, part);
                assert_eq!(got, next..next + size, "len {len}, {parts} parts: shard {part}");
                next += size;
            }
            assert_eq!(next, len, "len {len}, {parts} parts: the shards cover the buffer");
        }
    });
}

/// Chunk c summed in the ring's order: x_c, then + x_{c+1}, + x_{c+2} … (ranks mod N).
fn ring_order_sum(bufs: &[Vec<f32>], i: usize, c: usize) -> f32 {
    let n = bufs.len();
    (1..n).fold(bufs[c][i], |acc, k| acc + bufs[(c + k) % n][i])
}

#[test]
fn ex_16_3_ring_all_reduce() {
    grade("16.3", || {
        let mut rng = manual_seed(162);
        for (n, len) in [(2, 8), (3, 10), (4, 7), (5, 23), (3, 2), (1, 5), (6, 64)] {
            // magnitudes from 1e-3 to 1e3, so the order of the additions shows in the last bits
            let bufs: Vec<Vec<f32>> = (0..n)
                .map(|_| {
                    (0..len).map(|_| rng.random_range(-1.0f32..1.0) * 10f32.powi(rng.random_range(-3..4))).collect()
                })
                .collect();
            let mut got = bufs.clone();
            let sent = ring_all_reduce(&mut got);
            // chunks as array_split cuts them; rank r ends the reduce-scatter holding chunk r + 1
            let size = |c: usize| len / n + usize::from(c < len % n);
            let start = |c: usize| (0..c).map(size).sum::<usize>();
            for i in 0..len {
                let c = (0..n).find(|&c| i < start(c) + size(c)).unwrap();
                let want = ring_order_sum(&bufs, i, c);
                for (r, b) in got.iter().enumerate() {
                    assert_eq!(
                        b[i].to_bits(),
                        want.to_bits(),
                        "N {n}, len {len}: rank {r}, element {i} (chunk {c}) is {} where the ring's additions give {want}",
                        b[i]
                    );
                }
            }
            // rank r sends chunks r − s (reduce-scatter) and r + 1 − s (all-gather), s = 0 … N − 2
            assert_eq!(sent.len(), n, "one count per rank");
            for (r, &got) in sent.iter().enumerate() {
                let want: usize = (0..n - 1).map(|s| size((r + n - s) % n) + size((r + n + 1 - s) % n)).sum();
                assert_eq!(got, want, "N {n}, len {len}: floats rank {r} sent");
            }
            if len % n == 0 {
                assert_eq!(sent[0], 2 * (n - 1) * len / n, "the ring formula 2(N−1)/N · S");
            }
        }
    });
}
