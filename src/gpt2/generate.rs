//! Text generation: greedy decoding and sampling (temperature, top-k, top-p) with a seed, using
//! the KV cache so each new token costs one position's computation.

use super::model::{Gpt2, KvCache};
use crate::autograd::no_grad;
use crate::int_tensor::IntTensor;
use rand::Rng;

/// How the next token is chosen from the logits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    /// 0 = greedy (argmax); otherwise logits are divided by it before the softmax.
    pub temperature: f32,
    /// Keep only the k most likely tokens (0 = all).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches p (1 = all).
    pub top_p: f32,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling { temperature: 0.0, top_k: 0, top_p: 1.0 }
    }
}

/// Picks a token from one row of logits.
pub fn sample(logits: &[f32], s: &Sampling, rng: &mut impl Rng) -> usize {
    let argmax = || {
        logits.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &v)| if v > best.1 { (i, v) } else { best }).0
    };
    if s.temperature <= 0.0 {
        return argmax();
    }
    // probabilities of the candidates, most likely first
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if s.top_k > 0 {
        order.truncate(s.top_k);
    }
    let m = logits[order[0]];
    let mut probs: Vec<f64> = order.iter().map(|&i| (((logits[i] - m) / s.temperature) as f64).exp()).collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if s.top_p < 1.0 {
        let mut acc = 0.0;
        let keep = probs.iter().position(|&p| {
            acc += p;
            acc >= s.top_p as f64
        });
        let keep = keep.map(|k| k + 1).unwrap_or(probs.len());
        order.truncate(keep);
        probs.truncate(keep);
    }
    let total: f64 = probs.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (&i, &p) in order.iter().zip(&probs) {
        if u < p {
            return i;
        }
        u -= p;
    }
    order[order.len() - 1]
}

impl Gpt2 {
    /// Continues `prompt` by `max_new` tokens (stopping early at `eos`, if given).
    pub fn generate(
        &self,
        prompt: &[u32],
        max_new: usize,
        sampling: &Sampling,
        eos: Option<u32>,
        rng: &mut impl Rng,
    ) -> Vec<u32> {
        self.generate_streaming(prompt, max_new, sampling, eos, rng, &mut |_| true)
    }

    /// [`Gpt2::generate`] that hands each new token to `on_token` as soon as it is chosen; when
    /// `on_token` returns false (a reader who left) generation stops there. The tokens are the
    /// same as `generate`'s for the same seed.
    pub fn generate_streaming(
        &self,
        prompt: &[u32],
        max_new: usize,
        sampling: &Sampling,
        eos: Option<u32>,
        rng: &mut impl Rng,
        on_token: &mut dyn FnMut(u32) -> bool,
    ) -> Vec<u32> {
        assert!(!prompt.is_empty(), "generate: the prompt needs at least one token");
        let _guard = no_grad();
        let mut cache = KvCache::new(self);
        let mut out = prompt.to_vec();
        let mut next_input: Vec<i64> = prompt.iter().map(|&t| t as i64).collect();
        for _ in 0..max_new {
            if cache.len() + next_input.len() > self.config.n_positions {
                break;
            }
            let ids = IntTensor::from_vec(next_input.clone(), [1, next_input.len()]);
            let logits = self.forward_cached(&ids, &mut cache); // (1, T_new, V)
            let v = self.config.vocab_size;
            let last = logits.narrow(1, logits.dims()[1] - 1, 1).reshape([v]).to_vec();
            let token = sample(&last, sampling, rng) as u32;
            out.push(token);
            if !on_token(token) || Some(token) == eos {
                break;
            }
            next_input = vec![token as i64];
        }
        out
    }
}
