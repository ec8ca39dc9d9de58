//! Creation, random numbers and initialisation, checked against PyTorch's definitions.

use gradschool::nn::init::{self, FanMode, Nonlinearity};
use gradschool::{manual_seed, IntTensor, Tensor};

fn stats(t: &Tensor) -> (f64, f64, f32) {
    let v = t.to_vec();
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    let max_abs = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    (mean, var, max_abs)
}

#[test]
fn constructors_match_torch() {
    // torch.arange(0, 1, 0.25) = [0, 0.25, 0.5, 0.75]; torch.arange(5, 0, -2) = [5, 3, 1]
    assert_eq!(Tensor::arange(0.0, 1.0, 0.25).to_vec(), vec![0.0, 0.25, 0.5, 0.75]);
    assert_eq!(Tensor::arange(5.0, 0.0, -2.0).to_vec(), vec![5.0, 3.0, 1.0]);
    // torch.linspace(-1, 1, 5) = [-1, -0.5, 0, 0.5, 1], end points exact
    assert_eq!(Tensor::linspace(-1.0, 1.0, 5).to_vec(), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
    let l = Tensor::linspace(0.0, 0.3, 7).to_vec();
    assert_eq!((l[0], l[6]), (0.0, 0.3));
    assert_eq!(Tensor::full([2, 2], 7.0).to_vec(), vec![7.0; 4]);
    assert_eq!(Tensor::zeros([3]).to_vec(), vec![0.0; 3]);
    assert_eq!(Tensor::ones([2, 3]).dims(), &[2, 3]);
    let s = Tensor::scalar(2.5);
    assert_eq!((s.rank(), s.item()), (0, 2.5));
}

#[test]
#[should_panic(expected = "from_vec: 5 values for shape [2, 3]")]
fn from_vec_rejects_a_wrong_length() {
    Tensor::from_vec(vec![0.0; 5], [2, 3]);
}

#[test]
fn random_tensors_are_reproducible_and_have_the_requested_distribution() {
    let a = Tensor::randn([1000], &mut manual_seed(7));
    let b = Tensor::randn([1000], &mut manual_seed(7));
    assert_eq!(a.to_vec(), b.to_vec(), "same seed, same numbers");
    assert_ne!(a.to_vec(), Tensor::randn([1000], &mut manual_seed(8)).to_vec());
    // N(2, 0.5²) over 200k samples: the sample mean's standard error is 0.5/√200000 ≈ 0.0011
    let (mean, var, _) = stats(&Tensor::normal([200_000], 2.0, 0.5, &mut manual_seed(1)));
    assert!((mean - 2.0).abs() < 0.006 && (var - 0.25).abs() < 0.005, "mean {mean}, var {var}");
    // U(−3, 1): mean −1, variance (b − a)²/12 = 16/12
    let u = Tensor::uniform([200_000], -3.0, 1.0, &mut manual_seed(2));
    let (mean, var, _) = stats(&u);
    assert!((mean + 1.0).abs() < 0.01 && (var - 16.0 / 12.0).abs() < 0.02, "mean {mean}, var {var}");
    assert!(u.to_vec().iter().all(|&x| (-3.0..1.0).contains(&x)));
}

#[test]
fn gains_match_torch_calculate_gain() {
    // torch.nn.init.calculate_gain('relu') = √2, ('tanh') = 5/3, ('leaky_relu', 0.2) = √(2/1.04)
    assert_eq!(init::calculate_gain(Nonlinearity::Relu), 2f32.sqrt());
    assert_eq!(init::calculate_gain(Nonlinearity::Tanh), 5.0 / 3.0);
    assert!((init::calculate_gain(Nonlinearity::LeakyRelu(0.2)) - (2.0f32 / 1.04).sqrt()).abs() < 1e-7);
    assert_eq!(init::fan_in_and_fan_out(&[256, 784]), (784, 256));
    assert_eq!(init::fan_in_and_fan_out(&[8, 3, 5, 5]), (75, 200));
}

#[test]
fn kaiming_and_xavier_follow_the_pytorch_formulas() {
    let mut rng = manual_seed(3);
    // nn.Linear(784, 256): kaiming_uniform(a=√5) → bound = gain·√(3/fan_in) = √(2/6)·√(3/784) = 1/√784
    let w = init::kaiming_uniform(&[256, 784], FanMode::FanIn, Nonlinearity::LeakyRelu(5f32.sqrt()), &mut rng);
    let bound = 1.0 / 784f32.sqrt();
    let (_, var, max_abs) = stats(&w);
    assert!(max_abs <= bound && max_abs > 0.99 * bound, "max |w| {max_abs} vs bound {bound}");
    assert!((var / (bound as f64).powi(2) * 3.0 - 1.0).abs() < 0.02, "U(−b, b) has variance b²/3, got {var}");
    // kaiming_normal(relu, fan_out): std = √2/√fan_out
    let w = init::kaiming_normal(&[400, 300], FanMode::FanOut, Nonlinearity::Relu, &mut rng);
    let (_, var, _) = stats(&w);
    assert!((var / (2.0 / 400.0) - 1.0).abs() < 0.02, "var {var}");
    // xavier_uniform: bound = gain·√(6/(fan_in + fan_out))
    let w = init::xavier_uniform(&[300, 500], 1.0, &mut rng);
    let (_, _, max_abs) = stats(&w);
    let bound = (6.0f32 / 800.0).sqrt();
    assert!(max_abs <= bound && max_abs > 0.99 * bound);
    // xavier_normal: std = gain·√(2/(fan_in + fan_out))
    let w = init::xavier_normal(&[300, 500], 2.0, &mut rng);
    let (_, var, _) = stats(&w);
    assert!((var / (4.0 * 2.0 / 800.0) - 1.0).abs() < 0.02, "var {var}");
}

#[test]
fn int_tensors_hold_labels_and_argmax_indices() {
    let x = Tensor::from_vec(vec![0.1, 0.9, 0.3, 0.7, 0.2, 0.7], [2, 3]);
    // torch.argmax(x, 1) = [1, 0] (first maximum on ties)
    assert_eq!(x.argmax(1, false), IntTensor::new(&[1, 0]));
    assert_eq!(x.argmin(0, true).dims(), &[1, 3]);
    let labels = IntTensor::from_vec(vec![3, -100, 1, 0], [2, 2]);
    assert_eq!(labels.reshape([4]).as_slice(), &[3, -100, 1, 0]);
}

#[test]
fn moving_to_an_unavailable_device_is_an_error() {
    let err = Tensor::zeros([2]).to(&gradschool::Device::Cuda(0)).unwrap_err();
    assert!(err.to_string().contains("cuda"), "{err}");
}

#[test]
fn permute_takes_negative_dims_like_every_dim_argument() {
    // torch: x.permute(0, -1, 1) == x.permute(0, 2, 1)
    let x = Tensor::arange(0.0, 24.0, 1.0).reshape([2, 3, 4]);
    let (a, b) = (x.permute(&[0, -1, 1]), x.permute(&[0, 2, 1]));
    assert_eq!((a.dims(), a.to_vec()), (&[2usize, 4, 3][..], b.to_vec()));
    assert_eq!(a.to_vec()[..4], [0.0, 4.0, 8.0, 1.0]);
}
