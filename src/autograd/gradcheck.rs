//! Finite-difference gradient checking: the test every backward rule must pass.
//!
//! For a function f of tensors, contract its output with fixed random weights r to get a scalar
//! L = Σ r ⊙ f(x). Autograd gives ∂L/∂x; the central difference
//! (L(x + εeᵢ) − L(x − εeᵢ)) / 2ε approximates each component with error O(ε²). They must agree
//! within `atol + rtol·|numeric|` everywhere.

use crate::grad_mode::no_grad;
use crate::tensor::Tensor;
use std::fmt;

/// Step and tolerances for [`gradcheck_with`]. The defaults suit f32 with inputs of order 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradcheckOptions {
    /// Finite-difference step ε.
    pub eps: f32,
    /// Absolute tolerance.
    pub atol: f32,
    /// Relative tolerance.
    pub rtol: f32,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions { eps: 1e-2, atol: 1e-3, rtol: 1e-2 }
    }
}

/// The element where analytic and numeric gradients disagree most (relative to tolerance).
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckWorst {
    /// Which input.
    pub input: usize,
    /// Flat (row-major) index of the element in that input.
    pub index: usize,
    /// ∂L/∂x from backward().
    pub analytic: f64,
    /// ∂L/∂x from central differences.
    pub numeric: f64,
    /// |analytic − numeric| / (atol + rtol·|numeric|); ≤ 1 passes.
    pub ratio: f64,
}

/// The outcome of a gradient check.
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckReport {
    /// Number of elements compared.
    pub checked: usize,
    /// The worst element, if any was compared.
    pub worst: Option<GradcheckWorst>,
    /// The options used.
    pub options: GradcheckOptions,
}

impl GradcheckReport {
    /// True when every element was within tolerance.
    pub fn passed(&self) -> bool {
        self.worst.as_ref().is_none_or(|w| w.ratio <= 1.0)
    }
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed() { "passed" } else { "FAILED" };
        write!(f, "gradcheck {verdict}: {} elements", self.checked)?;
        if let Some(w) = &self.worst {
            write!(
                f,
                "; worst: input {} element {}: analytic {:.6e} vs numeric {:.6e} ({:.2}× the tolerance atol {} + rtol {}·|numeric|, eps {})",
                w.input, w.index, w.analytic, w.numeric, w.ratio, self.options.atol, self.options.rtol, self.options.eps
            )?;
        }
        Ok(())
    }
}

/// [`gradcheck_with`] and the default options.
///
/// ```
/// use gradschool::{gradcheck, Tensor};
/// let x = Tensor::from_vec(vec![0.3, -1.2, 2.0], [3]);
/// let report = gradcheck(|t| t[0].tanh(), &[x]);
/// assert!(report.passed(), "{report}");
/// ```
pub fn gradcheck(f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) -> GradcheckReport {
    gradcheck_with(f, inputs, GradcheckOptions::default())
}

/// Compares the gradients of every input (all of them are treated as requiring grad) with
/// central differences. `f` must be deterministic.
// ANCHOR: gradcheck
pub fn gradcheck_with(f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor], opts: GradcheckOptions) -> GradcheckReport {
    let leaves: Vec<Tensor> = inputs.iter().map(|t| t.detach().requires_grad_()).collect();
    let out = f(&leaves);
    // Fixed, irregular contraction weights so that no gradient entry is trivially symmetric.
    let weights: Vec<f32> = (0..out.numel()).map(|i| ((i * 7 + 3) % 11) as f32 / 11.0 - 0.4).collect();
    let r = Tensor::from_vec(weights.clone(), out.dims().to_vec());
    (&out * &r).sum().backward();

    let contract = |ys: Vec<f32>| -> f64 { ys.iter().zip(&weights).map(|(&y, &w)| y as f64 * w as f64).sum() };
    let _guard = no_grad();
    let mut report = GradcheckReport { checked: 0, worst: None, options: opts };
    for (i, leaf) in leaves.iter().enumerate() {
        let analytic = leaf.grad().map(|g| g.to_vec()).unwrap_or_else(|| vec![0.0; leaf.numel()]);
        let base = leaf.to_vec();
        for j in 0..base.len() {
            let eval = |delta: f32| {
                let mut data = base.clone();
                data[j] += delta;
                let mut args: Vec<Tensor> = leaves.iter().map(|t| t.detach()).collect();
                args[i] = Tensor::from_vec(data, leaf.dims().to_vec());
                contract(f(&args).to_vec())
            };
            let numeric = (eval(opts.eps) - eval(-opts.eps)) / (2.0 * opts.eps as f64);
            let a = analytic[j] as f64;
            let ratio = (a - numeric).abs() / (opts.atol as f64 + opts.rtol as f64 * numeric.abs());
            report.checked += 1;
            if report.worst.as_ref().is_none_or(|w| ratio > w.ratio || ratio.is_nan()) {
                report.worst = Some(GradcheckWorst { input: i, index: j, analytic: a, numeric, ratio });
            }
        }
    }
    report
}
// ANCHOR_END: gradcheck
