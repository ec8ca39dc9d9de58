//! nn modules against PyTorch: LayerNorm, and the course's FeedForwardNet with PyTorch's own
//! weights (forward log-probabilities, NLL loss, every parameter's gradient).
//! Reference: tests/reference/make_optim_fixtures.py.

mod common;

use common::{assert_close, load_fixture};
use gradschool::models::FeedForwardNet;
use gradschool::nn::functional::nll_loss;
use gradschool::nn::{Dropout, Forward, LayerNorm, Linear, Module, Sequential};
use gradschool::{manual_seed, Tensor};

#[test]
fn layer_norm_matches_torch() {
    let fx = load_fixture("nn");
    let ln = LayerNorm::new(5, 1e-5);
    ln.weight.set_data(fx["layer_norm/weight"].f());
    ln.bias.set_data(fx["layer_norm/bias"].f());
    let x = fx["layer_norm/x"].f().detach().requires_grad_();
    let y = ln.forward(&x);
    assert_close("layer_norm forward", &y, fx["layer_norm/out"].f(), 1e-5, 1e-6);
    y.backward_with(fx["layer_norm/gout"].f());
    assert_close("grad x", &x.grad().unwrap(), fx["layer_norm/grad_x"].f(), 1e-4, 1e-5);
    assert_close("grad weight", &ln.weight.grad().unwrap(), fx["layer_norm/grad_weight"].f(), 1e-4, 1e-5);
    assert_close("grad bias", &ln.bias.grad().unwrap(), fx["layer_norm/grad_bias"].f(), 1e-4, 1e-5);
}

#[test]
fn feedforward_net_matches_the_course_model_in_pytorch() {
    let fx = load_fixture("nn");
    let mut model = FeedForwardNet::new(&mut manual_seed(0));
    model.eval();
    let names: Vec<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
    // torch: [n for n, _ in FeedForwardNet().named_parameters()]
    assert_eq!(
        names,
        ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias", "fc4.weight", "fc4.bias"]
    );
    for (name, p) in model.named_parameters() {
        p.set_data(fx[&format!("ffn/param.{name}")].f());
    }
    let logp = model.forward(fx["ffn/images"].f());
    assert_close("log_probs", &logp, fx["ffn/log_probs"].f(), 1e-4, 1e-5);
    let loss = nll_loss(&logp, fx["ffn/labels"].i());
    assert_close("loss", &loss.reshape([1]), fx["ffn/loss"].f(), 1e-5, 0.0);
    loss.backward();
    for (name, p) in model.named_parameters() {
        assert_close(&format!("grad {name}"), &p.grad().unwrap(), fx[&format!("ffn/grad.{name}")].f(), 1e-4, 1e-6);
    }
}

#[test]
fn linear_initialisation_follows_pytorch_bounds() {
    // nn.Linear(in, out): weight and bias ~ U(−1/√in, 1/√in)
    let l = Linear::new(100, 50, &mut manual_seed(1));
    let bound = 0.1;
    for t in [&l.weight, l.bias.as_ref().unwrap()] {
        assert!(t.to_vec().iter().all(|v| v.abs() <= bound));
        assert!(t.to_vec().iter().any(|v| v.abs() > 0.9 * bound));
    }
    assert_eq!(l.weight.dims(), &[50, 100]);
}

#[test]
fn dropout_is_inverted_and_off_in_eval() {
    let mut d = Dropout::new(0.25, &mut manual_seed(2));
    let x = Tensor::ones([100_000]);
    let y = d.forward(&x).to_vec();
    // survivors are scaled by 1/(1 − p) = 4/3; the kept fraction is 1 − p = 0.75 within ±0.005:
    // 3.7σ of the binomial, σ = √(p(1 − p)/n) = √(0.75·0.25/10⁵) = 0.00137 (seeded, so deterministic)
    assert!(y.iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6));
    let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / 1e5;
    assert!((kept - 0.75).abs() < 0.005, "kept {kept}");
    d.eval();
    assert_eq!(d.forward(&x).to_vec(), x.to_vec());
}

#[test]
fn dropout_masks_are_one_uniform_draw_per_element_compared_with_p() {
    // The definition the layer promises (PyTorch's too): element i is dropped when its uniform
    // draw uᵢ ∈ [0, 1) is below p. Drawn here one `random::<f32>()` at a time from a copy of
    // the layer's generator; the layer draws whole buffers of u32s and compares integers. Odd
    // sizes and two calls in a row check the stream stays aligned; p = 0.1 and 0.2 are not
    // multiples of 2⁻²⁴, 0.25 and 0.5 are.
    use rand::{Rng, SeedableRng};
    for p in [0.1f32, 0.2, 0.25, 0.5, 0.9] {
        let d = Dropout::new(p, &mut manual_seed(7));
        let mut reference = rand::rngs::StdRng::seed_from_u64(manual_seed(7).random());
        for n in [1001, 777, 64 * 256] {
            let got = d.forward(&Tensor::ones([n])).to_vec();
            let want: Vec<f32> =
                (0..n).map(|_| if reference.random::<f32>() < p { 0.0 } else { 1.0 / (1.0 - p) }).collect();
            assert_eq!(got, want, "p = {p}, n = {n}");
        }
    }
}

#[test]
fn save_and_load_round_trip_and_errors_name_the_tensor() {
    let dir = std::env::temp_dir().join(format!("gradschool-nn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = manual_seed(3);
    let a = Sequential::new()
        .push(Linear::new(4, 3, &mut rng))
        .push(gradschool::nn::Activation::Relu)
        .push(Linear::new(3, 2, &mut rng));
    let path = dir.join("model.safetensors");
    a.save(&path).unwrap();
    let b = Sequential::new()
        .push(Linear::new(4, 3, &mut rng))
        .push(gradschool::nn::Activation::Relu)
        .push(Linear::new(3, 2, &mut rng));
    b.load(&path).unwrap();
    for ((na, pa), (nb, pb)) in a.named_parameters().into_iter().zip(b.named_parameters()) {
        assert_eq!((na, pa.to_vec()), (nb, pb.to_vec()));
    }
    // a model of another shape: the error names the file and the tensor
    let c = Sequential::new().push(Linear::new(5, 3, &mut rng));
    let err = c.load(&path).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("0.weight") && err.contains("[3, 4]"), "{err}");
    // a truncated file is an error, not a panic
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = b.load(&path).unwrap_err().to_string();
    assert!(err.contains("not a valid safetensors file"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
