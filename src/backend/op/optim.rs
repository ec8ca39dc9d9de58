//! The update rules of the optimizers that have a multi-tensor kernel (SGD, Adam, AdamW), as
//! the scalar arithmetic every backend runs per element: the CPU loops call these functions, the
//! CUDA kernels (kernels/optim.cu) are the same lines in C. The optimizers in `optim/` form the
//! scalars from their f64 hyper-parameters exactly as PyTorch does, then hand them over here.

/// One SGD step's scalars (PyTorch's Python floats rounded to f32 once).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    /// Learning rate.
    pub lr: f32,
    /// Momentum μ (0 = none: no buffer).
    pub momentum: f32,
    /// 1 − dampening.
    pub keep: f32,
    /// L2 penalty λ added to the gradient.
    pub weight_decay: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
}

// ANCHOR: sgd_update
impl SgdStep {
    /// Updates one parameter in place. With d = g + λ·w: without momentum w ← w − lr·d; with
    /// momentum b ← μ·b + (1 − dampening)·d (b = d at the first step, `first`) and
    /// w ← w − lr·(d + μ·b) (Nesterov) or w ← w − lr·b.
    #[inline]
    pub fn update(&self, w: &mut [f32], g: &[f32], buf: Option<&mut [f32]>, first: bool) {
        let (lr, mu, keep, wd) = (self.lr, self.momentum, self.keep, self.weight_decay);
        let mut buf = buf;
        for j in 0..w.len() {
            let mut d = g[j];
            if wd != 0.0 {
                d += wd * w[j];
            }
            if let Some(b) = buf.as_deref_mut() {
                b[j] = if first { d } else { b[j] * mu + keep * d };
                d = if self.nesterov { d + mu * b[j] } else { b[j] };
            }
            w[j] += -lr * d;
        }
    }
}
// ANCHOR_END: sgd_update

/// One Adam/AdamW step's scalars shared by every parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// 1 − β₁.
    pub one_minus_beta1: f32,
    /// β₂.
    pub beta2: f32,
    /// 1 − β₂.
    pub one_minus_beta2: f32,
    /// ε.
    pub eps: f32,
    /// AdamW's decay factor 1 − lr·λ.
    pub decay: f32,
    /// Adam's L2 penalty λ.
    pub l2: f32,
    /// AdamW (decoupled weight decay) instead of Adam (L2 added to the gradient).
    pub decoupled: bool,
}

// ANCHOR: adam_update
impl AdamStep {
    /// Updates one parameter in place, given its step's `step_size` = lr/(1 − β₁ᵗ) and
    /// `inv_bc2_sqrt` = 1/√(1 − β₂ᵗ):
    /// m ← β₁·m + (1 − β₁)·d, v ← β₂·v + (1 − β₂)·d², w ← w − step_size · m / (√v·inv_bc2_sqrt + ε),
    /// with d = g + λ·w (Adam) or w ← w·(1 − lr·λ) first (AdamW).
    #[inline]
    pub fn update(&self, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], step_size: f32, inv_bc2_sqrt: f32) {
        for j in 0..w.len() {
            let mut d = g[j];
            if self.decoupled {
                w[j] *= self.decay;
            } else if self.l2 != 0.0 {
                d += self.l2 * w[j];
            }
            m[j] += self.one_minus_beta1 * (d - m[j]); // = β₁m + (1 − β₁)d, as torch's lerp
            v[j] = v[j] * self.beta2 + self.one_minus_beta2 * d * d;
            let denom = v[j].sqrt() * inv_bc2_sqrt + self.eps;
            w[j] += -step_size * (m[j] / denom);
        }
    }
}
// ANCHOR_END: adam_update

/// Which multi-tensor update to run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimStep {
    /// SGD; per parameter, `a` = 1 on the momentum buffer's first step.
    Sgd(SgdStep),
    /// Adam/AdamW; per parameter, `a` = step size and `b` = 1/√(1 − β₂ᵗ).
    Adam(AdamStep),
}

/// One parameter of a multi-tensor step: its data, gradient, state buffers (SGD: the momentum
/// buffer in `s1`; Adam: m and v) and two per-parameter scalars (see [`OptimStep`]).
pub struct ParamSlot<'a, S> {
    /// The parameter, updated in place.
    pub w: &'a mut S,
    /// Its gradient.
    pub g: &'a S,
    /// First state buffer.
    pub s1: Option<&'a mut S>,
    /// Second state buffer.
    pub s2: Option<&'a mut S>,
    /// First per-parameter scalar.
    pub a: f32,
    /// Second per-parameter scalar.
    pub b: f32,
}
