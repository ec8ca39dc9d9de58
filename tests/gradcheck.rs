//! Finite-difference gradient checks of every differentiable op, activation and loss:
//! the analytic gradient from backward() must match central differences (see
//! `gradschool::gradcheck`). Inputs avoid kinks (relu/abs at 0, clamp bounds, max ties), where
//! a finite difference straddles two one-sided derivatives.

use gradschool::nn::functional as F;
use gradschool::{gradcheck, manual_seed, ClassLossOptions, IntTensor, Reduction, Tensor};

/// Seeded N(0, 1) values with every |x| ≥ 0.1, so kinks at 0 are more than the step away.
fn randn(shape: &[usize], seed: u64) -> Tensor {
    let t = Tensor::randn(shape, &mut manual_seed(seed));
    let v = t.to_vec().into_iter().map(|x| if x.abs() < 0.1 { x + 0.2 * x.signum() } else { x }).collect();
    Tensor::from_vec(v, shape)
}

/// Seeded values in [0.5, 2.5): inside the domain of log, sqrt, fractional powers.
fn positive(shape: &[usize], seed: u64) -> Tensor {
    Tensor::uniform(shape, 0.5, 2.5, &mut manual_seed(seed))
}

fn check(name: &str, f: impl Fn(&[Tensor]) -> Tensor, inputs: &[&Tensor]) {
    let inputs: Vec<Tensor> = inputs.iter().map(|&t| t.clone()).collect();
    let report = gradcheck(f, &inputs);
    assert!(report.passed(), "{name}: {report}");
    assert!(report.checked > 0, "{name}: nothing was checked");
}

#[test]
fn unary_ops_and_activations() {
    let x = randn(&[3, 4], 1);
    let p = positive(&[3, 4], 2);
    check("neg", |t| t[0].neg(), &[&x]);
    check("exp", |t| t[0].exp(), &[&x]);
    check("log", |t| t[0].log(), &[&p]);
    check("sqrt", |t| t[0].sqrt(), &[&p]);
    check("abs", |t| t[0].abs(), &[&x]);
    check("square", |t| t[0].square(), &[&x]);
    check("powf", |t| t[0].powf(2.5), &[&p]);
    check("add_scalar", |t| t[0].add_scalar(3.0), &[&x]);
    check("mul_scalar", |t| t[0].mul_scalar(-2.0), &[&x]);
    check("clamp", |t| t[0].clamp(-0.75, 0.75), &[&Tensor::from_vec(vec![-2.0, -0.5, 0.2, 0.6, 1.4, -0.9], [6])]);
    check("relu", |t| t[0].relu(), &[&x]);
    check("leaky_relu", |t| t[0].leaky_relu(0.01), &[&x]);
    check("sigmoid", |t| t[0].sigmoid(), &[&x]);
    check("tanh", |t| t[0].tanh(), &[&x]);
    check("gelu", |t| t[0].gelu(), &[&x]);
    check("gelu_tanh", |t| t[0].gelu_tanh(), &[&x]);
    check("silu", |t| t[0].silu(), &[&x]);
    check("swish", |t| t[0].swish(1.7), &[&x]);
    check("softplus", |t| t[0].softplus(), &[&x]);
}

#[test]
fn binary_ops_with_broadcasting() {
    let a = randn(&[2, 3, 4], 3);
    let row = randn(&[4], 4);
    let col = randn(&[3, 1], 5);
    check("add", |t| &t[0] + &t[1], &[&a, &row]);
    check("sub", |t| &t[0] - &t[1], &[&a, &col]);
    check("mul", |t| &t[0] * &t[1], &[&a, &col]);
    check("div", |t| &t[0] / &t[1], &[&a, &positive(&[3, 1], 6)]);
    check("pow", |t| t[0].pow(&t[1]), &[&positive(&[3, 4], 7), &randn(&[4], 8)]);
    check("maximum", |t| t[0].maximum(&t[1]), &[&randn(&[3, 4], 9), &randn(&[4], 10)]);
    check("minimum", |t| t[0].minimum(&t[1]), &[&randn(&[3, 1], 11), &randn(&[3, 4], 12)]);
    check("scalar lhs", |t| (2.0 - &t[0]) / 3.0 + 1.0 / &t[1], &[&col, &positive(&[3, 1], 13)]);
}

