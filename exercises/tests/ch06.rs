//! Graders for chapter 6: three steps on fixed gradients, compared with torch.optim; then
//! random parameters, gradients and hyper-parameters, compared with gradschool's optimizers
//! (checked against torch.optim in the library's tests).

use exercises::ch06::*;
use exercises::grader::{assert_close, grade};
use gradschool::optim::{AdamW, Optimizer, RmsProp, Sgd};
use gradschool::{manual_seed, Tensor};
use rand::Rng;

/// Runs `steps` steps of the library's optimizer and of `yours` on the same random parameter
/// and gradients, and compares the parameters after every step.
fn against_library(
    what: &str,
    seed: u64,
    make: impl Fn(Vec<Tensor>) -> Box<dyn Optimizer>,
    mut yours: impl FnMut(&mut [f32], &[f32], i32),
) {
    let mut rng = manual_seed(seed);
    // Gradients of three magnitudes: ordinary ones, tiny ones (1e-7, where ε = 1e-8 is a tenth of
    // √v and where it sits in the formula shows: inside the square root or with the wrong sign,
    // the step is 10–1000× off) and large ones (1e3, where a formula that squares before it
    // scales loses precision).
    for (n, scale) in [(1usize, 1.0f32), (5, 1.0), (300, 1.0), (5, 1e-7), (300, 1e-7), (5, 1e3)] {
        let w0: Vec<f32> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
        let p = Tensor::from_slice(&w0, [n]).requires_grad_();
        let mut opt = make(vec![p.clone()]);
        let mut w = w0.clone();
        for t in 1..=6 {
            let g: Vec<f32> = (0..n).map(|_| scale * rng.random_range(-3.0f32..3.0)).collect();
            opt.zero_grad();
            (&p * &Tensor::from_slice(&g, [n])).sum().backward(); // ∂/∂p Σ pᵢgᵢ = g
            opt.step();
            yours(&mut w, &g, t);
            assert_close(&format!("{what}, {n} parameters, gradients ~{scale:e}, step {t}"), &w, &p.to_vec(), 1e-5);
        }
    }
}

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
        for (seed, lr, mu) in [(61, 0.05, 0.9), (62, 0.3, 0.5), (63, 0.01, 0.0)] {
            let mut buf = Vec::new();
            against_library(
                &format!("lr {lr}, momentum {mu}"),
                seed,
                |p| Box::new(Sgd::new(p, lr as f64).momentum(mu as f64)),
                |w, g, t| {
                    if t == 1 {
                        buf.clear();
                    }
                    sgd_momentum_step(w, g, &mut buf, lr, mu)
                },
            );
        }
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
        for (seed, lr, wd) in [(64, 0.01, 0.1), (65, 0.003, 0.0), (66, 0.05, 0.5)] {
            let (mut m, mut v) = (vec![0.0; 300], vec![0.0; 300]);
            against_library(
                &format!("lr {lr}, weight decay {wd}"),
                seed,
                |p| Box::new(AdamW::new(p, lr as f64).weight_decay(wd as f64)),
                |w, g, t| {
                    if t == 1 {
                        m.fill(0.0);
                        v.fill(0.0);
                    }
                    let n = w.len();
                    adamw_step(w, g, &mut m[..n], &mut v[..n], t, lr, (0.9, 0.999), 1e-8, wd)
                },
            );
        }
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
        for (seed, lr) in [(67, 0.01), (68, 0.001)] {
            let mut sq = vec![0.0; 300];
            against_library(
                &format!("lr {lr}"),
                seed,
                |p| Box::new(RmsProp::new(p, lr as f64)),
                |w, g, t| {
                    if t == 1 {
                        sq.fill(0.0);
                    }
                    let n = w.len();
                    rmsprop_step(w, g, &mut sq[..n], lr, 0.99, 1e-8)
                },
            );
        }
    });
}
