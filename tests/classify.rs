//! The homework recipe (`gradschool classify`): the course's fine-tuning on a student's own file
//! of labelled texts — any number of labels, a held-out tenth when no validation file is given,
//! and clear errors for files it cannot use.

mod common;

use gradschool::train::sentiment::{train_sentiment, SentimentConfig, TextData};
use std::process::Command;

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gradschool-classify-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn three_labels_from_a_csv_train_and_the_loss_falls() {
    let dir = tmp("three");
    common::tiny_gpt2(&dir.join("model"));
    // Three labels, their first (byte) tokens a, b, g distinct; the class is in the text.
    let mut csv = String::from("text,label\n");
    for i in 0..40 {
        let (word, label) = [("red apple", "alpha"), ("blue sky", "beta"), ("green leaf", "gamma")][i % 3];
        csv += &format!("{word} {i},{label}\n");
    }
    std::fs::write(dir.join("colours.csv"), csv).unwrap();
    let cfg = SentimentConfig {
        out_dir: dir.join("out"),
        lr: 1e-2,
        batch_size: 4,
        epochs: 3,
        eval_every: 3,
        save_every: 1000,
        progress: false,
        ..SentimentConfig::with_data(dir.join("model"), TextData::Files { train: dir.join("colours.csv"), valid: None })
    };
    let report = train_sentiment(&cfg).unwrap();
    // 40 examples, a tenth (4) held out: 36 / 4 = 9 steps an epoch, 27 in all, evaluated every 3
    assert_eq!((report.steps, report.rows.len()), (27, 9));
    let losses: Vec<f64> = report.rows.iter().map(|r| r.eval[0]).collect();
    // from ~ln(50257) = 10.8 (the head knows nothing) toward the three label tokens
    assert!(losses[8] < losses[0] - 1.0, "validation loss did not fall: {losses:?}");
    assert!((0.0..=1.0).contains(&report.last("eval_accuracy").unwrap()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn labels_that_share_a_first_token_and_bad_files_are_clear_errors() {
    let dir = tmp("errors");
    common::tiny_gpt2(&dir.join("model"));
    std::fs::write(
        dir.join("clash.jsonl"),
        (0..12)
            .map(|i| {
                let label = if i % 2 == 0 { "pos" } else { "positive" };
                format!("{{\"text\": \"t{i}\", \"label\": \"{label}\"}}\n")
            })
            .collect::<String>(),
    )
    .unwrap();
    let cfg =
        SentimentConfig::with_data(dir.join("model"), TextData::Files { train: dir.join("clash.jsonl"), valid: None });
    let err =
        train_sentiment(&SentimentConfig { out_dir: dir.join("out"), progress: false, ..cfg }).unwrap_err().to_string();
    assert!(err.contains("`pos` and `positive` start with the same token"), "{err}");

    std::fs::write(dir.join("one.csv"), "text,label\na,x\nb,x\nc,x\nd,x\ne,x\nf,x\ng,x\nh,x\ni,x\nj,x\nk,x\n").unwrap();
    std::fs::write(dir.join("two.csv"), "text,label\na,x\nb,z\n").unwrap();
    std::fs::write(dir.join("unseen.csv"), "text,label\na,y\n").unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_gradschool")).arg("classify").args(args).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let model = dir.join("model");
    let m = model.to_str().unwrap();
    let paths = ["one.csv", "two.csv", "unseen.csv", "none.csv"].map(|f| dir.join(f).to_str().unwrap().to_string());
    let [one, two, unseen, none] = paths.each_ref().map(String::as_str);
    let cases = [
        (vec!["--model-dir", m, "--train", one], "one label only"),
        (vec!["--model-dir", m, "--train", two, "--valid", unseen], "label `y` does not occur in the training file"),
        (vec!["--model-dir", m, "--train", none], "none.csv"),
        (vec!["--model-dir", m, "--train", one, "--batch-size", "0"], "--batch-size"),
    ];
    for (args, needle) in cases {
        let (ok, err) = run(&args);
        assert!(!ok && err.contains(needle) && !err.contains("panicked"), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sweep_runs_every_combination_and_tables_them() {
    use gradschool::train::sweep::{sweep, SweepGrid};
    let dir = tmp("sweep");
    common::sweep_fixture(&dir);
    let base = SentimentConfig {
        out_dir: dir.join("sweep"),
        batch_size: 6,
        eval_every: 2,
        save_every: 1000,
        progress: false,
        ..SentimentConfig::with_data(dir.join("model"), TextData::Files { train: dir.join("d.csv"), valid: None })
    };
    let grid = SweepGrid { lr: vec![1e-3, 1e-2], batch_size: vec![6, 18], ..Default::default() };
    let runs = sweep(&base, &grid).unwrap();
    // 18 training examples: 3 steps at batch 6, 1 at batch 18
    let steps: Vec<usize> = runs.iter().map(|r| r.report.steps).collect();
    assert_eq!(steps, [3, 1, 3, 1]);
    let table = std::fs::read_to_string(dir.join("sweep/sweep.csv")).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    assert!(lines[4].starts_with("4,0.01,18,0,,,,1,"), "{table}"); // no LoRA: rank, α and dropout empty
    for f in ["sweep/sweep.png", "sweep/run-1/metrics.csv", "sweep/run-4/loss.png"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A GPT-2 whose logits are known by construction: ln_f's γ = 0 and β = e₀ make every
/// position's final hidden state e₀, so with the tied head logit_j = wte[j]·e₀ = wte[j][0]. Column
/// 0 of wte is set to 0 except `scores` (token, logit); every other weight is random and does
/// not matter.
fn model_with_logits(scores: &[(usize, f32)]) -> gradschool::gpt2::Gpt2 {
    let model = gradschool::gpt2::Gpt2::new(common::tiny_config(), &mut gradschool::manual_seed(1));
    let c = model.config.n_embd;
    let mut wte = model.wte.to_vec();
    (0..model.config.vocab_size).for_each(|j| wte[j * c] = 0.0);
    scores.iter().for_each(|&(j, s)| wte[j * c] = s);
    model.wte.set_data(&gradschool::Tensor::from_vec(wte, model.wte.dims().to_vec()));
    model.ln_f.weight.set_data(&gradschool::Tensor::zeros([c]));
    let mut beta = vec![0.0; c];
    beta[0] = 1.0;
    model.ln_f.bias.set_data(&gradschool::Tensor::from_vec(beta, [c]));
    model
}

#[test]
fn evaluate_sentiment_scores_only_the_label_tokens() {
    use gradschool::data::sentiment::process_example;
    use gradschool::gpt2::EOS_ID;
    use gradschool::train::sentiment::evaluate_sentiment;
    let (neg, pos, other) = (12480u32, 1930u32, 7u32); // GPT-2's "neg" and "pos", and a non-label
                                                       // three positive reviews and one negative, of different lengths (padding in a batch of 3)
    let data: Vec<_> = [(&[5u32, 6, 9][..], pos), (&[11, 12][..], pos), (&[13][..], pos), (&[14, 15, 16, 17][..], neg)]
        .iter()
        .map(|&(text, label)| process_example(text, label, EOS_ID, 8))
        .collect();
    let v = common::tiny_config().vocab_size as f64;
    for (pos_logit, neg_logit, want_accuracy) in [(2.0f32, 1.0f32, 0.75), (1.0, 2.0, 0.25)] {
        // `other` has the highest logit of the vocabulary: scoring every token instead of the
        // two label tokens predicts it everywhere, and accuracy would be 0
        let model = model_with_logits(&[(pos as usize, pos_logit), (neg as usize, neg_logit), (other as usize, 5.0)]);
        let (loss, accuracy) = evaluate_sentiment(&model, &data, 3, &[neg, pos]);
        assert_eq!(accuracy, want_accuracy, "logits pos {pos_logit}, neg {neg_logit}");
        // cross-entropy over the whole vocabulary: log Σ_j e^{logit_j} − logit_label, with
        // V − 3 logits of 0 (formula, in f64)
        let lse = ((v - 3.0) + (pos_logit as f64).exp() + (neg_logit as f64).exp() + 5f64.exp()).ln();
        let want_loss = (3.0 * (lse - pos_logit as f64) + (lse - neg_logit as f64)) / 4.0;
        assert!((loss - want_loss).abs() < 1e-4, "loss {loss} vs {want_loss} by the formula");
    }
}

#[test]
fn a_batch_larger_than_the_training_set_is_refused_as_mnist_refuses_it() {
    // One rule for every training command (mnist refused this already; sentiment and classify
    // ran one short step an epoch instead).
    let dir = tmp("batch");
    common::tiny_gpt2(&dir.join("model"));
    let csv: String = (0..20).map(|i| format!("word {i},{}\n", ["alpha", "beta"][i % 2])).collect();
    std::fs::write(dir.join("two.csv"), format!("text,label\n{csv}")).unwrap();
    let cfg = SentimentConfig {
        out_dir: dir.join("out"),
        batch_size: 64,
        progress: false,
        ..SentimentConfig::with_data(dir.join("model"), TextData::Files { train: dir.join("two.csv"), valid: None })
    };
    let err = train_sentiment(&cfg).unwrap_err().to_string();
    // 20 examples, a tenth (2) held out: 18 to train on
    assert!(err.contains("--batch-size 64") && err.contains("18 training examples"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn freeze_embeddings_trains_every_weight_but_the_embeddings() {
    use gradschool::nn::Module;
    let dir = tmp("freeze");
    common::tiny_gpt2(&dir.join("model"));
    let csv: String = std::iter::once("text,label\n".to_string())
        .chain((0..20).map(|i| format!("{} {i},{}\n", ["red", "blue"][i % 2], ["alpha", "beta"][i % 2])))
        .collect();
    std::fs::write(dir.join("two.csv"), csv).unwrap();
    let cfg = SentimentConfig {
        out_dir: dir.join("out"),
        lr: 1e-2,
        batch_size: 3,
        epochs: 1,
        eval_every: 100,
        save_every: 1000,
        progress: false,
        freeze_embeddings: true,
        ..SentimentConfig::with_data(dir.join("model"), TextData::Files { train: dir.join("two.csv"), valid: None })
    };
    let report = train_sentiment(&cfg).unwrap();
    assert_eq!(report.steps, 6, "18 training examples (a tenth held out) in batches of 3");
    let base = gradschool::gpt2::Gpt2::from_dir(&dir.join("model")).unwrap();
    let tuned = gradschool::gpt2::Gpt2::from_dir(&dir.join("out/checkpoint-6")).unwrap();
    for ((name, b), (_, t)) in base.named_parameters().into_iter().zip(tuned.named_parameters()) {
        let same = b.to_vec() == t.to_vec();
        // with the embeddings frozen (the token embedding is the tied head too), every other
        // weight still moves: LayerNorms, biases, attention and MLP matrices
        assert_eq!(same, name == "wte.weight" || name == "wpe.weight", "{name}: unchanged = {same}");
    }
    // LoRA already freezes them: the flag is refused with it
    let lora =
        gradschool::train::sentiment::LoraConfig { r: 2, alpha: 4.0, mlp: false, dropout: 0.0, quantize_base: None };
    let both = SentimentConfig { lora: Some(lora), out_dir: dir.join("both"), ..cfg };
    let err = train_sentiment(&both).unwrap_err().to_string();
    assert!(err.contains("--freeze-embeddings is for full fine-tuning"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