#[test]
fn reductions() {
    let x = randn(&[2, 3, 4], 14);
    check("sum", |t| t[0].sum(), &[&x]);
    check("sum_dims", |t| t[0].sum_dims(&[0, 2], false), &[&x]);
    check("mean", |t| t[0].mean_dims(&[-1], true), &[&x]);
    check("max", |t| t[0].max_dims(&[1], false), &[&x]);
    check("min", |t| t[0].min(), &[&x]);
    check("var", |t| t[0].var_dims(&[1], true, 1), &[&x]);
    check("var all", |t| t[0].var(), &[&x]);
}

#[test]
fn matmul_all_shapes() {
    check("2d", |t| t[0].matmul(&t[1]), &[&randn(&[3, 4], 15), &randn(&[4, 2], 16)]);
    check("batched", |t| t[0].matmul(&t[1]), &[&randn(&[2, 3, 4], 17), &randn(&[2, 4, 2], 18)]);
    check("broadcast batch", |t| t[0].matmul(&t[1]), &[&randn(&[2, 1, 3, 4], 19), &randn(&[3, 4, 2], 20)]);
    check("matrix @ batch", |t| t[0].matmul(&t[1]), &[&randn(&[3, 4], 21), &randn(&[2, 4, 2], 22)]);
    check("vector cases", |t| t[0].matmul(&t[1]).matmul(&t[0]), &[&randn(&[4], 23), &randn(&[4, 4], 24)]);
    check(
        "linear",
        |t| t[0].linear(&t[1], Some(&t[2])),
        &[&randn(&[2, 3, 4], 27), &randn(&[5, 4], 28), &randn(&[5], 29)],
    );
    check("transposed", |t| t[0].t().matmul(&t[1]), &[&randn(&[4, 3], 25), &randn(&[4, 2], 26)]);
    check(
        "addmm (Conv1D)",
        |t| Tensor::addmm(&t[2], &t[0], &t[1]),
        &[&randn(&[2, 3, 4], 30), &randn(&[4, 5], 31), &randn(&[5], 32)],
    );
    // q·kᵀ with k read transposed in place: both gradients, batch dims broadcast
    check("matmul_t", |t| t[0].matmul_t(&t[1]), &[&randn(&[2, 2, 3, 4], 33), &randn(&[2, 2, 5, 4], 34)]);
    check("matmul_t broadcast", |t| t[0].matmul_t(&t[1]), &[&randn(&[2, 3, 4], 35), &randn(&[5, 4], 36)]);
}

#[test]
fn movement_ops() {
    let x = randn(&[2, 3, 4], 27);
    check("reshape", |t| t[0].reshape([6, 4]).square(), &[&x]);
    check("permute", |t| t[0].permute(&[2, 0, 1]).exp(), &[&x]);
    check("transpose", |t| t[0].transpose(0, -1).tanh(), &[&x]);
    check("broadcast_to", |t| t[0].broadcast_to(&[2, 3, 4]).square(), &[&randn(&[3, 1], 28)]);
    check("squeeze/unsqueeze", |t| t[0].unsqueeze(1).squeeze(1).exp(), &[&x]);
    check("narrow", |t| t[0].narrow(1, 1, 2).square(), &[&x]);
    // the heads of columns 4..10 of (2, 3, 12): 3 heads of 2; the columns outside get 0
    check("split_heads", |t| t[0].split_heads(4, 6, 3).square(), &[&randn(&[2, 3, 12], 37)]);
    // the same input split twice, as q and k are from one qkv: the two windows' gradients add up
    check(
        "split_heads twice",
        |t| t[0].split_heads(0, 4, 2).matmul_t(&t[0].split_heads(4, 4, 2)),
        &[&randn(&[2, 3, 8], 38)],
    );
    check("cat", |t| Tensor::cat(&[&t[0], &t[1], &t[0]], 1).square(), &[&randn(&[2, 2], 29), &randn(&[2, 3], 30)]);
    check("stack", |t| Tensor::stack(&[&t[0], &t[1]], 0).tanh(), &[&randn(&[2, 3], 31), &randn(&[2, 3], 32)]);
}

#[test]
fn indexing_ops() {
    let idx = IntTensor::new(&[2, 0, 2, 1]);
    check("index_select", |t| t[0].index_select(0, &idx).square(), &[&randn(&[3, 4], 33)]);
    let g = IntTensor::from_vec(vec![1, 0, 3, 3, 2, 0], [3, 2]);
    check("gather", |t| t[0].gather(1, &g).square(), &[&randn(&[3, 4], 34)]);
    let ids = IntTensor::from_vec(vec![0, 3, 3, 1], [2, 2]);
    check("embedding", |t| t[0].embedding(&ids).tanh(), &[&randn(&[4, 3], 35)]);
    let cond = Tensor::from_vec(vec![1.0, 0.0, 1.0], [3, 1]);
    check("where", |t| Tensor::where_cond(&cond, &t[0], &t[1]).square(), &[&randn(&[3, 4], 36), &randn(&[4], 37)]);
    let causal = Tensor::from_vec(vec![0., 1., 1., 0., 0., 1., 0., 0., 0.], [3, 3]);
    check("masked softmax", |t| t[0].masked_fill(&causal, f32::NEG_INFINITY).softmax(-1), &[&randn(&[2, 3, 3], 38)]);
}

