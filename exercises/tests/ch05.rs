//! Graders for chapter 5.

use exercises::ch05::*;
use exercises::grader::{assert_close64, grade};

#[test]
fn ex_5_1_mini_batches() {
    grade("5.1", || {
        assert_eq!(batch_ranges(10, 4, false), vec![0..4, 4..8, 8..10]);
        assert_eq!(batch_ranges(10, 4, true), vec![0..4, 4..8]);
        assert_eq!(batch_ranges(8, 4, true), vec![0..4, 4..8]);
        // MNIST: ⌈60000/64⌉ = 938 batches, the last of 60000 − 937·64 = 32
        let r = batch_ranges(60_000, 64, false);
        assert_eq!((r.len(), r.last().unwrap().len()), (938, 32));
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
    });
}
