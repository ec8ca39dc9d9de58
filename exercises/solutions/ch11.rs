//! Chapter 11 — fine-tuning GPT-2 for sentiment: the course's `process_fn`, the masked
//! next-token loss, LoRA's forward and merge, gradient clipping, and label-token accuracy.
//! Reference solutions. Read: book/src/ch11-finetuning.md

/// −100: a label position the loss ignores (PyTorch's `ignore_index`).
pub const IGNORE: i64 = -100;

// ex 11.1
/// The course's `process_fn` for one review: `tokens + [eos, label]`; when that is at least
/// `max_len` long, keep its last `max_len` tokens (the label stays last); else pad ids with 0 to
/// `max_len`. Returns (input_ids, attention_mask, labels): the mask is 1 on real tokens, 0 on
/// padding; labels are −100 everywhere except the label token's own position.
pub fn process_example(tokens: &[u32], label: u32, eos: u32, max_len: usize) -> (Vec<i64>, Vec<f32>, Vec<i64>) {
    let mut ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    ids.extend([eos as i64, label as i64]);
    if ids.len() >= max_len {
        let ids = ids[ids.len() - max_len..].to_vec();
        let mut labels = vec![IGNORE; max_len - 1];
        labels.push(label as i64);
        return (ids, vec![1.0; max_len], labels);
    }
    let n = ids.len();
    let mut labels = vec![IGNORE; n - 1];
    labels.push(label as i64);
    labels.resize(max_len, IGNORE);
    let mut mask = vec![1.0; n];
    mask.resize(max_len, 0.0);
    ids.resize(max_len, 0);
    (ids, mask, labels)
}

// ex 11.2
/// The loss Hugging Face computes from `labels` for one sequence of `t` positions with `v`
/// logits each: position i predicts labels[i + 1] (the last position predicts nothing); the
/// mean cross-entropy over the pairs whose label is not −100 (0 if there are none).
pub fn masked_lm_loss(logits: &[f32], labels: &[i64], t: usize, v: usize) -> f32 {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for i in 0..t.saturating_sub(1) {
        let target = labels[i + 1];
        if target == IGNORE {
            continue;
        }
        let row = &logits[i * v..(i + 1) * v];
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = m + row.iter().map(|&x| (x - m).exp()).sum::<f32>().ln();
        sum += (lse - row[target as usize]) as f64;
        n += 1;
    }
    if n == 0 {
        0.0
    } else {
        (sum / n as f64) as f32
    }
}

fn matmul(a: &[f32], b: &[f32], n: usize, k: usize, m: usize) -> Vec<f32> {
    let mut out = vec![0.0; n * m];
    for i in 0..n {
        for p in 0..k {
            let aip = a[i * k + p];
            for j in 0..m {
                out[i * m + j] += aip * b[p * m + j];
            }
        }
    }
    out
}

fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..rows * cols).map(|k| a[(k % rows) * cols + k / rows]).collect()
}

// ex 11.3
/// A LoRA-adapted GPT-2 projection for x (B, IN): y = x·W + (α/r)·x·Aᵀ·Bᵀ, with W (IN, OUT) as
/// GPT-2's Conv1D stores it, A (r, IN) and B (OUT, r) as PEFT's `lora_A` / `lora_B`.
pub fn lora_forward(x: &[f32], w: &[f32], a: &[f32], b: &[f32], dims: (usize, usize, usize, usize), alpha: f32) -> Vec<f32> {
    let (batch, n_in, n_out, r) = dims;
    let base = matmul(x, w, batch, n_in, n_out);
    let xa = matmul(x, &transpose(a, r, n_in), batch, n_in, r); // (B, r)
    let update = matmul(&xa, &transpose(b, n_out, r), batch, r, n_out);
    let s = alpha / r as f32;
    base.iter().zip(&update).map(|(y, u)| y + s * u).collect()
}

// ex 11.4
/// Folds the adapter into the weight: the W′ (IN, OUT) with x·W′ = lora_forward(x) for every x.
pub fn lora_merge(w: &[f32], a: &[f32], b: &[f32], dims: (usize, usize, usize), alpha: f32) -> Vec<f32> {
    let (n_in, n_out, r) = dims;
    let ba = matmul(b, a, n_out, r, n_in); // (OUT, IN)
    let delta = transpose(&ba, n_out, n_in); // (IN, OUT)
    let s = alpha / r as f32;
    w.iter().zip(&delta).map(|(w, d)| w + s * d).collect()
}

// ex 11.5
/// Clips gradients by their global L2 norm, as `torch.nn.utils.clip_grad_norm_`: the norm of all
/// of them together; if it exceeds `max_norm`, scale every gradient by max_norm / (norm + 1e-6).
/// Returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [Vec<f32>], max_norm: f32) -> f32 {
    let total: f64 = grads.iter().flatten().map(|&g| (g as f64) * (g as f64)).sum();
    let norm = total.sqrt() as f32;
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        grads.iter_mut().flatten().for_each(|g| *g *= coef);
    }
    norm
}

// ex 11.6
/// Sentiment accuracy as chapter 11 measures it: each row of `logits` (rows of `v`) is the model's
/// output at one review's EOS; its prediction is the label (index into `label_tokens`) whose
/// token has the highest logit among the label tokens only — ties to the earlier label. The
/// fraction of rows whose prediction equals `targets` (label indices).
pub fn label_accuracy(logits: &[f32], v: usize, label_tokens: &[u32], targets: &[usize]) -> f64 {
    let mut hits = 0;
    for (row, &want) in logits.chunks(v).zip(targets) {
        let mut best = 0;
        for (i, &t) in label_tokens.iter().enumerate() {
            if row[t as usize] > row[label_tokens[best] as usize] {
                best = i;
            }
        }
        hits += usize::from(best == want);
    }
    hits as f64 / targets.len().max(1) as f64
}
