//! Faults outside the program: an output path that is a file, a directory that cannot be
//! written, a disk that fills up mid-run. Each is a one-line error naming the path, exit code ≠ 0,
//! and nothing already saved is lost.
//!
//! A custom harness (Cargo.toml: `harness = false`): the full-disk case needs root to mount a
//! small tmpfs, and where it cannot run it is reported `ignored, <reason>` in the summary, never
//! passed silently.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradschool-faults-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tiny pretraining run (byte tokenizer, 1 layer × 8) writing to `out`: 4 steps, a save every 2.
fn pretrain(dir: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradschool"))
        .args(["pretrain", "--text"])
        .arg(dir.join("text.txt"))
        .arg("--tokenizer")
        .arg(dir.join("tok"))
        .arg("--out-dir")
        .arg(out)
        .args(["--n-layer", "1", "--n-embd", "8", "--n-head", "2", "--block-size", "16", "--batch-size", "2"])
        .args(["--steps", "4", "--eval-every", "2"])
        .args(extra)
        .output()
        .unwrap()
}

fn setup(name: &str) -> PathBuf {
    let dir = tmp(name);
    std::fs::create_dir_all(dir.join("tok")).unwrap();
    common::byte_tokenizer(&dir.join("tok"));
    std::fs::write(dir.join("text.txt"), "to be or not to be, that is the question. ".repeat(40)).unwrap();
    dir
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Mounts a tmpfs of `size` at `at` (root only); false where this machine does not allow it.
fn mount_tmpfs(at: &Path, size: &str) -> bool {
    std::fs::create_dir_all(at).unwrap();
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn umount(at: &Path) {
    let _ = Command::new("umount").arg(at).output();
}

fn an_output_path_that_is_a_file_is_refused_and_left_alone() {
    let dir = setup("file");
    let out = dir.join("notes.txt");
    std::fs::write(&out, "my notes").unwrap();
    let o = pretrain(&dir, &out, &[]);
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("notes.txt") && !e.contains("panicked"), "{e}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "my notes");
    let _ = std::fs::remove_dir_all(&dir);
}

fn an_unwritable_directory_is_refused_before_training() {
    let dir = setup("ro");
    let out = dir.join("ro");
    let root = mount_tmpfs(&out, "1m");
    if root {
        // root ignores permissions: a read-only filesystem is what refuses it
        assert!(Command::new("mount").args(["-o", "remount,ro"]).arg(&out).status().unwrap().success());
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o500)).unwrap();
    }
    let o = pretrain(&dir, &out, &[]);
    let e = stderr(&o);
    if root {
        umount(&out);
    }
    eprintln!("unwritable: {}", e.trim());
    assert!(!o.status.success(), "{e}");
    assert!(e.contains("/ro:") && (e.contains("Read-only") || e.contains("Permission denied")), "{e}");
    assert!(!e.contains("step"), "refused before any training step: {e}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn a_full_disk_mid_run_keeps_the_last_checkpoint_good() -> Outcome {
    let dir = setup("full");
    let out = dir.join("small-disk");
    // 50257 × 8 embeddings: model.safetensors 1.6 MB, the checkpoint (weights + AdamW's two
    // moments) 4.8 MB. 9 MB holds one save; the second needs room for its temporary files too.
    if !mount_tmpfs(&out, "9m") {
        let _ = std::fs::remove_dir_all(&dir);
        return Outcome::Ignored("mounting a small tmpfs needs root (benches/README.md RELIABILITY)");
    }
    let o = pretrain(&dir, &out, &[]);
    let e = stderr(&o);
    let checkpoint = out.join("checkpoint.safetensors");
    let loads = gradschool::io::load_safetensors(&checkpoint).map(|(t, m)| (t.len(), m.get("step").cloned()));
    let litter: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    umount(&out);
    eprintln!("full disk: {}", e.trim());
    assert!(!o.status.success(), "the run should not fit: {e}");
    assert!(e.contains("No space left on device") && e.contains("small-disk/"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    let (tensors, _) = loads.unwrap_or_else(|err| panic!("the last checkpoint must still load: {err}"));
    assert!(tensors > 0);
    assert!(litter.is_empty(), "temporary files left: {litter:?}");
    let _ = std::fs::remove_dir_all(&dir);
    Outcome::Ran
}

/// A case: its name and the function that runs it.
type Case = (&'static str, fn() -> Outcome);

/// How a case ended when it did not panic.
enum Outcome {
    Ran,
    Ignored(&'static str),
}

fn main() {
    fn file() -> Outcome {
        an_output_path_that_is_a_file_is_refused_and_left_alone();
        Outcome::Ran
    }
    fn unwritable() -> Outcome {
        an_unwritable_directory_is_refused_before_training();
        Outcome::Ran
    }
    let cases: [Case; 3] = [
        ("an_output_path_that_is_a_file_is_refused_and_left_alone", file),
        ("an_unwritable_directory_is_refused_before_training", unwritable),
        ("a_full_disk_mid_run_keeps_the_last_checkpoint_good", a_full_disk_mid_run_keeps_the_last_checkpoint_good),
    ];
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let (mut passed, mut failed, mut ignored) = (0, 0, 0);
    for (name, case) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        match std::panic::catch_unwind(case) {
            Ok(Outcome::Ran) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Ok(Outcome::Ignored(why)) => {
                ignored += 1;
                println!("test {name} ... ignored, {why}");
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED");
            }
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; {ignored} ignored",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
