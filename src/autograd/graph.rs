//! The recorded graph as data, to look at (micrograd's `draw_dot`, at tensor level): every
//! tensor a value was computed from, the op that made it, its shape and the shape of its
//! gradient. [`Graph::to_dot`] writes Graphviz text; `gradschool graph` draws it to PNG or SVG.
//!
//! Capture the graph *before* `backward()` (backward frees it as it goes); call
//! [`Graph::refresh_grads`] after, to see which leaves received a gradient and its shape.

use crate::tensor::Tensor;
use std::collections::HashMap;
use std::fmt::Write as _;

/// One tensor of a captured graph.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphNode {
    /// The op that produced it (`grad_fn`), or `None` for a leaf.
    pub op: Option<&'static str>,
    /// A name given with [`Graph::name`] (parameter names), if any.
    pub name: Option<String>,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Whether gradients flow to it.
    pub requires_grad: bool,
    /// The shape of ∂L/∂tensor: the tensor's own shape wherever a gradient flows; for leaves
    /// after [`Graph::refresh_grads`], the `.grad()` actually accumulated (`None`: none arrived).
    pub grad_shape: Option<Vec<usize>>,
    /// Indices (into [`Graph::nodes`]) of the tensors it was computed from, in argument order.
    pub inputs: Vec<usize>,
}

/// A snapshot of the autograd graph below a tensor, inputs before the ops that use them.
pub struct Graph {
    /// The tensors, every node after all of its inputs; the root is last.
    pub nodes: Vec<GraphNode>,
    /// Handles to the leaves, to read their gradients after backward.
    leaves: Vec<(usize, Tensor)>,
    ids: HashMap<usize, usize>,
}

impl Graph {
    // ANCHOR: capture
    /// The graph `root` was computed through, including inputs that need no gradient (data,
    /// constants). Iterative, like the backward pass.
    pub fn capture(root: &Tensor) -> Graph {
        let mut order: Vec<Tensor> = Vec::new();
        let mut ids: HashMap<usize, usize> = HashMap::new();
        let mut stack = vec![(root.clone(), false)];
        while let Some((t, expanded)) = stack.pop() {
            if expanded {
                if let std::collections::hash_map::Entry::Vacant(slot) = ids.entry(t.id()) {
                    slot.insert(order.len());
                    order.push(t);
                }
                continue;
            }
            if ids.contains_key(&t.id()) {
                continue;
            }
            let inputs = t.node_inputs();
            stack.push((t, true));
            stack.extend(inputs.into_iter().rev().filter(|i| !ids.contains_key(&i.id())).map(|i| (i, false)));
        }
        let nodes = order
            .iter()
            .map(|t| GraphNode {
                op: t.grad_fn(),
                name: None,
                shape: t.dims().to_vec(),
                requires_grad: t.requires_grad(),
                grad_shape: t.requires_grad().then(|| t.dims().to_vec()),
                inputs: t.node_inputs().iter().map(|i| ids[&i.id()]).collect(),
            })
            .collect();
        let leaves =
            order.iter().enumerate().filter(|(_, t)| t.grad_fn().is_none()).map(|(i, t)| (i, t.clone())).collect();
        Graph { nodes, leaves, ids }
    }
    // ANCHOR_END: capture

    /// The bytes of the op outputs the graph below `root` keeps alive for backward (the
    /// activations): every non-leaf tensor's storage, counted once however many views share it.
    /// What backward rules hold beyond their inputs (a dropout mask, attention's log-sum-exp)
    /// is not seen; leaves (parameters, data) are counted elsewhere.
    pub fn held_bytes(root: &Tensor) -> usize {
        let mut seen = std::collections::HashSet::new();
        let (mut stack, mut all) = (vec![root.clone()], Vec::new());
        while let Some(t) = stack.pop() {
            if seen.insert(t.id()) {
                stack.extend(t.node_inputs());
                all.push(t);
            }
        }
        // a view of a leaf (a weight's transpose) shares the leaf's storage: no new bytes
        let mut storages: std::collections::HashSet<usize> =
            all.iter().filter(|t| t.grad_fn().is_none()).map(Tensor::storage_key).collect();
        all.iter().filter(|t| t.grad_fn().is_some() && storages.insert(t.storage_key())).map(|t| 4 * t.numel()).sum()
    }

    /// Names the leaves that are among `named` (a module's `named_parameters()`); `data` names
    /// the others that need no gradient.
    pub fn name(&mut self, named: &[(String, Tensor)]) -> &mut Graph {
        for (name, t) in named {
            if let Some(&i) = self.ids.get(&t.id()) {
                self.nodes[i].name = Some(name.clone());
            }
        }
        self
    }

    /// After `backward()`: each leaf's grad shape becomes that of the gradient it holds.
    pub fn refresh_grads(&mut self) -> &mut Graph {
        for (i, t) in &self.leaves {
            if t.requires_grad() {
                self.nodes[*i].grad_shape = t.grad().map(|g| g.dims().to_vec());
            }
        }
        self
    }

