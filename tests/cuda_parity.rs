//! The GPU suite (feature `cuda`): every PyTorch parity table with its inputs on cuda:0, and
//! GPU-vs-CPU checks at sizes the fixtures do not reach (multi-block kernels, cuBLAS with every
//! transpose, a training step). On a machine without a GPU every case reports `ignored` with the
//! reason. Run: `cargo test --features cuda --test cuda_parity`.

mod common;

use common::parity::{all_families, check_family};
use gradschool::backend::cuda::{library_present, CudaLibrary};
use gradschool::models::FeedForwardNet;
use gradschool::nn::functional::nll_loss;
use gradschool::nn::{Forward, Module};
use gradschool::optim::{Optimizer, Sgd};
use gradschool::{manual_seed, Device, IntTensor, Tensor};
use std::panic::{catch_unwind, AssertUnwindSafe};

const GPU: Device = Device::Cuda(0);

/// Runs `f` on CPU inputs and on the same inputs moved to the GPU; compares outputs and input
/// gradients (relative tolerance `tol`).
fn gpu_vs_cpu(name: &str, inputs: &[Tensor], tol: f32, f: impl Fn(&[Tensor]) -> Tensor) {
    let run = |device: &Device| {
        let xs: Vec<Tensor> = inputs.iter().map(|t| t.to(device).unwrap().detach().requires_grad_()).collect();
        let y = f(&xs);
        // a random upstream gradient, the same on both devices: an all-ones one hides
        // index-order bugs (any permutation of the output gets the same gradient)
        let upstream = Tensor::randn(y.dims().to_vec(), &mut gradschool::manual_seed(99)).to(device).unwrap();
        (&y * &upstream).sum().backward();
        (y.to_vec(), xs.iter().map(|x| x.grad().unwrap().to_vec()).collect::<Vec<_>>())
    };
    let ((yc, gc), (yg, gg)) = (run(&Device::Cpu), run(&GPU));
    let close = |a: &[f32], b: &[f32], what: &str| {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{name} {what}: element {i}: gpu {x} vs cpu {y}");
        }
    };
    close(&yg, &yc, "forward");
    for (k, (a, b)) in gg.iter().zip(&gc).enumerate() {
        close(a, b, &format!("grad of input {k}"));
    }
}

/// log_softmax(10·x) over rows of 1,000, judged against the same function in f64: its gradient
/// 10·(u − softmax·Σu) carries the rounding of a 1,000-term sum, so the GPU's and the CPU's f32
/// results differ from each other by more than either's order of error suggests per element
/// (the H200 run: 3.7779868 vs 3.7779295, both 1.5e-5 from each other). The GPU must be as
/// accurate as the CPU reference: its worst relative error against f64 at most twice the CPU's
/// (plus 1e-6), forward and backward, and the CPU's itself within 1e-4.
fn softmax_rows_against_f64(x: &Tensor) {
    let (rows, n) = (x.dims()[0], x.dims()[1]);
    let upstream = Tensor::randn([rows, n], &mut manual_seed(99));
    let run = |device: &Device| {
        let xd = x.to(device).unwrap().detach().requires_grad_();
        let y = xd.mul_scalar(10.0).log_softmax(-1);
        (&y * &upstream.to(device).unwrap()).sum().backward();
        (y.to_vec(), xd.grad().unwrap().to_vec())
    };
    let (xs, us) = (x.to_vec(), upstream.to_vec());
    let (mut y64, mut g64) = (vec![0.0f64; rows * n], vec![0.0f64; rows * n]);
    for r in 0..rows {
        let z: Vec<f64> = xs[r * n..(r + 1) * n].iter().map(|&v| 10.0 * v as f64).collect();
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        let su: f64 = us[r * n..(r + 1) * n].iter().map(|&v| v as f64).sum();
        for j in 0..n {
            y64[r * n + j] = z[j] - lse;
            g64[r * n + j] = 10.0 * (us[r * n + j] as f64 - (z[j] - lse).exp() * su);
        }
    }
    let worst = |got: &[f32], want: &[f64]| {
        got.iter().zip(want).map(|(&a, &b)| (a as f64 - b).abs() / (1.0 + b.abs())).fold(0.0, f64::max)
    };
    let ((yc, gc), (yg, gg)) = (run(&Device::Cpu), run(&GPU));
    for (what, cpu, gpu) in
        [("forward", worst(&yc, &y64), worst(&yg, &y64)), ("gradient", worst(&gc, &g64), worst(&gg, &g64))]
    {
        assert!(cpu <= 1e-4, "softmax rows {what}: the CPU's error against f64 is {cpu:e}");
        assert!(gpu <= 2.0 * cpu + 1e-6, "softmax rows {what}: GPU error {gpu:e} against f64, CPU's {cpu:e}");
    }
}

