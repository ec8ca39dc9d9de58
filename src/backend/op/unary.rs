//! The elementwise functions of one value: each [`UnaryOp`] knows its value `apply(x)` and its
//! derivative `derivative(x, y)` (given the input `x` and the output `y = f(x)`, whichever is
//! cheaper). Kernels of every backend evaluate these formulas; the autograd rule that uses the
//! derivative lives in `ops/unary.rs`.

const SQRT_2_OVER_PI: f32 = 0.797_884_6; // √(2/π)
const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
const INV_SQRT_2PI: f32 = 0.398_942_3; // 1/√(2π)
const GELU_C: f32 = 0.044_715;

/// An elementwise function and its derivative.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// −x
    Neg,
    /// eˣ
    Exp,
    /// ln x
    Log,
    /// √x
    Sqrt,
    /// |x|
    Abs,
    /// max(x, 0)
    Relu,
    /// x if x > 0 else slope·x
    LeakyRelu(f32),
    /// σ(x) = 1 / (1 + e⁻ˣ)
    Sigmoid,
    /// tanh x
    Tanh,
    /// x·Φ(x), Φ the standard normal CDF (exact GELU)
    GeluErf,
    /// ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (GPT-2's GELU)
    GeluTanh,
    /// x·σ(x) (SiLU, a.k.a. Swish with β = 1)
    Silu,
    /// ln(1 + eˣ)
    Softplus,
    /// xᵖ
    PowScalar(f32),
    /// x + c
    AddScalar(f32),
    /// c·x
    MulScalar(f32),
    /// min(max(x, lo), hi)
    Clamp(f32, f32),
    /// x rounded to the nearest bfloat16 (ties to even), kept as an f32: mixed precision's cast
    RoundBf16,
    /// x rounded to the nearest IEEE half (ties to even; beyond ±65,504 it is ±∞)
    RoundFp16,
}

/// eˣ as Cephes' `expf` computes it: x = n·ln 2 + r, eʳ by a degree-6 polynomial, 2ⁿ
/// through the exponent bits. Plain arithmetic, so loops over it vectorise; ≤ 2e-7 relative
/// over [−87, 88], exactly 0 below −87.3 (masked softmax entries stay 0), NaN kept.
///
/// The polynomial is Horner's rule in fused multiply-adds (`mul_add`: a·b + c rounded once).
/// Rust never fuses `a * b + c` by itself (it would change results), so written plainly each
/// step is a multiply and an add; fused, the kernels' AVX2+FMA builds (see `multiversion` in
/// cpu/elementwise.rs) do half the instructions, and GELU, softmax and the cross-entropy run a
/// quarter faster (benches/README.md). A CPU without FMA computes the same bits in software.
#[inline(always)]
pub fn exp_fast(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    const SHIFT: f32 = 12_582_912.0; // 1.5·2²³
    let xc = x.clamp(-87.3, 88.0);
    let t = xc.mul_add(LOG2E, SHIFT);
    let n = t - SHIFT;
    let r = (-n).mul_add(C2, (-n).mul_add(C1, xc));
    let p = 1.987_569_1e-4_f32;
    let p = p.mul_add(r, 1.398_199_9e-3);
    let p = p.mul_add(r, 8.333_452e-3);
    let p = p.mul_add(r, 4.166_579_6e-2);
    let p = p.mul_add(r, 0.166_666_65);
    let p = p.mul_add(r, 0.5);
    let er = (p * r).mul_add(r, r + 1.0);
    let two_n = f32::from_bits((t.to_bits().wrapping_sub(SHIFT.to_bits()).wrapping_add(127)) << 23);
    let y = if x < -87.3 { 0.0 } else { er * two_n };
    if x.is_nan() {
        x
    } else {
        y
    }
}

