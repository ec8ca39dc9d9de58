//! Loss functions (PyTorch's `torch.nn.functional` semantics), built from primitive ops so their
//! gradients follow from the chain rule. Weighted sums such as distillation's L = L₁ + λ·L₂ are
//! plain tensor arithmetic: `&l1 + &(l2 * lambda)`.

use crate::int_tensor::{IntTensor, IGNORE_INDEX};
use crate::tensor::Tensor;

/// How per-element losses become the returned value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The average (PyTorch's default). For nll/cross-entropy: over non-ignored targets.
    #[default]
    Mean,
    /// The sum.
    Sum,
    /// No reduction: one loss per element (or per sample).
    None,
    /// Sum divided by the batch size (dim 0); only [`kl_div`] takes it, as in PyTorch.
    BatchMean,
}

fn reduce(loss: Tensor, reduction: Reduction, op: &str) -> Tensor {
    match reduction {
        Reduction::Mean => loss.mean(),
        Reduction::Sum => loss.sum(),
        Reduction::None => loss,
        Reduction::BatchMean => panic!("{op}: reduction BatchMean is only defined for kl_div"),
    }
}

fn same_shape(op: &str, a: &Tensor, b: &Tensor) {
    assert_eq!(a.dims(), b.dims(), "{op}: input {} vs target {}", a.shape(), b.shape());
}

/// Mean squared error: ℓ = (x − y)², reduced (`F.mse_loss`).
// ANCHOR: mse
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Tensor {
    same_shape("mse_loss", input, target);
    reduce((input - target).square(), reduction, "mse_loss")
}
// ANCHOR_END: mse

/// Euclidean distance along the last dim, ‖x₁ − x₂ + ε‖₂ with ε = 1e-6
/// (`F.pairwise_distance(x1, x2)`; the ε keeps the gradient finite when x₁ = x₂).
pub fn pairwise_distance(x1: &Tensor, x2: &Tensor) -> Tensor {
    (x1 - x2).add_scalar(1e-6).square().sum_dims(&[-1], false).sqrt()
}

/// The course's Euclidean loss ℓ = ‖y − ŷ‖₂ per sample (last dim), reduced.
pub fn euclidean_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Tensor {
    same_shape("euclidean_loss", input, target);
    reduce(pairwise_distance(input, target), reduction, "euclidean_loss")
}

/// cos θ = x₁·x₂ / (max(‖x₁‖, ε)·max(‖x₂‖, ε)) along `dim`, ε = 1e-8 (`F.cosine_similarity`).
// ANCHOR: cosine
pub fn cosine_similarity(x1: &Tensor, x2: &Tensor, dim: isize) -> Tensor {
    let eps = 1e-8;
    let dot = (x1 * x2).sum_dims(&[dim], false);
    let n1 = x1.square().sum_dims(&[dim], false).sqrt().clamp(eps, f32::INFINITY);
    let n2 = x2.square().sum_dims(&[dim], false).sqrt().clamp(eps, f32::INFINITY);
    dot / (n1 * n2)
}
// ANCHOR_END: cosine

/// `F.cosine_embedding_loss`: 1 − cos(x₁, x₂) where y = 1, max(0, cos(x₁, x₂) − margin) where
/// y = −1; rows along the last dim, `y` of ±1 per row.
pub fn cosine_embedding_loss(x1: &Tensor, x2: &Tensor, y: &Tensor, margin: f32, reduction: Reduction) -> Tensor {
    same_shape("cosine_embedding_loss", x1, x2);
    let cos = cosine_similarity(x1, x2, -1);
    assert_eq!(y.dims(), cos.dims(), "cosine_embedding_loss: y {} vs {} rows", y.shape(), cos.shape());
    let positive = y.gt(&y.new_full([], 0.0));
    let loss = Tensor::where_cond(&positive, &(1.0 - &cos), &cos.add_scalar(-margin).relu());
    reduce(loss, reduction, "cosine_embedding_loss")
}

