//! A micrograd-sized autograd on scalars: the whole idea of reverse mode in one page, before the
//! tensor engine (chapter 4 of the book). Each `Value` remembers its inputs and the local
//! derivative with respect to each; `backward` visits the graph in reverse topological order and
//! applies the chain rule.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

struct Node {
    data: f64,
    grad: f64,
    /// (input, ∂self/∂input)
    parents: Vec<(Value, f64)>,
}

/// A scalar that records how it was computed.
#[derive(Clone)]
pub struct Value(Rc<RefCell<Node>>);

// ANCHOR: scalar_ops
impl Value {
    /// A leaf.
    pub fn new(data: f64) -> Value {
        Value(Rc::new(RefCell::new(Node { data, grad: 0.0, parents: Vec::new() })))
    }

    fn with_parents(data: f64, parents: Vec<(Value, f64)>) -> Value {
        Value(Rc::new(RefCell::new(Node { data, grad: 0.0, parents })))
    }

    /// a + b: ∂/∂a = 1, ∂/∂b = 1
    pub fn add(&self, other: &Value) -> Value {
        Value::with_parents(self.data() + other.data(), vec![(self.clone(), 1.0), (other.clone(), 1.0)])
    }

    /// a·b: ∂/∂a = b, ∂/∂b = a
    pub fn mul(&self, other: &Value) -> Value {
        let (a, b) = (self.data(), other.data());
        Value::with_parents(a * b, vec![(self.clone(), b), (other.clone(), a)])
    }

    /// tanh a: ∂/∂a = 1 − tanh²a
    pub fn tanh(&self) -> Value {
        let t = self.data().tanh();
        Value::with_parents(t, vec![(self.clone(), 1.0 - t * t)])
    }
}
// ANCHOR_END: scalar_ops

impl Value {
    /// The value.
    pub fn data(&self) -> f64 {
        self.0.borrow().data
    }

    /// ∂(the value `backward` was called on)/∂self.
    pub fn grad(&self) -> f64 {
        self.0.borrow().grad
    }

    // ANCHOR: scalar_backward
    /// Sets every gradient in the graph to ∂self/∂node.
    pub fn backward(&self) {
        // Topological order by an explicit-stack depth-first search: inputs before outputs.
        let (mut order, mut seen) = (Vec::new(), HashSet::new());
        let mut stack = vec![(self.clone(), false)];
        while let Some((v, expanded)) = stack.pop() {
            if expanded {
                order.push(v);
            } else if seen.insert(Rc::as_ptr(&v.0)) {
                stack.push((v.clone(), true));
                for (p, _) in &v.0.borrow().parents {
                    stack.push((p.clone(), false));
                }
            }
        }
        self.0.borrow_mut().grad = 1.0;
        // Reverse order: a node's gradient is complete before it is passed to its inputs.
        for v in order.iter().rev() {
            let node = v.0.borrow();
            for (p, local) in &node.parents {
                p.0.borrow_mut().grad += node.grad * local; // chain rule, accumulated
            }
        }
    }
    // ANCHOR_END: scalar_backward
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_neuron_backpropagates_like_the_hand_derivation() {
        // y = tanh(w·x + b) with w = −3, x = 2, b = 6.8814 (micrograd's example):
        // z = 0.8814, y = tanh z = 0.7071; ∂y/∂z = 1 − y² = 0.5
        let (w, x, b) = (Value::new(-3.0), Value::new(2.0), Value::new(6.881_373_587_019_543));
        let y = w.mul(&x).add(&b).tanh();
        y.backward();
        assert!((y.data() - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
        // ∂y/∂w = 0.5·x = 1, ∂y/∂x = 0.5·w = −1.5, ∂y/∂b = 0.5
        assert!((w.grad() - 1.0).abs() < 1e-12 && (x.grad() + 1.5).abs() < 1e-12 && (b.grad() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_value_used_twice_accumulates() {
        // y = a·a + a → dy/da = 2a + 1 = 7 at a = 3
        let a = Value::new(3.0);
        a.mul(&a).add(&a).backward();
        assert_eq!(a.grad(), 7.0);
    }
}
