//! `gradschool generate` checks its flags before loading anything, and refuses a generation that
//! cannot fit in the model's context instead of stopping short in silence.

mod common;

use std::process::Command;

#[test]
fn bad_sampling_flags_and_an_overlong_generation_are_one_line_errors() {
    let dir = std::env::temp_dir().join(format!("gradschool-generate-{}", std::process::id()));
    let model = dir.join("model");
    common::tiny_gpt2(&model); // n_positions 32, the byte tokenizer: one token per byte
    let m = model.to_str().unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_gradschool"))
            .args(["generate", "--model-dir", m, "--prompt", "abcdefghij"])
            .args(extra)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let cases: [(&[&str], &str); 5] = [
        (&["--top-p", "0"], "--top-p"),
        (&["--top-p", "1.5"], "probability in (0, 1]"),
        (&["--temperature=-1"], "--temperature"),
        (&["--max-new-tokens", "0"], "--max-new-tokens"),
        // 10 prompt tokens + 30 > 32 positions
        (
            &["--max-new-tokens", "30"],
            "the prompt is 10 tokens and the model's context is 32, so at most 22 new tokens fit",
        ),
    ];
    for (extra, needle) in cases {
        let (ok, err) = run(extra);
        assert!(!ok && err.contains(needle) && !err.contains("panicked"), "{extra:?}: {err}");
    }
    let (ok, err) = run(&["--max-new-tokens", "22"]);
    assert!(ok, "exactly filling the context is allowed: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}
