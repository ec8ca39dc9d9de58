//! QLoRA on GPT-2: the frozen base's linear weights stored in NF4 or int8 and dequantized inside
//! each product, f32 adapters on top. Checked against the same model with the dequantized
//! weights put back as f32 (the products must be bit-identical: the same kernel on the same
//! numbers), and through the file format `gradschool quantize` writes.

mod common;

use gradschool::gpt2::{Gpt2, QUANT_FILE};
use gradschool::nn::Module;
use gradschool::optim::{AdamW, Optimizer};
use gradschool::quant::QuantKind;
use gradschool::{IntTensor, Tensor};
use std::path::PathBuf;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2-tiny")
}

fn ids() -> IntTensor {
    IntTensor::from_vec((0..2 * 12).map(|i| (i * 31 + 7) % 97).collect(), [2, 12])
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gs-qlora-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The f32 model whose linear weights are the quantized model's, dequantized.
fn dequantized_twin(q: &Gpt2) -> Gpt2 {
    let twin = Gpt2::from_dir(&fixture()).unwrap();
    for (b, t) in q.blocks.iter().zip(&twin.blocks) {
        for (qc, tc) in
            [(&b.c_attn, &t.c_attn), (&b.attn_proj, &t.attn_proj), (&b.c_fc, &t.c_fc), (&b.mlp_proj, &t.mlp_proj)]
        {
            let m = qc.quantized.as_ref().unwrap();
            tc.weight.set_data(&Tensor::from_vec(m.dequantize(), [m.rows, m.cols]));
        }
    }
    twin
}

#[test]
fn a_quantized_base_computes_what_its_dequantized_weights_compute_and_stores_none_in_f32() {
    for kind in [QuantKind::Nf4, QuantKind::Int8] {
        let f32_model = Gpt2::from_dir(&fixture()).unwrap();
        let mut q = Gpt2::from_dir(&fixture()).unwrap();
        let s = q.quantize_base(kind);
        assert_eq!(q.quantization(), Some(kind));
        // 2 layers × (32·96 + 32·32 + 32·128 + 128·32) = 2 × 12,288 values
        assert_eq!((s.matrices, s.values), (8, 24_576));
        match kind {
            // 64 values per block: 32 bytes of codes + a 4-byte scale = 0.5625 bytes a value
            QuantKind::Nf4 => assert_eq!(s.bytes_per_value(), 0.5625),
            // one byte a value + a 4-byte scale per output feature (96 + 32 + 128 + 32 per layer)
            QuantKind::Int8 => assert_eq!(s.bytes, 24_576 + 4 * 2 * (96 + 32 + 128 + 32)),
        }
        // no f32 copy of a quantized weight: not a parameter, an empty placeholder
        let names: Vec<String> = q.named_parameters().into_iter().map(|(n, _)| n).collect();
        assert!(!names.iter().any(|n| n.contains("c_attn.weight") || n.contains("c_fc.weight")), "{names:?}");
        assert_eq!(q.blocks[0].c_attn.weight.numel(), 0);
        let f32_bytes: usize = f32_model.named_parameters().iter().map(|(_, t)| 4 * t.numel()).sum();
        assert_eq!(q.weight_bytes(), f32_bytes - 4 * 24_576 + s.bytes);
        let logits = q.forward(&ids(), None).to_vec();
        assert_eq!(logits, dequantized_twin(&q).forward(&ids(), None).to_vec(), "{kind:?}: bit for bit");
        // and near the f32 model: NF4's rounding of N(0, 0.02) weights moves the logits a little
        let exact = f32_model.forward(&ids(), None).to_vec();
        let rel = |a: &[f32], b: &[f32]| {
            let d: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
            (d / b.iter().map(|y| y * y).sum::<f32>()).sqrt()
        };
        let err = rel(&logits, &exact);
        let bound = if kind == QuantKind::Nf4 { 0.05 } else { 0.005 };
        assert!(err > 0.0 && err < bound, "{kind:?}: logits' relative error {err} (bound {bound})");
    }
}

#[test]
fn lora_on_a_quantized_base_trains_only_the_adapters() {
    // 20 AdamW steps on one batch, LoRA (r 4, α 8, attention and MLP) on the f32 base and on the
    // NF4 base, the same adapters' initialisation
    let train = |kind: Option<QuantKind>| {
        let mut m = Gpt2::from_dir(&fixture()).unwrap();
        if let Some(k) = kind {
            m.quantize_base(k);
        }
        let trainable = m.enable_lora(4, 8.0, true, &mut gradschool::manual_seed(1));
        assert_eq!(trainable, 2 * (4 * (32 + 96) + 4 * (32 + 32) + 4 * (32 + 128) + 4 * (128 + 32)));
        let params = m.trainable_parameters();
        assert_eq!(params.iter().map(Tensor::numel).sum::<usize>(), trainable, "the adapters, nothing else");
        let mut opt = AdamW::new(params.clone(), 1e-2);
        let ids = ids();
        let mut losses = Vec::new();
        for _ in 0..20 {
            opt.zero_grad();
            let loss = Gpt2::lm_loss(&m.forward(&ids, None), &ids);
            loss.backward();
            assert!(params.iter().all(|p| p.grad().is_some()), "every adapter gets a gradient");
            assert!(m.blocks[0].c_attn.weight.grad().is_none() && m.blocks[0].c_attn.bias.grad().is_none());
            opt.step();
            losses.push(loss.item());
        }
        (m, losses)
    };
    let (_, lora) = train(None);
    let (mut q, qlora) = train(Some(QuantKind::Nf4));
    assert!(qlora[19] < qlora[0] - 0.2, "QLoRA learns: {qlora:?}");
    // the base's rounding moves the start a little; the adapters learn the same way on both
    for (i, (a, b)) in qlora.iter().zip(&lora).enumerate() {
        assert!((a - b).abs() < 0.05, "step {i}: QLoRA loss {a} vs LoRA {b}");
    }
    let ids = ids();
    // merging dequantizes the base and folds the adapters in: f32 weights, the same function
    let before = q.forward(&ids, None).to_vec();
    q.merge_lora();
    assert_eq!(q.quantization(), None);
    assert_eq!(q.blocks[1].c_fc.weight.dims(), &[32, 128]);
    for (i, (a, b)) in q.forward(&ids, None).to_vec().iter().zip(&before).enumerate() {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "logit {i}: merged {a} vs adapters {b}");
    }
}

