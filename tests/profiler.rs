//! The profiler, read back: the Chrome trace a step writes names every kernel with the phase it
//! ran in, its shapes and its FLOPs (products: 2·m·n·k, the formula), the backward rules as
//! spans, the optimizer's update and the buffer pool's bytes; the table adds them up; off, it
//! records nothing. And `gradschool mnist --profile` writes a trace with exactly the steps asked
//! for, and `gradschool sweep --profile` one trace a run. One test function in this process: the
//! profiler is process-wide, and tests in one binary run in parallel (the sweep runs in its own).

mod common;

use gradschool::ops::loss::cross_entropy;
use gradschool::optim::{Optimizer, Sgd};
use gradschool::profiler;
use gradschool::{manual_seed, IntTensor, Tensor};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradschool-profiler-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn events(path: &std::path::Path) -> Vec<Value> {
    let trace: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    trace["traceEvents"].as_array().unwrap().clone()
}

/// An MLP step: 64 × 784 → 256 → 10, ReLU, cross-entropy, SGD.
fn mlp_step(w1: &Tensor, w2: &Tensor, opt: &mut Sgd, x: &Tensor, y: &IntTensor) {
    opt.zero_grad();
    let t0 = Instant::now();
    let loss = cross_entropy(&x.linear(w1, None).relu().linear(w2, None), y);
    loss.backward();
    profiler::optimizer_step(|| opt.step());
    profiler::span("ProfilerStep#1".into(), t0);
}