fn sigmoid(x: f32) -> f32 {
    // Two branches so that e^{|x|} never overflows.
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

impl UnaryOp {
    /// The op's name, as in error messages and `grad_fn`.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Relu => "relu",
            UnaryOp::LeakyRelu(_) => "leaky_relu",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Tanh => "tanh",
            UnaryOp::GeluErf => "gelu",
            UnaryOp::GeluTanh => "gelu_tanh",
            UnaryOp::Silu => "silu",
            UnaryOp::Softplus => "softplus",
            UnaryOp::PowScalar(_) => "pow",
            UnaryOp::AddScalar(_) => "add_scalar",
            UnaryOp::MulScalar(_) => "mul_scalar",
            UnaryOp::Clamp(..) => "clamp",
            UnaryOp::RoundBf16 => "round_bf16",
            UnaryOp::RoundFp16 => "round_fp16",
        }
    }

    // ANCHOR: apply
    /// y = f(x).
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            UnaryOp::Neg => -x,
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Abs => x.abs(),
            UnaryOp::Relu => x.max(0.0),
            UnaryOp::LeakyRelu(s) => {
                if x > 0.0 {
                    x
                } else {
                    s * x
                }
            }
            UnaryOp::Sigmoid => sigmoid(x),
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::GeluErf => 0.5 * x * (1.0 + libm::erff(x * FRAC_1_SQRT_2)),
            // ½x(1 + tanh u) = x·σ(2u), since ½(1 + tanh u) = σ(2u): one exp, no tanh call
            UnaryOp::GeluTanh => x / (1.0 + exp_fast(-2.0 * SQRT_2_OVER_PI * x * (GELU_C * x).mul_add(x, 1.0))),
            UnaryOp::Silu => x * sigmoid(x),
            // ln(1 + eˣ) = max(x, 0) + ln(1 + e^{−|x|}): no overflow for large |x|
            UnaryOp::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            UnaryOp::PowScalar(p) => x.powf(p),
            UnaryOp::AddScalar(c) => x + c,
            UnaryOp::MulScalar(c) => c * x,
            UnaryOp::Clamp(lo, hi) => x.max(lo).min(hi),
            UnaryOp::RoundBf16 => crate::amp::round_bf16(x),
            UnaryOp::RoundFp16 => crate::amp::round_fp16(x),
        }
    }
    // ANCHOR_END: apply

    // ANCHOR: derivative
    /// f'(x), given x and y = f(x).
    #[inline(always)]
    pub fn derivative(self, x: f32, y: f32) -> f32 {
        match self {
            // d/dx −x = −1
            UnaryOp::Neg => -1.0,
            // d/dx eˣ = eˣ = y
            UnaryOp::Exp => y,
            // d/dx ln x = 1/x
            UnaryOp::Log => 1.0 / x,
            // d/dx √x = 1/(2√x) = 1/(2y)
            UnaryOp::Sqrt => 0.5 / y,
            // d/dx |x| = sign(x) (0 at 0, as PyTorch)
            UnaryOp::Abs => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            // d/dx max(x, 0) = 1 if x > 0 else 0 (PyTorch takes 0 at 0)
            UnaryOp::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            // d/dx leaky_relu = 1 if x > 0 else slope
            UnaryOp::LeakyRelu(s) => {
                if x > 0.0 {
                    1.0
                } else {
                    s
                }
            }
            // d/dx σ(x) = σ(x)(1 − σ(x)) = y(1 − y)
            UnaryOp::Sigmoid => y * (1.0 - y),
            // d/dx tanh x = 1 − tanh²x = 1 − y²
            UnaryOp::Tanh => 1.0 - y * y,
            // d/dx xΦ(x) = Φ(x) + x·φ(x), φ(x) = e^{−x²/2}/√(2π)
            UnaryOp::GeluErf => 0.5 * (1.0 + libm::erff(x * FRAC_1_SQRT_2)) + x * INV_SQRT_2PI * (-0.5 * x * x).exp(),
            // with u = √(2/π)(x + c·x³), t = tanh u:
            // d/dx ½x(1 + t) = ½(1 + t) + ½x(1 − t²)·u′,  u′ = √(2/π)(1 + 3c·x²);
            // computed with s = σ(2u) = ½(1 + t), so 1 − t² = 4s(1 − s): s + 2x·s(1 − s)·u′
            UnaryOp::GeluTanh => {
                // σ without sigmoid()'s sign branch (a coin flip per element here, mispredicted
                // half the time): for very negative u, e^{−2u} overflows to ∞ and s = 1/∞ = 0,
                // which is σ(2u) to f32 precision; no NaN can arise.
                let s = 1.0 / (1.0 + exp_fast(-2.0 * SQRT_2_OVER_PI * x * (GELU_C * x).mul_add(x, 1.0)));
                let du = SQRT_2_OVER_PI * (3.0 * GELU_C * x).mul_add(x, 1.0);
                (2.0 * x * (1.0 - s) * du).mul_add(s, s)
            }
            // d/dx xσ(x) = σ(x) + xσ(x)(1 − σ(x)) = σ(x)(1 + x(1 − σ(x)))
            UnaryOp::Silu => {
                let s = sigmoid(x);
                s * (1.0 + x * (1.0 - s))
            }
            // d/dx ln(1 + eˣ) = eˣ/(1 + eˣ) = σ(x)
            UnaryOp::Softplus => sigmoid(x),
            // d/dx xᵖ = p·xᵖ⁻¹
            UnaryOp::PowScalar(p) => {
                if p == 0.0 {
                    0.0
                } else {
                    p * x.powf(p - 1.0)
                }
            }
            // d/dx (x + c) = 1
            UnaryOp::AddScalar(_) => 1.0,
            // d/dx c·x = c
            UnaryOp::MulScalar(c) => c,
            // 1 inside [lo, hi] (bounds included, as PyTorch), 0 where clamped
            UnaryOp::Clamp(lo, hi) => {
                if x >= lo && x <= hi {
                    1.0
                } else {
                    0.0
                }
            }
            // a cast passes the gradient through (PyTorch's `.to(dtype)` backward casts it back)
            UnaryOp::RoundBf16 | UnaryOp::RoundFp16 => 1.0,
        }
    }
    // ANCHOR_END: derivative
}
