//! The hotel-booking capstone end to end on a tiny model: supervised fine-tuning with labels only
//! on the model's turns learns to write the search arguments the user asked for and to quote the
//! record the program returned; the evaluation metrics (JSON validity, slot F1, grounded replies)
//! score it; `hotel-bot` runs the loop. The tiny model cannot generalise from two dialogues, so
//! here valid.jsonl holds the two training dialogues: what is measured is that SFT fits its
//! training turns and that the metrics count them right, not held-out quality (chapter 15
//! measures that on the real capstone split).

mod common;

use gradschool::data::hotel::{load_hotels, Turn};
use gradschool::gpt2::{Gpt2, Gpt2Tokenizer};
use gradschool::nn::Module;
use gradschool::train::hotel::{evaluate_hotel, respond, train_hotel, Assistant};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradschool-hotel-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn sft_learns_the_search_call_and_the_grounded_reply_and_the_bot_runs_the_loop() {
    let dir = tmp("sft");
    let (data, cfg) = common::memorising_hotel_run(&dir);

    // Before training: an untrained model writes neither valid arguments nor the reply.
    let base = Gpt2::from_dir(&dir.join("model")).unwrap();
    let tok = Gpt2Tokenizer::from_dir(&dir.join("model")).unwrap();
    let before = evaluate_hotel(&Assistant { model: &base, tok: &tok, max_turn_tokens: 40 }, &data).unwrap();
    assert_eq!((before.slots.valid, before.reply_exact), (0, 0), "{before:?}");

    let report = train_hotel(&cfg).unwrap();
    assert_eq!(report.train.steps, 150);
    let m = report.metrics;
    // Memorised: both searches exact (so slot F1 = 1 by 2·TP/(P+R) with P = R = TP = 2) and
    // both replies quote the returned name.
    assert_eq!((m.slots.searches, m.slots.valid, m.slots.exact), (2, 2, 2), "{m:?}");
    assert_eq!(m.slots.f1(), 1.0);
    assert_eq!((m.replies, m.reply_exact, m.reply_grounded), (2, 2, 2), "{m:?}");
    // metrics.csv carries the capstone's columns; eval.json the final numbers
    let csv = std::fs::read_to_string(dir.join("out/metrics.csv")).unwrap();
    assert!(
        csv.starts_with(
            "epoch,step,lr,train_loss,eval_loss,json_valid,search_exact,slot_f1,reply_exact,reply_grounded,"
        ),
        "{csv}"
    );
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/eval.json")).unwrap()).unwrap();
    assert_eq!(eval["slot_f1"], 1.0);

    // The loop: the model's search runs on the database, its reply quotes what came back.
    let mut trained = Gpt2::from_dir(&dir.join("out/final")).unwrap();
    trained.set_training(false);
    let tok = Gpt2Tokenizer::from_dir(&dir.join("out/final")).unwrap();
    let bot = Assistant { model: &trained, tok: &tok, max_turn_tokens: 40 };
    let mut history = vec![Turn::User { content: "lux".into() }];
    let hotels = load_hotels(&dir.join("hotels.json")).unwrap();
    let turns = respond(&bot, &hotels, &mut history).unwrap();
    assert_eq!(turns, data[1][1..].to_vec(), "the bot's turns");

    // The binary: one request per line of stdin.
    let mut child = Command::new(env!("CARGO_BIN_EXE_gradschool"))
        .args(["hotel-bot", "--model-dir"])
        .arg(dir.join("out/final"))
        .arg("--hotels")
        .arg(dir.join("hotels.json"))
        .args(["--max-turn-tokens", "40"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A line that is not UTF-8 and one longer than the context are refused, and the
    // conversation goes on to the real request.
    let overlong = format!("{}\n", "x".repeat(400));
    let input = [&b"\xff\xfe not utf-8\n"[..], overlong.as_bytes(), b"cheap\n"].concat();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("not UTF-8") && stderr.matches("skipped").count() == 2, "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let want: String = data[0].iter().map(|t| format!("{}:{}\n", t.role(), t.body())).collect();
    assert_eq!(stdout, want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_dialogue_files_and_flags_are_one_line_errors() {
    let dir = tmp("errors");
    common::tiny_hotel_model(&dir.join("model"));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/train.jsonl"), "[{\"role\":\"user\",\"content\":\"hi\"}]\n[{\"role\":\"waiter\"}]\n")
        .unwrap();
    std::fs::write(dir.join("data/valid.jsonl"), "[{\"role\":\"user\",\"content\":\"hi\"}]\n").unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_gradschool"))
            .args(["hotel-sft", "--model-dir"])
            .arg(dir.join("model"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--out-dir")
            .arg(dir.join("out"))
            .args(extra)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let e = run(&["--max-len", "100"]);
    assert!(e.contains("train.jsonl") && e.contains("line 2") && !e.contains("panicked"), "{e}");
    let e = run(&["--max-len", "1000"]);
    assert!(e.contains("--max-len 1000 exceeds the model's context of 160"), "{e}");
    let e = run(&["--batch-size", "0"]);
    assert!(e.contains("--batch-size") && e.contains("≥ 1"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Data-parallel evaluation adds the shards' counts: the counts of two halves of a set of
/// predictions, summed and turned back into metrics, are the whole set's metrics.
#[test]
fn hotel_metrics_counts_add_up_across_shards() {
    use gradschool::data::hotel::SlotCounts;
    use gradschool::train::hotel::HotelMetrics;
    let a = HotelMetrics {
        slots: SlotCounts { searches: 3, valid: 2, exact: 1, true_positive: 4, predicted: 6, reference: 5 },
        replies: 4,
        reply_exact: 1,
        reply_grounded: 3,
    };
    let b = HotelMetrics {
        slots: SlotCounts { searches: 2, valid: 2, exact: 2, true_positive: 3, predicted: 3, reference: 4 },
        replies: 1,
        reply_exact: 0,
        reply_grounded: 1,
    };
    assert_eq!(HotelMetrics::from_counts(&a.counts()), a, "the round trip");
    let sum: Vec<f64> = a.counts().iter().zip(b.counts()).map(|(x, y)| x + y).collect();
    let whole = HotelMetrics::from_counts(&sum);
    // slot F1 from the summed counts: precision 7/9, recall 7/9 → F1 7/9 (not the mean of the halves' F1s)
    assert!((whole.values()[2] - 7.0 / 9.0).abs() < 1e-12, "{:?}", whole.values());
    assert_eq!((whole.slots.searches, whole.replies, whole.reply_grounded), (5, 5, 4));
}
