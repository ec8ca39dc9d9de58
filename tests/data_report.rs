//! `gradschool data-report` on files with known problems planted in them: the counts it prints
//! are the ones planted, and a bad file is a one-line error.

mod common;

use std::process::Command;

#[test]
fn the_report_finds_what_was_planted() {
    let dir = std::env::temp_dir().join(format!("gradschool-data-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    common::byte_tokenizer(&dir); // one token per byte: token counts are byte counts
                                  // train: 3 pos, 2 neg; one exact and one near duplicate; one text of 40 bytes (> 32 − 2);
                                  // one mis-decoded ("Ã©" is UTF-8 "é" read as Latin-1)
    let long = "x".repeat(40);
    std::fs::write(
        dir.join("train.csv"),
        format!("text,label\ngood film,pos\ngood film,pos\nGood film!,neg\n{long},pos\ncafÃ© noir,neg\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("valid.jsonl"),
        "{\"text\": \"GOOD FILM\", \"label\": \"pos\"}\n{\"text\": \"new\", \"label\": \"neg\"}\n",
    )
    .unwrap();
    let png = dir.join("lengths.png");
    let out = Command::new(env!("CARGO_BIN_EXE_gradschool"))
        .args(["data-report", "--tokenizer", dir.to_str().unwrap(), "-o", png.to_str().unwrap()])
        .args(["--data", dir.join("train.csv").to_str().unwrap(), "--data", dir.join("valid.jsonl").to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for want in [
        "train: 5 examples; labels neg 2 (40.0%), pos 3 (60.0%)",
        "duplicates: 1 exact, 2 after normalising case/punctuation/spacing; 1 texts with conflicting labels",
        "encoding: 1 texts with non-ASCII characters, 1 that look mis-decoded",
        "MAX_LEN 32: 1 truncated (20.0%), losing 10 tokens", // 40 + 2 − 32
        "leakage train ∩ valid: 1 texts in both",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "review,stars\nok,5\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gradschool"))
        .args(["data-report", "--tokenizer", dir.to_str().unwrap(), "--data", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("bad.csv") && err.contains("no `text` column"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
