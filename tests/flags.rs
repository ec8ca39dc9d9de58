//! Every numeric flag is checked when it is parsed: a one-line error naming the flag, exit code
//! ≠ 0, before any data or model is read (the paths given here do not even exist). Text inputs
//! that are not UTF-8, and a 1 MB input to `tokenize`, are handled too.

mod common;

use std::process::{Command, Output};

fn gradschool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradschool")).args(args).output().unwrap()
}

#[test]
fn bad_numbers_are_refused_at_parse_time_naming_the_flag() {
    let ft = ["--model-dir", "/nonexistent/model", "--data-dir", "/nonexistent/rt"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["mnist", "--batch-size", "0"], "--batch-size"),
        (vec!["mnist", "--epochs", "0"], "--epochs"),
        (vec!["mnist", "--lr", "NaN"], "--lr"),
        (vec!["mnist", "--lr=-0.1"], "--lr"),
        (vec!["mnist", "--lr", "inf"], "--lr"),
        (vec!["mnist", "--threads", "0"], "--threads"),
        (vec!["mnist", "--dropout", "1"], "--dropout"),
        (vec!["mnist", "--device", "tpu"], "--device"),
        ([&["sentiment"], &ft[..], &["--max-len", "0"]].concat(), "--max-len"),
        ([&["sentiment"], &ft[..], &["--batch-size=-3"]].concat(), "--batch-size"),
        ([&["sentiment"], &ft[..], &["--lora-dropout", "1.5"]].concat(), "--lora-dropout"),
        ([&["sentiment"], &ft[..], &["--max-grad-norm", "0"]].concat(), "--max-grad-norm"),
        (vec!["pretrain", "--text", "/x", "--tokenizer", "/y", "--steps", "0"], "--steps"),
        (vec!["hotel-sft", "--model-dir", "/x", "--max-len", "0"], "--max-len"),
        (vec!["hotel-data", "--hotels", "/x", "--train", "0"], "--train"),
        (vec!["generate", "--model-dir", "/x", "--prompt", "hi", "--top-p", "0"], "--top-p"),
        (vec!["generate", "--model-dir", "/x", "--prompt", "hi", "--temperature", "NaN"], "--temperature"),
        (vec!["generate", "--model-dir", "/x", "--prompt", "hi", "--max-new-tokens", "0"], "--max-new-tokens"),
        (vec!["diagram", "lora", "--rank", "0"], "--rank"),
        (vec!["attention", "--model-dir", "/x", "--text", "hi", "--layer=-1"], "--layer"),
        (vec!["landscape", "--steps", "0"], "--steps"),
        (vec!["mnist", "--grad-accum", "0"], "--grad-accum"),
        (vec!["mnist", "--zero", "2"], "--zero"),
        ([&["sentiment"], &ft[..], &["--zero", "3"]].concat(), "--zero"),
        (vec!["pretrain", "--text", "/x", "--tokenizer", "/y", "--grad-accum", "0"], "--grad-accum"),
        (vec!["hotel-sft", "--model-dir", "/x", "--zero=-1"], "--zero"),
        (vec!["launch", "-n", "0", "mnist"], "--ranks"),
        (vec!["launch", "-n", "2", "--threads", "0", "mnist"], "--threads"),
        ([&["sentiment"], &ft[..], &["--precision", "fp8"]].concat(), "--precision"),
        (vec!["mnist", "--profile-steps", "0"], "--profile-steps"),
        // LoRA freezes the embeddings already; the two together are refused by name
        ([&["sentiment"], &ft[..], &["--lora-r", "8", "--freeze-embeddings"]].concat(), "--freeze-embeddings"),
        (vec!["hotel-sft", "--model-dir", "/x", "--lora-r", "8", "--freeze-embeddings"], "--freeze-embeddings"),
        (vec!["serve", "--model-dir", "/x", "--queue", "0"], "--queue"),
        (vec!["serve", "--model-dir", "/x", "--host", "localhost:80"], "--host"),
        (vec!["serve", "--hotels", "/x"], "--hotels needs --model-dir"),
    ];
    for (args, flag) in cases {
        let o = gradschool(&args);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} was accepted");
        assert!(e.contains(flag) && !e.contains("panicked") && !e.contains("/nonexistent"), "{args:?}: {e}");
    }
}

#[test]
fn max_len_beyond_the_context_names_both_numbers() {
    let dir = std::env::temp_dir().join(format!("gradschool-flags-{}", std::process::id()));
    common::tiny_gpt2(&dir.join("model")); // n_positions 32
    std::fs::write(dir.join("t.csv"), "text,label\na,x\nb,y\nc,x\nd,y\n").unwrap();
    let o = gradschool(&[
        "classify",
        "--model-dir",
        dir.join("model").to_str().unwrap(),
        "--train",
        dir.join("t.csv").to_str().unwrap(),
        "--max-len",
        "64",
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("--max-len 64 exceeds the model's context of 32 positions"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn text_that_is_not_utf8_and_a_megabyte_to_tokenize() {
    use std::os::unix::ffi::OsStrExt;
    let dir = std::env::temp_dir().join(format!("gradschool-flags-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    common::byte_tokenizer(&dir);
    // an argument with a Latin-1 byte: clap refuses it by name
    let o = Command::new(env!("CARGO_BIN_EXE_gradschool"))
        .args(["generate", "--model-dir", "/x", "--prompt"])
        .arg(std::ffi::OsStr::from_bytes(b"caf\xe9"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("invalid UTF-8") && e.contains("--prompt"), "{e}");
    // a file with one: refused with the byte offset
    std::fs::write(dir.join("latin1.txt"), b"naive caf\xe9").unwrap();
    let o = gradschool(&[
        "tokenize",
        "--tokenizer",
        dir.to_str().unwrap(),
        "--file",
        dir.join("latin1.txt").to_str().unwrap(),
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("latin1.txt: not UTF-8 at byte 9"), "{e}");
    // 1 MB (more than one argument may hold, 128 KiB): through --file; one byte-token per byte
    let big = "the quick brown fox jumps over the lazy dog. ".repeat(1 << 20 >> 5);
    std::fs::write(dir.join("big.txt"), &big).unwrap();
    let o = gradschool(&[
        "tokenize",
        "--tokenizer",
        dir.to_str().unwrap(),
        "--file",
        dir.join("big.txt").to_str().unwrap(),
        "--ids-only",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.starts_with(&format!("{} tokens: [", big.len())), "{}", &out[..60.min(out.len())]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Started by mpirun as one of several ranks, a binary built without the `distributed` feature
/// refuses to run: each rank would train alone and overwrite the others' files.
#[cfg(not(feature = "distributed"))]
#[test]
fn a_binary_without_the_distributed_feature_refuses_to_be_one_of_several_ranks() {
    let o = Command::new(env!("CARGO_BIN_EXE_gradschool"))
        .args(["mnist", "--epochs", "1"])
        .env("OMPI_COMM_WORLD_SIZE", "2") // what Open MPI's mpirun sets in every rank
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("without the `distributed` feature") && e.contains("2 ranks"), "{e}");
    let launch = gradschool(&["launch", "-n", "2", "mnist"]);
    let e = String::from_utf8_lossy(&launch.stderr);
    assert!(!launch.status.success() && e.contains("--features distributed"), "{e}");
}
