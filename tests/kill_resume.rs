//! A training run killed with SIGKILL at random moments, again and again, and resumed each time:
//! the checkpoint on disk always loads, and the run that finally completes is bit for bit the
//! one that was never interrupted (saves are temp file + rename; resume is exact).

#![cfg(unix)]

mod common;

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

/// Lines of dir/metrics.csv now (0 while it does not exist).
fn metrics_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("metrics.csv")).map_or(0, |t| t.lines().count())
}

/// Whether a save is under way in `dir`: a temporary file of a save exists.
fn saving(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|d| d.flatten().any(|e| e.file_name().to_string_lossy().contains(".tmp")))
}

/// Polls `ready` every millisecond; false when `child` exited first.
fn wait_until(child: &mut std::process::Child, mut ready: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if ready() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(started.elapsed().as_secs() < 120, "no progress in two minutes");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn sigkill_at_random_moments_never_breaks_the_checkpoint_or_the_result() {
    let root = std::env::temp_dir().join(format!("gradschool-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (straight, killed) = (root.join("straight"), root.join("killed"));
    // 4 steps an epoch, a checkpoint per epoch; each kill below lets the run advance at most two
    // epochs, so 20 kills end before the run does
    const EPOCHS: usize = 60;
    const KILLS: usize = 20;
    assert!(mnist(&straight, EPOCHS, false).status().unwrap().success());

    // The moments are chosen by the run's progress, not by wall-clock time (which would move
    // with the machine's load): from a fixed-seed LCG, each kill comes either the instant a save's
    // temporary file appears (mid-save: between the exports, the checkpoint, metrics.csv and
    // loss.png) or after the next one or two epochs' rows reach metrics.csv, plus 0–3 ms.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: u64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let mut kinds = [0usize; 3];
    for kill in 1..=KILLS {
        let checkpoint = killed.join("checkpoint.safetensors");
        let mut child = mnist(&killed, EPOCHS, checkpoint.is_file()).spawn().unwrap();
        let kind = next(3) as usize;
        let before = metrics_lines(&killed);
        let landed = match kind {
            0 => wait_until(&mut child, || saving(&killed)),
            epochs => wait_until(&mut child, || metrics_lines(&killed) >= before.max(1) + 2 * epochs),
        };
        std::thread::sleep(std::time::Duration::from_millis(next(4)));
        assert!(landed && child.try_wait().unwrap().is_none(), "kill {kill}: the run ended before it");
        child.kill().unwrap(); // SIGKILL: no destructor, no flush, no cleanup runs
        let _ = child.wait();
        kinds[kind] += 1;
        if checkpoint.is_file() {
            let (tensors, meta) = load_safetensors(&checkpoint).unwrap_or_else(|e| panic!("after kill {kill}: {e}"));
            assert!(tensors.iter().any(|(n, _)| n == "model.fc1.weight") && meta.contains_key("step"));
        }
    }
    let kills = KILLS;
    println!(
        "{kills} SIGKILLs: {} mid-save, {} after one epoch, {} after two; every checkpoint loaded",
        kinds[0], kinds[1], kinds[2]
    );
    // finish it
    let resume = killed.join("checkpoint.safetensors").is_file();
    assert!(mnist(&killed, EPOCHS, resume).status().unwrap().success());
    assert_eq!(common::metrics_without_time(&straight), common::metrics_without_time(&killed));
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
