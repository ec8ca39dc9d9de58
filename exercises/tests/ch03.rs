//! Graders for chapter 3.

use exercises::ch03::*;
use exercises::grader::{assert_close, assert_close64, grade};

#[test]
fn ex_3_1_derivatives_by_hand() {
    grade("3.1", || {
        let x = [-2.0f32, -0.5, 0.0, 0.7, 3.0];
        assert_close("relu'", &x.map(relu_grad), &[0.0, 0.0, 0.0, 1.0, 1.0], 0.0);
        // torch: autograd of F.gelu(x, approximate='tanh').sum()
        assert_close(
            "gelu_tanh'",
            &x.map(gelu_tanh_grad),
            &[-0.086_099_22, 0.132_630_11, 0.5, 0.976_357_2, 1.011_584_3],
            1e-5,
        );
        // 1,000 points in [−6, 6] against the library's autograd of gelu_tanh (checked against torch)
        let x = gradschool::Tensor::linspace(-6.0, 6.0, 1000).requires_grad_();
        x.gelu_tanh().sum().backward();
        let want = x.grad().unwrap().to_vec();
        let got: Vec<f32> = x.to_vec().iter().map(|&v| gelu_tanh_grad(v)).collect();
        assert_close("gelu_tanh' on [−6, 6]", &got, &want, 1e-5);
    });
}

#[test]
fn ex_3_2_central_differences() {
    grade("3.2", || {
        // d/dx x³ at 2 = 12 exactly; the central difference of a cubic errs by ε² (Taylor): 12 + 1e-6
        assert_close64("d/dx x³ at 2", central_difference(|x| x * x * x, 2.0, 1e-3), 12.000_001, 1e-9);
        // d/dx sin at 0 = cos 0 = 1
        assert_close64("d/dx sin at 0", central_difference(f64::sin, 0.0, 1e-4), 1.0, 1e-8);
    });
}

#[test]
fn ex_3_3_gradient_descent() {
    grade("3.3", || {
        // w_{k+1} − 3 = (1 − 2·lr)(w_k − 3), so after n steps w = 3 + (1 − 2·lr)ⁿ(w₀ − 3)
        assert_close64("10 steps, lr 0.1", gradient_descent(0.0, 0.1, 10), 3.0 - 3.0 * 0.8f64.powi(10), 1e-12);
        // lr 1.1 overshoots further every step: (1 − 2.2)ⁿ grows — divergence, as the book shows
        assert_close64("lr too large", gradient_descent(0.0, 1.1, 5), 3.0 - 3.0 * (-1.2f64).powi(5), 1e-12);
    });
}
