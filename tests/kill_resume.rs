//! A training run killed with SIGKILL at random moments, again and again, and resumed each time:
//! the checkpoint on disk always loads, and the run that finally completes is bit for bit the
//! one that was never interrupted (saves are temp file + rename; resume is exact).

#![cfg(unix)]

use gradschool::io::load_safetensors;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

fn mnist(out: &Path, epochs: usize, resume: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gradschool"));
    let epochs = epochs.to_string();
    c.args(["mnist", "--limit-train", "256", "--epochs", &epochs, "--lr", "0.05", "--log-interval", "2"]);
    c.args(["--out-dir", out.to_str().unwrap()]).stdout(Stdio::null()).stderr(Stdio::null());
    if resume {
        c.arg("--resume");
    }
    c
}

fn metrics_without_time(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    text.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect()
}

#[test]
fn sigkill_at_random_moments_never_breaks_the_checkpoint_or_the_result() {
    let root = std::env::temp_dir().join(format!("gradschool-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (straight, killed, probe) = (root.join("straight"), root.join("killed"), root.join("probe"));
    const EPOCHS: usize = 60; // 4 steps each: 240 steps, a checkpoint per epoch
    let timed = |epochs: usize| {
        let started = Instant::now();
        assert!(mnist(&probe, epochs, false).status().unwrap().success());
        let _ = std::fs::remove_dir_all(&probe);
        started.elapsed()
    };
    // What a start costs (loading the digits) and what an epoch costs, measured on this machine.
    let (one, five) = (timed(1), timed(5));
    let epoch = (five.saturating_sub(one)) / 4;
    assert!(mnist(&straight, EPOCHS, false).status().unwrap().success());

    // Kill after the start plus 0–3 epochs' time, from a fixed-seed LCG (reproducible).
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let (mut kills, mut attempts) = (0, 0);
    while kills < 20 && attempts < 200 {
        attempts += 1;
        let checkpoint = killed.join("checkpoint.safetensors");
        let mut child = mnist(&killed, EPOCHS, checkpoint.is_file()).spawn().unwrap();
        std::thread::sleep(one.saturating_sub(epoch) + epoch.mul_f64(3.0 * next()));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL: no destructor, no flush, no cleanup runs
            kills += 1;
        }
        let _ = child.wait();
        if checkpoint.is_file() {
            let (tensors, meta) = load_safetensors(&checkpoint).unwrap_or_else(|e| panic!("after kill {kills}: {e}"));
            assert!(tensors.iter().any(|(n, _)| n == "model.fc1.weight") && meta.contains_key("step"));
        }
        if !checkpoint.is_file() && kills > 10 {
            panic!("no checkpoint after {kills} kills: the runs never reached the end of an epoch");
        }
    }
    assert!(kills >= 20, "only {kills} kills landed mid-run in {attempts} attempts");
    println!("{kills} SIGKILLs mid-run in {attempts} attempts; every checkpoint loaded");
    // finish it
    let resume = killed.join("checkpoint.safetensors").is_file();
    assert!(mnist(&killed, EPOCHS, resume).status().unwrap().success());
    assert_eq!(metrics_without_time(&straight), metrics_without_time(&killed));
    let weights = |d: &Path| -> Vec<(String, Vec<f32>)> {
        load_safetensors(&d.join("model.safetensors")).unwrap().0.into_iter().map(|(n, t)| (n, t.to_vec())).collect()
    };
    assert_eq!(weights(&straight), weights(&killed), "weights differ after {kills} kills and resumes");
    // a kill mid-save leaves a temporary file; the next save of that file removes it
    let litter: Vec<String> = std::fs::read_dir(&killed)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(litter.is_empty(), "temporary files left behind: {litter:?}");
    let _ = std::fs::remove_dir_all(&root);
}
