//! Autograd semantics, PyTorch's: accumulation into leaves, zero_grad, detach, no_grad,
//! retain_grad, freed graphs, deep graphs, and the error messages of misuse.

use gradschool::autograd::topological_order;
use gradschool::{no_grad, Tensor};

fn assert_vec_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "element {i}: got {a} vs {b}");
    }
}

#[test]
fn the_readme_example_gives_the_hand_derived_gradient() {
    // y = relu(x·w + b), L = Σy. With z = x·w + b and m = [z > 0]:
    // ∂L/∂w = xᵀ·m, ∂L/∂b = Σ_rows m.
    let x = Tensor::from_vec(vec![1.0, 2.0, -1.0, 0.5], [2, 2]);
    let w = Tensor::from_vec(vec![0.5, -1.0, 0.25, 2.0], [2, 2]).requires_grad_();
    let b = Tensor::from_vec(vec![0.1, -0.2], [2]).requires_grad_();
    let y = (x.matmul(&w) + &b).relu();
    y.sum().backward();
    // z = [[1.1, 2.8], [-0.275, 1.8]] → m = [[1, 1], [0, 1]]
    // xᵀ·m = [[1·1 + (−1)·0, 1·1 + (−1)·1], [2·1 + 0.5·0, 2·1 + 0.5·1]] = [[1, 0], [2, 2.5]]
    assert_vec_close(&w.grad().unwrap().to_vec(), &[1.0, 0.0, 2.0, 2.5], 1e-6);
    assert_vec_close(&b.grad().unwrap().to_vec(), &[1.0, 2.0], 1e-6);
}

#[test]
fn gradients_accumulate_across_backward_calls_until_zero_grad() {
    let w = Tensor::from_vec(vec![1.0, -2.0, 3.0], [3]).requires_grad_();
    for _ in 0..2 {
        (&w * &w).sum().backward(); // ∂Σw²/∂w = 2w, each time on a fresh graph
    }
    assert_vec_close(&w.grad().unwrap().to_vec(), &[4.0, -8.0, 12.0], 1e-6);
    w.zero_grad();
    assert!(w.grad().is_none());
    (&w * 3.0).sum().backward();
    assert_vec_close(&w.grad().unwrap().to_vec(), &[3.0, 3.0, 3.0], 1e-6);
}

#[test]
fn a_tensor_used_twice_gets_the_sum_of_both_paths() {
    // A diamond: a = 2x and b = x² both use x; L = Σ a·b = Σ 2x³, so ∂L/∂x = 6x² (both paths summed)
    let x = Tensor::from_vec(vec![1.0, -0.5, 2.0], [3]).requires_grad_();
    let a = &x * 2.0;
    let b = &x * &x;
    (&a * &b).sum().backward();
    assert_vec_close(&x.grad().unwrap().to_vec(), &[6.0, 1.5, 24.0], 1e-6);
}

#[test]
fn backward_with_an_explicit_upstream_gradient() {
    // y = 3x elementwise; with upstream v, ∂L/∂x = 3v (PyTorch's y.backward(v))
    let x = Tensor::from_vec(vec![1.0, 2.0], [2]).requires_grad_();
    let y = &x * 3.0;
    y.backward_with(&Tensor::from_vec(vec![0.5, -1.0], [2]));
    assert_vec_close(&x.grad().unwrap().to_vec(), &[1.5, -3.0], 1e-6);
}

#[test]
fn detach_and_no_grad_stop_gradients() {
    let x = Tensor::from_vec(vec![2.0], [1]).requires_grad_();
    // L = x·detach(x): treated as x·c with c = 2 → ∂L/∂x = 2, not 2x = 4
    (&x * &x.detach()).sum().backward();
    assert_vec_close(&x.grad().unwrap().to_vec(), &[2.0], 1e-6);

    let y = {
        let _guard = no_grad();
        assert!(!gradschool::is_grad_enabled());
        &x * 5.0
    };
    assert!(gradschool::is_grad_enabled(), "the guard restores grad mode when dropped");
    assert!(!y.requires_grad() && y.grad_fn().is_none());
}

#[test]
fn retain_grad_keeps_an_intermediate_gradient() {
    let x = Tensor::from_vec(vec![1.0, 2.0], [2]).requires_grad_();
    let h = &x * 3.0;
    h.retain_grad();
    let other = &x + 1.0; // not retained
    (h.square().sum() + other.sum()).backward();
    // ∂Σh²/∂h = 2h = [6, 12]
    assert_vec_close(&h.grad().unwrap().to_vec(), &[6.0, 12.0], 1e-6);
    assert!(other.grad().is_none());
}

