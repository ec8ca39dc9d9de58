//! Graders for chapter 2. Expected values name their source.

use exercises::ch02::*;
use exercises::grader::{assert_close, grade};
use gradschool::{manual_seed, Tensor};
use rand::Rng;

#[test]
fn ex_2_1_neuron() {
    grade("2.1", || {
        // torch: torch.sigmoid(tensor([0.5, -1, 2]) @ tensor([1, 2, 0.25]) + 0.1) = 0.28905049
        assert_close("neuron", &[neuron(&[0.5, -1.0, 2.0], &[1.0, 2.0, 0.25], 0.1)], &[0.289_050_5], 1e-6);
        // σ(0) = ½ by definition
        assert_close("neuron at z = 0", &[neuron(&[1.0], &[0.0], 0.0)], &[0.5], 1e-7);
        // random neurons against the library's sigmoid (checked against torch.sigmoid)
        let mut rng = manual_seed(21);
        for n in [1, 4, 50] {
            let (w, x) = (Tensor::randn([n], &mut rng), Tensor::randn([n], &mut rng));
            let b: f32 = rng.random_range(-2.0..2.0);
            let want = ((&w * &x).sum() + b).sigmoid().item();
            assert_close(&format!("{n} inputs, b = {b}"), &[neuron(&w.to_vec(), &x.to_vec(), b)], &[want], 1e-5);
        }
    });
}

#[test]
fn ex_2_2_relu_and_gelu() {
    grade("2.2", || {
        let x = [-2.0f32, -0.5, 0.0, 0.7, 3.0];
        // torch: F.relu(x), F.gelu(x, approximate='tanh')
        assert_close("relu", &x.map(relu), &[0.0, 0.0, 0.0, 0.7, 3.0], 0.0);
        assert_close(
            "gelu_tanh",
            &x.map(gelu_tanh),
            &[-0.045_402_29, -0.154_286, 0.0, 0.530_570_15, 2.996_362_7],
            1e-5,
        );
        // 1,000 points in [−6, 6] against the library's ops (checked against torch)
        let x = Tensor::linspace(-6.0, 6.0, 1000);
        let xs = x.to_vec();
        assert_close("relu on [−6, 6]", &xs.iter().map(|&v| relu(v)).collect::<Vec<_>>(), &x.relu().to_vec(), 0.0);
        assert_close(
            "gelu_tanh on [−6, 6]",
            &xs.iter().map(|&v| gelu_tanh(v)).collect::<Vec<_>>(),
            &x.gelu_tanh().to_vec(),
            1e-5,
        );
    });
}

#[test]
fn ex_2_3_linear_layers_collapse() {
    grade("2.3", || {
        let mut rng = manual_seed(2);
        let (w1, b1) = (Tensor::randn([4, 3], &mut rng), Tensor::randn([4], &mut rng));
        let (w2, b2) = (Tensor::randn([2, 4], &mut rng), Tensor::randn([2], &mut rng));
        let (w, b) = collapse(&w1, &b1, &w2, &b2);
        assert_eq!((w.dims(), b.dims()), (&[2usize, 3][..], &[2usize][..]), "W must be (m, n) and b (m,)");
        // definition: for any x, W₂(W₁x + b₁) + b₂ = Wx + b
        for seed in 0..3 {
            let x = Tensor::randn([3], &mut manual_seed(10 + seed));
            let two_layers = w2.matmul(&(w1.matmul(&x) + &b1)) + &b2;
            let one_layer = w.matmul(&x) + &b;
            assert_close("W x + b vs the two layers", &one_layer.to_vec(), &two_layers.to_vec(), 1e-5);
        }
    });
}
