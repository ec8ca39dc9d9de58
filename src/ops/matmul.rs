//! Matrix products with `torch.matmul` semantics: 2-D, batched with broadcast batch dims, and
//! the vector cases (1-D operands get a dimension added, then removed).
//!
//! For C = A·B (A: m×k, B: k×n), ∂L/∂A = ∂L/∂C · Bᵀ and ∂L/∂B = Aᵀ · ∂L/∂C. The transposes are
//! never materialised: the backend reads the operand through swapped strides.

use crate::amp::autocast_precision;
use crate::autograd::Backward;
use crate::backend::op::UnaryOp;
use crate::backend::{MatmulLayout, Storage};
use crate::ops::unary::cast_op;
use crate::shape::broadcast_shapes;
use crate::tensor::Tensor;

/// Batched product of rank-3 operands `a: (Ba, ·, ·)`, `b: (Bb, ·, ·)` with `Ba, Bb ∈ {1, B}`,
/// each read transposed when asked. Returns the output storage and its shape `(B, m, n)`.
fn bmm_storage(a: &Tensor, b: &Tensor, trans_a: bool, trans_b: bool) -> (Storage, [usize; 3]) {
    bmm_bias_storage(a, b, None, trans_a, trans_b)
}

/// [`bmm_storage`], plus `bias` (n,) added to every row inside the product when given.
fn bmm_bias_storage(
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    trans_a: bool,
    trans_b: bool,
) -> (Storage, [usize; 3]) {
    let (ad, bd) = (a.dims(), b.dims());
    let (m, k) = if trans_a { (ad[2], ad[1]) } else { (ad[1], ad[2]) };
    let (kb, n) = if trans_b { (bd[2], bd[1]) } else { (bd[1], bd[2]) };
    assert_eq!(k, kb, "matmul: inner dimensions {k} vs {kb}");
    let batch = ad[0].max(bd[0]);
    let layout = MatmulLayout {
        batch,
        m,
        n,
        k,
        a_batch_stride: if ad[0] == 1 { 0 } else { m * k },
        b_batch_stride: if bd[0] == 1 { 0 } else { k * n },
        trans_a,
        trans_b,
    };
    let out = match bias {
        // (the bias's shape is checked by the caller, features_product, and by the backend)
        Some(c) => a.storage().matmul_bias(&b.storage(), &c.storage(), &layout),
        None => a.storage().matmul(&b.storage(), &layout),
    };
    (out, [batch, m, n])
}

/// [`bmm_storage`] as a tensor without autograd: the building block of the backward pass.
fn bmm_raw(a: &Tensor, b: &Tensor, trans_a: bool, trans_b: bool) -> Tensor {
    let (out, shape) = bmm_storage(a, b, trans_a, trans_b);
    Tensor::from_storage(out, shape)
}

// ANCHOR: bmm_backward
/// C = A·B ⇒ ∂L/∂A = ∂L/∂C·Bᵀ, ∂L/∂B = Aᵀ·∂L/∂C (summed over the batch where an operand was
/// shared by every batch entry). With `trans_b` (C = A·Bᵀ, B stored n×k):
/// ∂L/∂A = ∂L/∂C·B and ∂L/∂B = (∂L/∂C)ᵀ·A. With a bias c (C = A·B + c, one row added to every
/// row of C): ∂L/∂c = the sum of ∂L/∂C over every row.
struct BmmBackward {
    trans_b: bool,
}

impl Backward for BmmBackward {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn backward(&self, inputs: &[Tensor], _out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let shared = |grad: Tensor, x: &Tensor| {
            if x.dims()[0] == 1 && grad.dims()[0] != 1 {
                grad.sum_dims(&[0], true)
            } else {
                grad
            }
        };
        let grad_a = a.requires_grad().then(|| shared(bmm_raw(g, b, false, !self.trans_b), a));
        let grad_b = b.requires_grad().then(|| {
            let grad = if self.trans_b { bmm_raw(g, a, true, false) } else { bmm_raw(a, g, true, false) };
            shared(grad, b)
        });
        let mut grads = vec![grad_a, grad_b];
        if let Some(bias) = inputs.get(2) {
            grads.push(bias.requires_grad().then(|| g.sum_dims(&[0, 1], false)));
        }
        grads
    }
}
// ANCHOR_END: bmm_backward

fn bmm(a: &Tensor, b: &Tensor, trans_b: bool) -> Tensor {
    bmm_bias(a, b, None, trans_b)
}

/// The product `a·b` (`a·bᵀ` with `trans_b`) plus `bias` on every row when given, recorded for
/// autograd; under autocast, in the 16-bit format.
fn bmm_bias(a: &Tensor, b: &Tensor, bias: Option<&Tensor>, trans_b: bool) -> Tensor {
    if let Some(round) = cast_op(autocast_precision()) {
        return bmm_autocast(a, b, bias, trans_b, round);
    }
    let (out, shape) = bmm_bias_storage(a, b, bias, false, trans_b);
    let mut inputs = vec![a, b];
    inputs.extend(bias);
    Tensor::from_op(out, shape, &inputs, || BmmBackward { trans_b })
}