/// Options for [`nll_loss_with`] and [`cross_entropy_with`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassLossOptions {
    /// Targets with this value contribute nothing (default −100).
    pub ignore_index: i64,
    /// ε of label smoothing: the target becomes (1 − ε)·one_hot + ε/C (cross-entropy only).
    pub label_smoothing: f32,
    /// Reduction (default mean over non-ignored targets).
    pub reduction: Reduction,
}

impl Default for ClassLossOptions {
    fn default() -> Self {
        ClassLossOptions { ignore_index: IGNORE_INDEX, label_smoothing: 0.0, reduction: Reduction::Mean }
    }
}

/// Flattens `(…, C)` scores with `(…)` targets into `(N, C)` and `(N,)`. Returns the scores, the
/// targets with ignored entries replaced by 0, and a 0/1 mask of the kept ones.
fn flatten_targets(op: &str, scores: &Tensor, target: &IntTensor, ignore: i64) -> (Tensor, IntTensor, Tensor) {
    let rank = scores.rank();
    assert!(rank >= 1, "{op}: scores must have a class dimension, got shape {}", scores.shape());
    assert_eq!(
        &scores.dims()[..rank - 1],
        target.dims(),
        "{op}: scores {} vs target {} (class dim last)",
        scores.shape(),
        target.shape()
    );
    let c = scores.dims()[rank - 1];
    let n = target.numel();
    let mut safe = Vec::with_capacity(n);
    let mut keep = Vec::with_capacity(n);
    for &t in target.as_slice() {
        if t == ignore {
            safe.push(0);
            keep.push(0.0);
        } else {
            assert!(t >= 0 && (t as usize) < c, "{op}: target {t} out of range for {c} classes");
            safe.push(t);
            keep.push(1.0);
        }
    }
    (scores.reshape([n, c]), IntTensor::from_vec(safe, [n, 1]), scores.new_from_vec(keep, [n]))
}

/// Reduces per-sample losses where only `keep`-ed samples count.
fn reduce_kept(loss: Tensor, keep: &Tensor, reduction: Reduction, target: &IntTensor, op: &str) -> Tensor {
    match reduction {
        // Σ kept losses / number kept (NaN when every target is ignored, as PyTorch)
        Reduction::Mean => loss.sum() / keep.sum(),
        Reduction::Sum => loss.sum(),
        Reduction::None => loss.reshape(target.dims().to_vec()),
        Reduction::BatchMean => panic!("{op}: reduction BatchMean is only defined for kl_div"),
    }
}

/// Negative log-likelihood: ℓᵢ = −log pᵢ[yᵢ] for log-probabilities `(…, C)` and targets `(…)`
/// (`F.nll_loss`; class dim last), mean over non-ignored targets (−100).
pub fn nll_loss(log_probs: &Tensor, target: &IntTensor) -> Tensor {
    nll_loss_with(log_probs, target, ClassLossOptions::default())
}

/// [`nll_loss`] with options (ignore index, reduction).
pub fn nll_loss_with(log_probs: &Tensor, target: &IntTensor, opts: ClassLossOptions) -> Tensor {
    let (lp, safe, keep) = flatten_targets("nll_loss", log_probs, target, opts.ignore_index);
    let picked = lp.gather(1, &safe).reshape([safe.numel()]); // (N,)
    let loss = (picked * &keep).neg();
    reduce_kept(loss, &keep, opts.reduction, target, "nll_loss")
}

/// Cross-entropy from logits: ℓᵢ = −log softmax(zᵢ)[yᵢ] = logsumexp(zᵢ) − zᵢ[yᵢ]
/// (`F.cross_entropy`; = nll_loss ∘ log_softmax), mean over non-ignored targets.
pub fn cross_entropy(logits: &Tensor, target: &IntTensor) -> Tensor {
    cross_entropy_with(logits, target, ClassLossOptions::default())
}

