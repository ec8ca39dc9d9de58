//! Graders for chapter 6: three steps on fixed gradients, compared with torch.optim.

use exercises::ch06::*;
use exercises::grader::{assert_close, grade};

const GRADS: [[f32; 2]; 3] = [[0.5, -1.0], [0.25, 0.5], [-1.0, 2.0]];

#[test]
fn ex_6_1_sgd_momentum() {
    grade("6.1", || {
        let (mut w, mut buf) = (vec![1.0f32, -2.0], Vec::new());
        for g in GRADS {
            sgd_momentum_step(&mut w, &g, &mut buf, 0.1, 0.9);
        }
        // torch: SGD([w], lr=0.1, momentum=0.9), w = [1, -2], grads GRADS → [0.917, -2.024]
        assert_close("w after 3 steps", &w, &[0.917, -2.024], 1e-6);
    });
}

#[test]
fn ex_6_2_adamw() {
    grade("6.2", || {
        let (mut w, mut m, mut v) = (vec![1.0f32, -2.0], vec![0.0; 2], vec![0.0; 2]);
        for (t, g) in GRADS.iter().enumerate() {
            adamw_step(&mut w, g, &mut m, &mut v, t as i32 + 1, 0.1, (0.9, 0.999), 1e-8, 0.01);
        }
        // torch: AdamW([w], lr=0.1, weight_decay=0.01) → [0.8247139, -1.9133321]
        assert_close("w after 3 steps", &w, &[0.824_713_9, -1.913_332_1], 1e-5);
    });
}

#[test]
fn ex_6_3_rmsprop() {
    grade("6.3", || {
        let (mut w, mut sq) = (vec![1.0f32, -2.0], vec![0.0; 2]);
        for g in GRADS {
            rmsprop_step(&mut w, &g, &mut sq, 0.01, 0.99, 1e-8);
        }
        // torch: RMSprop([w], lr=0.01) → [0.9425727, -2.0323753]
        assert_close("w after 3 steps", &w, &[0.942_572_7, -2.032_375_3], 1e-5);
    });
}
