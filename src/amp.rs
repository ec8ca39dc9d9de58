//! Automatic mixed precision (`torch.autocast`): while an [`autocast`] guard is alive on this
//! thread, every matrix product (`matmul`, `linear`, and the layers built on them) runs in 16
//! bits — its inputs rounded to bfloat16 or fp16, the products summed in f32, the result rounded
//! again — while everything else (the loss, softmax, layer norms, the optimizer and the master
//! weights) stays f32. A leaf module, like `grad_mode`, so the ops can read it.
//!
//! The values are f32 tensors that hold 16-bit-representable numbers: a product of two bfloat16s
//! (8 significant bits each) has at most 16 significant bits, so it is exact in f32, and an f32
//! GEMM on rounded inputs adds up exactly what a bf16 GEMM with f32 accumulation adds up. The
//! numerics are the GPU's; the memory and speed are f32's (see ARCHITECTURE.md, "Mixed
//! precision", for how a 16-bit storage would fit without a type parameter on `Tensor`). The
//! rounding formulas live here too; the backend's `UnaryOp::RoundBf16`/`RoundFp16` call them.

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;

/// The number format of the matrix products.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// Plain f32 everywhere.
    #[default]
    F32,
    /// bfloat16: f32's 8 exponent bits (same range), 7 mantissa bits.
    Bf16,
    /// IEEE half: 5 exponent bits (largest 65,504; smallest normal 6.1e-5), 10 mantissa bits.
    /// Training in it needs a loss scaler ([`crate::optim::GradScaler`]).
    Fp16,
}

impl Precision {
    /// `x` as this format holds it.
    pub fn round(self, x: f32) -> f32 {
        match self {
            Precision::F32 => x,
            Precision::Bf16 => round_bf16(x),
            Precision::Fp16 => round_fp16(x),
        }
    }

    /// The flag's spelling: `f32`, `bf16` or `fp16`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::Fp16 => "fp16",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Precision, String> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(Precision::F32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            "fp16" | "f16" | "float16" | "half" => Ok(Precision::Fp16),
            _ => Err(format!("--precision: expected f32, bf16 or fp16, got `{s}`")),
        }
    }
}

/// `x` rounded to the nearest bfloat16 — f32's top 16 bits — with ties to even, as an f32 (every
/// bfloat16 is one). The dropped 16 bits are rounded by adding 0x7fff plus the kept part's lowest
/// bit: below half rounds down, above rounds up, exactly half goes to the even neighbour. A carry
/// may run into the exponent, which is right (1.99… rounds to 2.0); the largest finite values
/// round to ∞, as in hardware. NaN stays NaN.
#[inline(always)]
pub fn round_bf16(x: f32) -> f32 {
    let bits = x.to_bits();
    let rounded = f32::from_bits(bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) & 0xffff_0000);
    // selects, not early returns: the loop over a tensor stays branch-free and vectorises
    if x.is_nan() {
        x
    } else {
        rounded
    }
}

/// `x` rounded to the nearest IEEE half (fp16: 5 exponent bits, 10 of mantissa), ties to even, as
/// an f32. In fp16's normal range the same bit rounding as bfloat16's, on the 13 bits fp16 drops;
/// below 2⁻¹⁴ halves are evenly spaced 2⁻²⁴ apart (subnormals), so x rounds to a multiple of
/// 2⁻²⁴; past 65,504 (after rounding) it overflows to ±∞ — which is what loss scaling watches for.
#[inline(always)]
pub fn round_fp16(x: f32) -> f32 {
    const MIN_NORMAL: f32 = 6.103_515_6e-5; // 2⁻¹⁴
    const TWO_POW_24: f32 = 16_777_216.0;
    // both candidates, then selects (branch-free, so the loop vectorises): scaling by 2²⁴ is exact
    let subnormal = (x * TWO_POW_24).round_ties_even() / TWO_POW_24;
    let bits = x.to_bits();
    let normal = f32::from_bits(bits.wrapping_add(0xfff + ((bits >> 13) & 1)) & 0xffff_e000);
    let normal = if normal.abs() > 65504.0 { f32::INFINITY.copysign(x) } else { normal };
    let rounded = if x.abs() < MIN_NORMAL { subnormal } else { normal };
    if x.is_nan() {
        x
    } else {
        rounded
    }
}

thread_local! {
    static AUTOCAST: Cell<Precision> = const { Cell::new(Precision::F32) };
}

/// The precision of the matrix products on this thread now.
pub fn autocast_precision() -> Precision {
    AUTOCAST.with(|p| p.get())
}

/// Restores the previous precision when dropped. See [`autocast`].
#[must_use = "autocast lasts only while the guard is alive: `let _guard = autocast(Precision::Bf16);`"]
pub struct AutocastGuard {
    prev: Precision,
}

impl Drop for AutocastGuard {
    fn drop(&mut self) {
        AUTOCAST.with(|p| p.set(self.prev));
    }
}

/// Runs the matrix products in `precision` until the guard is dropped, like
/// `with torch.autocast(device_type, dtype=torch.bfloat16):`. Run the forward pass and the loss
/// inside it and `backward()` after it: each product's backward remembers the precision it ran in.
///
/// ```
/// use gradschool::amp::{autocast, Precision};
/// use gradschool::Tensor;
/// let a = Tensor::from_vec(vec![1.0 + 1.0 / 256.0], [1, 1]); // not a bfloat16: 9 significant bits
/// let y = {
///     let _guard = autocast(Precision::Bf16);
///     a.matmul(&Tensor::ones([1, 1]))
/// };
/// assert_eq!(y.to_vec(), vec![1.0]); // rounded to bfloat16 (ties to even) before the product
/// ```
pub fn autocast(precision: Precision) -> AutocastGuard {
    AutocastGuard { prev: AUTOCAST.with(|p| p.replace(precision)) }
}