#[test]
#[should_panic(expected = "backward through the graph a second time")]
fn backward_twice_through_the_same_graph_is_an_error() {
    let x = Tensor::from_vec(vec![1.0], [1]).requires_grad_();
    let y = x.exp().sum();
    y.backward();
    y.backward();
}

#[test]
#[should_panic(expected = "only for scalar outputs, got shape [2]")]
fn backward_from_a_vector_needs_an_explicit_gradient() {
    Tensor::ones([2]).requires_grad_().exp().backward();
}

#[test]
#[should_panic(expected = "does not require grad")]
fn backward_without_parameters_is_an_error() {
    Tensor::ones([2]).sum().backward();
}

#[test]
#[should_panic(expected = "matmul: lhs [64, 784] vs rhs [256, 784]")]
fn shape_mismatch_names_the_op_and_both_shapes() {
    Tensor::zeros([64, 784]).matmul(&Tensor::zeros([256, 784]));
}

#[test]
fn a_100k_op_chain_backpropagates_and_drops_without_recursion() {
    // Run on a thread with a small stack: a recursive topological sort or a recursive drop of
    // the graph would overflow it long before 100 000 nodes.
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let x = Tensor::from_vec(vec![1.0], [1]).requires_grad_();
            let mut h = x.clone();
            for _ in 0..100_000 {
                h = &h * 1.0 + 0.0;
            }
            h.sum().backward(); // d/dx of a chain of ×1 is 1
            assert_eq!(x.grad().unwrap().to_vec(), vec![1.0]);
            let mut deep = x.clone();
            for _ in 0..100_000 {
                deep = deep.add_scalar(1.0);
            }
            drop(deep); // never backpropagated: dropping must not recurse either
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn the_graph_is_freed_after_backward() {
    let x = Tensor::from_vec(vec![1.0, 2.0], [2]).requires_grad_();
    let h = x.exp();
    let loss = h.sum();
    assert_eq!(h.grad_fn(), Some("exp"));
    loss.backward();
    assert_eq!(h.grad_fn(), None, "backward released the node (and the inputs it kept alive)");
}

#[test]
fn topological_order_puts_inputs_before_the_ops_that_use_them() {
    let x = Tensor::from_vec(vec![1.0], [1]).requires_grad_();
    let a = x.exp();
    let b = &a * &x;
    let c = &b + &a;
    let order: Vec<usize> = topological_order(&c).iter().map(|t| t.id()).collect();
    let pos = |t: &Tensor| order.iter().position(|&id| id == t.id()).unwrap();
    assert_eq!(order.len(), 4);
    assert!(pos(&x) < pos(&a) && pos(&a) < pos(&b) && pos(&b) < pos(&c));
}

#[test]
fn freezing_a_parameter_skips_its_gradient() {
    let w = Tensor::from_vec(vec![1.0, 2.0], [2]).requires_grad_();
    let frozen = Tensor::from_vec(vec![3.0, 4.0], [2]).requires_grad_();
    frozen.set_requires_grad(false);
    (&w * &frozen).sum().backward();
    assert!(frozen.grad().is_none());
    assert_vec_close(&w.grad().unwrap().to_vec(), &[3.0, 4.0], 1e-6);
}

#[test]
fn set_data_updates_a_parameter_in_place_outside_the_graph() {
    let w = Tensor::from_vec(vec![1.0, 2.0], [2]).requires_grad_();
    let view = w.reshape([2, 1]);
    (&w * &w).sum().backward();
    {
        let _guard = no_grad();
        w.set_data(&(&w - &(w.grad().unwrap() * 0.25))); // w − 0.25·2w = 0.5w
    }
    assert_eq!(w.to_vec(), vec![0.5, 1.0]);
    assert_eq!(view.to_vec(), vec![0.5, 1.0], "views share storage, as in PyTorch");
    assert!(w.is_leaf() && w.requires_grad());
}

#[test]
fn checkpoint_recomputes_in_backward_and_matches_the_plain_gradients() {
    use gradschool::checkpoint;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let x = Tensor::randn([4, 3], &mut gradschool::manual_seed(1)).requires_grad_();
    let w = Tensor::randn([3, 5], &mut gradschool::manual_seed(2)).requires_grad_();
    let block = |x: &Tensor, w: &Tensor| x.matmul(w).tanh().square().sum_dims(&[1], false);
    // Source: the same function without checkpointing.
    block(&x, &w).sum().backward();
    let (gx, gw) = (x.grad().unwrap().to_vec(), w.grad().unwrap().to_vec());
    x.zero_grad();
    w.zero_grad();
    let calls = Arc::new(AtomicUsize::new(0));
    let (c, wc) = (calls.clone(), w.clone()); // w is reached from inside, not passed as an input
    let y = checkpoint(std::slice::from_ref(&x), move |xs| {
        c.fetch_add(1, Ordering::Relaxed);
        block(&xs[0], &wc)
    });
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(gradschool::autograd::topological_order(&y).len(), 2, "only x and the checkpoint node are kept");
    y.sum().backward();
    assert_eq!(calls.load(Ordering::Relaxed), 2, "backward recomputes the function once");
    assert_eq!(x.grad().unwrap().to_vec(), gx);
    assert_eq!(w.grad().unwrap().to_vec(), gw);
    // under no_grad nothing is recorded, so nothing is recomputed
    let _guard = gradschool::no_grad();
    let calls2 = Arc::new(AtomicUsize::new(0));
    let c2 = calls2.clone();
    let z = checkpoint(std::slice::from_ref(&x), move |xs| {
        c2.fetch_add(1, Ordering::Relaxed);
        xs[0].square()
    });
    assert!(!z.requires_grad() && calls2.load(Ordering::Relaxed) == 1);
}

#[test]
fn sparse_gradients_accumulate_in_place_without_touching_shared_ones() {
    use gradschool::IntTensor;
    // x (4×3) feeds a dense op, two narrows and an index_select (an embedding lookup): the
    // engine adds the narrow/index_select gradients into x's running gradient in place.
    // By hand: ∂/∂x Σ(x⊙c4) = c4; a narrow adds its coefficient into its window; index_select
    // adds row j of c3 to row idx[j] (row 3 twice).
    let x = Tensor::from_vec((0..12).map(|i| i as f32 * 0.1).collect(), [4, 3]).requires_grad_();
    let c = |k: f32, n: usize| Tensor::from_vec((0..n * 3).map(|i| k + i as f32).collect(), [n, 3]);
    let (c1, c2, c3, c4) = (c(1.0, 2), c(10.0, 3), c(100.0, 3), c(1000.0, 4));
    let idx = IntTensor::from_vec(vec![3, 0, 3], [3]);
    let loss = (&x * &c4).sum()
        + (x.narrow(0, 0, 2) * &c1).sum()
        + (x.narrow(0, 1, 3) * &c2).sum()
        + (x.index_select(0, &idx) * &c3).sum();
    loss.backward();
    let mut want = c4.to_vec();
    let (v1, v2, v3) = (c1.to_vec(), c2.to_vec(), c3.to_vec());
    want[..6].iter_mut().zip(&v1).for_each(|(w, v)| *w += v); // rows 0..2
    want[3..].iter_mut().zip(&v2).for_each(|(w, v)| *w += v); // rows 1..4
    for (j, &row) in [3usize, 0, 3].iter().enumerate() {
        for k in 0..3 {
            want[row * 3 + k] += v3[j * 3 + k];
        }
    }
    assert_vec_close(&x.grad().unwrap().to_vec(), &want, 0.0);

    // x's running gradient shares its buffer with w's (a reshape of the same upstream gradient
    // of an add): accumulating the narrow's gradient into it in place would change w's. The
    // engine must notice the sharing and sum out of place.
    let x = Tensor::from_vec(vec![0.0; 6], [2, 3]).requires_grad_();
    let w = Tensor::from_vec(vec![0.0; 6], [6]).requires_grad_();
    let coef = Tensor::from_vec((1..=6).map(|i| i as f32).collect(), [6]);
    let d = Tensor::from_vec(vec![100.0, 200.0, 300.0], [1, 3]);
    let loss = ((x.reshape([6]) + &w) * &coef).sum() + (x.narrow(0, 0, 1) * &d).sum();
    loss.backward();
    assert_vec_close(&w.grad().unwrap().to_vec(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 0.0);
    assert_vec_close(&x.grad().unwrap().to_vec(), &[101.0, 202.0, 303.0, 4.0, 5.0, 6.0], 0.0);
}