/// `x` cast to the 16-bit format (`round`), outside the graph.
fn cast(x: &Tensor, round: UnaryOp) -> Tensor {
    Tensor::from_storage(x.storage().unary(round), x.shape().clone())
}

// ANCHOR: bmm_autocast
/// The product under [`crate::amp::autocast`], as a 16-bit GEMM with f32 accumulation computes
/// it: C = cast(cast(A)·cast(B) + cast(bias)) — one rounding of the f32 sum, as cuBLAS and
/// oneDNN round their accumulators once. Backward is the same product rule in the same format:
/// the incoming gradient is cast (a 16-bit tensor's gradient is 16-bit), each product is rounded
/// once, and the casts themselves pass gradients through, so an f32 master weight receives the
/// 16-bit gradient. The cast copies are made again in backward rather than kept: the graph holds
/// what it holds in f32.
fn bmm_autocast(a: &Tensor, b: &Tensor, bias: Option<&Tensor>, trans_b: bool, round: UnaryOp) -> Tensor {
    let (a16, b16) = (cast(a, round), cast(b, round));
    let (out, shape) = bmm_storage(&a16, &b16, false, trans_b);
    let mut y = Tensor::from_storage(out, shape);
    if let Some(bias) = bias {
        y = &y + &cast(bias, round); // neither side is in the graph: nothing recorded
    }
    let y = cast(&y, round);
    let mut inputs = vec![a, b];
    inputs.extend(bias);
    y.with_backward(&inputs, AutocastBmmBackward { trans_b, round })
}

struct AutocastBmmBackward {
    trans_b: bool,
    round: UnaryOp,
}

impl Backward for AutocastBmmBackward {
    fn name(&self) -> &'static str {
        "matmul_autocast"
    }
    fn backward(&self, inputs: &[Tensor], _out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let (a, b, round) = (&inputs[0], &inputs[1], self.round);
        let g16 = cast(g, round);
        let shared = |grad: Tensor, x: &Tensor| {
            if x.dims()[0] == 1 && grad.dims()[0] != 1 {
                grad.sum_dims(&[0], true)
            } else {
                grad
            }
        };
        let grad_a = a.requires_grad().then(|| {
            let b16 = cast(b, round);
            cast(&shared(bmm_raw(&g16, &b16, false, !self.trans_b), a), round)
        });
        let grad_b = b.requires_grad().then(|| {
            let a16 = cast(a, round);
            let grad = if self.trans_b { bmm_raw(&g16, &a16, true, false) } else { bmm_raw(&a16, &g16, true, false) };
            cast(&shared(grad, b), round)
        });
        let mut grads = vec![grad_a, grad_b];
        if let Some(bias) = inputs.get(2) {
            // y is (batch, rows, n) and the bias (n,): its gradient sums every row
            grads.push(bias.requires_grad().then(|| cast(&g16.sum_dims(&[0, 1], false), round)));
        }
        grads
    }
}
// ANCHOR_END: bmm_autocast

impl Tensor {
    /// Matrix product with `torch.matmul` semantics. Shapes: `(…, m, k) @ (…, k, n) → (…, m, n)`
    /// with broadcast batch dimensions; a 1-D left operand is a row vector, a 1-D right operand
    /// a column vector (the added dimension is removed from the result).
    pub fn matmul(&self, rhs: &Tensor) -> Tensor {
        let (ra, rb) = (self.rank(), rhs.rank());
        assert!(
            ra > 0 && rb > 0,
            "matmul: both arguments need at least 1 dimension, got shapes {} and {}",
            self.shape(),
            rhs.shape()
        );
        let k = self.dims()[ra - 1];
        let kb = if rb == 1 { rhs.dims()[0] } else { rhs.dims()[rb - 2] };
        assert_eq!(k, kb, "matmul: lhs {} vs rhs {}", self.shape(), rhs.shape());
        match (ra, rb) {
            (1, 1) => self.reshape([1, k]).matmul(&rhs.reshape([k, 1])).reshape([]),
            (1, _) => self.unsqueeze(0).matmul(rhs).squeeze(-2),
            (_, 1) => self.matmul(&rhs.unsqueeze(-1)).squeeze(-1),
            (_, 2) => {
                // (…, m, k) @ (k, n): fold the batch into the rows — one large GEMM.
                let n = rhs.dims()[1];
                let rows = self.numel() / k.max(1);
                let out = bmm(&self.reshape([1, rows, k]), &rhs.reshape([1, k, n]), false);
                let mut shape = self.dims()[..ra - 1].to_vec();
                shape.push(n);
                out.reshape(shape)
            }
            _ => batched(self, rhs, false),
        }
    }

