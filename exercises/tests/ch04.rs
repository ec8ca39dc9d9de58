//! Graders for chapter 4.

use exercises::ch04::*;
use exercises::grader::{assert_close, assert_close64, grade};
use gradschool::{gradcheck, manual_seed, Tensor};
use rand::Rng;

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

/// A random scalar program: `leaves` inputs, then ops on any earlier values (so values are
/// reused, along several paths). Each op is (kind, lhs, rhs): 0 add, 1 mul, 2 tanh.
fn random_program(rng: &mut impl Rng, leaves: usize, ops: usize) -> Vec<(u8, usize, usize)> {
    (0..ops)
        .map(|i| {
            let n = leaves + i;
            // the last op uses the previous value, so nothing after the leaves is dead code
            let a = if i + 1 == ops { n - 1 } else { rng.random_range(0..n) };
            (rng.random_range(0..3u8), a, rng.random_range(0..n))
        })
        .collect()
}

/// The program evaluated on plain f64s: the reference for finite differences.
fn run_f64(program: &[(u8, usize, usize)], x: &[f64]) -> f64 {
    let mut v = x.to_vec();
    for &(kind, a, b) in program {
        v.push(match kind {
            0 => v[a] + v[b],
            1 => v[a] * v[b],
            _ => v[a].tanh(),
        });
    }
    *v.last().unwrap()
}

/// Takes a graph apart iteratively, so that dropping a 100 000-deep chain cannot overflow.
fn dismantle(root: Value) {
    let mut todo = vec![root];
    while let Some(v) = todo.pop() {
        let inputs = std::mem::take(&mut v.0.borrow_mut().inputs);
        todo.extend(inputs.into_iter().map(|(input, _)| input));
    }
}

#[test]
fn ex_4_3_scalar_autograd() {
    grade("4.3", || {
        // micrograd's neuron: y = tanh(w·x + b), w = −3, x = 2, b = 6.8814 → z = 0.8814, y = 1/√2,
        // ∂y/∂z = 1 − y² = ½, so ∂y/∂w = ½x = 1, ∂y/∂x = ½w = −1.5, ∂y/∂b = ½
        let (w, x, b) = (Value::new(-3.0), Value::new(2.0), Value::new(6.881_373_587_019_543));
        let y = w.mul(&x).add(&b).tanh();
        assert_close64("y", y.data(), std::f64::consts::FRAC_1_SQRT_2, 1e-12);
        y.backward();
        assert_close64("∂y/∂w", w.grad(), 1.0, 1e-9);
        assert_close64("∂y/∂x", x.grad(), -1.5, 1e-9);
        assert_close64("∂y/∂b", b.grad(), 0.5, 1e-9);
        // a value used twice: d/da (a·a + a) = 2a + 1 = 7 at a = 3
        let a = Value::new(3.0);
        a.mul(&a).add(&a).backward();
        assert_close64("d/da (a·a + a)", a.grad(), 7.0, 0.0);
        // random graphs with values reused along many paths, against central differences
        let mut rng = manual_seed(43);
        for case in 0..60 {
            let leaves = rng.random_range(1..5);
            let ops = rng.random_range(3..30);
            let program = random_program(&mut rng, leaves, ops);
            let x: Vec<f64> = (0..leaves).map(|_| rng.random_range(-1.5..1.5)).collect();
            let mut vals: Vec<Value> = x.iter().map(|&v| Value::new(v)).collect();
            for &(kind, a, b) in &program {
                let v = match kind {
                    0 => vals[a].add(&vals[b]),
                    1 => vals[a].mul(&vals[b]),
                    _ => vals[a].tanh(),
                };
                vals.push(v);
            }
            let root = vals.last().unwrap().clone();
            assert_close64(&format!("case {case}: value"), root.data(), run_f64(&program, &x), 1e-12);
            root.backward();
            for i in 0..leaves {
                // (f(x + ε) − f(x − ε)) / 2ε, error O(ε²)
                let eps = 1e-5;
                let (mut hi, mut lo) = (x.clone(), x.clone());
                hi[i] += eps;
                lo[i] -= eps;
                let numeric = (run_f64(&program, &hi) - run_f64(&program, &lo)) / (2.0 * eps);
                assert_close64(
                    &format!("case {case}: ∂root/∂leaf {i}, program {program:?}"),
                    vals[i].grad(),
                    numeric,
                    1e-5,
                );
            }
        }
        // a 100 000-op chain on a 256 KiB stack: recursion would overflow. y = tanh(tanh(…x)),
        // dy/dx = Π (1 − tᵢ²) over the chain's values
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let x = Value::new(0.9);
                let (mut y, mut want, mut t) = (x.clone(), 1.0f64, 0.9f64);
                for _ in 0..100_000 {
                    y = y.tanh();
                    t = t.tanh();
                    want *= 1.0 - t * t;
                }
                y.backward();
                let got = x.grad();
                dismantle(y);
                assert!((got - want).abs() <= 1e-9 * want.abs(), "100 000 tanh: ∂y/∂x {got}, expected {want}");
            })
            .unwrap()
            .join()
            .expect("backward overflowed a small stack (or was wrong): use an explicit stack, not recursion");
    });
}