#[test]
fn the_trace_holds_every_kernel_with_its_phase_shapes_and_flops() {
    let dir = tmp("lib");
    let mut rng = manual_seed(0);
    let x = Tensor::randn([64, 784], &mut rng);
    let y = IntTensor::from_vec((0..64).map(|i| i % 10).collect(), [64]);
    let w1 = (Tensor::randn([256, 784], &mut rng) * 0.05).requires_grad_();
    let w2 = (Tensor::randn([10, 256], &mut rng) * 0.05).requires_grad_();
    let mut opt = Sgd::new(vec![w1.clone(), w2.clone()], 0.1);

    // off: nothing is recorded
    mlp_step(&w1, &w2, &mut opt, &x, &y);
    let (off, quiet) = profiler::finish(100.0);
    assert!(off.ops.is_empty() && off.steps == 0, "recorded while off: {:?}", off.ops);
    let quiet: Value = serde_json::from_str(&quiet).unwrap();
    assert!(quiet["traceEvents"].as_array().unwrap().iter().all(|e| e["ph"] == "M"), "only metadata when off");

    profiler::start();
    mlp_step(&w1, &w2, &mut opt, &x, &y);
    let path = dir.join("trace.json");
    let (report, trace) = profiler::finish(gradschool::ops::matmul::measured_cpu_peak_gflops());
    std::fs::write(&path, trace).unwrap();
    let ev = events(&path);
    let kernels: Vec<&Value> = ev.iter().filter(|e| e["ph"] == "X" && e["tid"] == 2).collect();
    let of = |name: &str, cat: &str| -> Vec<&Value> {
        kernels.iter().copied().filter(|e| e["name"] == name && e["cat"] == cat).collect()
    };
    // forward: the two products, FLOPs by 2·m·n·k, shapes as the GEMM saw them
    let fwd = of("matmul", "forward");
    assert_eq!(fwd.len(), 2, "two forward products");
    assert_eq!(fwd[0]["args"]["flops"], 2 * 64 * 784 * 256);
    assert_eq!(fwd[0]["args"]["shapes"], "[1,64,784]x[1,784,256]");
    assert_eq!(fwd[1]["args"]["flops"], 2 * 64 * 256 * 10);
    // bytes moved: both operands and the output, 4 bytes each
    assert_eq!(fwd[0]["args"]["bytes"], 4 * (64 * 784 + 784 * 256 + 64 * 256));
    // backward: dW for both layers and dX for the second (x needs no gradient): 3 products,
    // each inside the matmul rule's span
    let bwd = of("matmul", "backward");
    assert_eq!(bwd.len(), 3, "{bwd:?}");
    assert!(bwd.iter().all(|e| e["args"]["backward_of"] == "matmul"));
    let flops: u64 = bwd.iter().map(|e| e["args"]["flops"].as_u64().unwrap()).sum();
    assert_eq!(flops, 2 * (64 * 784 * 256 + 64 * 256 * 10 + 64 * 10 * 256));
    assert_eq!(ev.iter().filter(|e| e["name"] == "matmul_backward" && e["cat"] == "autograd").count(), 2);
    assert_eq!(of("relu", "forward").len(), 1);
    assert_eq!(of("sgd_step", "optimizer").len(), 1, "the optimizer's one multi-tensor update");
    assert!(ev.iter().any(|e| e["ph"] == "C" && e["args"]["in use"].as_f64().is_some()), "pool counter track");
    // every kernel lies inside the step's span
    let step = ev.iter().find(|e| e["name"] == "ProfilerStep#1").expect("the step span");
    let (s0, s1) = (step["ts"].as_f64().unwrap(), step["ts"].as_f64().unwrap() + step["dur"].as_f64().unwrap());
    for k in &kernels {
        let (t0, t1) = (k["ts"].as_f64().unwrap(), k["ts"].as_f64().unwrap() + k["dur"].as_f64().unwrap());
        assert!(t0 >= s0 - 1.0 && t1 <= s1 + 1.0, "{} at {t0}–{t1} outside the step {s0}–{s1}", k["name"]);
    }
    // the table adds the same events up
    assert_eq!(report.steps, 1);
    let row = |name: &str| report.ops.iter().find(|o| o.name == name).unwrap_or_else(|| panic!("no row {name}"));
    assert_eq!((row("matmul").calls, row("matmul").flops), (2, 2 * 64 * 784 * 256 + 2 * 64 * 256 * 10));
    assert_eq!(row("matmul (backward)").calls, 3);
    let kernel_us: f64 = report.ops.iter().map(|o| o.self_us).sum();
    assert!(kernel_us <= report.total_us + 1.0 && report.outside_kernels_us() >= 0.0);
    let table = report.table(10);
    assert!(table.contains("matmul (backward)") && table.contains("(outside kernels)"), "{table}");
    assert!(report.peak_gflops > 0.0);
    // armed, then disarmed: step 1 is not recorded, and nothing is left to report
    profiler::record_steps(1, 1);
    profiler::disarm();
    profiler::step_begin(1);
    assert!(!profiler::is_recording(), "a disarmed window still recorded its step");
    mlp_step(&w1, &w2, &mut opt, &x, &y);
    assert!(profiler::finish(100.0).0.ops.is_empty(), "recorded after disarm");

    // the command: --profile-steps 3 records steps 2, 3 and 4 of an MNIST run, and nothing else
    let out_dir = dir.join("run");
    let trace = dir.join("mnist.json");
    let args = ["mnist", "--limit-train", "320", "--epochs", "1", "--batch-size", "32", "--profile-steps", "3"];
    let out = Command::new(env!("CARGO_BIN_EXE_gradschool"))
        .args(args)
        .arg("--out-dir")
        .arg(&out_dir)
        .arg("--profile")
        .arg(&trace)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("(outside kernels)") && stdout.contains("3 step(s)"), "{stdout}");
    let ev = events(&trace);
    let steps: Vec<&str> = ev.iter().filter(|e| e["cat"] == "step").map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(steps, ["ProfilerStep#2", "ProfilerStep#3", "ProfilerStep#4"]);
    // the course's MNIST network: 784-256-128-64-10, so 4 forward products a step, 2·32·784·256 first
    let fwd: Vec<&Value> = ev.iter().filter(|e| e["name"] == "matmul" && e["cat"] == "forward").collect();
    assert_eq!(fwd.len(), 3 * 4);
    assert_eq!(fwd[0]["args"]["flops"], 2 * 32 * 784 * 256);
    // a folder that does not exist is refused before training
    let bad = Command::new(env!("CARGO_BIN_EXE_gradschool"))
        .args(["mnist", "--limit-train", "64", "--profile", "/nonexistent-dir/t.json", "--out-dir"])
        .arg(dir.join("run2"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("folder /nonexistent-dir does not exist"));
    assert!(!dir.join("run2").join("metrics.csv").exists(), "nothing trained");
}

