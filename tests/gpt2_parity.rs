//! GPT-2 against transformers (llm.c's test_gpt2 standard, tighter): a small random
//! GPT2LMHeadModel saved by tests/reference/make_gpt2_fixtures.py is loaded from its Hugging Face
//! directory; logits within 1e-4, loss within 1e-5, every parameter's gradient within 1e-3
//! (relative), the padding mask, and the loss trajectory of 10 AdamW steps within 1e-4.

mod common;

use common::{assert_close, Value};
use gradschool::gpt2::Gpt2;
use gradschool::nn::Module;
use gradschool::optim::{AdamW, Optimizer};
use gradschool::Tensor;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixture() -> (Gpt2, BTreeMap<String, Value>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2-tiny");
    let mut model = Gpt2::from_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    model.eval();
    (model, common::load_fixture("gpt2-tiny/reference"))
}

#[test]
fn logits_loss_and_every_gradient_match_transformers() {
    let (model, fx) = fixture();
    let ids = fx["input_ids"].i();
    let logits = model.forward(ids, None);
    assert_close("logits", &logits, fx["logits"].f(), 1e-4, 1e-5);
    let loss = Gpt2::lm_loss(&logits, ids);
    assert_close("loss", &loss.reshape([1]), fx["loss"].f(), 1e-5, 0.0);
    loss.backward();
    let params = model.named_parameters();
    // wte, wpe, ln_f (2) and 12 per block: as GPT2LMHeadModel.named_parameters() lists them
    assert_eq!(params.len(), 4 + 12 * model.config.n_layer);
    for (name, p) in params {
        let want = fx.get(&format!("grad.{name}")).unwrap_or_else(|| panic!("no reference gradient for {name}"));
        assert_close(&format!("grad {name}"), &p.grad().unwrap(), want.f(), 1e-3, 1e-6);
    }
}

#[test]
fn the_padding_mask_matches_transformers() {
    let (model, fx) = fixture();
    let logits = model.forward(fx["input_ids"].i(), Some(fx["attention_mask"].f()));
    assert_close("logits with attention_mask", &logits, fx["logits_masked"].f(), 1e-4, 1e-5);
}

#[test]
fn ten_adamw_steps_follow_the_same_losses() {
    let (model, fx) = fixture();
    let ids = fx["input_ids"].i();
    let mut opt = AdamW::new(model.parameters(), 1e-3);
    let losses: Vec<f32> = (0..10)
        .map(|_| {
            opt.zero_grad();
            let loss = Gpt2::lm_loss(&model.forward(ids, None), ids);
            loss.backward();
            opt.step();
            loss.item()
        })
        .collect();
    assert_close("AdamW loss trajectory", &Tensor::from_vec(losses, [10]), fx["adamw_losses"].f(), 1e-4, 0.0);
}

