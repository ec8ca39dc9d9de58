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
            println!("test rotten_tomatoes::hf_split ... ignored, {reason}");
            println!("\nshared_data: 0 passed, 0 failed, {} skipped", cases.len() + 1);
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
    println!("\nshared_data: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
