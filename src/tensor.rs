//! `Tensor`: a cheap, reference-counted handle to f32 data on a device, with a shape and, when it
//! was computed from tensors that require grad, the autograd node that produced it.

use crate::backend::Storage;
use crate::device::Device;
use crate::error::Result;
use crate::grad_mode::is_grad_enabled;
use crate::shape::Shape;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

/// The derivative rule of one op.
///
/// Given the op's `inputs`, its `output` and `grad` = ∂L/∂output, return ∂L/∂input for each
/// input, in order (`None` where an input needs none, e.g. integer indices or constants).
// ANCHOR: backward_trait
pub trait Backward: Send + Sync {
    /// The op's name, for error messages and graph printing.
    fn name(&self) -> &'static str;
    /// Vector-Jacobian product: the gradient of each input.
    fn backward(&self, inputs: &[Tensor], output: &Tensor, grad: &Tensor) -> Vec<Option<Tensor>>;
    /// For a one-input op whose input gradient is mostly zeros (narrow, index_select, so
    /// embedding): add that gradient into `acc` — the input's gradient so far, which nothing
    /// else shares — in place, instead of materialising a zero-padded tensor and summing two
    /// full-size tensors. GPT-2's tied `wte` gets the head's dense gradient first and then the
    /// embedding's few rows: 2 passes over 154 MB saved per step. Returns false where it cannot
    /// (the default, and tensors not on the CPU); the engine then calls `backward` and sums.
    fn accumulate_into(&self, _inputs: &[Tensor], _grad: &Tensor, _acc: &Tensor) -> bool {
        false
    }
    /// True for ops that implement [`Backward::accumulate_into`]: the engine then holds their
    /// backward back until their input's turn, so that the dense gradients arrive first.
    fn sparse_input_grad(&self) -> bool {
        false
    }
}
// ANCHOR_END: backward_trait

/// How a non-leaf tensor was computed.
pub(crate) struct Node {
    pub(crate) op: Box<dyn Backward>,
    pub(crate) inputs: Vec<Tensor>,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// An n-dimensional array of f32 that records the ops applied to it for [`Tensor::backward`].
///
/// Cloning is cheap (an `Arc`): clones are the same tensor, as two Python names for one
/// `torch.Tensor` are.
#[derive(Clone)]
// ANCHOR: tensor_struct
pub struct Tensor(pub(crate) Arc<TensorImpl>);

pub(crate) struct TensorImpl {
    id: usize,
    /// Shared by reshapes of the same data (views), as in PyTorch.
    storage: Arc<RwLock<Storage>>,
    shape: Shape,
    requires_grad: AtomicBool,
    is_leaf: bool,
    retains_grad: AtomicBool,
    node: Mutex<Option<Node>>,
    grad: Mutex<Option<Tensor>>,
}
// ANCHOR_END: tensor_struct

impl Drop for TensorImpl {
    /// Drops the graph behind this tensor iteratively: a long chain of nodes would otherwise be
    /// freed by recursion one frame per op and overflow the stack.
    fn drop(&mut self) {
        let Some(node) = self.node.get_mut().ok().and_then(|n| n.take()) else { return };
        let mut pending = node.inputs;
        while let Some(t) = pending.pop() {
            if let Ok(mut inner) = Arc::try_unwrap(t.0) {
                if let Some(n) = inner.node.get_mut().ok().and_then(|n| n.take()) {
                    pending.extend(n.inputs);
                }
            }
        }
    }
}

impl Tensor {
    fn from_parts(storage: Arc<RwLock<Storage>>, shape: Shape, node: Option<Node>) -> Tensor {
        let requires_grad = node.is_some();
        Tensor(Arc::new(TensorImpl {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            storage,
            shape,
            requires_grad: AtomicBool::new(requires_grad),
            is_leaf: node.is_none(),
            retains_grad: AtomicBool::new(false),
            node: Mutex::new(node),
            grad: Mutex::new(None),
        }))
    }

    /// A leaf tensor (no history) owning `storage`.
    pub(crate) fn from_storage(storage: Storage, shape: impl Into<Shape>) -> Tensor {
        let shape = shape.into();
        debug_assert_eq!(storage.len(), shape.numel(), "storage length vs shape {shape}");
        Tensor::from_parts(Arc::new(RwLock::new(storage)), shape, None)
    }

