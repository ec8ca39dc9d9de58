//! L-BFGS (`torch.optim.LBFGS`, without line search): a quasi-Newton method that builds an
//! estimate of the inverse Hessian from the last few steps and gradients.
//!
//! Unlike the other solvers it needs the loss *function*, not one gradient: a step runs up to
//! `max_iter` iterations, each moving the parameters and re-evaluating loss and gradient. So it
//! takes a closure (PyTorch's `optimizer.step(closure)`), and it is not an [`super::Optimizer`].

use crate::tensor::Tensor;
use std::collections::VecDeque;

/// Dot product of two f32 vectors, summed in f64 (the update is sensitive to these sums).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum::<f64>() as f32
}

/// a ← a + α·b
fn axpy(a: &mut [f32], alpha: f32, b: &[f32]) {
    a.iter_mut().zip(b).for_each(|(x, &y)| *x += alpha * y);
}

/// L-BFGS with PyTorch's defaults: lr 1, `max_iter` 20 iterations (and at most 1.25× as many
/// evaluations) per step, a history of 100 (s, y) pairs, stop when max |g| ≤ 1e-7 or the change
/// falls below 1e-9.
///
/// Each iteration: the direction is d = −H·g, with H·g computed by the two-loop recursion over the
/// stored pairs sₖ = xₖ₊₁ − xₖ, yₖ = gₖ₊₁ − gₖ (ρₖ = 1/yₖ·sₖ) and the initial scaling
/// H₀ = (y·s)/(y·y) of the newest pair; the parameters move by t·d, with t = min(1, 1/‖g‖₁)·lr on
/// the very first iteration (the gradient's scale is unknown then) and t = lr after.
pub struct Lbfgs {
    params: Vec<Tensor>,
    /// Step length (default 1).
    pub lr: f32,
    /// Iterations per `step` (default 20; set with [`Lbfgs::max_iter`]).
    max_iter: usize,
    /// Loss evaluations per `step` (default ⌊1.25·max_iter⌋).
    pub max_eval: usize,
    /// Stop when the largest gradient coordinate is at most this (default 1e-7).
    pub tolerance_grad: f32,
    /// Stop when the step or the loss changes less than this (default 1e-9).
    pub tolerance_change: f64,
    /// Pairs kept (default 100; set with [`Lbfgs::history_size`]).
    history_size: usize,
    history: VecDeque<(Vec<f32>, Vec<f32>, f32)>, // (y, s, ρ)
    direction: Vec<f32>,
    t: f32,
    h_diag: f32,
    prev_grad: Option<Vec<f32>>,
    iterations: usize,
    /// Loss evaluations over all steps (PyTorch's `state["func_evals"]`).
    pub evaluations: usize,
}

impl Lbfgs {
    /// L-BFGS over `params` with step length `lr` and PyTorch's other defaults.
    pub fn new(params: Vec<Tensor>, lr: f32) -> Lbfgs {
        Lbfgs {
            params,
            lr,
            max_iter: 20,
            max_eval: 25,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            history_size: 100,
            history: VecDeque::new(),
            direction: Vec::new(),
            t: 0.0,
            h_diag: 1.0,
            prev_grad: None,
            iterations: 0,
            evaluations: 0,
        }
    }

    /// Sets the iterations per step, and the evaluations to ⌊1.25·n⌋ as PyTorch's default does.
    pub fn max_iter(mut self, n: usize) -> Lbfgs {
        (self.max_iter, self.max_eval) = (n, n * 5 / 4);
        self
    }

    /// Sets how many (s, y) pairs are kept.
    pub fn history_size(mut self, n: usize) -> Lbfgs {
        assert!(n > 0, "L-BFGS: history_size must be at least 1");
        self.history_size = n;
        self
    }

    /// The gradients of all parameters, one after the other (zeros for a parameter without one).
    fn flat_grad(&self) -> Vec<f32> {
        self.params.iter().flat_map(|p| p.grad().map(|g| g.to_vec()).unwrap_or_else(|| vec![0.0; p.numel()])).collect()
    }