fn large_cases() {
    let mut rng = manual_seed(0);
    let r = |s: &[usize], rng: &mut _| Tensor::randn(s, rng);
    let (a, b) = (r(&[300, 257], &mut rng), r(&[257, 200], &mut rng));
    gpu_vs_cpu("matmul", &[a.clone(), b.clone()], 1e-4, |t| t[0].matmul(&t[1]));
    gpu_vs_cpu("matmul aᵀb", &[a.t(), b.clone()], 1e-4, |t| t[0].t().matmul(&t[1].t().t()));
    // TF32 is opt-in: with it, cuBLAS rounds each input to a 10-bit mantissa (relative error u ≤ 2⁻¹⁰
    // per input), so a product's relative (Frobenius) error is about √2·u/√3 ≈ 8e-4 for random
    // data; allow 5× that. Off (the default), the error is f32 summation-order noise, and TF32
    // must be visibly coarser, which proves the switch takes effect.
    let dev = gradschool::backend::cuda::cuda_device(0).unwrap();
    let cpu = a.matmul(&b).to_vec();
    let rel_err = |tf32: bool| {
        dev.set_tf32(tf32).unwrap();
        let gpu = a.to(&GPU).unwrap().matmul(&b.to(&GPU).unwrap()).to_vec();
        let diff: f32 = gpu.iter().zip(&cpu).map(|(g, c)| (g - c) * (g - c)).sum();
        (diff / cpu.iter().map(|c| c * c).sum::<f32>()).sqrt()
    };
    let (fp32, tf32) = (rel_err(false), rel_err(true));
    dev.set_tf32(false).unwrap();
    assert!(tf32 <= 4e-3, "TF32 matmul relative error {tf32} above the 4e-3 bound");
    assert!(fp32 <= 1e-6 && tf32 > 10.0 * fp32, "fp32 error {fp32} vs TF32 error {tf32}: is TF32 switched?");
    gpu_vs_cpu("batched matmul", &[r(&[12, 64, 32], &mut rng), r(&[12, 32, 48], &mut rng)], 1e-4, |t| {
        t[0].matmul(&t[1])
    });
    gpu_vs_cpu("linear", &[r(&[64, 784], &mut rng), r(&[256, 784], &mut rng), r(&[256], &mut rng)], 1e-4, |t| {
        t[0].linear(&t[1], Some(&t[2])).relu()
    });
    softmax_rows_against_f64(&r(&[500, 1000], &mut rng));
    gpu_vs_cpu("masked softmax, attention-shaped", &[r(&[2, 3, 64, 64], &mut rng)], 1e-5, |t| {
        let mask = t[0].new_from_vec((0..64 * 64).map(|i| if i % 64 > i / 64 { 1.0 } else { 0.0 }).collect(), [64, 64]);
        t[0].masked_fill(&mask, f32::NEG_INFINITY).softmax(-1).square() // Σ y² has a non-zero gradient
    });
    // GPT-2's attention as the model writes it: heads split out of qkv (on the GPU a strided copy,
    // its backward the default copy + narrow_add_), q·kᵀ read transposed by cuBLAS, and
    // masked_softmax (the GPU runs its three ops; the CPU its fused kernel)
    gpu_vs_cpu("attention: split_heads, matmul_t, masked_softmax", &[r(&[2, 48, 3 * 96], &mut rng)], 1e-4, |t| {
        let mask = t[0].new_from_vec((0..48 * 48).map(|i| if i % 48 > i / 48 { 1.0 } else { 0.0 }).collect(), [48, 48]);
        let heads = |i: usize| t[0].split_heads(i * 96, 96, 4);
        heads(0).matmul_t(&heads(1)).masked_softmax(&mask, f32::MIN, 0.2).matmul(&heads(2))
    });
    gpu_vs_cpu("layer norm", &[r(&[64, 768], &mut rng), r(&[768], &mut rng), r(&[768], &mut rng)], 1e-4, |t| {
        t[0].layer_norm(&t[1], &t[2], 1e-5)
    });
    gpu_vs_cpu("reductions", &[r(&[40, 50, 30], &mut rng)], 1e-4, |t| {
        // (40, 30) + (40, 30) + (40, 1)
        t[0].sum_dims(&[1], false) + t[0].max_dims(&[1], false) + t[0].mean_dims(&[-1], true).sum_dims(&[1], false)
    });
    gpu_vs_cpu("broadcast + gelu", &[r(&[8, 1, 64, 80], &mut rng), r(&[33, 1, 80], &mut rng)], 1e-5, |t| {
        (&t[0] * &t[1]).gelu_tanh()
    });
    let logits = r(&[64, 50257], &mut rng);
    gpu_vs_cpu("fused cross-entropy, GPT-2 vocabulary", &[logits], 1e-4, |t| {
        let targets: Vec<i64> = (0..64).map(|i| (i * 7919) % 50257).collect();
        t[0].mul_scalar(4.0).cross_entropy_rows(&targets)
    });
    gpu_vs_cpu("permute + cat", &[r(&[20, 30, 7], &mut rng), r(&[20, 30, 5], &mut rng)], 1e-6, |t| {
        Tensor::cat(&[&t[0], &t[1]], 2).permute(&[2, 0, 1]).square()
    });
}

