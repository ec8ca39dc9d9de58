//! Chapter 4 — building the autograd: local derivatives, topological order, a scalar engine,
//! broadcasting, and your own rule plugged into the tensor engine.
//! Wrong but plausible solutions: CI proves each grader rejects its own. Read: book/src/ch04-autograd.md

use gradschool::autograd::Backward;
use gradschool::Tensor;
use std::cell::RefCell;
use std::rc::Rc;

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
        // ∂(a + b)/∂a = 1, ∂(a + b)/∂b = 1
        Value::op(self.data() + other.data(), vec![(self.clone(), 1.0), (other.clone(), 1.0)])
    }

    /// self · other, recording both inputs with their local derivatives.
    pub fn mul(&self, other: &Value) -> Value {
        // ∂(ab)/∂a = b, ∂(ab)/∂b = a
        let (a, b) = (self.data(), other.data());
        Value::op(a * b, vec![(self.clone(), b), (other.clone(), a)])
    }

    /// tanh(self), recording the input with its local derivative.
    pub fn tanh(&self) -> Value {
        // ∂tanh(a)/∂a = 1 − tanh²(a)
        let t = self.data().tanh();
        Value::op(t, vec![(self.clone(), 1.0 - t * t)])
    }

    /// Sets `grad` of every value this one depends on to ∂self/∂value (and its own to 1). The
    /// grader builds graphs where values are used several times, and a 100 000-op chain on a
    /// small stack.
    pub fn backward(&self) {
        self.0.borrow_mut().grad = 1.0;
        self.push_down();
    }

    // Recursive, and each node hands down its gradient as it stands whenever it is reached: a
    // value reached along two paths passes its first contribution on twice (and a deep chain
    // overflows the stack).
    fn push_down(&self) {
        let node = self.0.borrow();
        for (input, local) in &node.inputs {
            input.0.borrow_mut().grad += node.grad * local;
            input.push_down();
        }
    }

    fn op(data: f64, inputs: Vec<(Value, f64)>) -> Value {
        Value(Rc::new(RefCell::new(ValueNode { data, grad: 0.0, inputs })))
    }
}

// ----- 4.4 and 4.5: tensors as numbers, a shape and strides -------------------------------------

/// The strides of a contiguous row-major tensor of `dims`: how far apart in memory two elements
/// are whose index differs by one in each dimension.
pub fn contiguous_strides(dims: &[usize]) -> Vec<usize> {
    // column-major (Fortran's order): the first dimension adjacent, not the last
    let mut strides = vec![1; dims.len()];
    for k in 1..dims.len() {
        strides[k] = strides[k - 1] * dims[k - 1];
    }
    strides
}

/// The elements of a view, in row-major order of `dims`: the element at index (i₀, i₁, …) is
/// `data[offset + Σₖ iₖ·strides[k]]`. Works for any rank, including 0 (one element).
pub fn gather_view(data: &[f32], dims: &[usize], strides: &[usize], offset: usize) -> Vec<f32> {
    let n: usize = dims.iter().product();
    let mut index = vec![0; dims.len()]; // (i₀, i₁, …), counted like an odometer
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(data[offset + index.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>()]);
        for k in (0..dims.len()).rev() {
            index[k] += 1;
            if index[k] < dims[k] {
                break;
            }
            index[k] = 0;
        }
    }
    out
}

/// The view `permute(perm)` of a tensor with `dims` and `strides`, as new (dims, strides): no
/// element moves. Dimension k of the result is dimension `perm[k]` of the input.
pub fn permute_view(dims: &[usize], strides: &[usize], perm: &[usize]) -> (Vec<usize>, Vec<usize>) {
    (perm.iter().map(|&p| dims[p]).collect(), perm.iter().map(|&p| strides[p]).collect())
}

/// The view `narrow(dim, start, len)`, as new (dims, offset): the strides do not change.
pub fn narrow_view(dims: &[usize], strides: &[usize], offset: usize, dim: usize, start: usize, len: usize) -> (Vec<usize>, usize) {
    let mut out = dims.to_vec();
    out[dim] = len;
    (out, offset + start * strides[dim]) // the window starts `start` steps along `dim`
}

/// The shape two operands of an elementwise op broadcast to, or `None` when they cannot
/// (NumPy's and PyTorch's rule).
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    // aligned on the left, padding the shorter shape at the end: (3,) with (2, 3) fails
    let rank = a.len().max(b.len());
    let at = |s: &[usize], k: usize| if k < s.len() { s[k] } else { 1 };
    (0..rank)
        .map(|k| match (at(a, k), at(b, k)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// Strides that read a contiguous tensor of shape `src` as if it had the (broadcast) shape `out`,
/// without copying: the view `expand(out)`.
pub fn expand_strides(src: &[usize], out: &[usize]) -> Vec<usize> {
    // a dimension that is new, or of size 1 stretched to more, reads the same element again: stride 0
    let strides = contiguous_strides(src);
    let lead = out.len() - src.len();
    (0..out.len()).map(|k| if k < lead || src[k - lead] != out[k] { 0 } else { strides[k - lead] }).collect()
}

// ----- 4.6 and 4.7: tensor rules ----------------------------------------------------------------

/// A gradient of a broadcast result, summed back to the input's `shape` (what
/// `Tensor::sum_to` does — which is what you are writing, so use `sum_dims` and `reshape`).
pub fn reduce_to_shape(grad: &Tensor, shape: &[usize]) -> Tensor {
    let lead = grad.rank() - shape.len();
    let dims: Vec<isize> = (0..lead as isize).collect(); // the size-1 dimensions forgotten
    let summed = if dims.is_empty() { grad.clone() } else { grad.sum_dims(&dims, true) };
    summed.reshape(shape.to_vec())
}

/// Backward of C = A·B (A: m×k, B: k×n): given G = ∂L/∂C, return (∂L/∂A, ∂L/∂B).
pub fn matmul_backward(a: &Tensor, b: &Tensor, g: &Tensor) -> (Tensor, Tensor) {
    (g.matmul(&b.t()), g.t().matmul(a).t().t()) // ∂L/∂B transposed: Gᵀ·A is (n, k), not (k, n)
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
    fn backward(&self, inputs: &[Tensor], _output: &Tensor, grad: &Tensor) -> Vec<Option<Tensor>> {
        let (grad_a, grad_b) = matmul_backward(&inputs[0], &inputs[1], grad);
        vec![Some(grad_a), Some(grad_b)]
    }
}

/// C = A·B for A (m, k) and B (k, n), recorded with [`MatmulBackward`]: compute the product
/// without recording it (on detached inputs), then attach your rule with
/// `Tensor::with_backward`.
pub fn matmul(a: &Tensor, b: &Tensor) -> Tensor {
    a.detach().matmul(&b.detach()).with_backward(&[b, a], MatmulBackward) // inputs listed in the wrong order
}
