//! Data-parallel training on real MPI ranks (Open MPI's mpirun, through `gradschool launch`):
//! two ranks train exactly what one process with `--grad-accum 2` trains, byte for byte, with
//! every rank's parameters checked equal after every step; a run resumes on another number of
//! ranks; a killed rank or a refused start ends the whole job with a message naming the rank.
//! Needs the `distributed` feature and Open MPI (`cargo test --features distributed --test
//! distributed`; .ci/run installs it).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_gradschool");

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradschool-dp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// MNIST on the shipped digits, small enough for a test: 512 examples, batches of 32.
fn mnist(optimizer: &[&str], epochs: usize, out: &Path) -> Vec<String> {
    let mut a: Vec<String> =
        ["mnist", "--batch-size", "32", "--limit-train", "512", "--log-interval", "4"].map(String::from).to_vec();
    a.extend(optimizer.iter().map(|s| s.to_string()));
    a.extend(["--epochs".into(), epochs.to_string(), "--out-dir".into(), out.display().to_string()]);
    a
}

fn run(args: &[String]) -> Output {
    // one compute thread, as each rank has: the same kernels, so the same numbers
    let out = Command::new(EXE).args(args).env("RAYON_NUM_THREADS", "1").output().unwrap();
    assert!(out.status.success(), "gradschool {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    out
}

fn launch(ranks: usize, args: &[String]) -> Command {
    let mut c = Command::new(EXE);
    c.args(["launch", "-n", &ranks.to_string()]).args(args).env("GRADSCHOOL_CHECK_REPLICAS", "1");
    c
}

fn launched(ranks: usize, args: &[String]) -> Output {
    let out = launch(ranks, args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "launch -n {ranks} {}: {text}", args.join(" "));
    out
}

fn bytes(p: PathBuf) -> Vec<u8> {
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn two_ranks_train_what_one_process_with_grad_accum_2_trains_byte_for_byte() {
    for (name, optimizer) in [
        ("sgd", &["--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.02"][..]),
        ("adamw", &["--optimizer", "adamw", "--lr", "0.001"]),
    ] {
        let (one, two) = (tmp(&format!("{name}-one")), tmp(&format!("{name}-two")));
        let mut alone = mnist(optimizer, 2, &one);
        alone.extend(["--grad-accum".into(), "2".into()]);
        run(&alone);
        let out = launched(2, &mnist(optimizer, 2, &two));
        assert_eq!(
            bytes(one.join("model.safetensors")),
            bytes(two.join("model.safetensors")),
            "{name}: 2 ranks vs --grad-accum 2, model.safetensors"
        );
        // the same losses and test metrics row by row (the last column is the wall clock)
        let rows = common::metrics_without_time;
        assert_eq!(rows(&one), rows(&two), "{name}: metrics.csv");
        assert!(rows(&two).len() > 4, "{name}: metrics.csv has its rows");
        // only rank 0 speaks: each evaluation line once
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.matches("test accuracy").count(), 2, "{name}: one line per epoch, not per rank:\n{stdout}");
        for d in [one, two] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Every .safetensors file under `dir` but the checkpoint (relative path, bytes), sorted.
fn safetensors_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "safetensors") && !p.ends_with("checkpoint.safetensors") {
                // (the checkpoint also records the wall-clock training time)
                found.push((p.strip_prefix(dir).unwrap().to_path_buf(), bytes(p)));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn lora_fine_tuning_on_two_ranks_equals_grad_accum_2_and_zero_1_byte_for_byte() {
    let dir = tmp("lora");
    std::fs::create_dir_all(&dir).unwrap();
    common::tiny_gpt2(&dir.join("model"));
    let mut csv = String::from("text,label\n");
    for i in 0..40 {
        let (word, label) = [("red apple", "alpha"), ("blue sky", "beta")][i % 2];
        csv += &format!("{word} {i},{label}\n");
    }
    std::fs::write(dir.join("d.csv"), csv).unwrap();
    // LoRA with dropout (each micro-batch's masks from its own seed), clipping at the global
    // norm after the all-reduce, warmup, evaluation and saves mid-run
    let args = |out: &str| -> Vec<String> {
        let d = |f: &str| dir.join(f).display().to_string();
        let flags = ["--batch-size", "4", "--epochs", "2", "--eval-every", "3", "--save-every", "4", "--lr", "1e-2"];
        let lora = ["--lora-r", "4", "--lora-dropout", "0.1", "--max-grad-norm", "0.5", "--warmup", "2"];
        let mut a = vec!["classify".into(), "--model-dir".into(), d("model"), "--train".into(), d("d.csv")];
        a.extend(flags.iter().chain(&lora).map(|s| s.to_string()));
        a.extend(["--out-dir".into(), d(out)]);
        a
    };
    let mut alone = args("one");
    alone.extend(["--grad-accum".into(), "2".into()]);
    run(&alone);
    launched(2, &args("two"));
    let mut zero = args("three");
    zero.extend(["--zero".into(), "1".into()]);
    launched(2, &zero);
    let (one, two) = (safetensors_under(&dir.join("one")), safetensors_under(&dir.join("two")));
    let three = safetensors_under(&dir.join("three"));
    assert!(two == three, "--zero 1 changed the adapters or the merged model");
    // evaluation is sharded over the ranks and its sums all-reduced: the same metrics
    let rows = |d: &str| common::metrics_without_time(&dir.join(d));
    assert_eq!(rows("one"), rows("two"), "classify: metrics.csv");
    let r = rows("one");
    let col = r[0].split(',').position(|c| c == "eval_loss").expect("an eval_loss column");
    let evaluated = r[1..].iter().filter(|l| l.split(',').nth(col).is_some_and(|v| !v.is_empty())).count();
    assert!(evaluated >= 3, "classify: {evaluated} evaluations in {r:?}");
    let names: Vec<_> = one.iter().map(|(p, _)| p.display().to_string()).collect();
    assert!(names.iter().any(|n| n.contains("adapter")) && names.iter().any(|n| n.starts_with("merged")), "{names:?}");
    assert_eq!(one.len(), two.len(), "{names:?}");
    for ((p, a), (_, b)) in one.iter().zip(&two) {
        assert!(a == b, "{}: 2 ranks vs --grad-accum 2 differ", p.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pretraining_on_two_ranks_equals_grad_accum_2_byte_for_byte() {
    let dir = tmp("pretrain");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(dir.join("tok")).unwrap();
    common::byte_tokenizer(&dir.join("tok"));
    let text: String =
        (0..400).map(|i| format!("the {} hotel is near exit {}. ", ["red", "blue", "old"][i % 3], i % 7)).collect();
    std::fs::write(dir.join("corpus.txt"), text).unwrap();
    let args = |out: &str| -> Vec<String> {
        let d = |f: &str| dir.join(f).display().to_string();
        let mut a = vec!["pretrain".into(), "--text".into(), d("corpus.txt"), "--tokenizer".into(), d("tok")];
        let model = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "16"];
        let run = ["--batch-size", "2", "--steps", "6", "--eval-every", "3", "--out-dir"];
        a.extend(model.iter().chain(&run).map(|s| s.to_string()));
        a.push(d(out));
        a
    };
    let mut alone = args("one");
    alone.extend(["--grad-accum".into(), "2".into()]);
    run(&alone);
    launched(2, &args("two"));
    let (one, two) = (safetensors_under(&dir.join("one")), safetensors_under(&dir.join("two")));
    assert!(!one.is_empty() && one == two, "pretrain: 2 ranks vs --grad-accum 2");
    let rows = |d: &str| common::metrics_without_time(&dir.join(d));
    assert_eq!(rows("one"), rows("two"), "pretrain: metrics.csv (evaluation sharded over the ranks)");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hotel_sft_on_two_ranks_equals_grad_accum_2_byte_for_byte() {
    use gradschool::data::hotel::{load_hotels, save_dialogues};
    let dir = tmp("hotel");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    common::write_hotels(&dir.join("hotels.json"));
    let hotels = load_hotels(&dir.join("hotels.json")).unwrap();
    let data: Vec<_> = ["cheap", "lux", "budget", "best"]
        .iter()
        .zip(["E", "L", "E", "L"])
        .map(|(r, k)| common::dialogue(&hotels, r, k))
        .collect();
    save_dialogues(&dir.join("data/train.jsonl"), &data).unwrap();
    save_dialogues(&dir.join("data/valid.jsonl"), &data[..2]).unwrap();
    common::tiny_hotel_model(&dir.join("model"));
    let args = |out: &str| -> Vec<String> {
        let d = |f: &str| dir.join(f).display().to_string();
        let mut a = vec!["hotel-sft".into(), "--model-dir".into(), d("model"), "--data-dir".into(), d("data")];
        let flags = ["--max-len", "160", "--batch-size", "1", "--epochs", "2", "--eval-every", "2", "--warmup", "1"];
        a.extend(
            // two dialogues held out: each rank generates and scores one
            flags.iter().chain(&["--eval-dialogues", "2", "--lr", "1e-2", "--lora-r", "2"]).map(|s| s.to_string()),
        );
        a.extend(["--out-dir".into(), d(out)]);
        a
    };
    let mut alone = args("one");
    alone.extend(["--grad-accum".into(), "2".into()]);
    run(&alone);
    launched(2, &args("two"));
    let (one, two) = (safetensors_under(&dir.join("one")), safetensors_under(&dir.join("two")));
    let names: Vec<_> = one.iter().map(|(p, _)| p.display().to_string()).collect();
    assert!(names.iter().any(|n| n.starts_with("final")), "{names:?}");
    assert!(one == two, "hotel-sft: 2 ranks vs --grad-accum 2 ({names:?})");
    let eval = |d: &str| std::fs::read_to_string(dir.join(d).join("eval.json")).unwrap();
    assert_eq!(eval("one"), eval("two"), "the final evaluation, sharded, written by rank 0");
    let rows = |d: &str| common::metrics_without_time(&dir.join(d));
    assert_eq!(rows("one"), rows("two"), "hotel-sft: metrics.csv (evaluation sharded over the ranks)");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_resumes_on_another_number_of_ranks() {
    let sgd = ["--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.02"];
    let (whole, split) = (tmp("whole"), tmp("split"));
    let mut alone = mnist(&sgd, 3, &whole);
    alone.extend(["--grad-accum".into(), "2".into()]);
    run(&alone);
    // epoch 1 on 2 ranks, then epochs 2-3 in one process with --grad-accum 2: the same 64 examples a step
    launched(2, &mnist(&sgd, 1, &split));
    let mut rest = mnist(&sgd, 3, &split);
    rest.extend(["--grad-accum".into(), "2".into(), "--resume".into()]);
    run(&rest);
    assert_eq!(bytes(whole.join("model.safetensors")), bytes(split.join("model.safetensors")));
    // and back: resuming that run on 2 ranks with --grad-accum 2 would take 128 examples a step
    let mut other = mnist(&sgd, 4, &split);
    other.extend(["--grad-accum".into(), "2".into(), "--resume".into()]);
    let out = launch(2, &other).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("grad_accum=2") && err.contains("grad_accum=4"), "{err}");
    for d in [whole, split] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn zero_1_shards_the_optimizer_state_and_changes_no_number() {
    let adamw = ["--optimizer", "adamw", "--lr", "0.001"];
    let (plain, zero, whole) = (tmp("zero-plain"), tmp("zero-1"), tmp("zero-whole"));
    launched(2, &mnist(&adamw, 2, &plain));
    let mut sharded = mnist(&adamw, 2, &zero);
    sharded.extend(["--zero".into(), "1".into()]);
    let out = launched(2, &sharded);
    assert_eq!(bytes(plain.join("model.safetensors")), bytes(zero.join("model.safetensors")), "--zero 1 vs without");
    // AdamW keeps 2 floats per parameter; whole parameters go to ranks largest first: rank 0
    // owns fc1.weight (200,704), rank 1 the other 42,058
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want = format!(
        "ZeRO-1: optimizer state per rank {:.1}, {:.1} KiB ({:.1} KiB unsharded)",
        8.0 * 200_704.0 / 1024.0,
        8.0 * 42_058.0 / 1024.0,
        8.0 * 242_762.0 / 1024.0
    );
    assert!(stdout.contains(&want), "want `{want}` in:\n{stdout}");
    // the checkpoint is whole: one process resumes it (--grad-accum 2) to the weights of an
    // unsharded run
    let mut rest = mnist(&adamw, 3, &zero);
    rest.extend(["--grad-accum".into(), "2".into(), "--resume".into()]);
    run(&rest);
    let mut alone = mnist(&adamw, 3, &whole);
    alone.extend(["--grad-accum".into(), "2".into()]);
    run(&alone);
    assert_eq!(bytes(whole.join("model.safetensors")), bytes(zero.join("model.safetensors")), "resumed from ZeRO-1");
    for d in [plain, zero, whole] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Waits for `child` (a launch) to end, failing the test rather than hanging if it does not.
fn wait_ended(mut child: std::process::Child, what: &str) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: the job did not end within 120 s (a hang)");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The pids of gradschool processes whose command line names `marker`.
fn ranks_of(marker: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmd.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let mnist = args.first().is_some_and(|a| a == EXE) && args.get(1).is_some_and(|a| a == "mnist");
        if mnist && args.iter().any(|a| a.contains(marker)) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_killed_rank_ends_the_job_naming_it_and_the_run_resumes() {
    let (dir, whole) = (tmp("killed"), tmp("unkilled"));
    let marker = dir.display().to_string();
    let sgd = ["--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.02"];
    // 16 steps an epoch, 400 epochs: the job is still running when a rank is killed
    let child = launch(2, &mnist(&sgd, 400, &dir)).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // wait for a checkpoint, then kill the rank that is not rank 0 (whose pid the run folder's
    // lock names)
    let deadline = Instant::now() + Duration::from_secs(120);
    while !dir.join("checkpoint.safetensors").exists() {
        assert!(Instant::now() < deadline, "no checkpoint after 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let leader: u32 = std::fs::read_to_string(dir.join(".gradschool.lock")).unwrap().trim().parse().unwrap();
    let others: Vec<u32> = ranks_of(&marker).into_iter().filter(|&p| p != leader).collect();
    assert_eq!(others.len(), 1, "one rank besides rank 0 ({leader}): {others:?}");
    assert!(Command::new("kill").args(["-9", &others[0].to_string()]).status().unwrap().success());
    let (status, err) = wait_ended(child, "a killed rank");
    assert!(!status.success(), "the job must fail");
    assert!(err.contains("rank 1") && err.contains("signal 9"), "the message names the rank and its end:\n{err}");
    assert!(ranks_of(&marker).is_empty(), "no rank left running");
    // the last checkpoint resumes on 2 ranks, to what an unbroken run trains
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let done: usize = metrics.lines().last().unwrap().split(',').next().unwrap().parse().unwrap();
    let mut resumed = mnist(&sgd, done + 2, &dir);
    resumed.push("--resume".into());
    launched(2, &resumed);
    let mut alone = mnist(&sgd, done + 2, &whole);
    alone.extend(["--grad-accum".into(), "2".into()]);
    run(&alone);
    assert_eq!(
        bytes(whole.join("model.safetensors")),
        bytes(dir.join("model.safetensors")),
        "resumed after epoch {done}"
    );
    for d in [dir, whole] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_rank_that_is_refused_ends_every_rank_with_its_reason() {
    let dir = tmp("refused");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("metrics.csv"), "epoch,step\n").unwrap(); // a folder holding a run
    let args = mnist(&["--lr", "0.01"], 1, &dir);
    let child = launch(2, &args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (status, err) = wait_ended(child, "a refused start");
    assert!(!status.success());
    assert!(err.contains("error on rank 0 of 2") && err.contains("--resume"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("metrics.csv")).unwrap(), "epoch,step\n", "nothing overwritten");
    // a command that does not train data-parallel is refused, not run twice
    let child = launch(2, &["demo".to_string()]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (status, err) = wait_ended(child, "a one-process command");
    assert!(!status.success() && err.contains("runs in one process only"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
