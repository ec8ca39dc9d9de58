//! A model folder whose config.json and weights disagree, or whose config asks for what
//! gradschool does not implement, is refused naming the key or tensor and both values — never
//! loaded as a different model (a layer dropped, an untied head tied, ReLU run as GELU).

mod common;

use gradschool::gpt2::Gpt2;
use gradschool::io::{load_safetensors, save_safetensors};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn two_layers(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradschool-modelfiles-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = gradschool::gpt2::Gpt2Config { n_layer: 2, ..common::tiny_config() };
    Gpt2::new(config, &mut gradschool::manual_seed(5)).save_dir(&dir).unwrap();
    dir
}

/// Sets `key` of dir/config.json to the JSON value `value`.
fn set_config(dir: &Path, key: &str, value: serde_json::Value) {
    let path = dir.join("config.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json[key] = value;
    std::fs::write(&path, json.to_string()).unwrap();
}

fn load_err(dir: &Path) -> String {
    Gpt2::from_dir(dir).err().expect("the folder must be refused").to_string()
}

#[test]
fn a_config_with_fewer_layers_than_the_weights_is_refused() {
    let dir = two_layers("layers");
    Gpt2::from_dir(&dir).expect("the folder as saved loads");
    set_config(&dir, "n_layer", 1.into());
    let err = load_err(&dir);
    assert!(err.contains("h.1.") && err.contains("\"n_layer\": 1") && err.contains("holds 2 layers"), "{err}");
    assert!(err.contains("model.safetensors"), "names the file: {err}");
    // and more layers than the file holds: the missing tensor is named (this held before)
    set_config(&dir, "n_layer", 3.into());
    assert!(load_err(&dir).contains("h.2."));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keys_gradschool_does_not_implement_are_refused_naming_key_and_value() {
    let dir = two_layers("keys");
    let cases: [(&str, serde_json::Value, &str); 6] = [
        ("activation_function", "relu".into(), "\"relu\""),
        ("tie_word_embeddings", false.into(), "false"),
        ("model_type", "llama".into(), "\"llama\""),
        ("scale_attn_weights", false.into(), "false"),
        ("scale_attn_by_inverse_layer_idx", true.into(), "true"),
        ("add_cross_attention", true.into(), "true"),
    ];
    let original = std::fs::read_to_string(dir.join("config.json")).unwrap();
    for (key, value, shown) in cases {
        set_config(&dir, key, value);
        let err = load_err(&dir);
        assert!(err.contains(&format!("\"{key}\": {shown}")) && err.contains("config.json"), "{key}: {err}");
        std::fs::write(dir.join("config.json"), &original).unwrap();
    }
    // the tanh GELU under its other name is the same function: accepted
    set_config(&dir, "activation_function", "gelu_pytorch_tanh".into());
    Gpt2::from_dir(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_lm_head_is_accepted_when_tied_and_refused_when_not() {
    let dir = two_layers("head");
    let path = dir.join("model.safetensors");
    let (mut tensors, _) = load_safetensors(&path).unwrap();
    let wte = tensors.iter().find(|(n, _)| n == "transformer.wte.weight").unwrap().1.clone();
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    tensors.push(("lm_head.weight".into(), wte.clone()));
    save_safetensors(&path, &tensors, &meta).unwrap();
    Gpt2::from_dir(&dir).expect("a saved-out tied head (equal to wte) is the same model");
    tensors.last_mut().unwrap().1 = wte.mul_scalar(2.0);
    save_safetensors(&path, &tensors, &meta).unwrap();
    let err = load_err(&dir);
    assert!(err.contains("lm_head.weight") && err.contains("untied"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_model_folder_is_blamed_on_model_dir() {
    let err = Gpt2::from_dir(Path::new("/nonexistent/gpt2")).err().unwrap().to_string();
    assert!(err.contains("--model-dir /nonexistent/gpt2") && !err.contains("--tokenizer"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gradschool"))
        .args(["generate", "--model-dir", "/nonexistent", "--prompt", "hi"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--model-dir") && !err.contains("--tokenizer"), "{err}");
}