    /// `self · rhsᵀ` over the last two dimensions, batch dimensions broadcast as in
    /// [`Tensor::matmul`]: `(…, m, k)` and `(…, n, k)` give `(…, m, n)` — attention's scores
    /// `q·kᵀ`. In PyTorch `k.transpose(-2, -1)` is a view, free; here a transpose is a copy, so
    /// this product reads `rhs` through swapped strides instead (its gradient comes back in
    /// `rhs`'s own layout, with no transpose either).
    pub fn matmul_t(&self, rhs: &Tensor) -> Tensor {
        let (ra, rb) = (self.rank(), rhs.rank());
        assert!(
            ra >= 2 && rb >= 2 && self.dims()[ra - 1] == rhs.dims()[rb - 1],
            "matmul_t: lhs {} and rhs {} must be (…, m, k) and (…, n, k)",
            self.shape(),
            rhs.shape()
        );
        batched(self, rhs, true)
    }

    /// `F.linear(x, w, b)` = x·wᵀ + b for `x: (…, in)`, a weight `w: (out, in)` stored as
    /// PyTorch's `nn.Linear` stores it, and an optional bias `b: (out,)`. The transpose is read
    /// through strides, never copied.
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
        features_product("linear", self, weight, bias, true)
    }

    /// `torch.addmm(bias, x, w)` as Hugging Face's `Conv1D` calls it: x·w + bias for
    /// `x: (…, in)`, `w: (in, out)` and `bias: (out,)`, the bias added inside the product rather
    /// than by a second pass over the output.
    pub fn addmm(bias: &Tensor, x: &Tensor, w: &Tensor) -> Tensor {
        features_product("addmm", x, w, Some(bias), false)
    }
}

/// The batched product of `a: (…, m, k)` and `b: (…, k, n)` (`(…, n, k)`, read transposed,
/// with `trans_b`), batch dimensions broadcast.
fn batched(a: &Tensor, b: &Tensor, trans_b: bool) -> Tensor {
    let (ra, rb) = (a.rank(), b.rank());
    let (m, k) = (a.dims()[ra - 2], a.dims()[ra - 1]);
    let (rows_b, cols_b) = (b.dims()[rb - 2], b.dims()[rb - 1]);
    let n = if trans_b { rows_b } else { cols_b };
    let batch = broadcast_shapes("matmul", &a.dims()[..ra - 2], &b.dims()[..rb - 2]);
    let bn: usize = batch.iter().product();
    let as_batch = |x: &Tensor, r: usize, c: usize| {
        let xb: usize = x.dims()[..x.rank() - 2].iter().product();
        if xb == 1 {
            x.reshape([1, r, c])
        } else {
            let mut full = batch.clone();
            full.extend([r, c]);
            x.broadcast_to(&full).reshape([bn, r, c])
        }
    };
    let out = bmm(&as_batch(a, m, k), &as_batch(b, rows_b, cols_b), trans_b);
    let mut shape = batch;
    shape.extend([m, n]);
    out.reshape(shape)
}

/// x·w (x·wᵀ with `trans_w`, w stored `(out, in)`) + bias over the last dimension of `x: (…, in)`:
/// the leading dimensions folded into the rows of one GEMM, the bias added inside it
/// (`Backend::matmul_bias`; in 16 bits it joins the f32 sum before its one rounding).
fn features_product(op: &str, x: &Tensor, w: &Tensor, bias: Option<&Tensor>, trans_w: bool) -> Tensor {
    let stored = if trans_w { "(out, in)" } else { "(in, out)" };
    assert_eq!(w.rank(), 2, "{op}: weight must be {stored}, got {}", w.shape());
    let (k, n) = if trans_w { (w.dims()[1], w.dims()[0]) } else { (w.dims()[0], w.dims()[1]) };
    assert!(
        x.rank() >= 1 && x.dims()[x.rank() - 1] == k,
        "{op}: input {} vs weight {} (in_features {k})",
        x.shape(),
        w.shape()
    );
    if let Some(b) = bias {
        assert_eq!(b.dims(), &[n], "{op}: bias {} vs out_features {n}", b.shape());
    }
    let rows = x.numel() / k.max(1);
    let mut shape = x.dims()[..x.rank() - 1].to_vec();
    shape.push(n);
    let w = if trans_w { w.reshape([1, n, k]) } else { w.reshape([1, k, n]) };
    bmm_bias(&x.reshape([1, rows, k]), &w, bias, trans_w).reshape(shape) // (…, out)
}

/// The matrix-product rate this machine reaches on the CPU, GFLOP/s: the best of five 1024³
/// products through the same GEMM the steps use (the "% peak" of the profiler's table).
pub fn measured_cpu_peak_gflops() -> f64 {
    let was = crate::profiler::is_recording();
    crate::profiler::set_recording(false);
    let n = 1024;
    let (a, b) = (Tensor::ones([n, n]), Tensor::ones([n, n]));
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t0 = std::time::Instant::now();
        let c = a.matmul(&b);
        std::hint::black_box(c.numel());
        best = best.min(t0.elapsed().as_secs_f64());
    }
    crate::profiler::set_recording(was);
    2.0 * (n * n * n) as f64 / best / 1e9
}
