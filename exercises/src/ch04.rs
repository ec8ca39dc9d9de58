//! Chapter 4 — building the autograd: local derivatives, topological order, broadcasting.
//! Read: book/src/ch04-autograd.md

use gradschool::Tensor;

/// Backward of c = a·b: given ∂L/∂c, return (∂L/∂a, ∂L/∂b).
pub fn mul_backward(a: f64, b: f64, grad_c: f64) -> (f64, f64) {
    todo!("ex 4.1: backward of mul and tanh")
}

/// Backward of y = tanh(x), written with the output y: given ∂L/∂y, return ∂L/∂x.
pub fn tanh_backward(y: f64, grad_y: f64) -> f64 {
    todo!("ex 4.1: backward of mul and tanh")
}

/// Nodes `0..n` of a graph whose `edges` are (input, output) pairs. Return the nodes `root`
/// depends on (itself included), every node after all of its inputs. No recursion: the grader
/// runs a 100 000-node chain on a small stack.
pub fn topo_order(n: usize, edges: &[(usize, usize)], root: usize) -> Vec<usize> {
    todo!("ex 4.2: topological sort")
}

/// A gradient of a broadcast result, summed back to the input's `shape`: sum away the extra
/// leading dimensions, and sum (keeping the dimension) where `shape` has 1 and `grad` does not.
/// Use `sum_dims` and `reshape` (not `Tensor::sum_to`, which is what you are writing).
pub fn reduce_to_shape(grad: &Tensor, shape: &[usize]) -> Tensor {
    todo!("ex 4.3: broadcasting's gradient")
}

/// Backward of C = A·B (A: m×k, B: k×n): given G = ∂L/∂C, return (∂L/∂A, ∂L/∂B).
pub fn matmul_backward(a: &Tensor, b: &Tensor, g: &Tensor) -> (Tensor, Tensor) {
    todo!("ex 4.4: backward of matmul")
}