#[test]
fn a_sweep_with_profile_writes_one_trace_a_run_with_its_recorded_steps() {
    let dir = tmp("sweep");
    common::sweep_fixture(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_gradschool"))
        .args(["sweep", "--sweep-lr", "1e-3,1e-2", "--batch-size", "6", "--eval-every", "2", "--save-every", "1000"])
        .args(["--profile-steps", "2"])
        .arg("--model-dir")
        .arg(dir.join("model"))
        .arg("--train")
        .arg(dir.join("d.csv"))
        .arg("--out-dir")
        .arg(dir.join("sweep"))
        .arg("--profile")
        .arg(dir.join("t.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.join("t.json").exists(), "the traces are per run");
    // 18 training examples at batch 6: 3 steps a run, so --profile-steps 2 records steps 2 and 3
    // of each run, and each trace holds its own run's steps only
    for n in [1, 2] {
        let ev = events(&dir.join(format!("t-run-{n}.json")));
        let steps: Vec<&str> = ev.iter().filter(|e| e["cat"] == "step").map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(steps, ["ProfilerStep#2", "ProfilerStep#3"], "run {n}");
        assert!(ev.iter().any(|e| e["name"] == "matmul" && e["cat"] == "backward"), "run {n}: no products");
    }
    assert!(!dir.join("t-run-3.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--profile` on the other commands the issue names: a GPT-2 fine-tune (`classify`, the same
/// trainer as `sentiment` and `hotel-sft`), `pretrain`, and `generate`; each trace read back.
#[test]
fn classify_pretrain_and_generate_write_traces_of_what_they_ran() {
    let dir = tmp("commands");
    common::sweep_fixture(&dir);
    let tok = dir.join("tok");
    std::fs::create_dir_all(&tok).unwrap();
    common::byte_tokenizer(&tok);
    std::fs::write(dir.join("text.txt"), "to be or not to be, that is the question. ".repeat(30)).unwrap();
    let run = |args: &[&str], trace: &str| -> Vec<Value> {
        let out = Command::new(env!("CARGO_BIN_EXE_gradschool"))
            .args(args)
            .arg("--profile")
            .arg(dir.join(trace))
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        events(&dir.join(trace))
    };
    let d = |f: &str| dir.join(f).display().to_string();
    let steps = |ev: &[Value]| -> Vec<String> {
        ev.iter().filter(|e| e["cat"] == "step").map(|e| e["name"].as_str().unwrap().to_string()).collect()
    };
    let count = |ev: &[Value], cat: &str| ev.iter().filter(|e| e["name"] == "matmul" && e["cat"] == cat).count();

    // classify: 18 training examples at batch 6 are 3 steps; --profile-steps 2 records 2 and 3
    let (model, csv, out) = (d("model"), d("d.csv"), d("classify"));
    let args = ["classify", "--model-dir", &model, "--train", &csv, "--batch-size", "6", "--epochs", "1"];
    let ev = run(
        &[&args[..], &["--eval-every", "2", "--save-every", "1000", "--profile-steps", "2", "--out-dir", &out]]
            .concat(),
        "c.json",
    );
    assert_eq!(steps(&ev), ["ProfilerStep#2", "ProfilerStep#3"]);
    assert!(count(&ev, "forward") > 0 && count(&ev, "backward") > 0, "classify: products forward and backward");

    // pretrain: 4 steps of a 1-layer model; --profile-steps 2 records 2 and 3
    let (text, tokd, out) = (d("text.txt"), d("tok"), d("pretrain"));
    let args = ["pretrain", "--text", &text, "--tokenizer", &tokd, "--n-layer", "1", "--n-embd", "16", "--n-head", "2"];
    let more = ["--block-size", "16", "--batch-size", "2", "--steps", "4", "--profile-steps", "2", "--out-dir", &out];
    let ev = run(&[&args[..], &more[..]].concat(), "p.json");
    assert_eq!(steps(&ev), ["ProfilerStep#2", "ProfilerStep#3"]);
    // one layer: the four products of a block (qkv, attention's two, its projection, the MLP's
    // two) and the head's — at least 6 forward products a step, each with a backward
    assert!(count(&ev, "forward") >= 2 * 6 && count(&ev, "backward") >= 2 * 6, "pretrain: products");

    // generate: inference only — forward products, nothing backward, no training steps
    let ev = run(&["generate", "--model-dir", &model, "--prompt", "t1", "--max-new-tokens", "4"], "g.json");
    assert!(count(&ev, "forward") > 0, "generate recorded no products");
    assert_eq!(count(&ev, "backward"), 0, "generate ran a backward pass");
    assert!(steps(&ev).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