/// [`cross_entropy`] with options. With label smoothing ε over C classes:
/// ℓᵢ = (1 − ε)·(−log pᵢ[yᵢ]) + ε·(−Σ_c log pᵢ[c] / C).
// ANCHOR: cross_entropy
pub fn cross_entropy_with(logits: &Tensor, target: &IntTensor, opts: ClassLossOptions) -> Tensor {
    let (z, safe, keep) = flatten_targets("cross_entropy", logits, target, opts.ignore_index);
    let eps = opts.label_smoothing;
    assert!((0.0..=1.0).contains(&eps), "cross_entropy: label_smoothing {eps} not in [0, 1]");
    let per_sample = if eps > 0.0 {
        // The definition, op by op: −log pᵢ[yᵢ] from log_softmax, plus the smoothing term.
        let lp = z.log_softmax(-1); // (N, C)
        let nll = lp.gather(1, &safe).reshape([safe.numel()]).neg();
        let c = z.dims()[1] as f32;
        let smooth = lp.sum_dims(&[-1], false).mul_scalar(-1.0 / c);
        nll.mul_scalar(1.0 - eps) + smooth.mul_scalar(eps)
    } else {
        // The same value from one fused kernel per row (logsumexp − the target's logit);
        // ignored rows are masked by `keep` below, so their gradient is zero.
        z.cross_entropy_rows(safe.as_slice())
    };
    reduce_kept(per_sample * &keep, &keep, opts.reduction, target, "cross_entropy")
}
// ANCHOR_END: cross_entropy

/// Binary cross-entropy on probabilities: ℓ = −(y·log p + (1 − y)·log(1 − p)), each log clamped
/// at −100 as PyTorch does so p ∈ {0, 1} gives a finite loss (`F.binary_cross_entropy`).
pub fn binary_cross_entropy(p: &Tensor, y: &Tensor, reduction: Reduction) -> Tensor {
    same_shape("binary_cross_entropy", p, y);
    let log_p = p.log().clamp(-100.0, f32::INFINITY);
    let log_1mp = (1.0 - p).log().clamp(-100.0, f32::INFINITY);
    let loss = (y * &log_p + (1.0 - y) * log_1mp).neg();
    reduce(loss, reduction, "binary_cross_entropy")
}

/// Binary cross-entropy on logits, stably: ℓ = softplus(x) − x·y, which equals
/// −(y·log σ(x) + (1 − y)·log(1 − σ(x))) (`F.binary_cross_entropy_with_logits`).
pub fn binary_cross_entropy_with_logits(x: &Tensor, y: &Tensor, reduction: Reduction) -> Tensor {
    same_shape("binary_cross_entropy_with_logits", x, y);
    reduce(x.softplus() - x * y, reduction, "binary_cross_entropy_with_logits")
}

/// Kullback–Leibler divergence with PyTorch's argument order: `input` holds log-probabilities
/// log q, `target` probabilities p; ℓ = p·(log p − log q), 0 where p = 0 (`F.kl_div`). Use
/// `Reduction::BatchMean` for the mathematical KL(p‖q) per sample.
// ANCHOR: kl_div
pub fn kl_div(input: &Tensor, target: &Tensor, reduction: Reduction) -> Tensor {
    same_shape("kl_div", input, target);
    // p·log p with 0·log 0 = 0: take the log of 1 where p = 0.
    let positive = target.gt(&target.new_full([], 0.0));
    let safe = Tensor::where_cond(&positive, target, &target.new_full([], 1.0));
    let loss = target * &(safe.log() - input);
    match reduction {
        Reduction::BatchMean => {
            let batch = if input.rank() == 0 { 1 } else { input.dims()[0] };
            loss.sum().mul_scalar(1.0 / batch as f32)
        }
        r => reduce(loss, r, "kl_div"),
    }
}
// ANCHOR_END: kl_div