#[test]
fn fused_layer_norm() {
    check(
        "layer_norm",
        |t| t[0].layer_norm(&t[1], &t[2], 1e-5),
        &[&randn(&[2, 3, 5], 43), &randn(&[5], 44), &randn(&[5], 45)],
    );
    // 19 columns: the kernels' 8-lane sums (two blocks of 8) and their 3-column tail
    check(
        "layer_norm 19",
        |t| t[0].layer_norm(&t[1], &t[2], 1e-5),
        &[&randn(&[3, 19], 46), &randn(&[19], 47), &randn(&[19], 48)],
    );
}

#[test]
fn softmax_family() {
    let x = randn(&[2, 3, 4], 39);
    check("softmax", |t| t[0].softmax(-1), &[&x]);
    check("softmax dim 1", |t| t[0].softmax(1), &[&x]);
    check("log_softmax", |t| t[0].log_softmax(-1), &[&x]);
    check("log_softmax dim 0", |t| t[0].log_softmax(0), &[&x]);
    // scale, causal fill and softmax in one op: finite differences through the unmasked scores
    let causal = Tensor::from_vec((0..16).map(|i| if i % 4 > i / 4 { 1.0 } else { 0.0 }).collect(), [4, 4]);
    check("masked_softmax", |t| t[0].masked_softmax(&causal, f32::MIN, 0.5).square(), &[&randn(&[2, 4, 4], 39)]);
}

#[test]
fn losses() {
    let (a, b) = (randn(&[4, 3], 40), randn(&[4, 3], 41));
    let y = IntTensor::new(&[2, -100, 0, 1]);
    check("mse", |t| F::mse_loss(&t[0], &t[1], Reduction::Mean), &[&a, &b]);
    check("euclidean", |t| F::euclidean_loss(&t[0], &t[1], Reduction::Sum), &[&a, &b]);
    check("cosine", |t| F::cosine_similarity(&t[0], &t[1], -1), &[&a, &b]);
    let pm = Tensor::from_vec(vec![1.0, -1.0, 1.0, -1.0], [4]);
    check("cosine_embedding", |t| F::cosine_embedding_loss(&t[0], &t[1], &pm, -0.9, Reduction::Mean), &[&a, &b]);
    check("nll", |t| F::nll_loss(&t[0].log_softmax(-1), &y), &[&a]);
    check("cross_entropy", |t| F::cross_entropy(&t[0], &y), &[&a]);
    let smooth = ClassLossOptions { label_smoothing: 0.2, reduction: Reduction::Sum, ..Default::default() };
    check("cross_entropy smoothing", |t| F::cross_entropy_with(&t[0], &y, smooth), &[&a]);
    let targets = Tensor::uniform([4, 3], 0.0, 1.0, &mut manual_seed(42));
    check("bce", |t| F::binary_cross_entropy(&t[0].sigmoid(), &targets, Reduction::Mean), &[&a]);
    check("bce_with_logits", |t| F::binary_cross_entropy_with_logits(&t[0], &targets, Reduction::Mean), &[&a]);
    check("kl_div", |t| F::kl_div(&t[0].log_softmax(-1), &t[1].softmax(-1), Reduction::BatchMean), &[&a, &b]);
    check(
        "weighted sum L1 + λ·L2",
        |t| F::cross_entropy(&t[0], &y) + F::mse_loss(&t[0], &t[1], Reduction::Mean) * 0.3,
        &[&a, &b],
    );
}

#[test]
fn gradcheck_reports_a_wrong_gradient() {
    // A deliberately wrong "gradient": detach one factor of x·x, so autograd sees d/dx = x
    // instead of 2x. gradcheck must fail and name the input and element.
    let x = Tensor::from_vec(vec![1.0, 2.0, 3.0], [3]);
    let report = gradcheck(|t| &t[0] * &t[0].detach(), &[x]);
    assert!(!report.passed());
    let text = report.to_string();
    assert!(text.contains("FAILED") && text.contains("input 0"), "{text}");
}