/// Three SGD steps of the course's network on the GPU land where the CPU does.
fn training_step_matches_cpu() {
    let x = Tensor::rand([64, 784], &mut manual_seed(1));
    let y = IntTensor::from_vec((0..64).map(|i| i % 10).collect(), [64]);
    let losses = |device: &Device| {
        let mut model = FeedForwardNet::new(&mut manual_seed(2));
        model.eval(); // no dropout: identical arithmetic on both devices
        model.parameters().iter().for_each(|p| p.to_device_(device).unwrap());
        let mut opt = Sgd::new(model.parameters(), 0.1).momentum(0.9);
        (0..3)
            .map(|_| {
                opt.zero_grad();
                let loss = nll_loss(&model.forward(&x.to(device).unwrap()), &y);
                loss.backward();
                opt.step();
                loss.item()
            })
            .collect::<Vec<f32>>()
    };
    let (cpu, gpu) = (losses(&Device::Cpu), losses(&GPU));
    for (c, g) in cpu.iter().zip(&gpu) {
        assert!((c - g).abs() <= 1e-4 * (1.0 + c.abs()), "losses: gpu {gpu:?} vs cpu {cpu:?}");
    }
}

/// The fused multi-tensor SGD and Adam/AdamW steps (one launch, state on the GPU) against the
/// CPU loops they mirror: 4 steps over parameters of several sizes with the same gradients;
/// the optimizer state they checkpoint must agree too.
fn fused_optimizers_match_cpu() {
    use gradschool::optim::{Adam, AdamW};
    let shapes: [&[usize]; 4] = [&[300, 257], &[257], &[1], &[64, 3, 5]];
    let mut rng = manual_seed(3);
    let init: Vec<Tensor> = shapes.iter().map(|s| Tensor::randn(*s, &mut rng)).collect();
    let grads: Vec<Vec<Tensor>> =
        (0..4).map(|_| shapes.iter().map(|s| Tensor::randn(*s, &mut rng)).collect()).collect();
    type Make = fn(Vec<Tensor>) -> Box<dyn Optimizer>;
    let makers: [(&str, Make); 4] = [
        ("sgd momentum + weight decay", |p| Box::new(Sgd::new(p, 0.1).momentum(0.9).dampening(0.1).weight_decay(0.01))),
        ("sgd nesterov", |p| Box::new(Sgd::new(p, 0.05).momentum(0.8).nesterov(true))),
        ("adam + l2", |p| Box::new(Adam::new(p, 1e-2).weight_decay(0.1))),
        ("adamw", |p| Box::new(AdamW::new(p, 1e-2).weight_decay(0.1).betas(0.8, 0.95))),
    ];
    for (name, make) in makers {
        let run = |device: &Device| {
            // fresh copies: on the CPU, `to` returns the same storage, which the steps update
            let params: Vec<Tensor> = init
                .iter()
                .map(|t| Tensor::from_vec(t.to_vec(), t.dims().to_vec()).to(device).unwrap().requires_grad_())
                .collect();
            let mut opt = make(params.clone());
            for step in &grads {
                for (p, g) in params.iter().zip(step) {
                    p.zero_grad();
                    (p * &g.to(device).unwrap()).sum().backward(); // ∂/∂p Σ p·g = g
                }
                opt.step();
            }
            (params.iter().map(|p| p.to_vec()).collect::<Vec<_>>(), opt.state().to_tensors())
        };
        let ((pc, sc), (pg, sg)) = (run(&Device::Cpu), run(&GPU));
        for (k, (c, g)) in pc.iter().zip(&pg).enumerate() {
            for (j, (x, y)) in c.iter().zip(g).enumerate() {
                assert!((x - y).abs() <= 1e-5 * (1.0 + x.abs()), "{name}: parameter {k}[{j}]: gpu {y} vs cpu {x}");
            }
        }
        assert_eq!(sc.len(), sg.len(), "{name}: state entries");
        for ((nc, tc), (ng, tg)) in sc.iter().zip(&sg) {
            assert_eq!(nc, ng, "{name}: state names");
            for (x, y) in tc.to_vec().iter().zip(tg.to_vec()) {
                assert!((x - y).abs() <= 1e-5 * (1.0 + x.abs()), "{name}: state {nc}: gpu {y} vs cpu {x}");
            }
        }
    }
}

