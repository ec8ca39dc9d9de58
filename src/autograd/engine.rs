//! The backward pass: topological order, gradient accumulation, freeing the graph.

use crate::grad_mode::no_grad;
use crate::tensor::Node;
use crate::tensor::Tensor;
use std::collections::{HashMap, HashSet};

/// Tensors reachable from `root` through recorded nodes, every tensor after all of its inputs
/// (post-order). Iterative, so graph depth is bounded by memory, not by the stack.
// ANCHOR: topo
pub(crate) fn topological_order(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut visited = HashSet::new();
    // (tensor, inputs already pushed?)
    let mut stack = vec![(root.clone(), false)];
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !visited.insert(t.id()) {
            continue;
        }
        let inputs = t.node_inputs();
        stack.push((t, true));
        for input in inputs {
            if input.requires_grad() && !visited.contains(&input.id()) {
                stack.push((input, false));
            }
        }
    }
    order
}
// ANCHOR_END: topo

/// Runs backpropagation from `root`, seeded with `grad_root` = ∂L/∂root.
// ANCHOR: backward
pub(crate) fn backward(root: &Tensor, grad_root: Tensor) {
    if !root.requires_grad() {
        panic!(
            "backward: the tensor does not require grad — no parameter it depends on was created \
             with requires_grad_(), or it was computed under no_grad()"
        );
    }
    assert_eq!(
        root.dims(),
        grad_root.dims(),
        "backward: gradient shape {:?} vs tensor shape {:?}",
        grad_root.dims(),
        root.dims()
    );
    let _guard = no_grad();
    let order = topological_order(root);
    let mut grads: HashMap<usize, Tensor> = HashMap::new();
    // Nodes whose input gradient is mostly zeros (narrow, embedding), held back until their
    // input's turn: by then its dense gradients have arrived, and these add into it in place.
    let mut sparse: HashMap<usize, Vec<(Node, Tensor, Tensor)>> = HashMap::new();
    grads.insert(root.id(), grad_root);
    for t in order.iter().rev() {
        for (node, out, g) in sparse.remove(&t.id()).unwrap_or_default() {
            let acc = grads.get(&t.id()).filter(|acc| acc.is_sole_owner());
            // (in the rule's profiler span, like its backward: this is the same work done in place)
            let added = |acc: &Tensor| {
                crate::profiler::backward_rule(node.op.name(), || node.op.accumulate_into(&node.inputs, &g, acc))
            };
            if !acc.is_some_and(added) {
                propagate(&mut grads, &node, &out, &g);
            }
        }
        let Some(grad) = grads.remove(&t.id()) else { continue };
        if t.is_leaf() || t.retains_grad() {
            t.accumulate_grad(&grad);
        }
        if t.is_leaf() {
            continue;
        }
        // Taking the node frees this part of the graph: the inputs it kept alive can go as soon
        // as nothing else holds them.
        let Some(node) = t.take_node() else {
            panic!(
                "backward: trying to backward through the graph a second time — the first \
                 backward() freed it; recompute the forward pass"
            );
        };
        if let [input] = node.inputs.as_slice() {
            if input.requires_grad() && node.op.sparse_input_grad() {
                sparse.entry(input.id()).or_default().push((node, t.clone(), grad));
                continue;
            }
        }
        propagate(&mut grads, &node, t, &grad);
    }
}
// ANCHOR_END: backward

/// Runs `node`'s backward for output `out` with gradient `grad` and adds each input's gradient
/// to what that input has received so far.
// ANCHOR: propagate
fn propagate(grads: &mut HashMap<usize, Tensor>, node: &Node, out: &Tensor, grad: &Tensor) {
    let input_grads = crate::profiler::backward_rule(node.op.name(), || node.op.backward(&node.inputs, out, grad));
    assert_eq!(
        input_grads.len(),
        node.inputs.len(),
        "{}: backward returned the wrong number of gradients",
        node.op.name()
    );
    for (input, g) in node.inputs.iter().zip(input_grads) {
        let Some(g) = g else { continue };
        if !input.requires_grad() {
            continue;
        }
        assert_eq!(
            g.dims(),
            input.dims(),
            "{} backward: gradient shape {:?} vs input shape {:?}",
            node.op.name(),
            g.dims(),
            input.dims()
        );
        // grad_input accumulates: an input used by several ops gets the sum.
        match grads.remove(&input.id()) {
            Some(prev) => grads.insert(input.id(), &prev + &g),
            None => grads.insert(input.id(), g),
        };
    }
}
// ANCHOR_END: propagate

impl Tensor {
    /// Backpropagates from this scalar (e.g. a loss): every leaf that requires grad and that
    /// this value depends on gets ∂self/∂leaf *added* to its `.grad()`.
    pub fn backward(&self) {
        assert_eq!(
            self.numel(),
            1,
            "backward: grad can be implicitly created only for scalar outputs, got shape {}; use backward_with(grad)",
            self.shape()
        );
        backward(self, self.ones_like());
    }

    /// Backpropagates with an explicit upstream gradient ∂L/∂self of this tensor's shape
    /// (PyTorch's `y.backward(gradient)`).
    pub fn backward_with(&self, grad: &Tensor) {
        backward(self, grad.detach());
    }
}
