//! Fused causal attention as one autograd op: softmax(q·kᵀ·scale + causal and padding mask)·v
//! without storing the (T, T) scores or probabilities — the forward pass keeps the output and
//! each row's log-sum-exp, the backward pass recomputes the probabilities from them
//! (`backend::cpu::attention`). Where a device has no fused kernel yet, [`Tensor::fused_causal_attention`]
//! says so (None) and the caller composes the unfused ops.

use crate::autograd::Backward;
use crate::backend::op::AttentionShape;
use crate::backend::Storage;
use crate::tensor::Tensor;

struct FusedAttentionBackward {
    lse: Tensor,
    key_mask: Option<Tensor>,
    shape: AttentionShape,
}

impl Backward for FusedAttentionBackward {
    fn name(&self) -> &'static str {
        "fused_attention"
    }
    fn backward(&self, inputs: &[Tensor], out: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let (q, k, v) = (&inputs[0], &inputs[1], &inputs[2]);
        let mask = self.key_mask.as_ref().map(|m| m.storage());
        let (dq, dk, dv) = Storage::fused_attention_grad(
            &q.storage(),
            &k.storage(),
            &v.storage(),
            &out.storage(),
            &self.lse.storage(),
            &g.storage(),
            mask.as_deref(),
            self.shape,
        );
        vec![
            q.requires_grad().then(|| Tensor::from_storage(dq, q.shape().clone())),
            k.requires_grad().then(|| Tensor::from_storage(dk, k.shape().clone())),
            v.requires_grad().then(|| Tensor::from_storage(dv, v.shape().clone())),
        ]
    }
}

impl Tensor {
    /// Whether [`Tensor::fused_causal_attention`] has a kernel on this tensor's device.
    pub fn has_fused_attention(&self) -> bool {
        self.device() == crate::Device::Cpu
    }

    // ANCHOR: fused_attention
    /// Causal attention of `q`, `k`, `v` (B, H, T, D) in one fused op: key j is visible to query
    /// i when j ≤ i and `key_mask` (B, T; 1 = token, 0 = padding) keeps it; scores scaled by
    /// `scale`; attention dropout `dropout` with a mask drawn from `seed`. Hugging Face GPT-2's
    /// values (a row with no visible key attends uniformly). `None` where this device has no
    /// fused kernel.
    pub fn fused_causal_attention(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        key_mask: Option<&Tensor>,
        scale: f32,
        dropout: f32,
        seed: u64,
    ) -> Option<Tensor> {
        let dims = q.dims();
        assert!(
            dims.len() == 4 && k.dims() == dims && v.dims() == dims,
            "fused attention: q {} k {} v {}",
            q.shape(),
            k.shape(),
            v.shape()
        );
        let (b, h, t, d) = (dims[0], dims[1], dims[2], dims[3]);
        if let Some(m) = key_mask {
            assert_eq!(m.dims(), &[b, t], "fused attention: key mask {} for q {}", m.shape(), q.shape());
        }
        let shape = AttentionShape { b, h, t, d, scale, dropout, seed };
        let (out, lse) = {
            let mask = key_mask.map(|m| m.storage());
            Storage::fused_attention(&q.storage(), &k.storage(), &v.storage(), mask.as_deref(), shape)?
        };
        let lse = Tensor::from_storage(lse, [b, h, t]);
        let key_mask = key_mask.map(Tensor::detach);
        Some(Tensor::from_op(out, q.shape().clone(), &[q, k, v], || FusedAttentionBackward { lse, key_mask, shape }))
    }
    // ANCHOR_END: fused_attention
}
