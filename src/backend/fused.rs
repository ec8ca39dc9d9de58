//! Attention's fused kernels on storages: the heads' gradient added back in place (every
//! backend, by default as a copy and an add), and the masked softmax, which only the CPU has
//! (`None` elsewhere: the caller in `ops/` then runs the ops it is made of).

use super::profiled::device_timer;
use super::{Backend, Storage};

impl Storage {
    /// See [`Backend::split_heads_add_`].
    pub(crate) fn split_heads_add_(&mut self, g: &Storage, heads: [usize; 4], width: usize, start: usize) {
        profiled!(g.device(), "split_heads_add_", [&heads[..]], 0, 3 * g.len(); match (self, g) {
            (Storage::Cpu(a), Storage::Cpu(g)) => a.split_heads_add_(g, heads, width, start),
            #[cfg(feature = "cuda")]
            (Storage::Cuda(a), Storage::Cuda(g)) => a.split_heads_add_(g, heads, width, start),
            #[allow(unreachable_patterns)]
            (a, g) => panic!("split_heads backward: operands on {} and {}", a.device(), g.device()),
        })
    }
    /// See `cpu::reduce::masked_softmax`: softmax over rows of `cols` of `scale`·x, `fill`
    /// where the mask is set, row r's mask starting at `mask_rows[r]`. `None` off the CPU.
    pub(crate) fn masked_softmax(
        &self,
        (mask, mask_rows): (&Storage, &[usize]),
        cols: usize,
        scale: f32,
        fill: f32,
    ) -> Option<Storage> {
        let shape = [self.len() / cols.max(1), cols];
        match (self, mask) {
            (Storage::Cpu(x), Storage::Cpu(m)) => Some(Storage::Cpu(profiled!(
                self.device(), "masked_softmax", [&shape], 0, 2 * self.len();
                super::cpu::masked_softmax(x, (m, mask_rows), cols, scale, fill)
            ))),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
    /// Its backward from the output y (`self`) and the upstream gradient. `None` off the CPU.
    pub(crate) fn masked_softmax_grad(
        &self,
        g: &Storage,
        (mask, mask_rows): (&Storage, &[usize]),
        cols: usize,
        scale: f32,
    ) -> Option<Storage> {
        let shape = [self.len() / cols.max(1), cols];
        match (self, g, mask) {
            (Storage::Cpu(y), Storage::Cpu(g), Storage::Cpu(m)) => Some(Storage::Cpu(profiled!(
                self.device(), "masked_softmax", [&shape], 0, 3 * self.len();
                super::cpu::masked_softmax_grad(y, g, (m, mask_rows), cols, scale)
            ))),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}
