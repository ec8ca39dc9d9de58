//! Chapter 17 — fitting in memory: a block of weights in NF4, what LoRA trains and what
//! fine-tuning holds, a float in bfloat16, and
//! the loss scaler of fp16 training.
//! Reference solutions. Read: book/src/ch17-memory.md

/// QLoRA's 16 NF4 levels, ascending in [−1, 1] (bitsandbytes' table).
pub const NF4: [f32; 16] = gradschool::quant::NF4;

// ex 17.1
/// One block of NF4 (QLoRA): `absmax` is the block's largest |value|; each value divided by it
/// goes to the nearest of the 16 levels, and its code is that level's index (a value exactly
/// halfway between two levels goes to the upper one). A block of zeros has absmax 0 and every
/// code that of level 0.0 (index 7).
pub fn nf4_quantize_block(block: &[f32]) -> (Vec<u8>, f32) {
    let absmax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let code = |v: f32| -> u8 {
        let x = if absmax > 0.0 { v / absmax } else { 0.0 };
        // the levels below x's position: count the midpoints x reaches
        NF4.windows(2).take_while(|w| x >= 0.5 * (w[0] + w[1])).count() as u8
    };
    (block.iter().map(|&v| code(v)).collect(), absmax)
}

/// The values NF4 codes stand for: each code's level times the block's absmax.
pub fn nf4_dequantize_block(codes: &[u8], absmax: f32) -> Vec<f32> {
    codes.iter().map(|&c| NF4[c as usize] * absmax).collect()
}

// ex 17.2
/// The parameters LoRA of rank `r` trains on a model whose adapted linear layers have the
/// shapes `layers` (in, out features): A is (r, in), B is (out, r).
pub fn lora_trainable(layers: &[(usize, usize)], r: usize) -> usize {
    layers.iter().map(|&(n_in, n_out)| r * (n_in + n_out)).sum()
}

/// The bytes fine-tuning with AdamW holds for a model of `params` f32 parameters of which
/// `trainable` train: every weight, one gradient per trainable parameter, and AdamW's two
/// moments (exp_avg, exp_avg_sq) per trainable parameter — activations aside.
pub fn fine_tuning_bytes(params: usize, trainable: usize) -> usize {
    4 * params + 4 * trainable + 8 * trainable
}

// ex 17.3
/// `x` rounded to bfloat16, as its 16 bits: the top half of the f32's bits, rounded to nearest
/// with ties to even on the 16 bits dropped. A NaN keeps its sign and the top of its payload,
/// with the quiet bit (0x0040) set.
pub fn bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x0040) as u16;
    }
    // add half an ulp of bf16, minus one unless the kept part is odd (ties to even); a carry
    // into the exponent is right: it rounds up to the next binade, or to infinity
    let lsb = (bits >> 16) & 1;
    ((bits + 0x7fff + lsb) >> 16) as u16
}

// ex 17.4
/// One `GradScaler.update()` of fp16 training: given the loss scale S, the clean steps counted
/// since S last changed, and whether this step's gradients held an inf or NaN, the new
/// (S, count). PyTorch's rules: on inf/NaN, S × 0.5 and the count restarts at 0; otherwise one
/// more clean step, and when the count reaches `growth_interval`, S × 2 (unless that overflows
/// f32 to ∞: then S stays) and the count restarts.
pub fn loss_scale_update(scale: f32, clean_steps: usize, found_inf: bool, growth_interval: usize) -> (f32, usize) {
    if found_inf {
        (scale * 0.5, 0)
    } else if clean_steps + 1 == growth_interval {
        let grown = scale * 2.0;
        (if grown.is_finite() { grown } else { scale }, 0)
    } else {
        (scale, clean_steps + 1)
    }
}
