//! One GPT-2 (124M-sized) training step — embeddings, 12 blocks of LayerNorm → causal
//! self-attention → residual → LayerNorm → MLP (GELU-tanh) → residual, final LayerNorm, tied LM
//! head, cross-entropy, backward — timed on a chosen device, for comparison with the same step in
//! PyTorch eager (benches/gpt2_step_torch.py).
//!
//!   cargo bench --bench gpt2_step -- --tokens 32                       # CPU, batch 8 × 32
//!   cargo bench --features cuda --bench gpt2_step -- --device cuda --tokens 1024 [--tf32]
//!   cargo bench --bench gpt2_step -- --model [--gradient-checkpointing] [--fused-attention]   # the library's Gpt2
//!   cargo bench --bench gpt2_step -- --model --profile trace.json   # + the same steps profiled: table, trace, cost
//!
//! `--model` runs `gradschool::gpt2::Gpt2` (124M config, dropout off) instead of the hand-written
//! stack, and reports peak memory: the process's peak RSS on the CPU (run each setting in its own
//! process), the memory pool's peak on a GPU.
//! Weights are random (N(0, 0.02)); only the arithmetic matters here. The real model, loaded from
//! Hugging Face weights, comes with the GPT-2 chapters.
//!
//! `cargo test` runs this binary too (without `--bench`): then it profiles a 2-block model and
//! checks the traces it wrote (see `self_test`). Run by hand, the binary needs `--bench` first.

use gradschool::gpt2::{Gpt2, Gpt2Config};
use gradschool::nn::functional::cross_entropy;
use gradschool::nn::Module;
use gradschool::{manual_seed, Device, IntTensor, Tensor};
use std::time::Instant;

// GPT-2 small: width C, heads NH, blocks, vocabulary; batch B.
const C: usize = 768;
const NH: usize = 12;
const LAYERS: usize = 12;
const VOCAB: usize = 50257;
const B: usize = 8;

struct Block {
    ln1: (Tensor, Tensor),
    attn: (Tensor, Tensor), // c_attn (3C, C), bias
    proj: (Tensor, Tensor), // c_proj (C, C)
    ln2: (Tensor, Tensor),
    fc: (Tensor, Tensor),  // (4C, C)
    fc2: (Tensor, Tensor), // (C, 4C)
}

fn param(shape: &[usize], rng: &mut rand::rngs::StdRng, device: &Device) -> Tensor {
    let t = Tensor::normal(shape, 0.0, 0.02, rng);
    t.to_device_(device).expect("device");
    t.requires_grad_()
}

fn ln_params(device: &Device) -> (Tensor, Tensor) {
    let (w, b) = (Tensor::ones([C]), Tensor::zeros([C]));
    w.to_device_(device).expect("device");
    b.to_device_(device).expect("device");
    (w.requires_grad_(), b.requires_grad_())
}

