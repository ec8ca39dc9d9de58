//! Graders for chapter 17, against the library's NF4 (`gradschool::quant::Nf4`, itself checked
//! against bitsandbytes' table), LoRA as `Gpt2::enable_lora` builds it and the bytes an AdamW
//! step really holds, and bfloat16 as the `half` crate rounds it.

use exercises::ch17::*;
use exercises::grader::grade;
use gradschool::gpt2::{Gpt2, Gpt2Config};
use gradschool::manual_seed;
use gradschool::nn::Module;
use gradschool::optim::{AdamW, GradScaler, Optimizer};
use gradschool::quant::Nf4;
use rand::Rng;

#[test]
fn ex_17_1_nf4_block() {
    grade("17.1", || {
        let mut rng = manual_seed(170);
        let mut blocks: Vec<Vec<f32>> = vec![vec![0.0; 64], vec![3.0; 5], vec![-2.0, 2.0, 0.0, 1.0]];
        // values exactly on a midpoint between two levels (times absmax 1): ties go up
        blocks.push(NF4.windows(2).map(|w| 0.5 * (w[0] + w[1])).chain([1.0]).collect());
        for _ in 0..200 {
            let n = rng.random_range(1..=64);
            let scale = 10f32.powi(rng.random_range(-3..3));
            blocks.push((0..n).map(|_| rng.random_range(-1.0f32..1.0) * scale).collect());
        }
        for block in &blocks {
            let want = Nf4::quantize(block);
            let (codes, absmax) = nf4_quantize_block(block);
            assert_eq!(absmax.to_bits(), want.absmax[0].to_bits(), "absmax of {block:?}");
            let want_codes: Vec<u8> = (0..block.len()).map(|i| want.code(i)).collect();
            assert_eq!(codes, want_codes, "codes of {block:?}");
            let back = nf4_dequantize_block(&codes, absmax);
            let want_back = want.dequantize();
            assert_eq!(back.len(), block.len());
            for (i, (g, w)) in back.iter().zip(&want_back).enumerate() {
                assert_eq!(g.to_bits(), w.to_bits(), "value {i} of {block:?}: {g} vs {w}");
            }
        }
    });
}

#[test]
fn ex_17_2_lora_and_fine_tuning_bytes() {
    grade("17.2", || {
        let mut rng = manual_seed(171);
        for _ in 0..6 {
            let (c, heads, layers) = (8 * rng.random_range(1..5), 2, rng.random_range(1..3));
            let config = Gpt2Config {
                n_embd: c,
                n_head: heads,
                n_layer: layers,
                n_positions: 8,
                vocab_size: 37,
                ..Gpt2Config::gpt2()
            };
            let (r, mlp) = (rng.random_range(1..5), rng.random_bool(0.5));
            let mut model = Gpt2::new(config.clone(), &mut manual_seed(1));
            let params = model.num_parameters();
            let trained = model.enable_lora(r, 2.0 * r as f32, mlp, &mut manual_seed(2));
            let mut shapes = vec![(c, 3 * c), (c, c)];
            if mlp {
                shapes.extend([(c, 4 * c), (4 * c, c)]);
            }
            let shapes: Vec<(usize, usize)> = (0..layers).flat_map(|_| shapes.clone()).collect();
            assert_eq!(lora_trainable(&shapes, r), trained, "C {c}, {layers} layers, r {r}, mlp {mlp}");
            // the bytes an AdamW step really holds: weights (frozen and adapters), the adapters'
            // gradients, and the optimizer's state after one step
            let adapters = model.trainable_parameters();
            let mut opt = AdamW::new(adapters.clone(), 1e-3);
            let ids = gradschool::IntTensor::from_vec((0..8).map(|i| i % 37).collect(), [1, 8]);
            Gpt2::lm_loss(&model.forward(&ids, None), &ids).backward();
            opt.step();
            let grads: usize = adapters.iter().filter_map(|p| p.grad()).map(|g| 4 * g.numel()).sum();
            let state: usize = opt
                .state()
                .to_tensors()
                .iter()
                .filter(|(n, _)| !n.ends_with(".step"))
                .map(|(_, t)| 4 * t.numel())
                .sum();
            let held = 4 * (params + trained) + grads + state;
            assert_eq!(
                fine_tuning_bytes(params + trained, trained),
                held,
                "C {c}, r {r}: {params} + {trained} parameters"
            );
            // full fine-tuning: every parameter trains
            assert_eq!(fine_tuning_bytes(params, params), 16 * params);
        }
    });
}

#[test]
fn ex_17_3_bf16_bits() {
    grade("17.3", || {
        let mut rng = manual_seed(172);
        let mut xs: Vec<f32> =
            vec![0.0, -0.0, 1.0, -1.5, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN, f32::MIN_POSITIVE];
        // exact ties (the dropped half is 0x8000) with an even and an odd kept part, both signs,
        // and the largest finite values, which round to infinity
        xs.extend(
            [0x3f80_8000u32, 0x3f81_8000, 0xbf80_8000, 0xbf81_8000, 0x7f7f_8000, 0x7f7f_ffff, 0x0000_8000, 0x0001_8000]
                .map(f32::from_bits),
        );
        xs.extend([0x7fc0_0001u32, 0xffa0_0000, 0x7f80_0001].map(f32::from_bits)); // NaNs, signalling too
        xs.extend((0..5000).map(|_| f32::from_bits(rng.random::<u32>())));
        for x in xs {
            let want = gradschool_half_bits(x);
            assert_eq!(
                bf16_bits(x),
                want,
                "{x:e} (bits {:#010x}): got {:#06x}, want {want:#06x}",
                x.to_bits(),
                bf16_bits(x)
            );
        }
    });
}

#[test]
fn ex_17_4_loss_scale_update() {
    grade("17.4", || {
        // Source: gradschool::optim::GradScaler, itself matched to torch.amp.GradScaler step for
        // step (tests/grad_scaler.rs). A random run of overflows and clean steps, two intervals.
        let mut rng = manual_seed(174);
        for interval in [1usize, 3, 2000] {
            let mut reference = GradScaler::new(65536.0, 2.0, 0.5, interval);
            let (mut scale, mut count) = (65536.0f32, 0usize);
            for step in 0..3000 {
                let found_inf = rng.random::<f32>() < if step < 600 { 0.3 } else { 0.001 };
                (scale, count) = loss_scale_update(scale, count, found_inf, interval);
                reference.update(found_inf);
                assert_eq!(
                    (scale, count),
                    (reference.scale(), reference.growth_tracker()),
                    "growth interval {interval}, step {step} (inf/NaN: {found_inf})"
                );
            }
        }
    });
}

/// bfloat16 as the `half` crate rounds it (what gradschool's safetensors reader widens back).
fn gradschool_half_bits(x: f32) -> u16 {
    half::bf16::from_f32(x).to_bits()
}