/// A random shape of rank 0..=4 with sizes 1..=4.
fn random_dims(rng: &mut impl Rng) -> Vec<usize> {
    let rank = rng.random_range(0..=4);
    (0..rank).map(|_| rng.random_range(1..=4)).collect()
}

#[test]
fn ex_4_4_strides_and_views() {
    grade("4.4", || {
        // a (2, 3, 4) tensor: one step along dim 0 skips 3·4 = 12 elements, along dim 1 skips 4
        assert_eq!(contiguous_strides(&[2, 3, 4]), vec![12, 4, 1], "strides of (2, 3, 4)");
        let mut rng = manual_seed(44);
        for case in 0..40 {
            let dims = random_dims(&mut rng);
            let n: usize = dims.iter().product();
            // gradschool's Shape (the library's layout, checked against PyTorch's .stride())
            let strides = contiguous_strides(&dims);
            assert_eq!(strides, gradschool::Shape::new(&dims).strides(), "case {case}: strides of {dims:?}");
            let data: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let t = Tensor::from_vec(data.clone(), dims.clone());
            assert_eq!(
                gather_view(&data, &dims, &strides, 0),
                data,
                "case {case}: a contiguous view reads the data in order"
            );
            if dims.is_empty() {
                continue;
            }
            // a random permutation, against the library's permute
            let mut perm: Vec<usize> = (0..dims.len()).collect();
            use rand::seq::SliceRandom;
            perm.shuffle(&mut rng);
            let (pd, ps) = permute_view(&dims, &strides, &perm);
            let want = t.permute(&perm.iter().map(|&p| p as isize).collect::<Vec<_>>());
            assert_eq!(pd, want.dims(), "case {case}: permute {perm:?} of {dims:?}: dims");
            assert_eq!(gather_view(&data, &pd, &ps, 0), want.to_vec(), "case {case}: permute {perm:?} of {dims:?}");
            // a window along a random dimension, then permuted: offset and strides compose
            let dim = rng.random_range(0..dims.len());
            let start = rng.random_range(0..dims[dim]);
            let len = rng.random_range(1..=dims[dim] - start);
            let (nd, off) = narrow_view(&dims, &strides, 0, dim, start, len);
            let want = t.narrow(dim as isize, start, len);
            assert_eq!(nd, want.dims(), "case {case}: narrow({dim}, {start}, {len}) of {dims:?}: dims");
            assert_eq!(
                gather_view(&data, &nd, &strides, off),
                want.to_vec(),
                "case {case}: narrow({dim}, {start}, {len}) of {dims:?}"
            );
            let (pd, ps) = permute_view(&nd, &strides, &perm);
            let want = want.permute(&perm.iter().map(|&p| p as isize).collect::<Vec<_>>());
            assert_eq!(gather_view(&data, &pd, &ps, off), want.to_vec(), "case {case}: narrow then permute");
        }
    });
}

