//! What a student does to a run's output folder, with the real binary: kill it between the
//! checkpoint and the last files, start a second run on it, start a fresh run over a finished
//! one, pipe the output into `head`, press Ctrl-C, resume with fewer epochs or no checkpoint.
//! Each case ends with every file the run reports written, or a one-line refusal naming the
//! folder and the flags that resolve it — never a lost or mixed-up run.

#![cfg(unix)]

use gradschool::io::load_safetensors;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradschool-runfolder-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `gradschool mnist` on the first 256 shipped digits (4 steps an epoch).
fn mnist(out: &Path, epochs: usize, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gradschool"));
    c.args(["mnist", "--limit-train", "256", "--lr", "0.05", "--log-interval", "2", "--epochs", &epochs.to_string()]);
    c.arg("--out-dir").arg(out).args(extra);
    c
}

fn run(c: &mut Command) -> Output {
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tensors(path: &Path) -> Vec<(String, Vec<f32>)> {
    load_safetensors(path).unwrap().0.into_iter().map(|(n, t)| (n, t.to_vec())).collect()
}

/// Waits (polling, bounded) until `ready` holds; panics naming `what` after a minute.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < Duration::from_secs(60), "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_kill_after_the_final_checkpoint_is_finished_by_resume() {
    let (straight, killed) = (tmp("final-a"), tmp("final-b"));
    assert!(run(&mut mnist(&straight, 2, &[])).status.success());
    assert!(run(&mut mnist(&killed, 2, &[])).status.success());
    // What SIGKILL between the last checkpoint and the files after it leaves (the order of
    // save_checkpoint: exports, checkpoint, metrics.csv, loss.png): a metrics.csv one save
    // behind, no loss.png, the dead writer's half-drawn temporary.
    let csv = std::fs::read_to_string(killed.join("metrics.csv")).unwrap();
    let short: Vec<&str> = csv.lines().take(csv.lines().count() - 3).collect();
    std::fs::write(killed.join("metrics.csv"), short.join("\n") + "\n").unwrap();
    std::fs::remove_file(killed.join("loss.png")).unwrap();
    // pid 4194305 is above Linux's pid_max (2²²): a writer that is certainly dead
    let litter = killed.join(".loss.png.tmp4194305.png");
    std::fs::write(&litter, b"half a png").unwrap();
    let out = run(&mut mnist(&killed, 2, &["--resume"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("already complete"), "{}", text(&out.stdout));
    assert_eq!(
        std::fs::read_to_string(killed.join("metrics.csv")).unwrap(),
        csv,
        "metrics.csv rewritten whole from the checkpoint"
    );
    assert!(killed.join("loss.png").is_file() && !litter.exists(), "loss.png drawn again, the temporary gone");
    assert_eq!(tensors(&straight.join("model.safetensors")), tensors(&killed.join("model.safetensors")));
    for d in [straight, killed] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_second_run_on_a_busy_folder_is_refused_naming_the_first() {
    let dir = tmp("busy");
    let mut first = mnist(&dir, 40, &["--seed", "1"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let pid = first.id().to_string();
    let lock = dir.join(".gradschool.lock");
    wait_for("the first run's lock", || std::fs::read_to_string(&lock).is_ok_and(|s| s.trim() == pid));
    for extra in [&["--seed", "2"][..], &["--seed", "2", "--overwrite"], &["--resume"]] {
        let out = run(&mut mnist(&dir, 40, extra));
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{extra:?} ran beside the first run");
        assert!(err.contains(&format!("process {pid}")) && err.contains("in use"), "{extra:?}: {err}");
    }
    assert!(first.wait().unwrap().success());
    // The folder holds the first run only: its checkpoint's weights are its model's.
    let model = tensors(&dir.join("model.safetensors"));
    let checkpoint: Vec<(String, Vec<f32>)> = tensors(&dir.join("checkpoint.safetensors"))
        .into_iter()
        .filter_map(|(n, v)| n.strip_prefix("model.").map(|n| (n.to_string(), v)))
        .collect();
    assert_eq!(model, checkpoint);
    // The lock died with its holder: the next run takes the folder.
    assert!(run(&mut mnist(&dir, 41, &["--seed", "1", "--resume"])).status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fresh_run_over_a_finished_one_needs_resume_or_overwrite() {
    let dir = tmp("reuse");
    assert!(run(&mut mnist(&dir, 2, &[])).status.success());
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let out = run(&mut mnist(&dir, 1, &[]));
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("--resume") && err.contains("--overwrite"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("metrics.csv")).unwrap(), csv, "the refused run touched nothing");
    let out = run(&mut mnist(&dir, 1, &["--resume", "--overwrite"]));
    assert!(!out.status.success(), "--resume with --overwrite is a contradiction");
    let out = run(&mut mnist(&dir, 1, &["--overwrite"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows = |s: &str| s.lines().count() - 1;
    let now = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    // one epoch of 4 steps: rows at steps 2 and 4 (the last with the evaluation)
    assert_eq!((rows(&csv), rows(&now)), (4, 2), "the new run's rows only:\n{now}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resume_with_fewer_epochs_or_no_checkpoint_says_what_is_wrong() {
    let dir = tmp("fewer");
    let out = run(&mut mnist(&dir, 2, &["--resume"]));
    let err = text(&out.stderr);
    assert!(!out.status.success() && err.contains("no ") && err.contains("checkpoint.safetensors"), "{err}");
    assert!(run(&mut mnist(&dir, 3, &[])).status.success());
    let out = run(&mut mnist(&dir, 2, &["--resume"]));
    let (err, said) = (text(&out.stderr), text(&out.stdout));
    assert!(!out.status.success() && err.contains("finished 3 epochs") && err.contains("--epochs 3"), "{err}");
    assert!(!said.contains("wrote"), "nothing was written, so nothing is reported: {said}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_closed_stdout_never_stops_training() {
    let dir = tmp("pipe");
    let mut child = mnist(&dir, 3, &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take()); // `| head -0`: the reader is gone before the first line
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit {:?}: {}", out.status.code(), text(&out.stderr));
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().last().unwrap().split(',').nth(1), Some("12"), "all 3 epochs (12 steps) ran:\n{csv}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ctrl_c_and_sigterm_stop_at_a_step_with_a_checkpoint_that_resumes_exactly() {
    let straight = tmp("signal-straight");
    assert!(run(&mut mnist(&straight, 100, &[])).status.success());
    for sig in ["INT", "TERM"] {
        let dir = tmp(&format!("signal-{sig}"));
        let child = mnist(&dir, 100, &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        // The signal lands once the run has saved its first epoch: mid-run, whatever the load.
        wait_for("the first checkpoint", || dir.join("metrics.csv").is_file());
        let pid = child.id().to_string();
        assert!(Command::new("kill").args([&format!("-{sig}"), &pid]).status().unwrap().success());
        let out = child.wait_with_output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "SIG{sig}: {err}");
        assert!(err.contains("interrupted at step") && err.contains("--resume"), "{err}");
        let step = |d: &Path| load_safetensors(&d.join("checkpoint.safetensors")).unwrap().1["step"].clone();
        let stopped: usize = step(&dir).parse().unwrap();
        assert!((4..400).contains(&stopped), "SIG{sig}: stopped at step {stopped}, not mid-run");
        assert!(run(&mut mnist(&dir, 100, &["--resume"])).status.success());
        assert_eq!(tensors(&dir.join("model.safetensors")), tensors(&straight.join("model.safetensors")));
        assert_eq!(step(&dir), "400");
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = std::fs::remove_dir_all(&straight);
}
