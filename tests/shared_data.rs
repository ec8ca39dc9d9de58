//! Checks that need the reference data in $GRADSCHOOL_SHARED_DATA, which is not shipped: the GPT-2
//! tokenizer against ids produced by Python's `tokenizers` on the real vocabulary
//! (tests/fixtures/gpt2_tokenizer_ids.json), and the Rotten Tomatoes split. Where the variable is
//! unset or the files are absent, each case is reported `ignored` with the reason (custom
//! harness), never passed silently.

use gradschool::data::sentiment::load_rotten_tomatoes;
use gradschool::gpt2::{Gpt2Tokenizer, EOS_ID};
use std::path::PathBuf;

fn main() {
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2_tokenizer_ids.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let cases = fixture["cases"].as_array().unwrap().clone();
    let dir = std::env::var_os("GRADSCHOOL_SHARED_DATA").map(|d| PathBuf::from(d).join("gpt2-tokenizer"));
    let tok = match &dir {
        None => Err("GRADSCHOOL_SHARED_DATA is not set".to_string()),
        Some(d) => Gpt2Tokenizer::from_dir(d).map_err(|e| e.to_string()),
    };
    let tok = match tok {
        Ok(t) => t,
        Err(reason) => {
            for (i, _) in cases.iter().enumerate() {
                println!("test gpt2_tokenizer::case_{i} ... ignored, {reason}");
            }
            println!("test gpt2_tokenizer::vocabulary_facts ... ignored, {reason}");
            println!("test gpt2_tokenizer::chunked_equals_whole ... ignored, {reason}");
            println!("test rotten_tomatoes::hf_split ... ignored, {reason}");
            println!("test sentiment::pipeline_full_and_lora ... ignored, {reason}");
            println!("test download::pinned_hashes_match_the_real_files ... ignored, {reason}");
            println!("\nshared_data: 0 passed, 0 failed, {} skipped", cases.len() + 5);
            return;
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for (i, case) in cases.iter().enumerate() {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = tok.encode(text).unwrap();
        let round_trip = tok.decode(&got).unwrap();
        if got == want && round_trip == text {
            passed += 1;
            println!("test gpt2_tokenizer::case_{i} ... ok");
        } else {
            failed += 1;
            println!("test gpt2_tokenizer::case_{i} ... FAILED\n  text {text:?}\n  got  {got:?}\n  want {want:?}\n  decoded {round_trip:?}");
        }
    }
    // GPT-2 facts: 50,257 entries, <|endoftext|> = 50256, and the course's label tokens
    let facts = tok.vocab_size() == 50257
        && tok.encode("<|endoftext|>").unwrap() == vec![EOS_ID]
        && tok.encode("neg").unwrap() == vec![12480]
        && tok.encode("pos").unwrap() == vec![1930];
    if facts {
        passed += 1;
        println!("test gpt2_tokenizer::vocabulary_facts ... ok");
    } else {
        failed += 1;
        println!("test gpt2_tokenizer::vocabulary_facts ... FAILED");
    }
    match std::panic::catch_unwind(|| chunked_equals_whole(&tok)) {
        Ok(()) => {
            passed += 1;
            println!("test gpt2_tokenizer::chunked_equals_whole ... ok");
        }
        Err(_) => {
            failed += 1;
            println!("test gpt2_tokenizer::chunked_equals_whole ... FAILED");
        }
    }
    // Hugging Face's rotten_tomatoes: 8530 / 1066 / 1066, train[0] is a positive sentence about
    // "the rock", labels balanced in every split.
    let rt_dir = PathBuf::from(std::env::var_os("GRADSCHOOL_SHARED_DATA").unwrap()).join("rt-polarity");
    let rt_ok = match load_rotten_tomatoes(&rt_dir) {
        Ok(rt) => {
            let balanced =
                |v: &[gradschool::data::sentiment::Review]| v.iter().filter(|r| r.label == 1).count() * 2 == v.len();
            (rt.train.len(), rt.validation.len(), rt.test.len()) == (8530, 1066, 1066)
                && rt.train[0].text.starts_with("the rock is destined to be the 21st century's new \" conan \"")
                && rt.train[0].label == 1
                && balanced(&rt.train)
                && balanced(&rt.validation)
                && balanced(&rt.test)
        }
        Err(e) => {
            println!("  {e}");
            false
        }
    };
    if rt_ok {
        passed += 1;
        println!("test rotten_tomatoes::hf_split ... ok");
    } else {
        failed += 1;
        println!("test rotten_tomatoes::hf_split ... FAILED");
    }
    match std::panic::catch_unwind(|| pinned_hashes_match(dir.as_ref().unwrap(), &rt_dir)) {
        Ok(()) => {
            passed += 1;
            println!("test download::pinned_hashes_match_the_real_files ... ok");
        }
        Err(_) => {
            failed += 1;
            println!("test download::pinned_hashes_match_the_real_files ... FAILED");
        }
    }
    match std::panic::catch_unwind(|| sentiment_pipeline(dir.as_ref().unwrap())) {
        Ok(()) => {
            passed += 1;
            println!("test sentiment::pipeline_full_and_lora ... ok");
        }
        Err(_) => {
            failed += 1;
            println!("test sentiment::pipeline_full_and_lora ... FAILED");
        }
    }
    println!("\nshared_data: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

/// Encoding a corpus piece by piece (`encode_long`, what `pretrain --text` and `tokenize --file`
/// do to bound memory) gives exactly the ids of encoding it whole, on real text and on text made
/// of the places a cut could go wrong: spaces before newlines, blank lines, Unicode spaces,
/// special tokens, contractions and digits at line starts. Pieces of 1 to 64 bytes put a cut at
/// every allowed place.
fn chunked_equals_whole(tok: &Gpt2Tokenizer) {
    use gradschool::gpt2::chunks;
    let shakespeare =
        PathBuf::from(std::env::var_os("GRADSCHOOL_SHARED_DATA").unwrap()).join("tinyshakespeare/input.txt");
    let real: String = std::fs::read_to_string(shakespeare).unwrap().chars().take(60_000).collect();
    let tricky =
        "a \nb\n\nc\n d\n\u{3000}\ne\u{a0}\nf\n'sg\n12h<|endoftext|>\ni\r\nj\t\nk\n\u{85}l\nx\u{b}\ny\n\u{4e2d}\n"
            .repeat(40);
    for text in [real.as_str(), tricky.as_str()] {
        let whole = tok.encode(text).unwrap();
        assert_eq!(tok.encode_long(text).unwrap(), whole);
        for target in [1, 2, 3, 7, 64] {
            let pieces: Vec<&str> = chunks(text, target).collect();
            assert_eq!(pieces.concat(), text);
            assert!(pieces.len() > 1, "the text has places to cut");
            let ids: Vec<u32> = pieces.iter().flat_map(|p| tok.encode(p).unwrap()).collect();
            assert_eq!(ids, whole, "pieces of {target} bytes");
        }
    }
}

/// The whole GPT-2 pipeline at toy size: pretrain a 1-layer model on a little text, then the
/// course's sentiment fine-tuning on a few real reviews, fully and with LoRA.
fn sentiment_pipeline(tokenizer_dir: &std::path::Path) {
    use gradschool::gpt2::{Gpt2, Gpt2Config};
    use gradschool::train::pretrain::{pretrain, PretrainConfig};
    use gradschool::train::sentiment::{train_sentiment, LoraConfig, SentimentConfig};
    let tmp = std::env::temp_dir().join(format!("gradschool-sent-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(
        tmp.join("text.txt"),
        "the movie was good. the movie was bad. a fine film, a dull film. ".repeat(20),
    )
    .unwrap();
    let config = Gpt2Config {
        n_embd: 16,
        n_layer: 1,
        n_head: 2,
        n_positions: 32,
        resid_pdrop: 0.0,
        embd_pdrop: 0.0,
        attn_pdrop: 0.0,
        ..Gpt2Config::gpt2()
    };
    let pre = PretrainConfig {
        steps: 3,
        batch_size: 2,
        block_size: 16,
        lr: 1e-3,
        seed: 1,
        out_dir: tmp.join("model"),
        progress: false,
        gradient_checkpointing: true,
        ..PretrainConfig::new(vec![tmp.join("text.txt")], tokenizer_dir.to_path_buf(), config)
    };
    let report = pretrain(&pre).unwrap();
    assert!(report.rows.iter().all(|r| r.train_loss.is_finite()));
    assert!(report.last("eval_loss").is_some_and(f64::is_finite), "the held-out tenth is evaluated at the end");
    let model = Gpt2::from_dir(&tmp.join("model")).unwrap(); // HF format, tokenizer copied beside it
    assert_eq!(model.config.vocab_size, 50257);
    let rt = PathBuf::from(std::env::var_os("GRADSCHOOL_SHARED_DATA").unwrap()).join("rt-polarity");
    // full fine-tuning; LoRA with ln_f trained; full with 2-batch accumulation and checkpointing
    let lora_r2 = LoraConfig { r: 2, alpha: 4.0, mlp: true, dropout: 0.0, quantize_base: None };
    for (lora, accum) in [(None, 1), (Some(lora_r2), 1), (None, 2)] {
        let mut cfg = SentimentConfig::new(tmp.join("model"), rt.clone());
        (cfg.out_dir, cfg.limit_train, cfg.limit_eval, cfg.eval_every, cfg.save_every) =
            (tmp.join("ft"), Some(16), Some(16), 1, 2);
        (cfg.lr, cfg.progress, cfg.lora, cfg.lora_train_ln_f) = (1e-3, false, lora, lora.is_some());
        (cfg.grad_accum, cfg.gradient_checkpointing) = (accum, accum > 1);
        let report = train_sentiment(&cfg).unwrap();
        assert_eq!(
            report.rows.len(),
            2 / accum,
            "16 examples / batch 8 = 2 batches, one step per {accum}, evaluated every step"
        );
        let last = report.rows.last().unwrap();
        assert!(last.train_loss.is_finite() && report.last("eval_loss").unwrap().is_finite());
        assert!((0.0..=1.0).contains(&report.last("eval_accuracy").unwrap()));
        let csv = std::fs::read_to_string(tmp.join("ft/metrics.csv")).unwrap();
        assert_eq!(csv.lines().next().unwrap(), "epoch,step,lr,train_loss,eval_loss,eval_accuracy,train_seconds");
        if lora.is_some() {
            let adapter = tmp.join("ft/checkpoint-2/adapter_model.safetensors");
            let names: Vec<String> =
                gradschool::io::load_safetensors(&adapter).unwrap().0.into_iter().map(|(n, _)| n).collect();
            assert!(names.contains(&"base_model.model.transformer.ln_f.weight".to_string()), "{names:?}");
            Gpt2::from_dir(&tmp.join("ft/merged")).unwrap();
        } else if accum == 1 {
            Gpt2::from_dir(&tmp.join("ft/checkpoint-2")).unwrap();
        }
        std::fs::remove_dir_all(tmp.join("ft")).unwrap();
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// `download gpt2` / `download rotten-tomatoes` pin SHA-256s; these are the published files, so
/// the hashes must match them, and an archive packed like Cornell's must extract and verify.
fn pinned_hashes_match(tokenizer_dir: &std::path::Path, rt_dir: &std::path::Path) {
    use gradschool::data::download::{extract_rt_polarity, is_verified, GPT2};
    for res in GPT2.iter().filter(|r| r.name == "vocab.json" || r.name == "merges.txt") {
        assert!(is_verified(&tokenizer_dir.join(res.name), &res.checksum), "{}: pinned hash differs", res.name);
    }
    let tmp = std::env::temp_dir().join(format!("gradschool-rt-real-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let archive = tmp.join("rt-polaritydata.tar.gz");
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(&archive).unwrap(),
        flate2::Compression::fast(),
    ));
    for name in ["rt-polarity.pos", "rt-polarity.neg"] {
        tar.append_path_with_name(rt_dir.join(name), format!("rt-polaritydata/{name}")).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    extract_rt_polarity(&archive, &tmp).unwrap();
    for name in ["rt-polarity.pos", "rt-polarity.neg"] {
        assert_eq!(std::fs::read(tmp.join(name)).unwrap(), std::fs::read(rt_dir.join(name)).unwrap());
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}
