//! Gradient checkpointing (`torch.utils.checkpoint`): trade compute for memory. A checkpointed
//! function keeps only its inputs after the forward pass; its intermediate activations are
//! dropped and recomputed, with the graph recorded this time, when the backward pass reaches it.
//! For a transformer checkpointed block by block, activation memory goes from every tensor of
//! every block to one block's worth plus each block's input, for about one extra forward pass.

use crate::amp::{autocast, autocast_precision, Precision};
use crate::grad_mode::enable_grad;
use crate::tensor::Backward;
use crate::tensor::Tensor;

/// A function that can run again in the backward pass.
type Recompute = Box<dyn Fn(&[Tensor]) -> Tensor + Send + Sync>;

/// The recorded op: recompute `f`, backpropagate through the fresh graph.
struct CheckpointBackward {
    f: Recompute,
    /// The autocast precision of the forward pass: the recomputation runs in it too.
    precision: Precision,
}

impl Backward for CheckpointBackward {
    fn name(&self) -> &'static str {
        "checkpoint"
    }
    fn backward(&self, inputs: &[Tensor], _out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let _guard = enable_grad();
        let _autocast = autocast(self.precision);
        // Fresh leaves over the same data: the recomputed graph ends at them, and their .grad is
        // the gradient this node returns. Parameters used inside `f` are reached directly and
        // accumulate their gradients there, as in an ordinary backward pass.
        let xs: Vec<Tensor> =
            inputs.iter().map(|x| if x.requires_grad() { x.detach().requires_grad_() } else { x.detach() }).collect();
        let y = (self.f)(&xs);
        if y.requires_grad() {
            y.backward_with(g);
        }
        xs.iter().map(|x| x.grad()).collect()
    }
}

// ANCHOR: checkpoint
/// `f(inputs)` whose activations are recomputed in the backward pass instead of being stored.
/// `f` must compute the same function each time it is called (dropout included: replay its
/// generator, see `nn::Dropout::replay`). The forward pass records the graph only long enough to
/// learn whether anything in `f` needs a gradient, then frees it.
pub fn checkpoint(inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Tensor + Send + Sync + 'static) -> Tensor {
    let y = f(inputs);
    if !y.requires_grad() {
        return y; // nothing to differentiate (no_grad, or no parameter inside)
    }
    let refs: Vec<&Tensor> = inputs.iter().collect();
    // The output shares y's data; dropping y frees the graph (and activations) under it.
    let precision = autocast_precision();
    y.as_output_of(&refs, || CheckpointBackward { f: Box::new(f), precision })
}
// ANCHOR_END: checkpoint