#[test]
fn save_then_load_round_trips_and_a_bad_directory_names_the_tensor() {
    let (model, _) = fixture();
    let dir = std::env::temp_dir().join(format!("gradschool-gpt2-{}", std::process::id()));
    model.save_dir(&dir).unwrap();
    let again = Gpt2::from_dir(&dir).unwrap();
    for ((n, a), (_, b)) in model.named_parameters().into_iter().zip(again.named_parameters()) {
        assert_eq!(a.to_vec(), b.to_vec(), "{n}");
    }
    // a config that disagrees with the weights
    let cfg = std::fs::read_to_string(dir.join("config.json")).unwrap().replace("\"n_embd\": 32", "\"n_embd\": 64");
    std::fs::write(dir.join("config.json"), cfg).unwrap();
    let err = Gpt2::from_dir(&dir).err().expect("shape mismatch").to_string();
    assert!(err.contains("model.safetensors") && err.contains("wte.weight") && err.contains("[97, 32]"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_against_reference_passes_and_catches_a_wrong_weight() {
    let (model, _) = fixture();
    let reference = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2-tiny/reference.safetensors");
    let lines = gradschool::gpt2::check_against_reference(&model, &reference).unwrap();
    // logits, loss, and one gradient per parameter
    assert_eq!(lines.len(), 2 + model.named_parameters().len());
    assert!(lines.iter().all(|l| l.ok()), "{lines:?}");
    // nudge one LayerNorm weight: the logits no longer match
    let (fresh, _) = fixture();
    let w = &fresh.blocks[1].ln_2.weight;
    w.set_data(&(w * 1.01));
    let lines = gradschool::gpt2::check_against_reference(&fresh, &reference).unwrap();
    assert!(!lines[0].ok(), "logits should differ: {:?}", lines[0]);
}

#[test]
fn the_kv_cache_gives_the_same_logits_as_recomputing_everything() {
    use gradschool::gpt2::KvCache;
    use gradschool::IntTensor;
    let (model, fx) = fixture();
    let ids = fx["input_ids"].i().as_slice()[..8].to_vec(); // first sequence
    let full = model.forward(&IntTensor::from_vec(ids.clone(), [1, 8]), None); // (1, 8, V)
    let mut cache = KvCache::new(&model);
    // the first 3 tokens at once, then one at a time
    let mut pieces = vec![model.forward_cached(&IntTensor::from_vec(ids[..3].to_vec(), [1, 3]), &mut cache)];
    for &t in &ids[3..] {
        pieces.push(model.forward_cached(&IntTensor::from_vec(vec![t], [1, 1]), &mut cache));
    }
    let refs: Vec<&Tensor> = pieces.iter().collect();
    let cached = Tensor::cat(&refs, 1);
    assert_eq!(cache.len(), 8);
    assert_close("cached vs full logits", &cached, &full, 1e-5, 1e-5);
}

#[test]
fn greedy_generation_follows_the_argmax_and_sampling_is_seeded() {
    use gradschool::gpt2::Sampling;
    use gradschool::manual_seed;
    let (model, _) = fixture();
    let prompt = [5u32, 17, 42];
    let out = model.generate(&prompt, 5, &Sampling::default(), None, &mut manual_seed(0));
    assert_eq!(out.len(), 8);
    // greedy = argmax of the full forward pass at each step (no cache involved)
    for n in 3..8 {
        let ids = gradschool::IntTensor::from_vec(out[..n].iter().map(|&t| t as i64).collect(), [1, n]);
        let logits = model.forward(&ids, None).narrow(1, n - 1, 1);
        assert_eq!(logits.argmax(-1, false).as_slice()[0] as u32, out[n], "step {n}");
    }
    let s = Sampling { temperature: 0.8, top_k: 20, top_p: 0.9 };
    let a = model.generate(&prompt, 6, &s, None, &mut manual_seed(7));
    let b = model.generate(&prompt, 6, &s, None, &mut manual_seed(7));
    assert_eq!(a, b, "same seed, same text");
}

#[test]
fn top_k_and_top_p_keep_only_the_likely_tokens() {
    use gradschool::gpt2::{sample, Sampling};
    use gradschool::manual_seed;
    let logits = [0.0f32, 5.0, 4.0, -3.0, 1.0];
    let mut rng = manual_seed(1);
    // top-k 2: only tokens 1 and 2 can come out
    let k2 = Sampling { temperature: 1.0, top_k: 2, top_p: 1.0 };
    assert!((0..500).all(|_| matches!(sample(&logits, &k2, &mut rng), 1 | 2)));
    // softmax(logits): p1 ≈ 0.72, p2 ≈ 0.27 — top-p 0.5 keeps token 1 alone
    let p = Sampling { temperature: 1.0, top_k: 0, top_p: 0.5 };
    assert!((0..200).all(|_| sample(&logits, &p, &mut rng) == 1));
    assert_eq!(sample(&logits, &Sampling::default(), &mut rng), 1, "greedy");
}

#[test]
fn lora_starts_at_the_base_model_trains_only_adapters_and_merges_exactly() {
    use gradschool::manual_seed;
    let (mut model, fx) = fixture();
    let ids = fx["input_ids"].i();
    let base = model.forward(ids, None);
    let c = model.config.n_embd;
    let trainable = model.enable_lora(4, 8.0, false, &mut manual_seed(3));
    // per block: c_attn A (4×C) + B (3C×4), c_proj A (4×C) + B (C×4) = 4·(C + 3C + C + C) = 24C
    assert_eq!(trainable, model.config.n_layer * 24 * c);
    // B = 0: the adapted model computes exactly the base model
    assert_close("LoRA at init", &model.forward(ids, None), &base, 0.0, 0.0);
    let names: Vec<String> = model.lora_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[0], "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight");
    // one AdamW step on the adapters: base weights untouched (bit for bit), no gradient for them
    let before: Vec<(String, Vec<f32>)> = model.named_parameters().into_iter().map(|(n, p)| (n, p.to_vec())).collect();
    let mut opt = AdamW::new(model.trainable_parameters(), 1e-2);
    Gpt2::lm_loss(&model.forward(ids, None), ids).backward();
    opt.step();
    assert!(model.named_parameters().iter().all(|(_, p)| p.grad().is_none()), "frozen weights got gradients");
    let after: Vec<(String, Vec<f32>)> = model.named_parameters().into_iter().map(|(n, p)| (n, p.to_vec())).collect();
    assert_eq!(before.len(), after.len());
    for ((name, b), (_, a)) in before.iter().zip(&after) {
        assert!(a == b, "base weight {name} changed in a LoRA step");
    }
    let tuned = model.forward(ids, None);
    assert!((tuned.to_vec()[0] - base.to_vec()[0]).abs() > 0.0, "the adapters changed the output");
    // merging folds the update into W: same logits without the adapters
    model.merge_lora();
    assert!(model.lora_parameters().is_empty());
    assert_close("merged vs adapted", &model.forward(ids, None), &tuned, 1e-5, 1e-6);
}

/// Loss and every gradient of two training steps (dropout on), optionally with LoRA.
type Grads = Vec<(String, Vec<f32>)>;

/// Losses, gradients and the size of the first step's recorded graph.
/// `lora`: adapters with this lora_dropout (None: full fine-tuning).
fn two_train_steps(checkpointing: bool, lora: Option<f32>) -> (Vec<f32>, Grads, usize) {
    use gradschool::gpt2::Gpt2Config;
    use gradschool::manual_seed;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2-tiny");
    let mut config = Gpt2Config::from_file(&dir.join("config.json")).unwrap();
    (config.resid_pdrop, config.attn_pdrop, config.embd_pdrop) = (0.1, 0.1, 0.1);
    let mut model = Gpt2::new(config, &mut manual_seed(0)); // the same weights and generators each call
    let fx = common::load_fixture("gpt2-tiny/reference");
    model.train();
    model.gradient_checkpointing = checkpointing;
    if let Some(p) = lora {
        model.enable_lora(4, 8.0, true, &mut manual_seed(3));
        model.set_lora_dropout(p);
    }
    let ids = fx["input_ids"].i();
    let (mut losses, mut graph) = (Vec::new(), 0);
    for _ in 0..2 {
        model.trainable_parameters().iter().for_each(|p| p.zero_grad());
        let loss = Gpt2::lm_loss(&model.forward(ids, None), ids);
        graph = graph.max(gradschool::autograd::topological_order(&loss).len());
        loss.backward();
        losses.push(loss.item());
    }
    let params = if lora.is_some() { model.lora_parameters() } else { model.named_parameters() };
    let grads = params.into_iter().map(|(n, p)| (n, p.grad().expect("every parameter has a gradient").to_vec()));
    (losses, grads.collect(), graph)
}

#[test]
fn lora_dropout_drops_the_adapter_input_in_training_only() {
    use gradschool::nn::Module;
    // With B = 0 the adapter adds nothing, so the first step's loss is the base model's with or
    // without adapter dropout; B's gradient, (dropout(x)·Aᵀ)ᵀ·dy, sees the masks.
    let (l0, g0, _) = two_train_steps(false, Some(0.0));
    let (l3, g3, _) = two_train_steps(false, Some(0.3));
    assert_ne!(l0[0], l3[0], "the adapter masks come from the residual generator: later masks shift too");
    let b = |g: &Grads| g.iter().find(|(n, _)| n.ends_with("lora_B.weight")).unwrap().1.clone();
    assert_ne!(b(&g0), b(&g3), "lora_B's gradient must see the dropped inputs");
    // eval mode: the identity, whatever p
    let (mut model, _) = fixture();
    model.enable_lora(4, 8.0, true, &mut gradschool::manual_seed(3));
    let fx = common::load_fixture("gpt2-tiny/reference");
    let ids = fx["input_ids"].i();
    model.set_training(false);
    let plain = model.forward(ids, None).to_vec();
    model.set_lora_dropout(0.5);
    model.set_training(false);
    assert_eq!(model.forward(ids, None).to_vec(), plain, "no dropout in eval mode");
}

#[test]
fn gradient_checkpointing_gives_the_same_losses_and_gradients() {
    // Source: the same model without checkpointing. Recomputation replays the dropout masks, so
    // the two runs do the same arithmetic; the second step checks that the generators continue
    // exactly as they would have.
    // LoRA's dropout (on the adapters' input) draws from the residual generator, so it is
    // replayed with the block.
    for lora in [None, Some(0.0), Some(0.3)] {
        let (plain_losses, plain_grads, plain_graph) = two_train_steps(false, lora);
        let (ckpt_losses, ckpt_grads, ckpt_graph) = two_train_steps(true, lora);
        // what is stored: each block is one node holding its input instead of ~40 activations
        assert!(ckpt_graph * 3 < plain_graph, "graph of {ckpt_graph} tensors vs {plain_graph} without checkpointing");
        assert_ne!(plain_losses[0], plain_losses[1], "dropout draws new masks each step");
        assert_eq!(plain_losses, ckpt_losses, "lora={lora:?}");
        assert_eq!(plain_grads.len(), ckpt_grads.len());
        for ((name, a), (_, b)) in plain_grads.iter().zip(&ckpt_grads) {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert!((x - y).abs() <= 1e-6 * (1.0 + x.abs()), "lora={lora:?} {name}[{i}]: {y} vs {x}");
            }
        }
    }
}

/// LoRA on the tiny fixture (random N(0, 0.02) embeddings, C = 32): fit a label token at the
/// last position of 8 sequences. Returns the loss after `steps` AdamW steps.
fn lora_fit(train_ln_f: bool, steps: usize) -> (f32, f32) {
    use gradschool::{manual_seed, IntTensor};
    let (mut model, _) = fixture();
    model.train();
    model.enable_lora(8, 16.0, true, &mut manual_seed(1));
    if train_ln_f {
        model.train_final_norm();
    }
    let (v, t) = (model.config.vocab_size as i64, 8usize);
    let ids = IntTensor::from_vec((0..8 * t as i64).map(|i| i * 37 % (v - 2)).collect(), [8, t]);
    let labels: Vec<i64> = (0..8 * t)
        .map(|i| {
            if i % t == t - 1 {
                if (i / t) % 2 == 0 {
                    v - 1
                } else {
                    v - 2
                }
            } else {
                -100
            }
        })
        .collect();
    let labels = IntTensor::from_vec(labels, [8, t]);
    let mut opt = AdamW::new(model.trainable_parameters(), 5e-2).weight_decay(0.0);
    let mut losses = Vec::new();
    for _ in 0..steps {
        opt.zero_grad();
        let loss = Gpt2::lm_loss(&model.forward(&ids, None), &labels);
        loss.backward();
        opt.step();
        losses.push(loss.item());
    }
    (losses[0], *losses.last().unwrap())
}

#[test]
fn lora_needs_the_final_norm_when_the_frozen_head_is_short() {
    // A logit is w_j · ln_f(x) and ln_f's output has norm √C·|γ| (here √32·1 ≈ 5.7) while the
    // frozen rows w_j have norm ≈ 0.02·√32 ≈ 0.11: no adapter can raise a logit above ~0.64, so
    // LoRA alone cannot push the label's probability past ~e^0.64·2/97 — the loss stalls near
    // ln(97) − 0.64 ≈ 3.9. Training ln_f (2·C parameters) lifts the bound.
    let (start, frozen) = lora_fit(false, 150);
    let (_, with_norm) = lora_fit(true, 150);
    assert!(frozen > 3.5 && frozen < start, "LoRA alone: {start} → {frozen} (expected to stall near 3.9)");
    assert!(with_norm < 0.5, "LoRA + ln_f: {start} → {with_norm} (expected to fit)");
}

#[test]
fn the_labelled_only_head_matches_transformers() {
    // Reference: GPT2LMHeadModel(input_ids, labels=labels) on the course's kind of labels
    // (tests/reference/make_labelled_fixture.py): −100 everywhere but row 0 (one label), row 1
    // (one, at the last position), row 2 (two labels) and row 3 (a label at position 0, which no
    // position predicts: the row contributes nothing).
    let (model, _) = fixture();
    let fx = common::load_fixture("gpt2-tiny/labelled");
    let (ids, labels) = (fx["input_ids"].i(), fx["labels"].i());
    let (t, v) = (ids.dims()[1], model.config.vocab_size);
    model.parameters().iter().for_each(|p| p.zero_grad());
    let (loss, logits, rows) = model.labelled_loss(&model.hidden(ids, None), labels);
    // position i·T + j predicts labels[i][j + 1]: rows 0, 1 and 2 at 4, 8 + 6, 16 + 1 and 16 + 5
    assert_eq!(rows, vec![4, t + 6, 2 * t + 1, 2 * t + 5], "the labelled positions");
    assert_close("labelled loss", &loss.reshape([1]), fx["loss"].f(), 1e-5, 0.0);
    loss.backward();
    for (name, p) in model.named_parameters() {
        let want = fx.get(&format!("grad.{name}")).unwrap_or_else(|| panic!("no reference gradient for {name}"));
        assert_close(&format!("grad {name}"), &p.grad().unwrap(), want.f(), 1e-3, 1e-6);
    }
    // The logits it returns are transformers' at the labelled positions.
    let full = fx["logits"].f().to_vec();
    let got = logits.to_vec();
    for (r, &k) in rows.iter().enumerate() {
        for (x, y) in full[k * v..(k + 1) * v].iter().zip(&got[r * v..(r + 1) * v]) {
            assert!((x - y).abs() <= 1e-4 * (1.0 + x.abs()), "position {k}: {y} vs transformers {x}");
        }
    }
    // And it equals lm_loss on the full logits (the path the whole-sequence test checks).
    let full_loss = Gpt2::lm_loss(&model.forward(ids, None), labels).item();
    assert!((loss.item() - full_loss).abs() <= 1e-6 * full_loss.abs(), "{} vs lm_loss {full_loss}", loss.item());
}