#[test]
fn a_saved_quantized_folder_loads_back_to_the_same_model_and_bad_files_are_named() {
    for kind in [QuantKind::Nf4, QuantKind::Int8] {
        let dir = tmp(&format!("{kind:?}"));
        let mut q = Gpt2::from_dir(&fixture()).unwrap();
        q.quantize_base(kind);
        q.save_quantized_dir(&dir).unwrap();
        let back = Gpt2::from_dir(&dir).unwrap();
        assert_eq!(back.quantization(), Some(kind));
        assert_eq!(back.forward(&ids(), None).to_vec(), q.forward(&ids(), None).to_vec(), "{kind:?}");
        // the quantized file is what the format promises: NF4 0.5625 B a value, int8 ~1 B
        // (safetensors: an 8-byte header length, the JSON header, then the tensors' bytes)
        let file = std::fs::read(dir.join(QUANT_FILE)).unwrap();
        let header = 8 + u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
        let s = Gpt2::from_dir(&fixture()).map(|mut m| m.quantize_base(kind)).unwrap();
        assert_eq!(file.len() - header, s.bytes, "{kind:?}: the codes and scales, nothing more");
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // a truncated codes tensor: refused, naming the file and the tensor
    let dir = tmp("bad");
    let mut q = Gpt2::from_dir(&fixture()).unwrap();
    q.quantize_base(QuantKind::Nf4);
    q.save_quantized_dir(&dir).unwrap();
    let err = Gpt2::from_dir(&dir.join("missing")).err().unwrap().to_string();
    assert!(err.contains("no such folder"), "{err}");
    std::fs::write(dir.join(QUANT_FILE), b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ").unwrap();
    let err = Gpt2::from_dir(&dir).err().unwrap().to_string();
    assert!(err.contains(QUANT_FILE) && err.contains("missing tensor h.0.attn.c_attn.weight.nf4"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The commands end to end on a tiny model: `quantize` writes a folder (and measures the
/// perplexity change), `generate` loads it, `classify --quantize-base nf4` fine-tunes LoRA on a
/// quantized base, and `--quantize-base` without adapters is refused.
#[test]
fn the_quantize_generate_and_qlora_fine_tuning_commands() {
    use std::process::Command;
    let exe = env!("CARGO_BIN_EXE_gradschool");
    let dir = tmp("cli");
    std::fs::create_dir_all(&dir).unwrap();
    common::tiny_gpt2(&dir.join("model"));
    let text: String =
        (0..300).map(|i| format!("the {} hotel is near exit {}. ", ["red", "old"][i % 2], i % 7)).collect();
    std::fs::write(dir.join("eval.txt"), text).unwrap();
    let d = |f: &str| dir.join(f).display().to_string();
    let run = |args: &[String]| {
        let out = Command::new(exe).args(args).output().unwrap();
        let (o, e) =
            (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string());
        (out.status.success(), o + &e)
    };
    let quantize = ["quantize", "--model-dir", &d("model"), "--out-dir", &d("q"), "--eval-text", &d("eval.txt")];
    let (ok, out) = run(&quantize.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..]);
    assert!(ok, "{out}");
    assert!(out.contains("0.5625 bytes a value") && out.contains("perplexity on"), "{out}");
    let (ok, out) = run(&quantize.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..]);
    assert!(!ok && out.contains("--overwrite"), "a second run must not overwrite: {out}");
    let gen = ["generate", "--model-dir", &d("q"), "--prompt", "the red", "--max-new-tokens", "5"];
    let (ok, out) = run(&gen.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..]);
    assert!(ok && out.contains("the red"), "{out}");
    let mut csv = String::from("text,label\n");
    for i in 0..16 {
        csv += &format!("{} {i},{}\n", ["red apple", "blue sky"][i % 2], ["alpha", "beta"][i % 2]);
    }
    std::fs::write(dir.join("d.csv"), csv).unwrap();
    let classify = |extra: &[&str], out: &str| -> Vec<String> {
        let mut a: Vec<String> = ["classify", "--model-dir", &d("model"), "--train", &d("d.csv"), "--batch-size", "4"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(["--epochs", "1", "--out-dir", &d(out)].iter().chain(extra).map(|s| s.to_string()));
        a
    };
    let (ok, out) = run(&classify(&["--quantize-base", "nf4"], "full"));
    assert!(!ok && out.contains("--lora-r"), "QLoRA without adapters is refused: {out}");
    let (ok, out) = run(&classify(&["--quantize-base", "int4", "--lora-r", "2"], "bad"));
    assert!(!ok && out.contains("nf4") && out.contains("int4"), "{out}");
    let (ok, out) = run(&classify(&["--quantize-base", "nf4", "--lora-r", "2"], "qlora"));
    assert!(ok && out.contains("QLoRA: 4 base weights"), "{out}");
    let adapters = std::fs::read_dir(dir.join("qlora"))
        .unwrap()
        .flatten()
        .any(|e| e.path().join("adapter_model.safetensors").is_file());
    assert!(adapters, "PEFT adapters saved");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Quantizing while loading (what `--quantize-base` does, so the f32 weights are never all in
/// memory) gives the model that loading whole and then quantizing gives, bit for bit.
#[test]
fn quantizing_while_loading_equals_loading_then_quantizing() {
    for kind in [QuantKind::Nf4, QuantKind::Int8] {
        let streamed = Gpt2::from_dir_with(&fixture(), Some(kind)).unwrap();
        let mut whole = Gpt2::from_dir(&fixture()).unwrap();
        whole.quantize_base(kind);
        assert_eq!(streamed.quantization(), Some(kind));
        for (a, b) in streamed.blocks.iter().zip(&whole.blocks) {
            assert_eq!(a.c_fc.quantized, b.c_fc.quantized, "{kind:?}: the same codes and scales");
        }
        assert_eq!(streamed.forward(&ids(), None).to_vec(), whole.forward(&ids(), None).to_vec(), "{kind:?}");
    }
}

#[test]
fn saving_merged_streams_the_file_merging_in_place_writes_and_leaves_the_model_alone() {
    for kind in [None, Some(QuantKind::Nf4)] {
        let mut m = Gpt2::from_dir(&fixture()).unwrap();
        if let Some(k) = kind {
            m.quantize_base(k);
        }
        m.enable_lora(4, 8.0, true, &mut gradschool::manual_seed(1));
        // B starts at zero, where merging changes nothing: random adapters instead
        let mut rng = gradschool::manual_seed(2);
        for (_, t) in m.lora_parameters() {
            t.set_data(&(Tensor::randn(t.dims().to_vec(), &mut rng) * 0.1));
        }
        let ids = ids();
        let adapted = m.forward(&ids, None);
        let (streamed, in_place) = (tmp(&format!("streamed-{kind:?}")), tmp(&format!("in-place-{kind:?}")));
        m.save_merged_dir(&streamed).unwrap();
        assert_eq!(m.forward(&ids, None).to_vec(), adapted.to_vec(), "{kind:?}: the model is left as it was");
        assert!(m.blocks[0].c_attn.lora.is_some());
        assert_eq!(m.blocks[0].c_attn.quantized.is_some(), kind.is_some());
        m.merge_lora();
        m.save_dir(&in_place).unwrap();
        let read = |d: &PathBuf| std::fs::read(d.join("model.safetensors")).unwrap();
        assert!(read(&streamed) == read(&in_place), "{kind:?}: not the same file byte for byte");
        // and the merged folder computes what the adapted model did (W + BA·α/r vs the two paths)
        let back = Gpt2::from_dir(&streamed).unwrap();
        common::assert_close(&format!("{kind:?}: logits"), &back.forward(&ids, None), &adapted, 1e-4, 1e-5);
        let _ = std::fs::remove_dir_all(&streamed);
        let _ = std::fs::remove_dir_all(&in_place);
    }
}
