//! Graders for chapter 7. References: PyTorch values (named), and gradschool's own losses and
//! autograd, themselves checked against PyTorch in the library's tests.

use exercises::ch07::*;
use exercises::grader::{assert_close, grade};
use gradschool::{gradcheck, manual_seed, IntTensor, Reduction, Tensor};
use rand::Rng;

/// Random logits with a wide range, so that summation order and overflow both matter.
fn logits(rng: &mut impl Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

#[test]
fn ex_7_1_mse_and_gradient() {
    grade("7.1", || {
        let (loss, grad) = mse_and_grad(&[1.0, 2.0, 3.0], &[1.5, 1.0, 3.5]);
        // torch: F.mse_loss → 0.5, autograd → [-1/3, 2/3, -1/3]
        assert_close("loss", &[loss], &[0.5], 1e-7);
        assert_close("gradient", &grad, &[-1.0 / 3.0, 2.0 / 3.0, -1.0 / 3.0], 1e-6);
        let mut rng = manual_seed(71);
        for n in [1, 7, 100] {
            let (p, t) = (logits(&mut rng, n, 3.0), logits(&mut rng, n, 3.0));
            let pt = Tensor::from_slice(&p, [n]).requires_grad_();
            let l = gradschool::ops::loss::mse_loss(&pt, &Tensor::from_slice(&t, [n]), Reduction::Mean);
            l.backward();
            let (loss, grad) = mse_and_grad(&p, &t);
            assert_close(&format!("N = {n}: loss"), &[loss], &[l.item()], 1e-5);
            assert_close(&format!("N = {n}: gradient"), &grad, &pt.grad().unwrap().to_vec(), 1e-5);
        }
    });
}

#[test]
fn ex_7_2_stable_log_softmax() {
    grade("7.2", || {
        // torch: F.log_softmax(tensor([2, -1, 0.5, 1000]), 0) → [-998, -1001, -999.5, 0]
        let got = log_softmax(&[2.0, -1.0, 0.5, 1000.0]);
        assert!(got.iter().all(|v| v.is_finite()), "overflow: {got:?} (subtract the maximum first)");
        assert_close("log_softmax", &got, &[-998.0, -1001.0, -999.5, 0.0], 1e-6);
        let mut rng = manual_seed(72);
        for (n, scale) in [(2, 1.0), (10, 30.0), (50_257, 20.0), (5, 200.0)] {
            let z = logits(&mut rng, n, scale);
            let want = Tensor::from_slice(&z, [n]).log_softmax(0).to_vec();
            assert_close(&format!("{n} logits in ±{scale}"), &log_softmax(&z), &want, 1e-5);
        }
    });
}

#[test]
fn ex_7_3_cross_entropy_and_gradient() {
    grade("7.3", || {
        let (loss, grad) = cross_entropy_and_grad(&[1.0, 2.0, 0.5], 1);
        // torch: F.cross_entropy(tensor([[1, 2, 0.5]]), tensor([1])) → 0.46436879 and its gradient
        assert_close("loss", &[loss], &[0.464_368_8], 1e-6);
        assert_close("gradient", &grad, &[0.231_223_88, -0.371_468_3, 0.140_244_38], 1e-6);
        let mut rng = manual_seed(73);
        for c in [2, 10, 1000] {
            let z = logits(&mut rng, c, 10.0);
            let label = rng.random_range(0..c);
            let zt = Tensor::from_slice(&z, [1, c]).requires_grad_();
            let l = zt.cross_entropy_rows(&[label as i64]);
            l.backward();
            let (loss, grad) = cross_entropy_and_grad(&z, label);
            assert_close(&format!("C = {c}: loss"), &[loss], &[l.item()], 1e-5);
            assert_close(&format!("C = {c}: gradient"), &grad, &zt.grad().unwrap().to_vec(), 1e-5);
        }
    });
}

#[test]
fn ex_7_4_log_softmax_in_the_engine() {
    grade("7.4", || {
        let mut rng = manual_seed(74);
        for (b, c) in [(1, 3), (4, 10), (7, 2), (3, 50)] {
            let x = Tensor::from_vec(logits(&mut rng, b * c, 8.0), [b, c]).requires_grad_();
            let y = log_softmax_rows(&x);
            assert_eq!(y.grad_fn(), Some("log_softmax (yours)"), "record the result with your LogSoftmaxBackward");
            let x2 = x.detach().requires_grad_();
            let y2 = x2.log_softmax(1);
            assert_close(&format!("({b}, {c}) values"), &y.to_vec(), &y2.to_vec(), 1e-5);
            // a random upstream gradient: its rows do not sum to anything special
            let g = Tensor::randn([b, c], &mut rng);
            y.backward_with(&g);
            y2.backward_with(&g);
            assert_close(&format!("({b}, {c}) ∂L/∂x"), &x.grad().unwrap().to_vec(), &x2.grad().unwrap().to_vec(), 1e-5);
            let report = gradcheck(|t| log_softmax_rows(&t[0]), &[x.detach()]);
            assert!(report.passed(), "gradcheck of your log-softmax: {report:?}");
        }
    });
}

#[test]
fn ex_7_5_nll_from_tensor_ops() {
    grade("7.5", || {
        let mut rng = manual_seed(75);
        for (b, c) in [(1, 3), (6, 10), (9, 4), (64, 10)] {
            let lp = Tensor::from_vec(logits(&mut rng, b * c, 4.0), [b, c]).log_softmax(1).detach().requires_grad_();
            let labels = IntTensor::from_vec((0..b).map(|_| rng.random_range(0..c as i64)).collect(), [b]);
            let loss = nll_loss(&lp, &labels);
            assert_eq!(loss.numel(), 1, "the loss is one number");
            let lp2 = lp.detach().requires_grad_();
            let want = gradschool::nn::functional::nll_loss(&lp2, &labels);
            assert_close(&format!("({b}, {c}) loss"), &[loss.item()], &[want.item()], 1e-5);
            loss.backward();
            want.backward();
            assert_close(
                &format!("({b}, {c}) ∂ℓ/∂log_probs"),
                &lp.grad().unwrap().to_vec(),
                &lp2.grad().unwrap().to_vec(),
                1e-5,
            );
        }
    });
}