/// Batches gathered on the GPU from the resident image set equal the CPU loader's batches.
fn gpu_batches_match_cpu() {
    use gradschool::data::{DataLoader, ImageDataset};
    let data = ImageDataset {
        images: Tensor::randn([50, 12], &mut manual_seed(5)).to_vec(),
        labels: (0..50).map(|i| i % 10).collect(),
        rows: 3,
        cols: 4,
    };
    let loader = DataLoader::new(&data, 8, true, false);
    for seed in [1, 2] {
        let cpu: Vec<_> = loader.epoch(seed).collect();
        let gpu: Vec<_> = loader.epoch_on(seed, &GPU).unwrap().collect();
        assert_eq!(cpu.len(), gpu.len());
        for ((xc, yc), (xg, yg)) in cpu.iter().zip(&gpu) {
            assert_eq!(xg.device(), GPU);
            assert_eq!((xc.dims(), xc.to_vec(), yc.as_slice()), (xg.dims(), xg.to_vec(), yg.as_slice()));
        }
    }
}

/// The tiny transformers-checked GPT-2 trains on the GPU as on the CPU: two AdamW steps (fused
/// on the GPU), with gradient checkpointing on the GPU side, same losses and gradients. Then the
/// course's sentiment labels (−100 but one, two or no labels per sequence): the GPU through `labelled_loss` (the head
/// only at the labelled positions, in-place sparse gradients declined on the GPU), the CPU through
/// `lm_loss` on the full logits.
fn gpt2_steps_match_cpu() {
    use gradschool::gpt2::Gpt2;
    use gradschool::optim::AdamW;
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2-tiny");
    let ids = IntTensor::from_vec((0..4 * 12).map(|i| (i * 31 + 7) % 97).collect(), [4, 12]);
    // one label in row 0, two in row 1, none in row 2, and row 3's only label at position 0,
    // which no position predicts (as tests/gpt2_parity.rs's transformers fixture)
    let labelled = [(0, 10), (1, 3), (1, 9), (3, 0)];
    let sentiment = IntTensor::from_vec(
        (0..4 * 12i64).map(|i| if labelled.contains(&(i / 12, i % 12)) { 42 + i } else { -100 }).collect(),
        [4, 12],
    );
    let run = |device: &Device, checkpointing: bool, labels: Option<&IntTensor>| {
        let mut model = Gpt2::from_dir(&dir).unwrap();
        model.gradient_checkpointing = checkpointing;
        model.to_device(device).unwrap();
        let mut opt = AdamW::new(model.trainable_parameters(), 1e-2);
        let mut losses = Vec::new();
        for _ in 0..2 {
            opt.zero_grad();
            let loss = match (labels, device) {
                (None, _) => Gpt2::lm_loss(&model.forward(&ids, None), &ids),
                (Some(l), Device::Cpu) => Gpt2::lm_loss(&model.forward(&ids, None), l),
                (Some(l), _) => model.labelled_loss(&model.hidden(&ids, None), l).0,
            };
            loss.backward();
            opt.step();
            losses.push(loss.item());
        }
        (losses, model.wte.to_vec(), model.blocks[0].c_attn.weight.to_vec())
    };
    for labels in [None, Some(&sentiment)] {
        let (cpu, gpu) = (run(&Device::Cpu, false, labels), run(&GPU, true, labels));
        let case = if labels.is_some() { "sentiment labels" } else { "every position" };
        for (c, g) in cpu.0.iter().zip(&gpu.0) {
            assert!((c - g).abs() <= 1e-4 * (1.0 + c.abs()), "{case}: losses gpu {:?} vs cpu {:?}", gpu.0, cpu.0);
        }
        for (what, c, g) in [("wte", &cpu.1, &gpu.1), ("h.0.attn.c_attn.weight", &cpu.2, &gpu.2)] {
            for (i, (x, y)) in c.iter().zip(g).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-4 * (1.0 + x.abs()),
                    "{case}: {what}[{i}] after 2 steps: gpu {y} vs cpu {x}"
                );
            }
        }
    }
}

