//! Graders for chapter 7.

use exercises::ch07::*;
use exercises::grader::{assert_close, grade};

#[test]
fn ex_7_1_mse_and_gradient() {
    grade("7.1", || {
        let (loss, grad) = mse_and_grad(&[1.0, 2.0, 3.0], &[1.5, 1.0, 3.5]);
        // torch: F.mse_loss → 0.5, autograd → [-1/3, 2/3, -1/3]
        assert_close("loss", &[loss], &[0.5], 1e-7);
        assert_close("gradient", &grad, &[-1.0 / 3.0, 2.0 / 3.0, -1.0 / 3.0], 1e-6);
    });
}

#[test]
fn ex_7_2_stable_log_softmax() {
    grade("7.2", || {
        // torch: F.log_softmax(tensor([2, -1, 0.5, 1000]), 0) → [-998, -1001, -999.5, 0]
        let got = log_softmax(&[2.0, -1.0, 0.5, 1000.0]);
        assert!(got.iter().all(|v| v.is_finite()), "overflow: {got:?} (subtract the maximum first)");
        assert_close("log_softmax", &got, &[-998.0, -1001.0, -999.5, 0.0], 1e-6);
    });
}

#[test]
fn ex_7_3_cross_entropy_and_gradient() {
    grade("7.3", || {
        let (loss, grad) = cross_entropy_and_grad(&[1.0, 2.0, 0.5], 1);
        // torch: F.cross_entropy(tensor([[1, 2, 0.5]]), tensor([1])) → 0.46436879 and its gradient
        assert_close("loss", &[loss], &[0.464_368_8], 1e-6);
        assert_close("gradient", &grad, &[0.231_223_88, -0.371_468_3, 0.140_244_38], 1e-6);
    });
}
