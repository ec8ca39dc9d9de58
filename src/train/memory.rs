//! Where the bytes of a fine-tuning step go (`gradschool memory`): weights, gradients, AdamW's
//! state and activations, counted from the model itself, then one real step measured.

use crate::amp::{autocast, Precision};
use crate::autograd::Graph;
use crate::error::Result;
use crate::gpt2::Gpt2;
use crate::int_tensor::{IntTensor, IGNORE_INDEX};
use crate::nn::Module;
use crate::optim::{AdamW, Optimizer};
use rand::Rng;

/// The bytes of one fine-tuning step, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryAccount {
    /// Every weight as stored: f32 parameters at 4 bytes, a quantized base as its codes and
    /// scales, LoRA's adapters.
    pub weights: usize,
    /// Parameters that train.
    pub trainable: usize,
    /// One f32 gradient per trainable parameter.
    pub gradients: usize,
    /// AdamW's exp_avg and exp_avg_sq per trainable parameter.
    pub optimizer: usize,
    /// The op outputs the autograd graph holds after the forward pass ([`Graph::held_bytes`]).
    pub activations: usize,
}

impl MemoryAccount {
    /// Weights, gradients, optimizer state and activations together.
    pub fn total(&self) -> usize {
        self.weights + self.gradients + self.optimizer + self.activations
    }
}

/// A batch shaped like the course's sentiment recipe: `batch` random sequences of `len` tokens,
/// each labelled at its last position only (−100 elsewhere).
pub fn sentiment_shaped_batch(vocab: usize, batch: usize, len: usize, seed: u64) -> (IntTensor, IntTensor) {
    let mut rng = crate::manual_seed(seed);
    let ids: Vec<i64> = (0..batch * len).map(|_| rng.random_range(0..vocab as i64)).collect();
    let labels: Vec<i64> = (0..batch * len).map(|i| if i % len == len - 1 { ids[i] } else { IGNORE_INDEX }).collect();
    (IntTensor::from_vec(ids, [batch, len]), IntTensor::from_vec(labels, [batch, len]))
}

/// The account of one AdamW step of `model` (set up as it will train: LoRA, a quantized base,
/// checkpointing) on `ids` with `labels`, counted while the step really runs: the graph is
/// measured after the forward pass, then backward and the optimizer step complete.
pub fn account_step(model: &Gpt2, ids: &IntTensor, labels: &IntTensor, precision: Precision) -> Result<MemoryAccount> {
    let params = model.trainable_parameters();
    let trainable: usize = params.iter().map(|p| p.numel()).sum();
    let mut opt = AdamW::new(params, 2e-5);
    let (loss, _, _) = {
        let _autocast = autocast(precision); // the forward pass, as the trainer runs it
        model.labelled_loss(&model.hidden(ids, None), labels)
    };
    let activations = Graph::held_bytes(&loss);
    loss.backward();
    opt.step();
    Ok(MemoryAccount {
        weights: model.weight_bytes(),
        trainable,
        gradients: 4 * trainable,
        optimizer: opt
            .state()
            .to_tensors()
            .iter()
            .filter(|(n, _)| !n.ends_with(".step"))
            .map(|(_, t)| 4 * t.numel())
            .sum(),
        activations,
    })
}

/// Linux's count of this process's memory (`/proc/self/status`): `VmRSS` now or `VmHWM`, its
/// peak; `None` elsewhere.
pub fn proc_status_bytes(field: &str) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse::<usize>().ok().map(|kib| kib * 1024)
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS (Linux ≥ 4.0), so that the peak
/// of what follows can be read; false where the kernel does not allow it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Every parameter of `model` (frozen ones too), as f32 would store them: what the weights
/// would cost unquantized.
pub fn f32_weight_bytes(model: &Gpt2) -> usize {
    let adapters: usize = model.lora_parameters().iter().map(|(_, t)| t.numel()).sum();
    let quantized: usize = model
        .blocks
        .iter()
        .flat_map(|b| [&b.c_attn, &b.attn_proj, &b.c_fc, &b.mlp_proj])
        .filter(|c| c.quantized.is_some())
        .map(|c| c.in_out().0 * c.in_out().1)
        .sum();
    4 * (model.num_parameters() + adapters + quantized)
}
