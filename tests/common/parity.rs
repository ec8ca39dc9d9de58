//! The PyTorch parity tables: every op, activation and loss of tests/reference/make_fixtures.py,
//! as (case, op) pairs, shared by the CPU suite (tests/pytorch_parity.rs) and the GPU suite
//! (tests/cuda_parity.rs).
#![allow(dead_code)]

use super::{assert_close, load_fixture, Value};
use gradschool::nn::functional as F;
use gradschool::{ClassLossOptions, Device, IntTensor, Reduction, Tensor};

/// An op under test: inputs in, output out.
pub type Op = fn(&[Value]) -> Tensor;

/// A family's cases with its relative and absolute tolerances.
pub type Table = (Vec<(&'static str, Op)>, f32, f32);

/// Runs every case of `family` through `table` with the inputs on `device`, comparing outputs and
/// gradients with PyTorch's (panics on the first difference).
pub fn check_family(family: &str, table: &[(&'static str, Op)], rtol: f32, atol: f32, device: &Device) {
    let fixture = load_fixture(family);
    let mut cases: Vec<String> = fixture.keys().map(|k| k.split('/').next().unwrap().to_string()).collect();
    cases.dedup();
    let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
    for c in &cases {
        assert!(names.contains(&c.as_str()), "{family}: fixture case `{c}` has no Rust counterpart in the table");
    }
    for (name, op) in table {
        assert!(cases.iter().any(|c| c == name), "{family}: `{name}` is not in the fixture file (regenerate it)");
        let mut inputs = Vec::new();
        while let Some(v) = fixture.get(&format!("{name}/in{}", inputs.len())) {
            let v = match v {
                Value::F(t) => {
                    let t = t.to(device).expect("device").detach();
                    let wants_grad = fixture.contains_key(&format!("{name}/grad{}", inputs.len()));
                    Value::F(if wants_grad { t.requires_grad_() } else { t })
                }
                other => other.clone(),
            };
            inputs.push(v);
        }
        let out = op(&inputs);
        assert_close(&format!("{family}/{name} forward"), &out, fixture[&format!("{name}/out")].f(), rtol, atol);
        let Some(gout) = fixture.get(&format!("{name}/gout")) else { continue };
        out.backward_with(&gout.f().to(device).expect("device"));
        for (i, input) in inputs.iter().enumerate() {
            if let Some(want) = fixture.get(&format!("{name}/grad{i}")) {
                let got = input.f().grad().unwrap_or_else(|| input.f().zeros_like());
                assert_close(&format!("{family}/{name} grad of input {i}"), &got, want.f(), rtol, atol);
            }
        }
    }
}

fn f(v: &[Value], i: usize) -> &Tensor {
    v[i].f()
}
fn ix(v: &[Value], i: usize) -> &IntTensor {
    v[i].i()
}
fn as_float(t: IntTensor) -> Tensor {
    Tensor::from_vec(t.as_slice().iter().map(|&x| x as f32).collect(), t.dims().to_vec())
}

fn opts(reduction: Reduction) -> ClassLossOptions {
    ClassLossOptions { reduction, ..Default::default() }
}

/// The `unary` family: (case, op) pairs matching make_fixtures.py, and the tolerances.
pub fn unary_table() -> Table {
    (
        vec![
            ("neg", |v| -f(v, 0)),
            ("exp", |v| f(v, 0).exp()),
            ("log", |v| f(v, 0).log()),
            ("sqrt", |v| f(v, 0).sqrt()),
            ("abs", |v| f(v, 0).abs()),
            ("square", |v| f(v, 0).square()),
            ("pow_scalar", |v| f(v, 0).powf(2.5)),
            ("pow_int", |v| f(v, 0).powf(3.0)),
            ("add_scalar", |v| f(v, 0) + 1.5),
            ("mul_scalar", |v| f(v, 0) * -0.75),
            ("rsub_scalar", |v| 1.0 - f(v, 0)),
            ("rdiv_scalar", |v| 2.0 / f(v, 0)),
            ("div_scalar", |v| f(v, 0) / 4.0),
            ("clamp", |v| f(v, 0).clamp(-0.5, 0.5)),
            ("relu", |v| f(v, 0).relu()),
            ("leaky_relu", |v| f(v, 0).leaky_relu(0.1)),
            ("sigmoid", |v| f(v, 0).sigmoid()),
            ("tanh", |v| f(v, 0).tanh()),
            ("gelu", |v| f(v, 0).gelu()),
            ("gelu_tanh", |v| f(v, 0).gelu_tanh()),
            ("silu", |v| f(v, 0).silu()),
            ("swish_beta", |v| f(v, 0).swish(1.5)),
            ("softplus", |v| f(v, 0).softplus()),
            ("chain", |v| (f(v, 0).exp() * 0.5).tanh().sqrt()),
        ],
        1e-5,
        1e-6,
    )
}

/// The `binary` family: (case, op) pairs matching make_fixtures.py, and the tolerances.
pub fn binary_table() -> Table {
    (
        vec![
            ("add_same", |v| f(v, 0) + f(v, 1)),
            ("add_row", |v| f(v, 0) + f(v, 1)),
            ("add_both_ways", |v| f(v, 0) + f(v, 1)),
            ("add_scalar_tensor", |v| f(v, 0) + f(v, 1)),
            ("sub_col", |v| f(v, 0) - f(v, 1)),
            ("mul_bcast", |v| f(v, 0) * f(v, 1)),
            ("mul_self", |v| f(v, 0) * f(v, 0)),
            ("div_bcast", |v| f(v, 0) / f(v, 1)),
            ("pow_tensor", |v| f(v, 0).pow(f(v, 1))),
            ("maximum", |v| f(v, 0).maximum(f(v, 1))),
            ("minimum", |v| f(v, 0).minimum(f(v, 1))),
            ("add_transposed", |v| f(v, 0).t() + f(v, 1)),
            ("mul_transposed_bcast", |v| f(v, 0).t() * f(v, 1)),
        ],
        1e-5,
        1e-6,
    )
}

/// The `reduce` family: (case, op) pairs matching make_fixtures.py, and the tolerances.
pub fn reduce_table() -> Table {
    (
        vec![
            ("sum_all", |v| f(v, 0).sum()),
            ("sum_dim0", |v| f(v, 0).sum_dims(&[0], false)),
            ("sum_dims_keep", |v| f(v, 0).sum_dims(&[0, 2], true)),
            ("sum_last", |v| f(v, 0).sum_dims(&[-1], false)),
            ("mean_all", |v| f(v, 0).mean()),
            ("mean_dim_keep", |v| f(v, 0).mean_dims(&[1], true)),
            ("max_all", |v| f(v, 0).max()),
            ("max_dim", |v| f(v, 0).max_dims(&[1], false)),
            ("min_dim_keep", |v| f(v, 0).min_dims(&[0], true)),
            ("var_all", |v| f(v, 0).var()),
            ("var_dim", |v| f(v, 0).var_dims(&[1], false, 1)),
            ("var_dims_pop_keep", |v| f(v, 0).var_dims(&[1, 2], true, 0)),
            ("argmax_dim", |v| as_float(f(v, 0).argmax(1, false))),
            ("argmin_last_keep", |v| as_float(f(v, 0).argmin(-1, true))),
            ("sum_transposed", |v| f(v, 0).t().sum_dims(&[0], false)),
            ("sum_large", |v| f(v, 0).sum_dims(&[1], false)),
        ],
        1e-4,
        1e-5,
    )
}

/// The `matmul` family: (case, op) pairs matching make_fixtures.py, and the tolerances.
pub fn matmul_table() -> Table {
    (
        vec![
            ("mm", |v| f(v, 0).matmul(f(v, 1))),
            ("bmm", |v| f(v, 0).matmul(f(v, 1))),
            ("bcast_batch", |v| f(v, 0).matmul(f(v, 1))),
            ("batch_times_matrix", |v| f(v, 0).matmul(f(v, 1))),
            ("matrix_times_batch", |v| f(v, 0).matmul(f(v, 1))),
            ("dot", |v| f(v, 0).matmul(f(v, 1))),
            ("vec_mat", |v| f(v, 0).matmul(f(v, 1))),
            ("mat_vec", |v| f(v, 0).matmul(f(v, 1))),
            ("batch_vec", |v| f(v, 0).matmul(f(v, 1))),
            ("at_b", |v| f(v, 0).t().matmul(f(v, 1))),
            ("a_bt", |v| f(v, 0).matmul(&f(v, 1).t())),
            ("mlp_layer", |v| (f(v, 0).matmul(&f(v, 1).t()) + f(v, 2)).relu()),
            ("large", |v| f(v, 0).matmul(f(v, 1))),
            ("linear", |v| f(v, 0).linear(f(v, 1), Some(f(v, 2)))),
            ("linear_no_bias", |v| f(v, 0).linear(f(v, 1), None)),
        ],
        1e-4,
        1e-5,
    )
}

/// The `movement` family: (case, op) pairs matching make_fixtures.py, and the tolerances.
pub fn movement_table() -> Table {
    (
        vec![
            ("reshape", |v| {
                f(v, 0).reshape([4, 6]) * f(v, 0).new_from_vec(Tensor::arange(0.0, 24.0, 1.0).to_vec(), [4, 6])
            }),
            ("flatten", |v| f(v, 0).flatten(1, -1)),
            ("permute", |v| f(v, 0).permute(&[2, 0, 1])),
            ("transpose", |v| f(v, 0).transpose(0, 2)),
            ("t", |v| f(v, 0).t()),
            ("broadcast_to", |v| f(v, 0).broadcast_to(&[2, 3, 4])),
            ("squeeze", |v| f(v, 0).squeeze(1)),
            ("unsqueeze", |v| f(v, 0).unsqueeze(-1)),
            ("narrow", |v| f(v, 0).narrow(2, 1, 2)),
            ("cat0", |v| Tensor::cat(&[f(v, 0), f(v, 1)], 0)),
            ("cat1_three", |v| Tensor::cat(&[f(v, 0), f(v, 1), f(v, 2)], 1)),
            ("stack1", |v| Tensor::stack(&[f(v, 0), f(v, 1)], 1)),
            ("chunk_swap", |v| {
                let c = f(v, 0).chunk(3, 1);
                Tensor::cat(&[&c[2], &c[1], &c[0]], 1)
            }),
        ],
        1e-5,
        1e-6,
    )
}

/// The `index` family: (case, op) pairs matching make_fixtures.py, and the tolerances.
pub fn index_table() -> Table {
    (
        vec![
            ("index_select0", |v| f(v, 0).index_select(0, ix(v, 1))),
            ("index_select1", |v| f(v, 0).index_select(1, ix(v, 1))),
            ("gather1", |v| f(v, 0).gather(1, ix(v, 1))),
            ("gather0", |v| f(v, 0).gather(0, ix(v, 1))),
            ("embedding", |v| f(v, 0).embedding(ix(v, 1))),
            ("where_bcast", |v| Tensor::where_cond(f(v, 0), f(v, 1), f(v, 2))),
            ("causal_softmax", |v| f(v, 0).masked_fill(f(v, 1), f32::NEG_INFINITY).softmax(-1)),
            ("masked_fill", |v| f(v, 0).masked_fill(f(v, 1), -5.0)),
        ],
        1e-5,
        1e-6,
    )
}

/// The `softmax` family: (case, op) pairs matching make_fixtures.py, and the tolerances.
pub fn softmax_table() -> Table {
    (
        vec![
            ("softmax_last", |v| f(v, 0).softmax(-1)),
            ("softmax_dim0", |v| f(v, 0).softmax(0)),
            ("log_softmax_last", |v| f(v, 0).log_softmax(-1)),
            ("log_softmax_dim1", |v| f(v, 0).log_softmax(1)),
            ("softmax_large_logits", |v| f(v, 0).softmax(-1)),
            ("log_softmax_large_logits", |v| f(v, 0).log_softmax(-1)),
        ],
        1e-4,
        1e-6,
    )
}

/// The `loss` family: (case, op) pairs matching make_fixtures.py, and the tolerances.
pub fn loss_table() -> Table {
    (
        vec![
            ("mse_mean", |v| F::mse_loss(f(v, 0), f(v, 1), Reduction::Mean)),
            ("mse_sum", |v| F::mse_loss(f(v, 0), f(v, 1), Reduction::Sum)),
            ("mse_none", |v| F::mse_loss(f(v, 0), f(v, 1), Reduction::None)),
            ("pairwise_distance", |v| F::pairwise_distance(f(v, 0), f(v, 1))),
            ("euclidean_mean", |v| F::euclidean_loss(f(v, 0), f(v, 1), Reduction::Mean)),
            ("cosine_similarity", |v| F::cosine_similarity(f(v, 0), f(v, 1), -1)),
            ("cosine_similarity_dim0", |v| F::cosine_similarity(f(v, 0), f(v, 1), 0)),
            ("cosine_embedding", |v| F::cosine_embedding_loss(f(v, 0), f(v, 1), f(v, 2), 0.1, Reduction::Mean)),
            ("nll_mean_ignore", |v| F::nll_loss(&f(v, 0).log_softmax(-1), ix(v, 1))),
            ("nll_sum", |v| F::nll_loss_with(&f(v, 0).log_softmax(-1), ix(v, 1), opts(Reduction::Sum))),
            ("nll_none", |v| F::nll_loss_with(&f(v, 0).log_softmax(-1), ix(v, 1), opts(Reduction::None))),
            ("cross_entropy", |v| F::cross_entropy(f(v, 0), ix(v, 1))),
            ("cross_entropy_ignore", |v| F::cross_entropy(f(v, 0), ix(v, 1))),
            ("cross_entropy_smoothing", |v| {
                F::cross_entropy_with(
                    f(v, 0),
                    ix(v, 1),
                    ClassLossOptions { label_smoothing: 0.1, ..Default::default() },
                )
            }),
            ("cross_entropy_sequence", |v| F::cross_entropy(f(v, 0), ix(v, 1))),
            ("cross_entropy_large_logits", |v| F::cross_entropy(f(v, 0), ix(v, 1))),
            ("bce", |v| F::binary_cross_entropy(&f(v, 0).sigmoid(), f(v, 1), Reduction::Mean)),
            ("bce_with_logits", |v| F::binary_cross_entropy_with_logits(f(v, 0), f(v, 1), Reduction::Mean)),
            ("kl_div_batchmean", |v| F::kl_div(&f(v, 0).log_softmax(-1), &f(v, 1).softmax(-1), Reduction::BatchMean)),
            ("kl_div_zero_target_sum", |v| F::kl_div(&f(v, 0).log_softmax(-1), f(v, 1), Reduction::Sum)),
            ("distillation", |v| {
                let (s, t, y) = (f(v, 0), f(v, 1), ix(v, 2));
                // ANCHOR: distillation
                // student logits s, teacher logits t, labels y; temperature T = 2, λ = 0.5
                let hard = F::cross_entropy(s, y);
                let soft = F::kl_div(&(s / 2.0).log_softmax(-1), &(t / 2.0).softmax(-1), Reduction::BatchMean);
                hard + soft * (0.5 * 4.0) // L₁ + λ·T²·L₂
                                          // ANCHOR_END: distillation
            }),
        ],
        1e-4,
        1e-6,
    )
}

/// Every family with its table.
pub fn all_families() -> Vec<(&'static str, Table)> {
    vec![
        ("unary", unary_table()),
        ("binary", binary_table()),
        ("reduce", reduce_table()),
        ("matmul", matmul_table()),
        ("movement", movement_table()),
        ("index", index_table()),
        ("softmax", softmax_table()),
        ("loss", loss_table()),
    ]
}
