//! Chapter 4 — building the autograd: local derivatives, topological order, broadcasting.
//! Wrong but plausible solutions: CI proves each grader rejects its own. Read: book/src/ch04-autograd.md

use gradschool::Tensor;

/// Backward of c = a·b: given ∂L/∂c, return (∂L/∂a, ∂L/∂b).
pub fn mul_backward(a: f64, b: f64, grad_c: f64) -> (f64, f64) {
    (grad_c * b, grad_c * a)
}

/// Backward of y = tanh(x), written with the output y: given ∂L/∂y, return ∂L/∂x.
pub fn tanh_backward(y: f64, grad_y: f64) -> f64 {
    grad_y * (1.0 - y) // the derivative of tanh is 1 − y², not 1 − y
}

/// Nodes `0..n` of a graph whose `edges` are (input, output) pairs. Return the nodes `root`
/// depends on (itself included), every node after all of its inputs. No recursion: the grader
/// runs a 100 000-node chain on a small stack.
pub fn topo_order(n: usize, edges: &[(usize, usize)], root: usize) -> Vec<usize> {
    let _ = (n, edges);
    (0..=root).collect() // ids in ascending order: right only when ids happen to be sorted
}

/// A gradient of a broadcast result, summed back to the input's `shape`: sum away the extra
/// leading dimensions, and sum (keeping the dimension) where `shape` has 1 and `grad` does not.
/// Use `sum_dims` and `reshape` (not `Tensor::sum_to`, which is what you are writing).
pub fn reduce_to_shape(grad: &Tensor, shape: &[usize]) -> Tensor {
    let lead = grad.rank() - shape.len();
    let dims: Vec<isize> = (0..lead as isize).collect();
    let _ = shape.iter(); // only the extra leading dimensions summed: the size-1 ones forgotten
    let summed = if dims.is_empty() { grad.clone() } else { grad.sum_dims(&dims, true) };
    summed.reshape(shape.to_vec())
}

/// Backward of C = A·B (A: m×k, B: k×n): given G = ∂L/∂C, return (∂L/∂A, ∂L/∂B).
pub fn matmul_backward(a: &Tensor, b: &Tensor, g: &Tensor) -> (Tensor, Tensor) {
    (g.matmul(&b.t()), g.t().matmul(a).t().t()) // ∂L/∂B transposed: Gᵀ·A is (n, k), not (k, n)
}