#[test]
fn ex_4_5_broadcasting_as_a_view() {
    grade("4.5", || {
        assert_eq!(broadcast_shape(&[3], &[2, 3]), Some(vec![2, 3]), "(3,) with (2, 3)");
        assert_eq!(broadcast_shape(&[2, 1, 4], &[3, 1]), Some(vec![2, 3, 4]), "(2, 1, 4) with (3, 1)");
        assert_eq!(broadcast_shape(&[2, 3], &[3, 2]), None, "(2, 3) with (3, 2) cannot broadcast");
        assert_eq!(broadcast_shape(&[4], &[2, 3]), None, "(4,) with (2, 3) cannot broadcast");
        let mut rng = manual_seed(45);
        for case in 0..60 {
            // an output shape, and an operand that drops leading dimensions and sets some to 1
            let out = random_dims(&mut rng);
            let keep = rng.random_range(0..=out.len());
            let src: Vec<usize> =
                out[out.len() - keep..].iter().map(|&d| if rng.random_bool(0.4) { 1 } else { d }).collect();
            // the library's rule (checked against torch.broadcast_shapes)
            let want = gradschool::shape::broadcast_shapes("grader", &src, &out);
            assert_eq!(broadcast_shape(&src, &out), Some(want.clone()), "case {case}: {src:?} with {out:?}");
            assert_eq!(
                broadcast_shape(&out, &src),
                Some(want),
                "case {case}: {out:?} with {src:?} (the rule is symmetric)"
            );
            // a size that is neither equal nor 1 breaks it
            if let Some(k) = (0..src.len()).find(|&k| src[k] > 1) {
                let mut bad = src.clone();
                bad[k] += 1;
                assert_eq!(broadcast_shape(&bad, &out), None, "case {case}: {bad:?} with {out:?} cannot broadcast");
            }
            // reading src through the expanded strides is the library's broadcast_to
            let n: usize = src.iter().product();
            let data: Vec<f32> = (0..n).map(|i| i as f32 + 0.5).collect();
            let strides = expand_strides(&src, &out);
            let want = Tensor::from_vec(data.clone(), src.clone()).broadcast_to(&out).to_vec();
            assert_eq!(
                gather_view(&data, &out, &strides, 0),
                want,
                "case {case}: {src:?} expanded to {out:?}, strides {strides:?}"
            );
        }
    });
}

#[test]
fn ex_4_6_broadcasting_gradient() {
    grade("4.6", || {
        let mut rng = manual_seed(3);
        let g = Tensor::randn([2, 3, 4], &mut rng);
        // a gradient with a size-1 dimension of its own, read at the right position: for shape
        // [1, 1] the dimension to sum is grad's 1 (size 3), not its 0 (size 1)
        let g1 = Tensor::randn([1, 3, 4], &mut rng);
        let cases = [vec![4], vec![3, 1], vec![1, 1, 4], vec![2, 3, 4], vec![1]].map(|s| (&g, s));
        let cases1 = [vec![1, 1], vec![3, 1], vec![1, 4], vec![1, 1, 1]].map(|s| (&g1, s));
        // gradschool's own sum_to is the reference (itself checked against PyTorch)
        for (g, shape) in cases.into_iter().chain(cases1) {
            let got = reduce_to_shape(g, &shape);
            assert_eq!(got.dims(), &shape[..], "{:?} summed to {shape:?}: shape", g.dims());
            let what = format!("{:?} summed to {shape:?}", g.dims());
            assert_close(&what, &got.to_vec(), &g.sum_to(&shape).to_vec(), 1e-6);
        }
    });
}

#[test]
fn ex_4_7_matmul_backward() {
    grade("4.7", || {
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

#[test]
fn ex_4_8_matmul_in_the_engine() {
    grade("4.8", || {
        let mut rng = manual_seed(46);
        for (m, k, n) in [(3, 4, 2), (5, 5, 5), (1, 7, 3), (6, 2, 6)] {
            let a = Tensor::randn([m, k], &mut rng).requires_grad_();
            let b = Tensor::randn([k, n], &mut rng).requires_grad_();
            let c = matmul(&a, &b);
            assert_eq!(c.grad_fn(), Some("matmul (yours)"), "the product must be recorded with your MatmulBackward");
            // the library's matmul (checked against PyTorch) is the reference for values and gradients
            assert_close("A·B", &c.to_vec(), &a.detach().matmul(&b.detach()).to_vec(), 1e-5);
            let (a2, b2) = (a.detach().requires_grad_(), b.detach().requires_grad_());
            // through a non-linearity, so the gradient reaching your rule is not all ones
            c.tanh().sum().backward();
            a2.matmul(&b2).tanh().sum().backward();
            assert_close(
                &format!("({m}, {k}, {n}) ∂L/∂A"),
                &a.grad().unwrap().to_vec(),
                &a2.grad().unwrap().to_vec(),
                1e-5,
            );
            assert_close(
                &format!("({m}, {k}, {n}) ∂L/∂B"),
                &b.grad().unwrap().to_vec(),
                &b2.grad().unwrap().to_vec(),
                1e-5,
            );
            // and against finite differences
            let (a0, b0) = (a.detach(), b.detach());
            let report = gradcheck(|x| matmul(&x[0], &x[1]).tanh(), &[a0, b0]);
            assert!(report.passed(), "gradcheck of your matmul: {report:?}");
        }
    });
}
