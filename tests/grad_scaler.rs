//! Dynamic loss scaling against `torch.amp.GradScaler` itself: a scripted sequence of gradients
//! with overflows (inf) and a NaN, SGD on one parameter vector, PyTorch's defaults and a small
//! growth interval (tests/fixtures/grad_scaler.json, written by
//! tests/reference/make_grad_scaler_fixture.py with PyTorch 2.15 on the CPU). Every step's
//! scale, unscaled gradients and skip must match to the bit; the parameters, SGD's rounding aside.

mod common;

use gradschool::optim::{GradScaler, Optimizer, Sgd};
use gradschool::Tensor;
use serde_json::Value;

use common::json_f32 as num;

#[test]
fn grad_scaler_matches_pytorch_on_a_scripted_overflow_sequence() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/grad_scaler.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let lr = fixture["lr"].as_f64().unwrap();
    let w0: Vec<f32> = fixture["w0"].as_array().unwrap().iter().map(num).collect();
    for run in fixture["runs"].as_array().unwrap() {
        let interval = run["growth_interval"].as_u64().unwrap() as usize;
        let mut scaler = GradScaler::new(num(&run["init_scale"]), 2.0, 0.5, interval);
        let w = Tensor::from_vec(w0.clone(), [3]).requires_grad_();
        let mut opt = Sgd::new(vec![w.clone()], lr);
        let (mut skips, mut backoffs) = (0, 0);
        for (k, step) in run["steps"].as_array().unwrap().iter().enumerate() {
            let case = format!("growth interval {interval}, step {k}");
            assert_eq!(scaler.scale(), num(&step["scale"]), "{case}: the loss scale");
            let g: Vec<f32> = step["grad"].as_array().unwrap().iter().map(num).collect();
            opt.zero_grad();
            let loss = (&w * &Tensor::from_vec(g, [3])).sum();
            scaler.scale_loss(&loss).backward();
            let before = w.to_vec();
            // GradScaler's own output, to the bit: the gradients divided by S (inf/NaN kept)
            let found_inf = scaler.unscale(opt.params());
            let unscaled: Vec<f32> = step["unscaled"].as_array().unwrap().iter().map(num).collect();
            let bits =
                |v: &[f32]| v.iter().map(|x| if x.is_nan() { u32::MAX } else { x.to_bits() }).collect::<Vec<_>>();
            assert_eq!(bits(&w.grad().unwrap().to_vec()), bits(&unscaled), "{case}: unscaled gradients");
            if !found_inf {
                opt.step();
            }
            scaler.update(found_inf);
            let ran = !found_inf;
            assert_eq!(!ran, step["skipped"].as_bool().unwrap(), "{case}: skipped");
            assert_eq!(scaler.scale(), num(&step["scale_after"]), "{case}: the scale after update()");
            let want: Vec<f32> = step["w"].as_array().unwrap().iter().map(num).collect();
            let got = w.to_vec();
            // a skipped step leaves w exactly; a step is SGD's w − lr·g, which PyTorch's CPU
            // kernel computes with a fused multiply-add (one rounding) and gradschool's with two:
            // within one f32 ulp of each update (2⁻²³ relative), and the errors add up over steps
            if !ran {
                assert_eq!(got, before, "{case}: a skipped step changes nothing");
            }
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!((a - b).abs() <= 8.0 * f32::EPSILON * b.abs().max(1.0), "{case}: w[{i}] {a} vs PyTorch {b}");
            }
            skips += usize::from(!ran);
            backoffs += usize::from(num(&step["scale_after"]) < num(&step["scale"]));
        }
        // the script exercises every rule: skipped steps, backoff, and (interval 3) growth
        assert!(skips >= 3 && backoffs == skips, "interval {interval}: {skips} skips, {backoffs} backoffs");
        if interval == 3 {
            assert!(
                run["steps"].as_array().unwrap().iter().any(|s| num(&s["scale_after"]) > num(&s["scale"])),
                "growth"
            );
        }
    }
}
