//! Chapter 4 — building the autograd: local derivatives, topological order, a scalar engine,
//! broadcasting, and your own rule plugged into the tensor engine.
//! Read: book/src/ch04-autograd.md

use gradschool::autograd::Backward;
use gradschool::Tensor;
use std::cell::RefCell;
use std::rc::Rc;

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

// ----- 4.3: a scalar autograd -----------------------------------------------------------------

/// What a [`Value`] remembers: its number, its gradient so far, and how it was computed — each
/// input with the local derivative ∂self/∂input, filled in when the op runs.
pub struct ValueNode {
    pub data: f64,
    pub grad: f64,
    pub inputs: Vec<(Value, f64)>,
}

/// A scalar that records how it was computed (shared: a value used twice is one node).
#[derive(Clone)]
pub struct Value(pub Rc<RefCell<ValueNode>>);

impl Value {
    /// A leaf: no inputs, gradient 0.
    pub fn new(data: f64) -> Value {
        Value(Rc::new(RefCell::new(ValueNode { data, grad: 0.0, inputs: Vec::new() })))
    }

    /// The number.
    pub fn data(&self) -> f64 {
        self.0.borrow().data
    }

    /// ∂(the value `backward` was last called on)/∂self; 0 before any backward.
    pub fn grad(&self) -> f64 {
        self.0.borrow().grad
    }

    /// self + other, recording both inputs with their local derivatives.
    pub fn add(&self, other: &Value) -> Value {
        todo!("ex 4.3: a scalar autograd")
    }

    /// self · other, recording both inputs with their local derivatives.
    pub fn mul(&self, other: &Value) -> Value {
        todo!("ex 4.3: a scalar autograd")
    }

    /// tanh(self), recording the input with its local derivative.
    pub fn tanh(&self) -> Value {
        todo!("ex 4.3: a scalar autograd")
    }

    /// Sets `grad` of every value this one depends on to ∂self/∂value (and its own to 1). The
    /// grader builds graphs where values are used several times, and a 100 000-op chain on a
    /// small stack.
    pub fn backward(&self) {
        todo!("ex 4.3: a scalar autograd")
    }
}

// ----- 4.4 and 4.5: tensors as numbers, a shape and strides -------------------------------------

/// The strides of a contiguous row-major tensor of `dims`: how far apart in memory two elements
/// are whose index differs by one in each dimension.
pub fn contiguous_strides(dims: &[usize]) -> Vec<usize> {
    todo!("ex 4.4: strides and views")
}

/// The elements of a view, in row-major order of `dims`: the element at index (i₀, i₁, …) is
/// `data[offset + Σₖ iₖ·strides[k]]`. Works for any rank, including 0 (one element).
pub fn gather_view(data: &[f32], dims: &[usize], strides: &[usize], offset: usize) -> Vec<f32> {
    todo!("ex 4.4: strides and views")
}

/// The view `permute(perm)` of a tensor with `dims` and `strides`, as new (dims, strides): no
/// element moves. Dimension k of the result is dimension `perm[k]` of the input.
pub fn permute_view(dims: &[usize], strides: &[usize], perm: &[usize]) -> (Vec<usize>, Vec<usize>) {
    todo!("ex 4.4: strides and views")
}

/// The view `narrow(dim, start, len)`, as new (dims, offset): the strides do not change.
pub fn narrow_view(dims: &[usize], strides: &[usize], offset: usize, dim: usize, start: usize, len: usize) -> (Vec<usize>, usize) {
    todo!("ex 4.4: strides and views")
}

/// The shape two operands of an elementwise op broadcast to, or `None` when they cannot
/// (NumPy's and PyTorch's rule).
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    todo!("ex 4.5: broadcasting as a view")
}

/// Strides that read a contiguous tensor of shape `src` as if it had the (broadcast) shape `out`,
/// without copying: the view `expand(out)`.
pub fn expand_strides(src: &[usize], out: &[usize]) -> Vec<usize> {
    todo!("ex 4.5: broadcasting as a view")
}

// ----- 4.6 and 4.7: tensor rules ----------------------------------------------------------------

/// A gradient of a broadcast result, summed back to the input's `shape` (what
/// `Tensor::sum_to` does — which is what you are writing, so use `sum_dims` and `reshape`).
pub fn reduce_to_shape(grad: &Tensor, shape: &[usize]) -> Tensor {
    todo!("ex 4.6: broadcasting's gradient")
}

/// Backward of C = A·B (A: m×k, B: k×n): given G = ∂L/∂C, return (∂L/∂A, ∂L/∂B).
pub fn matmul_backward(a: &Tensor, b: &Tensor, g: &Tensor) -> (Tensor, Tensor) {
    todo!("ex 4.7: backward of matmul")
}

// ----- 4.8: your rule inside the engine --------------------------------------------------------

/// The derivative of C = A·B as a rule of gradschool's engine (its `Backward` trait), so that
/// `loss.backward()` calls your code. Chapter 8's network trains through it.
pub struct MatmulBackward;

impl Backward for MatmulBackward {
    fn name(&self) -> &'static str {
        "matmul (yours)"
    }

    /// `inputs` are [A, B] and `grad` is ∂L/∂C: return the gradient of each input, in order.
    fn backward(&self, inputs: &[Tensor], output: &Tensor, grad: &Tensor) -> Vec<Option<Tensor>> {
        todo!("ex 4.8: your matmul in the engine")
    }
}

/// C = A·B for A (m, k) and B (k, n), recorded with [`MatmulBackward`]: compute the product
/// without recording it (on detached inputs), then attach your rule with
/// `Tensor::with_backward`.
pub fn matmul(a: &Tensor, b: &Tensor) -> Tensor {
    todo!("ex 4.8: your matmul in the engine")
}