/// The data-parallel gradient sum on the GPU (feature `nccl`): a real NCCL communicator of one
/// rank (one GPU), through the function the trainer calls. The sum over one rank is the rank's
/// own gradients, bit for bit; the host path (GRADSCHOOL_NCCL=0) gives the same; a parameter no
/// backward reached keeps no gradient; the loss and the stop flag come back.
#[cfg(feature = "nccl")]
fn nccl_world_of_one_sums_gradients() {
    use gradschool::distributed::{all_reduce_gradients, nccl, Single};
    use gradschool::gpt2::Gpt2;
    assert!(nccl::loadable(), "NCCL (libnccl.so) cannot be loaded: {:?}", nccl::ensure_loadable());
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2-tiny");
    let model = Gpt2::from_dir(&dir).unwrap();
    model.to_device(&GPU).unwrap();
    let ids = IntTensor::from_vec((0..2 * 12).map(|i| (i * 31 + 7) % 97).collect(), [2, 12]);
    let mut params = model.trainable_parameters();
    let unreached = Tensor::zeros([3]).to(&GPU).unwrap().requires_grad_();
    params.push(unreached.clone());
    let loss = Gpt2::lm_loss(&model.forward(&ids, None), &ids);
    loss.backward();
    let own: Vec<Option<Vec<u32>>> =
        params.iter().map(|p| p.grad().map(|g| g.to_vec().iter().map(|v| v.to_bits()).collect())).collect();
    let bits = |ps: &[Tensor]| -> Vec<Option<Vec<u32>>> {
        ps.iter().map(|p| p.grad().map(|g| g.to_vec().iter().map(|v| v.to_bits()).collect())).collect()
    };
    let (l, stop) = all_reduce_gradients(&Single, &params, Some(loss.detach()), true).unwrap();
    assert_eq!(l.unwrap().item(), loss.item());
    assert!(stop);
    assert!(unreached.grad().is_none(), "a parameter no backward reached must keep no gradient");
    assert!(params.iter().take(params.len() - 1).all(|p| p.grad().unwrap().device() == GPU));
    assert_eq!(bits(&params), own, "NCCL's sum over one rank is the rank's gradients");
    // SAFETY: this harness runs its cases one at a time on one thread.
    unsafe { std::env::set_var("GRADSCHOOL_NCCL", "0") };
    let (_, stop) = all_reduce_gradients(&Single, &params, None, false).unwrap();
    unsafe { std::env::remove_var("GRADSCHOOL_NCCL") };
    assert!(!stop);
    assert_eq!(bits(&params), own, "the host path's sum");
}

fn main() {
    let mut cases: Vec<(String, Box<dyn Fn()>)> = Vec::new();
    for (family, (table, rtol, atol)) in all_families() {
        cases.push((
            format!("pytorch_parity::{family}"),
            Box::new(move || check_family(family, &table, rtol, atol, &GPU)),
        ));
    }
    cases.push(("gpu_vs_cpu_large".into(), Box::new(large_cases)));
    cases.push(("training_step_matches_cpu".into(), Box::new(training_step_matches_cpu)));
    cases.push(("fused_optimizers_match_cpu".into(), Box::new(fused_optimizers_match_cpu)));
    cases.push(("gpu_batches_match_cpu".into(), Box::new(gpu_batches_match_cpu)));
    cases.push(("gpt2_steps_match_cpu".into(), Box::new(gpt2_steps_match_cpu)));
    #[cfg(feature = "nccl")]
    cases.push(("nccl_world_of_one_sums_gradients".into(), Box::new(nccl_world_of_one_sums_gradients)));

    let skip = if !library_present(CudaLibrary::Driver) {
        Some("no CUDA driver found on this machine".to_string())
    } else {
        GPU.ensure_available().err().map(|e| e.to_string())
    };
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in &cases {
        if let Some(reason) = &skip {
            println!("test {name} ... ignored, {reason}");
            continue;
        }
        match catch_unwind(AssertUnwindSafe(case)) {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED");
            }
        }
    }
    let skipped = if skip.is_some() { cases.len() } else { 0 };
    println!("\ncuda_parity: {passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 {
        std::process::exit(1);
    }
}
