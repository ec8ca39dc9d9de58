//! Tokenizing a corpus takes memory in proportion to its ids, not to the `tokenizers` crate's
//! per-token records of the whole text (which took ~120 bytes per input byte): measured on the
//! real binary, from /proc (Linux).

#![cfg(target_os = "linux")]

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradschool-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Peak resident memory (VmHWM, bytes) of a child, polled from /proc until it exits.
fn peak_memory(mut child: std::process::Child) -> (bool, u64) {
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status) {
            let kb = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok());
            peak = peak.max(kb.unwrap_or(0) * 1024);
        }
        if let Some(done) = child.try_wait().unwrap() {
            return (done.success(), peak);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn tokenizing_a_large_file_takes_under_ten_bytes_per_input_byte() {
    let dir = tmp("tokenize-memory");
    std::fs::create_dir_all(&dir).unwrap();
    common::byte_tokenizer(&dir);
    // 16 MB of lines; the byte-level test tokenizer has no merges, so every byte is a token: the
    // most token records per input byte any tokenizer gives
    let line = "the quick brown fox jumps over the lazy dog, again and again\n";
    let text = line.repeat(16_000_000 / line.len());
    std::fs::write(dir.join("big.txt"), &text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_gradschool"))
        .args(["tokenize", "--ids-only", "--tokenizer"])
        .arg(&dir)
        .arg("--file")
        .arg(dir.join("big.txt"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (ok, peak) = peak_memory(child);
    assert!(ok);
    let per_byte = peak as f64 / text.len() as f64;
    println!("tokenize --file: {} MB peak for {} MB, {per_byte:.2} bytes per input byte", peak >> 20, text.len() >> 20);
    assert!(per_byte < 10.0, "{per_byte:.1} bytes of memory per input byte");
    let _ = std::fs::remove_dir_all(&dir);
}