    /// The result of an op: records a node when grad mode is on and an input requires grad.
    /// `rule` is only called (and the node only built) in that case.
    pub(crate) fn from_op<B: Backward + 'static>(
        storage: Storage,
        shape: impl Into<Shape>,
        inputs: &[&Tensor],
        rule: impl FnOnce() -> B,
    ) -> Tensor {
        let t = Tensor::from_storage(storage, shape);
        t.with_node(inputs, rule)
    }

    /// Like [`Tensor::from_op`] for ops that only reinterpret the shape: the result shares this
    /// tensor's storage.
    pub(crate) fn view_op<B: Backward + 'static>(&self, shape: impl Into<Shape>, rule: impl FnOnce() -> B) -> Tensor {
        let shape = shape.into();
        assert_eq!(shape.numel(), self.numel(), "view: shape {shape} vs {} elements", self.numel());
        let t = Tensor::from_parts(self.0.storage.clone(), shape, None);
        t.with_node(&[self], rule)
    }

    /// This tensor's data as the output of a new node with `inputs`, recorded whenever grad mode
    /// is on — even if no input requires grad: for an op whose backward reaches parameters it
    /// does not list as inputs (gradient checkpointing's recomputation). Shares the storage.
    pub(crate) fn as_output_of<B: Backward + 'static>(&self, inputs: &[&Tensor], rule: impl FnOnce() -> B) -> Tensor {
        if !is_grad_enabled() {
            return Tensor::from_parts(self.0.storage.clone(), self.shape().clone(), None);
        }
        let node = Node { op: Box::new(rule()), inputs: inputs.iter().map(|&t| t.clone()).collect() };
        Tensor::from_parts(self.0.storage.clone(), self.shape().clone(), Some(node))
    }

    fn with_node<B: Backward + 'static>(self, inputs: &[&Tensor], rule: impl FnOnce() -> B) -> Tensor {
        if !is_grad_enabled() || !inputs.iter().any(|t| t.requires_grad()) {
            return self;
        }
        let inner = Arc::try_unwrap(self.0).unwrap_or_else(|_| unreachable!("fresh tensor is unshared"));
        let node = Node { op: Box::new(rule()), inputs: inputs.iter().map(|&t| t.clone()).collect() };
        Tensor::from_parts(inner.storage.clone(), inner.shape.clone(), Some(node))
    }

    // ----- creation -------------------------------------------------------------------------

    /// A tensor of `shape` holding `data` in row-major order. Panics if the lengths disagree.
    pub fn from_vec(data: Vec<f32>, shape: impl Into<Shape>) -> Tensor {
        let shape = shape.into();
        assert_eq!(data.len(), shape.numel(), "from_vec: {} values for shape {shape}", data.len());
        Tensor::from_storage(Storage::from_vec(data, Device::Cpu), shape)
    }

    /// A tensor of `shape` copied from `data`.
    pub fn from_slice(data: &[f32], shape: impl Into<Shape>) -> Tensor {
        Tensor::from_vec(data.to_vec(), shape)
    }

    /// A 0-dimensional tensor holding `v`.
    pub fn scalar(v: f32) -> Tensor {
        Tensor::from_vec(vec![v], Shape::new(&[]))
    }

    /// Every element `v`.
    pub fn full(shape: impl Into<Shape>, v: f32) -> Tensor {
        let shape = shape.into();
        Tensor::from_vec(vec![v; shape.numel()], shape)
    }

    /// Every element 0.
    pub fn zeros(shape: impl Into<Shape>) -> Tensor {
        Tensor::full(shape, 0.0)
    }

    /// Every element 1.
    pub fn ones(shape: impl Into<Shape>) -> Tensor {
        Tensor::full(shape, 1.0)
    }

    /// Zeros with this tensor's shape, on its device.
    pub fn zeros_like(&self) -> Tensor {
        self.full_like(0.0)
    }

    /// Ones with this tensor's shape, on its device.
    pub fn ones_like(&self) -> Tensor {
        self.full_like(1.0)
    }

    /// `v` everywhere, with this tensor's shape, on its device.
    pub fn full_like(&self, v: f32) -> Tensor {
        Tensor::from_storage(Storage::from_vec(vec![v; self.numel()], self.device()), self.0.shape.clone())
    }

    /// `torch.arange(start, end, step)`: `start, start+step, …` while `< end` (`> end` for a
    /// negative step).
    pub fn arange(start: f32, end: f32, step: f32) -> Tensor {
        assert!(step != 0.0, "arange: step must be non-zero");
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        let data: Vec<f32> = (0..n).map(|i| start + i as f32 * step).collect();
        Tensor::from_vec(data, [n])
    }

    /// `torch.linspace(start, end, steps)`: `steps` evenly spaced values from `start` to `end`
    /// inclusive.
    pub fn linspace(start: f32, end: f32, steps: usize) -> Tensor {
        let data = match steps {
            0 => vec![],
            1 => vec![start],
            _ => {
                let step = (end - start) / (steps - 1) as f32;
                // Symmetric formula (as PyTorch): the second half counts back from `end`, so
                // both end points are exact.
                let half = steps / 2;
                (0..steps)
                    .map(|i| if i < half { start + step * i as f32 } else { end - step * (steps - 1 - i) as f32 })
                    .collect()
            }
        };
        Tensor::from_vec(data, [steps])
    }

    // ----- metadata -------------------------------------------------------------------------

    /// A number unique to this tensor in the process.
    pub fn id(&self) -> usize {
        self.0.id
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.0.shape
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        self.0.shape.dims()
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.shape.rank()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.shape.numel()
    }

    /// Size of dimension `d` (negative counts from the end).
    pub fn size(&self, d: isize) -> usize {
        self.dims()[self.0.shape.dim("size", d)]
    }

    /// The device holding the data.
    pub fn device(&self) -> Device {
        self.storage().device()
    }

    /// Read access to the storage, for kernels.
    pub(crate) fn storage(&self) -> RwLockReadGuard<'_, Storage> {
        self.0.storage.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access to the storage, for in-place kernels (optimizer steps, gradient adds).
    pub(crate) fn storage_mut(&self) -> std::sync::RwLockWriteGuard<'_, Storage> {
        self.0.storage.write().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of this tensor on `device` (the same tensor if already there). Gradients flow back
    /// through the copy to the source device.
    pub fn to(&self, device: &Device) -> Result<Tensor> {
        device.ensure_available()?;
        if self.device() == *device {
            return Ok(self.clone());
        }
        let storage = Storage::from_vec(self.to_vec(), *device);
        let source = self.device();
        Ok(Tensor::from_op(storage, self.shape().clone(), &[self], || ToDeviceBackward(source)))
    }

    /// Moves a leaf's data to `device` in place (a parameter, before training:
    /// `model.parameters().iter().try_for_each(|p| p.to_device_(&dev))`); views share the move.
    pub fn to_device_(&self, device: &Device) -> Result<()> {
        device.ensure_available()?;
        assert!(
            self.is_leaf(),
            "to_device_: only leaf tensors (parameters, data) can move in place; use to() on computed tensors"
        );
        if self.device() == *device {
            return Ok(());
        }
        let data = self.to_vec();
        *self.0.storage.write().unwrap_or_else(|e| e.into_inner()) = Storage::from_vec(data, *device);
        Ok(())
    }

    /// A tensor of `shape` filled with `v`, on this tensor's device (PyTorch's `new_full`): how
    /// ops make the constants they combine with their inputs.
    pub fn new_full(&self, shape: impl Into<Shape>, v: f32) -> Tensor {
        let shape = shape.into();
        Tensor::from_storage(Storage::full(shape.numel(), v, self.device()), shape)
    }

    /// Host data as a tensor on this tensor's device.
    pub fn new_from_vec(&self, data: Vec<f32>, shape: impl Into<Shape>) -> Tensor {
        let shape = shape.into();
        assert_eq!(data.len(), shape.numel(), "new_from_vec: {} values for shape {shape}", data.len());
        Tensor::from_storage(Storage::from_vec(data, self.device()), shape)
    }

    /// The elements in row-major order, copied to the host.
    pub fn to_vec(&self) -> Vec<f32> {
        self.storage().to_vec()
    }

    /// The value of a one-element tensor. Panics naming the shape otherwise.
    pub fn item(&self) -> f32 {
        assert_eq!(self.numel(), 1, "item: tensor of shape {} has {} elements, not 1", self.shape(), self.numel());
        self.to_vec()[0]
    }

    // ----- autograd -------------------------------------------------------------------------

    /// Whether gradients flow to this tensor.
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad.load(Ordering::Relaxed)
    }

    /// Marks a leaf as a parameter: `backward()` will accumulate into its `.grad()`.
    /// Returns the tensor so it chains: `Tensor::randn(..).requires_grad_()`.
    pub fn requires_grad_(self) -> Tensor {
        self.set_requires_grad(true);
        self
    }

    /// Turns gradient tracking of a leaf on or off (freezing a layer for fine-tuning).
    /// Panics on a non-leaf, as PyTorch does: its requirement follows from its inputs.
    pub fn set_requires_grad(&self, on: bool) {
        assert!(self.is_leaf(), "requires_grad_: only leaf tensors can change it; use detach() on computed tensors");
        self.0.requires_grad.store(on, Ordering::Relaxed);
    }

    /// True for tensors not produced by a recorded op (parameters, data).
    pub fn is_leaf(&self) -> bool {
        self.0.is_leaf
    }

    /// Asks `backward()` to also store this intermediate's gradient in `.grad()` (for teaching
    /// and debugging; intermediates do not keep gradients by default).
    pub fn retain_grad(&self) {
        self.0.retains_grad.store(true, Ordering::Relaxed);
    }

    pub(crate) fn retains_grad(&self) -> bool {
        self.0.retains_grad.load(Ordering::Relaxed)
    }

    /// The accumulated gradient ∂L/∂self, if `backward()` reached this tensor.
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Forgets the accumulated gradient (PyTorch's `zero_grad(set_to_none=True)`).
    pub fn zero_grad(&self) {
        *self.0.grad.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Replaces the accumulated gradient (data parallelism puts the all-reduced sum here).
    /// Panics if `grad`'s shape is not this tensor's.
    pub fn set_grad(&self, grad: Option<Tensor>) {
        if let Some(g) = &grad {
            assert_eq!(
                g.dims(),
                self.dims(),
                "set_grad: gradient of shape {} for a tensor of shape {}",
                g.shape(),
                self.shape()
            );
        }
        *self.0.grad.lock().unwrap_or_else(|e| e.into_inner()) = grad.map(|g| g.detach());
    }

    pub(crate) fn accumulate_grad(&self, g: &Tensor) {
        let mut slot = self.0.grad.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(match slot.take() {
            Some(prev) => &prev + g,
            None => g.detach(),
        });
    }

    /// A tensor sharing this one's data with no history: gradients stop here.
    pub fn detach(&self) -> Tensor {
        Tensor::from_parts(self.0.storage.clone(), self.0.shape.clone(), None)
    }

    /// A new op defined outside the library, like PyTorch's `torch.autograd.Function`: this
    /// tensor holds the op's forward result (computed however you like, e.g. on host slices),
    /// and `rule` is its derivative with respect to `inputs`. The result shares this tensor's
    /// data, forgets any history it had, and records `rule` as its node when grad mode is on and
    /// an input requires grad; `backward()` then calls `rule.backward(inputs, output, grad)` like
    /// any built-in op's. The exercises plug their own backward rules into the engine this way.
    ///
    /// ```
    /// use gradschool::autograd::Backward;
    /// use gradschool::Tensor;
    /// // y = x³, with the derivative ∂y/∂x = 3x² written by hand
    /// struct Cube;
    /// impl Backward for Cube {
    ///     fn name(&self) -> &'static str { "cube" }
    ///     fn backward(&self, inputs: &[Tensor], _output: &Tensor, grad: &Tensor) -> Vec<Option<Tensor>> {
    ///         let x = &inputs[0];
    ///         vec![Some(grad * &(x * x) * 3.0)]
    ///     }
    /// }
    /// let x = Tensor::from_vec(vec![1.0, 2.0], [2]).requires_grad_();
    /// let cubed = Tensor::from_vec(x.to_vec().iter().map(|v| v * v * v).collect(), [2]);
    /// let y = cubed.with_backward(&[&x], Cube);
    /// y.sum().backward();
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![3.0, 12.0]);
    /// ```
    // ANCHOR: with_backward
    pub fn with_backward<B: Backward + 'static>(&self, inputs: &[&Tensor], rule: B) -> Tensor {
        self.detach().with_node(inputs, || rule)
    }
    // ANCHOR_END: with_backward

    /// Identifies the storage (views of one tensor share it).
    pub(crate) fn storage_key(&self) -> usize {
        Arc::as_ptr(&self.0.storage) as usize
    }

    pub(crate) fn node_inputs(&self) -> Vec<Tensor> {
        let node = self.0.node.lock().unwrap_or_else(|e| e.into_inner());
        node.as_ref().map(|n| n.inputs.clone()).unwrap_or_default()
    }

    pub(crate) fn take_node(&self) -> Option<Node> {
        self.0.node.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The name of the op that produced this tensor (`None` for leaves and freed graphs).
    pub fn grad_fn(&self) -> Option<&'static str> {
        let node = self.0.node.lock().unwrap_or_else(|e| e.into_inner());
        node.as_ref().map(|n| n.op.name())
    }

    // ----- in-place updates (optimizers) --------------------------------------------------

    /// Overwrites this tensor's data with `src`'s (same shape), outside autograd: what an
    /// optimizer step does to a parameter. Views sharing the data see the change.
    pub fn set_data(&self, src: &Tensor) {
        assert_eq!(self.dims(), src.dims(), "set_data: shape {} vs source {}", self.shape(), src.shape());
        if Arc::ptr_eq(&self.0.storage, &src.0.storage) {
            return;
        }
        self.set_host_data(src.to_vec());
    }

    /// Replaces the data with host values (same length), keeping the device.
    pub(crate) fn set_host_data(&self, data: Vec<f32>) {
        assert_eq!(data.len(), self.numel(), "set_data: {} values for shape {}", data.len(), self.shape());
        let mut dst = self.0.storage.write().unwrap_or_else(|e| e.into_inner());
        let device = dst.device();
        *dst = Storage::from_vec(data, device);
    }

    /// True when no other tensor handle, view or clone can see this tensor's data: writing to
    /// it in place is invisible elsewhere (the engine's in-place gradient accumulation).
    pub(crate) fn is_sole_owner(&self) -> bool {
        Arc::strong_count(&self.0) == 1 && Arc::strong_count(&self.0.storage) == 1
    }

    /// Runs `f` on the host data of a CPU tensor, mutably (optimizer kernels, data loading).
    /// Panics if the tensor is on another device.
    pub fn with_data_mut<R>(&self, f: impl FnOnce(&mut [f32]) -> R) -> R {
        let mut s = self.0.storage.write().unwrap_or_else(|e| e.into_inner());
        let slice = s.as_cpu_slice_mut().expect("with_data_mut: tensor is not on the CPU");
        f(slice)
    }

    /// Runs `f` on the host data of a CPU tensor.
    pub fn with_data<R>(&self, f: impl FnOnce(&[f32]) -> R) -> R {
        let s = self.storage();
        f(s.as_cpu_slice().expect("with_data: tensor is not on the CPU"))
    }
}

/// y = x moved to another device: ∂L/∂x is ∂L/∂y moved back.
struct ToDeviceBackward(Device);

impl Backward for ToDeviceBackward {
    fn name(&self) -> &'static str {
        "to"
    }
    fn backward(&self, _inputs: &[Tensor], _out: &Tensor, grad: &Tensor) -> Vec<Option<Tensor>> {
        let back = Storage::from_vec(grad.to_vec(), self.0);
        vec![Some(Tensor::from_storage(back, grad.shape().clone()))]
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data = self.to_vec();
        let shown: Vec<f32> = data.iter().take(8).copied().collect();
        write!(
            f,
            "Tensor(shape={}, device={}, data={:?}{}",
            self.shape(),
            self.device(),
            shown,
            if data.len() > 8 { "…" } else { "" }
        )?;
        if let Some(op) = self.grad_fn() {
            write!(f, ", grad_fn={op}")?;
        } else if self.requires_grad() {
            write!(f, ", requires_grad=true")?;
        }
        write!(f, ")")
    }
}