    /// Zeroes the gradients, then evaluates `closure` (which computes the loss, calls
    /// `backward()` and returns the loss value).
    fn evaluate(&mut self, closure: &mut impl FnMut() -> f32) -> (f32, Vec<f32>) {
        self.params.iter().for_each(Tensor::zero_grad);
        let loss = closure();
        self.evaluations += 1;
        (loss, self.flat_grad())
    }

    /// Parameters ← parameters + t·d.
    fn move_params(&self, t: f32) {
        let mut offset = 0;
        for p in &self.params {
            let n = p.numel();
            let mut w = p.to_vec();
            axpy(&mut w, t, &self.direction[offset..offset + n]);
            p.set_host_data(w);
            offset += n;
        }
    }

    // ANCHOR: lbfgs_step
    /// One step: up to `max_iter` iterations of the L-BFGS update, each re-evaluating
    /// `closure`. Returns the loss at the start of the step (as PyTorch does).
    pub fn step(&mut self, mut closure: impl FnMut() -> f32) -> f32 {
        let (first_loss, mut grad) = self.evaluate(&mut closure);
        let (mut loss, mut evals) = (first_loss as f64, 1);
        let max_abs = |g: &[f32]| g.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        if max_abs(&grad) <= self.tolerance_grad {
            return first_loss;
        }
        for n_iter in 1..=self.max_iter {
            self.iterations += 1;
            if self.iterations == 1 {
                self.direction = grad.iter().map(|g| -g).collect();
                self.h_diag = 1.0;
            } else {
                let prev = self.prev_grad.as_ref().expect("a previous gradient after the first iteration");
                let y: Vec<f32> = grad.iter().zip(prev).map(|(g, p)| g - p).collect();
                let s: Vec<f32> = self.direction.iter().map(|d| d * self.t).collect();
                let ys = dot(&y, &s);
                if ys > 1e-10 {
                    // curvature along the step is positive: remember the pair
                    if self.history.len() == self.history_size {
                        self.history.pop_front();
                    }
                    self.h_diag = ys / dot(&y, &y);
                    self.history.push_back((y, s, 1.0 / ys));
                }
                // two-loop recursion: d = −H·g
                let mut q: Vec<f32> = grad.iter().map(|g| -g).collect();
                let mut alphas = vec![0.0f32; self.history.len()];
                for (k, (y, s, rho)) in self.history.iter().enumerate().rev() {
                    alphas[k] = dot(s, &q) * rho;
                    axpy(&mut q, -alphas[k], y);
                }
                q.iter_mut().for_each(|v| *v *= self.h_diag);
                for (k, (y, s, rho)) in self.history.iter().enumerate() {
                    let beta = dot(y, &q) * rho;
                    axpy(&mut q, alphas[k] - beta, s);
                }
                self.direction = q;
            }
            self.prev_grad = Some(grad.clone());
            let prev_loss = loss;
            self.t = if self.iterations == 1 {
                let l1: f32 = grad.iter().map(|g| g.abs()).sum();
                (1.0f32).min(1.0 / l1) * self.lr
            } else {
                self.lr
            };
            if (dot(&grad, &self.direction) as f64) > -self.tolerance_change {
                break; // not a descent direction any more
            }
            self.move_params(self.t);
            let mut converged = false;
            if n_iter != self.max_iter {
                let (l, g) = self.evaluate(&mut closure);
                (loss, grad) = (l as f64, g);
                converged = max_abs(&grad) <= self.tolerance_grad;
                evals += 1;
            }
            let moved = self.direction.iter().fold(0.0f32, |m, d| m.max((d * self.t).abs()));
            if n_iter == self.max_iter
                || evals >= self.max_eval
                || converged
                || (moved as f64) <= self.tolerance_change
                || (loss - prev_loss).abs() < self.tolerance_change
            {
                break;
            }
        }
        first_loss
    }
    // ANCHOR_END: lbfgs_step
}