fn block_forward(blk: &Block, x: &Tensor, mask: &Tensor, t: usize) -> Tensor {
    let hs = C / NH;
    let h = x.layer_norm(&blk.ln1.0, &blk.ln1.1, 1e-5); // (B, T, C)
    let qkv = h.linear(&blk.attn.0, Some(&blk.attn.1)); // (B, T, 3C)
    let heads = |i: usize| qkv.narrow(-1, i * C, C).reshape([B, t, NH, hs]).transpose(1, 2); // (B, NH, T, HS)
    let (q, k, v) = (heads(0), heads(1), heads(2));
    let att =
        (q.matmul(&k.transpose(-2, -1)) * (1.0 / (hs as f32).sqrt())).masked_fill(mask, f32::NEG_INFINITY).softmax(-1); // (B, NH, T, T)
    let y = att.matmul(&v).transpose(1, 2).reshape([B, t, C]); // (B, T, C)
    let x = x + &y.linear(&blk.proj.0, Some(&blk.proj.1));
    let h = x.layer_norm(&blk.ln2.0, &blk.ln2.1, 1e-5);
    let m = h.linear(&blk.fc.0, Some(&blk.fc.1)).gelu_tanh().linear(&blk.fc2.0, Some(&blk.fc2.1));
    x + m
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; `cargo test` runs this binary without it (as criterion's
    // benches are run), and then it checks its own `--profile` on a small model instead.
    if !args.iter().any(|a| a == "--bench") {
        return self_test();
    }
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let device = Device::parse(&flag("--device").unwrap_or_else(|| "cpu".into())).expect("--device");
    device.ensure_available().unwrap_or_else(|e| panic!("{e}"));
    let t: usize = flag("--tokens").map(|v| v.parse().expect("--tokens")).unwrap_or(32);
    let steps: usize = flag("--steps").map(|v| v.parse().expect("--steps")).unwrap_or(5);
    #[cfg(feature = "cuda")]
    if let Device::Cuda(i) = device {
        let dev = gradschool::backend::cuda::cuda_device(i).unwrap();
        dev.set_tf32(args.iter().any(|a| a == "--tf32")).unwrap();
        // --pool-release: hand freed memory back to the driver at every sync (no reuse across steps)
        dev.set_memory_pool_retain(!args.iter().any(|a| a == "--pool-release")).unwrap();
    }
    let mut rng = manual_seed(0);
    let wte = param(&[VOCAB, C], &mut rng, &device);
    let wpe = param(&[1024, C], &mut rng, &device);
    let blocks: Vec<Block> = (0..LAYERS)
        .map(|_| Block {
            ln1: ln_params(&device),
            attn: (param(&[3 * C, C], &mut rng, &device), param(&[3 * C], &mut rng, &device)),
            proj: (param(&[C, C], &mut rng, &device), param(&[C], &mut rng, &device)),
            ln2: ln_params(&device),
            fc: (param(&[4 * C, C], &mut rng, &device), param(&[4 * C], &mut rng, &device)),
            fc2: (param(&[C, 4 * C], &mut rng, &device), param(&[C], &mut rng, &device)),
        })
        .collect();
    if args.iter().any(|a| a == "--gemms") {
        return gemm_table(t, steps);
    }
    if args.iter().any(|a| a == "--model") {
        let labels = flag("--labels").unwrap_or_else(|| "all".into());
        assert!(["all", "one"].contains(&labels.as_str()), "--labels all|one, got {labels}");
        let config = Gpt2Config { resid_pdrop: 0.0, embd_pdrop: 0.0, attn_pdrop: 0.0, ..Gpt2Config::gpt2() };
        let run = ModelRun {
            config,
            batch: B,
            tokens: t,
            steps,
            checkpointing: args.iter().any(|a| a == "--gradient-checkpointing"),
            one_label: labels == "one",
            fused: args.iter().any(|a| a == "--fused-attention"),
            profile: flag("--profile"),
        };
        return run_model(&device, &run);
    }
    let lnf = ln_params(&device);
    let ids = IntTensor::from_vec((0..B * t).map(|i| ((i * 7919) % VOCAB) as i64).collect(), [B, t]);
    let targets = IntTensor::from_vec((0..B * t).map(|i| ((i * 104_729 + 1) % VOCAB) as i64).collect(), [B, t]);
    let pos = IntTensor::from_vec((0..t as i64).collect(), [t]);
    let mask: Vec<f32> = (0..t * t).map(|i| if i % t > i / t { 1.0 } else { 0.0 }).collect();
    let mask = Tensor::from_vec(mask, [t, t]).to(&device).unwrap();

    let mut params = vec![wte.clone(), wpe.clone(), lnf.0.clone(), lnf.1.clone()];
    for b in &blocks {
        for (w, bias) in [&b.ln1, &b.attn, &b.proj, &b.ln2, &b.fc, &b.fc2] {
            params.extend([w.clone(), bias.clone()]);
        }
    }
    let step = || {
        let x = wte.embedding(&ids) + wpe.embedding(&pos); // (B, T, C)
        let x = blocks.iter().fold(x, |x, blk| block_forward(blk, &x, &mask, t));
        let x = x.layer_norm(&lnf.0, &lnf.1, 1e-5);
        let logits = x.linear(&wte, None); // (B, T, V), tied head
        let loss = cross_entropy(&logits, &targets);
        loss.backward();
        let l = loss.item(); // waits for the device
        params.iter().for_each(|p| p.zero_grad());
        l
    };
    // Two warm-up steps: the host buffer pool holds a step's buffers only after the second
    // (the first step's are still alive when the second starts allocating).
    let warm = step();
    step();
    let start = Instant::now();
    for _ in 0..steps {
        step();
    }
    let ms = start.elapsed().as_secs_f64() * 1e3 / steps as f64;
    #[allow(unused_mut)]
    let mut memory = String::new();
    #[cfg(feature = "cuda")]
    if let Device::Cuda(i) = device {
        let dev = gradschool::backend::cuda::cuda_device(i).unwrap();
        let m = dev.memory_stats();
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        memory = format!(
            ", peak GPU memory {:.2} GiB used / {:.2} GiB reserved, {} allocations/step",
            gib(m.used_peak),
            gib(m.reserved_peak),
            m.allocations / (steps as u64 + 1)
        );
    }
    let tok_s = (B * t) as f64 / (ms / 1e3);
    println!(
        "gpt2_step device={device} batch={B} tokens={t} loss={warm:.4}: {ms:.1} ms/step (mean of {steps}), {tok_s:.0} tokens/s{memory}"
    );
    if let Some(report) = device.profile_report() {
        eprintln!("{report}");
    }
}

/// What `--model` runs: the model's shape, the batch and the flags.
struct ModelRun {
    config: Gpt2Config,
    batch: usize,
    tokens: usize,
    steps: usize,
    checkpointing: bool,
    one_label: bool,
    fused: bool,
    profile: Option<String>,
}

/// The step on the library's model: embeddings, the blocks, tied head, the fused cross-entropy.
fn run_model(device: &Device, run: &ModelRun) {
    let ModelRun { batch: b, tokens: t, steps, checkpointing, one_label, fused, .. } = *run;
    let vocab = run.config.vocab_size;
    let mut model = Gpt2::new(run.config.clone(), &mut manual_seed(0));
    model.fused_attention = fused; // --fused-attention: no (B, NH, T, T) tensors stored
    model.gradient_checkpointing = checkpointing;
    model.to_device(device).expect("device");
    let ids = IntTensor::from_vec((0..b * t).map(|i| ((i * 7919) % vocab) as i64).collect(), [b, t]);
    // --labels one: the course's sentiment batch, -100 except one label per sequence (at
    // T − 1 − row % 4, as benches/gpt2_step_torch.py --labels one), trained as
    // `gradschool sentiment` does: the head only at the labelled positions.
    let labels = IntTensor::from_vec(
        (0..b * t)
            .map(|i| if i % t == t - 1 - (i / t) % 4 { ((i * 104_729 + 1) % vocab) as i64 } else { -100 })
            .collect(),
        [b, t],
    );
    let step = || {
        let loss = if one_label {
            model.labelled_loss(&model.hidden(&ids, None), &labels).0
        } else {
            Gpt2::lm_loss(&model.forward(&ids, None), &ids)
        };
        loss.backward();
        let l = loss.item();
        model.parameters().iter().for_each(|p| p.zero_grad());
        l
    };
    // Two warm-up steps: the host buffer pool holds a step's buffers only after the second
    // (the first step's are still alive when the second starts allocating).
    let warm = step();
    step();
    let pool_before = gradschool::backend::cpu::pool::stats();
    let start = Instant::now();
    for _ in 0..steps {
        step();
    }
    let ms = start.elapsed().as_secs_f64() * 1e3 / steps as f64;
    let pool = gradschool::backend::cpu::pool::stats();
    eprintln!(
        "host buffer pool, per timed step: {} hits, {} misses; {:.0} MiB held",
        (pool.hits - pool_before.hits) / steps as u64,
        (pool.misses - pool_before.misses) / steps as u64,
        pool.cached_bytes as f64 / (1 << 20) as f64
    );
    let peak = match device {
        Device::Cpu => peak_rss_mib().map(|m| format!("peak RSS {m:.0} MiB")).unwrap_or_default(),
        #[cfg(feature = "cuda")]
        Device::Cuda(i) => {
            let m = gradschool::backend::cuda::cuda_device(*i).unwrap().memory_stats();
            format!("peak GPU memory {:.2} GiB used", m.used_peak as f64 / (1u64 << 30) as f64)
        }
        #[allow(unreachable_patterns)]
        _ => String::new(),
    };
    println!(
        "gpt2_step model device={device} batch={b} tokens={t} checkpointing={checkpointing} one_label={one_label} \
         loss={warm:.4}: \
         {ms:.1} ms/step (mean of {steps}), {:.0} tokens/s, {peak}",
        (b * t) as f64 / (ms / 1e3)
    );
    if let Some(path) = &run.profile {
        // the profiler's cost: steps alternately recorded and not, so drift hits both alike
        gradschool::profiler::start();
        let (mut on, mut off) = (0.0, 0.0);
        for i in 0..2 * steps {
            let record = i % 2 == 0;
            gradschool::profiler::set_recording(record);
            let t0 = Instant::now();
            step();
            let took = t0.elapsed().as_secs_f64() * 1e3;
            if record {
                gradschool::profiler::span(format!("ProfilerStep#{}", i / 2 + 1), t0);
                on += took;
            } else {
                off += took;
            }
        }
        let (on, ms) = (on / steps as f64, off / steps as f64);
        let (report, trace) = gradschool::profiler::finish(gradschool::ops::matmul::measured_cpu_peak_gflops());
        gradschool::io::write_atomic(std::path::Path::new(path), trace.as_bytes())
            .expect("--profile: writing the trace");
        println!("{}", report.table(30));
        println!(
            "profiled: {on:.1} ms/step against {ms:.1} unprofiled, steps alternating ({:+.1}%); trace in {path}",
            100.0 * (on / ms - 1.0)
        );
    }
}

/// What `cargo test` runs: `--model --profile` on a 2-block model, every position labelled and
/// then one label a sequence, each trace read back. Its products are known by formula: per block
/// the qkv projection 2·N·C·3C, the attention scores and their use 2·B·NH·T²·(C/NH) each, the
/// output projection 2·N·C², the MLP 2·2·N·C·4C; the tied head 2·R·C·V over the R rows it is
/// applied to (N = B·T, or B with one label a sequence). Every product has both operands in
/// the graph, so its backward is two products of the same size: twice the forward's FLOPs.
fn self_test() {
    let config = Gpt2Config {
        vocab_size: 96,
        n_positions: 16,
        n_embd: 32,
        n_layer: 2,
        n_head: 4,
        resid_pdrop: 0.0,
        embd_pdrop: 0.0,
        attn_pdrop: 0.0,
        ..Gpt2Config::gpt2()
    };
    let (b, t) = (2u64, 8u64);
    let (c, v, nh) = (config.n_embd as u64, config.vocab_size as u64, config.n_head as u64);
    let n = b * t;
    let block = 2 * n * c * 3 * c + 2 * (2 * b * nh * t * t * (c / nh)) + 2 * n * c * c + 2 * (2 * n * c * 4 * c);
    let dir = std::env::temp_dir().join(format!("gradschool-gpt2-step-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    for one_label in [false, true] {
        let path = dir.join(format!("trace-{one_label}.json"));
        let run = ModelRun {
            config: config.clone(),
            batch: b as usize,
            tokens: t as usize,
            steps: 2,
            checkpointing: false,
            one_label,
            fused: false,
            profile: Some(path.display().to_string()),
        };
        run_model(&Device::Cpu, &run);
        let trace: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("the trace")).expect("trace JSON");
        let ev = trace["traceEvents"].as_array().expect("traceEvents");
        let steps: Vec<&str> = ev.iter().filter(|e| e["cat"] == "step").filter_map(|e| e["name"].as_str()).collect();
        assert_eq!(steps, ["ProfilerStep#1", "ProfilerStep#2"], "the recorded steps (every other step of 4)");
        let flops = |cat: &str| -> u64 {
            let products = ev.iter().filter(|e| e["name"] == "matmul" && e["cat"] == cat);
            products.map(|e| e["args"]["flops"].as_u64().expect("flops")).sum()
        };
        let head_rows = if one_label { b } else { n };
        let want = 2 * (config.n_layer as u64 * block + 2 * head_rows * c * v); // two steps
        assert_eq!(flops("forward"), want, "forward products, one_label={one_label}");
        assert_eq!(flops("backward"), 2 * want, "backward products, one_label={one_label}");
        // q, k and v's gradients go back into qkv's in place (the engine's accumulate_into),
        // and that work is the backward's too: 3 a block a step, none of them filed as forward
        let adds: Vec<&serde_json::Value> = ev.iter().filter(|e| e["name"] == "split_heads_add_").collect();
        assert_eq!(adds.len(), 2 * 3 * config.n_layer, "split_heads' gradient adds");
        assert!(adds.iter().all(|e| e["cat"] == "backward"), "a gradient add filed outside the backward");
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "gpt2_step: --model --profile on a 2-block model, both label settings: traces read back, FLOPs as the formula"
    );
}

/// `--gemms`: every matrix product of one step (per block ×12, the tied head once) on the CPU,
/// with its GFLOP/s: where the step's GEMM time goes. Forward is x·W (Conv1D); the backward
/// products dX = dY·Wᵀ and dW = Xᵀ·dY run through autograd (operands read transposed in place, as
/// in the step), timed as (forward + that backward) − forward.
fn gemm_table(t: usize, steps: usize) {
    let m = B * t;
    let mut rng = manual_seed(1);
    let mut total = 0.0;
    let shapes = [("c_attn", C, 3 * C, LAYERS), ("attn c_proj", C, C, LAYERS), ("c_fc", C, 4 * C, LAYERS)];
    let shapes = shapes.into_iter().chain([("mlp c_proj", 4 * C, C, LAYERS), ("head (wte)", C, VOCAB, 1)]);
    println!("| product | m×k·k×n | ms | GFLOP/s | ms per step |\n| --- | --- | --- | --- | --- |");
    let time = |f: &dyn Fn()| {
        f(); // warm-up (and the buffer pool)
        let start = Instant::now();
        (0..steps).for_each(|_| f());
        start.elapsed().as_secs_f64() * 1e3 / steps as f64
    };
    for (name, n_in, n_out, times) in shapes {
        let x = Tensor::normal([m, n_in], 0.0, 1.0, &mut rng);
        let w = Tensor::normal([n_in, n_out], 0.0, 1.0, &mut rng);
        let dy = Tensor::normal([m, n_out], 0.0, 1.0, &mut rng);
        // forward, then forward + the gradient of x only / of W only
        let run = |grad: Option<bool>| {
            let (xg, wg) = match grad {
                Some(true) => (x.detach().requires_grad_(), w.detach()),
                Some(false) => (x.detach(), w.detach().requires_grad_()),
                None => (x.detach(), w.detach()),
            };
            let y = xg.matmul(&wg);
            if grad.is_some() {
                y.backward_with(&dy);
            }
        };
        let forward = time(&|| run(None));
        let rows = [
            ("forward x·W", forward, [m, n_in, n_out]),
            ("dX = dY·Wᵀ", time(&|| run(Some(true))) - forward, [m, n_out, n_in]),
            ("dW = Xᵀ·dY", time(&|| run(Some(false))) - forward, [n_in, m, n_out]),
        ];
        for (what, ms, [a, k, b]) in rows {
            let gflops = 2.0 * (a * k * b) as f64 / (ms * 1e6);
            total += ms * times as f64;
            println!("| {name} {what} | {a}×{k}·{k}×{b} | {ms:.2} | {gflops:.0} | {:.1} |", ms * times as f64);
        }
    }
    println!("all products of one step (attention's small batched ones excluded): {total:.0} ms");
}

/// The process's peak resident memory (VmHWM, Linux), MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
