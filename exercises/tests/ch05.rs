//! Graders for chapter 5: fixed cases with their sources, then random ones against brute
//! force and gradschool's schedules (checked against torch.optim.lr_scheduler and Hugging Face).

use exercises::ch05::*;
use exercises::grader::{assert_close64, grade};
use gradschool::manual_seed;
use gradschool::optim::{LrSchedule, Schedule};
use rand::Rng;

#[test]
fn ex_5_1_mini_batches() {
    grade("5.1", || {
        assert_eq!(batch_ranges(10, 4, false), vec![0..4, 4..8, 8..10]);
        assert_eq!(batch_ranges(10, 4, true), vec![0..4, 4..8]);
        assert_eq!(batch_ranges(8, 4, true), vec![0..4, 4..8]);
        // MNIST: ⌈60000/64⌉ = 938 batches, the last of 60000 − 937·64 = 32
        let r = batch_ranges(60_000, 64, false);
        assert_eq!((r.len(), r.last().unwrap().len()), (938, 32));
        // random sizes: the batches tile 0..n in order, every one full but perhaps the last
        let mut rng = manual_seed(51);
        for _ in 0..100 {
            let (n, batch, drop_last) = (rng.random_range(0..300), rng.random_range(1..40), rng.random_bool(0.5));
            let got = batch_ranges(n, batch, drop_last);
            let full = n / batch;
            let want_len = if drop_last || n % batch == 0 { full } else { full + 1 };
            assert_eq!(got.len(), want_len, "n {n}, batch {batch}, drop_last {drop_last}: {got:?}");
            for (k, r) in got.iter().enumerate() {
                assert_eq!(r.start, k * batch, "n {n}, batch {batch}: batch {k} starts at {}", r.start);
                assert_eq!(r.end, (r.start + batch).min(n), "n {n}, batch {batch}: batch {k} ends at {}", r.end);
            }
        }
    });
}

#[test]
fn ex_5_2_step_lr() {
    grade("5.2", || {
        // torch: StepLR(SGD(lr=0.1), step_size=2, gamma=0.5) → [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
        let want = [0.1, 0.1, 0.05, 0.05, 0.025, 0.025];
        for (e, w) in want.iter().enumerate() {
            assert_close64(&format!("epoch {e}"), step_lr(0.1, 2, 0.5, e), *w, 1e-12);
        }
        let mut rng = manual_seed(52);
        for _ in 0..50 {
            let (base, step_size, gamma) =
                (rng.random_range(1e-4..1.0), rng.random_range(1..10), rng.random_range(0.1..1.0));
            let schedule = Schedule::Step { step_size, gamma };
            for epoch in 0..40 {
                let want = schedule.lr(base, epoch);
                let got = step_lr(base, step_size, gamma, epoch);
                assert_close64(
                    &format!("base {base}, step_size {step_size}, γ {gamma}, epoch {epoch}"),
                    got,
                    want,
                    1e-12,
                );
            }
        }
    });
}

#[test]
fn ex_5_3_warmup_cosine() {
    grade("5.3", || {
        // Hugging Face get_cosine_schedule_with_warmup(warmup=3, total=10), base 0.1
        assert_close64("t = 0", warmup_cosine(0.1, 3, 10, 0), 0.0, 0.0);
        assert_close64("t = 2", warmup_cosine(0.1, 3, 10, 2), 0.1 * 2.0 / 3.0, 1e-12);
        assert_close64("t = 3 (peak)", warmup_cosine(0.1, 3, 10, 3), 0.1, 1e-12);
        let half = 0.1 * 0.5 * (1.0 + (std::f64::consts::PI * 4.0 / 7.0).cos());
        assert_close64("t = 7", warmup_cosine(0.1, 3, 10, 7), half, 1e-12);
        assert_close64("t = 10 (end)", warmup_cosine(0.1, 3, 10, 10), 0.0, 1e-12);
        let mut rng = manual_seed(53);
        for _ in 0..50 {
            let (base, warmup) = (rng.random_range(1e-5..1e-2), rng.random_range(1..50));
            let total = warmup + rng.random_range(1..500);
            let schedule = Schedule::WarmupCosine { warmup, total };
            for t in (0..=total).step_by(7).chain([warmup - 1, warmup, total]) {
                let (got, want) = (warmup_cosine(base, warmup, total, t), schedule.lr(base, t));
                assert_close64(&format!("base {base}, warmup {warmup}, total {total}, t {t}"), got, want, 1e-12);
            }
        }
    });
}