    /// Graphviz DOT text: one box per tensor (op or name, shape, grad shape), an arrow from
    /// each input to the op that used it. Render with `dot -Tsvg graph.dot -o graph.svg`.
    pub fn to_dot(&self) -> String {
        let mut s =
            String::from("digraph autograd {\n  rankdir=LR;\n  node [shape=record, fontname=\"sans-serif\"];\n");
        for (i, n) in self.nodes.iter().enumerate() {
            let fill = if n.op.is_some() {
                "#dbe9f6"
            } else if n.requires_grad {
                "#fde2c4"
            } else {
                "#eeeeee"
            };
            let _ = writeln!(
                s,
                "  n{i} [label=\"{{{} | {} | {}}}\", style=filled, fillcolor=\"{fill}\"];",
                escape(&n.title()),
                fmt_shape(&n.shape),
                escape(&n.grad_label())
            );
        }
        for (i, n) in self.nodes.iter().enumerate() {
            for &j in &n.inputs {
                let _ = writeln!(s, "  n{j} -> n{i};");
            }
        }
        s + "}\n"
    }
}

impl GraphNode {
    /// What the box is called: the op, or the leaf's name, or what kind of leaf it is.
    pub fn title(&self) -> String {
        match (self.op, &self.name) {
            (Some(op), _) => op.to_string(),
            (None, Some(name)) => name.clone(),
            (None, None) if self.requires_grad => "leaf".into(),
            (None, None) => "input".into(),
        }
    }

    /// "grad (B, 10)", "grad: none" or "no grad".
    pub fn grad_label(&self) -> String {
        match (&self.grad_shape, self.requires_grad) {
            (Some(g), _) => format!("grad {}", fmt_shape(g)),
            (None, true) => "grad: none yet".into(),
            (None, false) => "no grad".into(),
        }
    }
}

/// `(64, 784)`, or `()` for a scalar.
pub fn fmt_shape(dims: &[usize]) -> String {
    format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace(['{', '}', '|', '<', '>'], "_")
}

impl Tensor {
    /// The autograd graph below this tensor as Graphviz DOT text (see [`Graph`]).
    ///
    /// ```
    /// use gradschool::Tensor;
    /// let w = Tensor::ones([3]).requires_grad_();
    /// let y = (&w * 2.0).sum();
    /// let dot = y.to_dot();
    /// assert!(dot.contains("sum") && dot.contains("mul_scalar") && dot.contains("(3)"));
    /// ```
    pub fn to_dot(&self) -> String {
        Graph::capture(self).to_dot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_every_input_in_order_with_shapes_and_grads() {
        // y = relu(x·w + b).sum(): leaves x (no grad), w, b; ops matmul, add, relu, sum — and
        // the reshapes of the primitives they are built from (a 2-D matmul runs as a batch of
        // one; sum reduces a flattened view and drops the kept dimension)
        let x = Tensor::ones([4, 3]);
        let w = Tensor::ones([3, 2]).requires_grad_();
        let b = Tensor::zeros([2]).requires_grad_();
        let y = (x.matmul(&w) + &b).relu().sum();
        let mut g = Graph::capture(&y);
        g.name(&[("w".into(), w.clone()), ("b".into(), b.clone())]);
        let titles: Vec<String> = g.nodes.iter().map(GraphNode::title).collect();
        assert_eq!(
            titles,
            ["input", "w", "reshape", "matmul", "reshape", "b", "add", "relu", "reshape", "sum", "reshape"]
        );
        let add = &g.nodes[6];
        assert_eq!((add.shape.clone(), add.inputs.clone()), (vec![4, 2], vec![4, 5]));
        assert_eq!(g.nodes[0].grad_label(), "no grad");
        y.backward();
        g.refresh_grads();
        assert_eq!(g.nodes[1].grad_shape, Some(vec![3, 2]), "w.grad() arrived with w's shape");
        assert_eq!(g.nodes[5].grad_shape, Some(vec![2]), "b's gradient is summed back to (2)");
        let dot = g.to_dot();
        let inputs: usize = g.nodes.iter().map(|n| n.inputs.len()).sum();
        assert_eq!((dot.matches(" -> ").count(), inputs), (10, 10), "{dot}");
        assert!(dot.contains("n1 -> n2;") && dot.contains("{w | (3, 2) | grad (3, 2)}"), "{dot}");
    }

    #[test]
    fn a_tensor_used_twice_is_one_node_with_two_arrows() {
        let a = Tensor::ones([2]).requires_grad_();
        let y = (&a * &a).sum();
        let g = Graph::capture(&y);
        assert_eq!(g.nodes.iter().filter(|n| n.op.is_none()).count(), 1, "a appears once");
        assert_eq!((g.nodes[1].op, g.nodes[1].inputs.clone()), (Some("mul"), vec![0, 0]));
    }
}
