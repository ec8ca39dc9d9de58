//! Graders for chapter 4.

use exercises::ch04::*;
use exercises::grader::{assert_close, assert_close64, grade};
use gradschool::{manual_seed, Tensor};

#[test]
fn ex_4_1_local_derivatives() {
    grade("4.1", || {
        let (ga, gb) = mul_backward(3.0, -2.0, 0.5);
        // ∂(ab)/∂a = b, ∂(ab)/∂b = a, times the upstream 0.5
        assert_close64("∂L/∂a", ga, -1.0, 0.0);
        assert_close64("∂L/∂b", gb, 1.5, 0.0);
        // d tanh/dx = 1 − tanh²: at y = tanh(x) = 0.5 that is 0.75
        assert_close64("tanh backward", tanh_backward(0.5, 2.0), 1.5, 0.0);
    });
}

#[test]
fn ex_4_2_topological_sort() {
    grade("4.2", || {
        // a diamond: 0 → 1, 0 → 2, 1 → 3, 2 → 3; node 4 is not an input of 3
        let edges = [(0, 1), (0, 2), (1, 3), (2, 3), (0, 4)];
        let order = topo_order(5, &edges, 3);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2, 3], "exactly the nodes 3 depends on, once each; got {order:?}");
        let pos = |n: usize| order.iter().position(|&x| x == n).unwrap();
        for &(i, o) in &edges[..4] {
            assert!(pos(i) < pos(o), "{i} must come before {o}: {order:?}");
        }
        // a 100 000-node chain on a 256 KiB stack: recursion would overflow
        let chain = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let edges: Vec<(usize, usize)> = (0..99_999).map(|i| (i, i + 1)).collect();
                topo_order(100_000, &edges, 99_999)
            })
            .unwrap()
            .join()
            .expect("topo_order overflowed a small stack: use an explicit stack, not recursion");
        assert!(chain.iter().copied().eq(0..100_000));
        // random graphs with shuffled node ids: no order of the ids themselves is a topological
        // order, and nodes with smaller ids than the root may not be its inputs at all
        use rand::seq::SliceRandom;
        use rand::Rng;
        let mut rng = manual_seed(42);
        for _ in 0..30 {
            let n = rng.random_range(2..40);
            let mut label: Vec<usize> = (0..n).collect();
            label.shuffle(&mut rng);
            // a DAG over positions (edges go from a lower to a higher position), then relabelled
            let edges: Vec<(usize, usize)> = (0..3 * n)
                .map(|_| {
                    let (a, b) = (rng.random_range(0..n), rng.random_range(0..n));
                    (a.min(b), a.max(b))
                })
                .filter(|(a, b)| a != b)
                .map(|(a, b)| (label[a], label[b]))
                .collect();
            let root = label[n - 1];
            let order = topo_order(n, &edges, root);
            // the ancestors of root, by a reverse search
            let mut want = vec![false; n];
            let mut todo = vec![root];
            while let Some(v) = todo.pop() {
                if !std::mem::replace(&mut want[v], true) {
                    todo.extend(edges.iter().filter(|e| e.1 == v).map(|e| e.0));
                }
            }
            let mut got = order.clone();
            got.sort_unstable();
            let expected: Vec<usize> = (0..n).filter(|&v| want[v]).collect();
            assert_eq!(got, expected, "the nodes root {root} depends on, once each; edges {edges:?}");
            let pos = |v: usize| order.iter().position(|&x| x == v).unwrap();
            for &(i, o) in edges.iter().filter(|e| want[e.1]) {
                assert!(pos(i) < pos(o), "{i} must come before {o}: order {order:?}, edges {edges:?}");
            }
        }
    });
}

#[test]
fn ex_4_3_broadcasting_gradient() {
    grade("4.3", || {
        let g = Tensor::randn([2, 3, 4], &mut manual_seed(3));
        // gradschool's own sum_to is the reference (itself checked against PyTorch)
        for shape in [vec![4], vec![3, 1], vec![1, 1, 4], vec![2, 3, 4], vec![1]] {
            let got = reduce_to_shape(&g, &shape);
            assert_eq!(got.dims(), &shape[..], "shape");
            assert_close(&format!("sum to {shape:?}"), &got.to_vec(), &g.sum_to(&shape).to_vec(), 1e-6);
        }
    });
}

#[test]
fn ex_4_4_matmul_backward() {
    grade("4.4", || {
        let mut rng = manual_seed(4);
        let a = Tensor::randn([3, 4], &mut rng).requires_grad_();
        let b = Tensor::randn([4, 2], &mut rng).requires_grad_();
        let g = Tensor::randn([3, 2], &mut rng);
        a.matmul(&b).backward_with(&g); // autograd's answer is the reference
        let (ga, gb) = matmul_backward(&a.detach(), &b.detach(), &g);
        assert_close("∂L/∂A", &ga.to_vec(), &a.grad().unwrap().to_vec(), 1e-5);
        assert_close("∂L/∂B", &gb.to_vec(), &b.grad().unwrap().to_vec(), 1e-5);
    });
}
