//! The launch side of the multi-tensor optimizer kernels (kernels/optim.cu): one table of device
//! pointers, offsets and per-parameter scalars is copied to the GPU, then one launch updates
//! every parameter of a device. `Backend::optim_step` lands here with the slots the optimizers in
//! src/optim gathered (through `ops::optim`); the arithmetic is `backend::op::{SgdStep, AdamStep}`.

use super::buffer::CudaStorage;
use super::device::CudaDevice;
use crate::backend::op::{OptimStep, ParamSlot};
use cudarc::driver::{DevicePtr, LaunchConfig, PushKernelArg};

/// One multi-tensor launch per device holding parameters in `slots`.
pub(super) fn multi_tensor_step(slots: &mut [ParamSlot<'_, CudaStorage>], step: OptimStep) {
    let mut ordinals: Vec<usize> = slots.iter().map(|s| s.w.dev.ordinal).collect();
    ordinals.sort_unstable();
    ordinals.dedup();
    for ordinal in ordinals {
        let mut table = MultiTensor::default();
        let mut dev = None;
        for s in slots.iter().filter(|s| s.w.dev.ordinal == ordinal) {
            table.push(&*s.w, s.g, s.s1.as_deref(), s.s2.as_deref(), s.a, s.b);
            dev = Some(s.w.dev.clone());
        }
        let Some(dev) = dev else { continue };
        match step {
            OptimStep::Sgd(h) => table.launch_sgd(&dev, h.lr, h.momentum, h.keep, h.weight_decay, h.nesterov),
            OptimStep::Adam(h) => table.launch_adam(
                &dev,
                h.one_minus_beta1,
                h.beta2,
                h.one_minus_beta2,
                h.eps,
                h.decay,
                h.l2,
                h.decoupled,
            ),
        }
    }
}

/// The tensors of one multi-tensor step, gathered parameter by parameter.
#[derive(Default)]
pub struct MultiTensor {
    w: Vec<u64>,
    g: Vec<u64>,
    s1: Vec<u64>,
    s2: Vec<u64>,
    offsets: Vec<u64>,
    a: Vec<f32>,
    b: Vec<f32>,
}

fn ptr(s: &CudaStorage) -> u64 {
    let (p, _) = s.data.device_ptr(&s.dev.stream);
    p
}

impl MultiTensor {
    /// Adds a parameter `w` with gradient `g`, state buffers `s1`/`s2` (same length) and its two
    /// scalars. The caller holds `w`, `s1` and `s2` locked for writing until [`MultiTensor::launch_sgd`]
    /// or [`MultiTensor::launch_adam`] returns (the kernel is queued by then, in stream order).
    pub fn push(
        &mut self,
        w: &CudaStorage,
        g: &CudaStorage,
        s1: Option<&CudaStorage>,
        s2: Option<&CudaStorage>,
        a: f32,
        b: f32,
    ) {
        assert_eq!(w.data.len(), g.data.len(), "multi-tensor step: parameter and gradient lengths differ");
        for s in [s1, s2].into_iter().flatten() {
            assert_eq!(w.data.len(), s.data.len(), "multi-tensor step: state buffer length differs");
        }
        let start = self.offsets.last().copied().unwrap_or(0);
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.offsets.push(start + w.data.len() as u64);
        self.w.push(ptr(w));
        self.g.push(ptr(g));
        self.s1.push(s1.map_or(0, ptr));
        self.s2.push(s2.map_or(0, ptr));
        self.a.push(a);
        self.b.push(b);
    }

    fn table(&self) -> (Vec<u64>, i32, u64) {
        let mut t = [&self.w[..], &self.g, &self.s1, &self.s2, &self.offsets].concat();
        t.extend(self.a.iter().chain(&self.b).map(|x| x.to_bits() as u64));
        (t, self.w.len() as i32, self.offsets.last().copied().unwrap_or(0))
    }

    fn config(total: u64) -> LaunchConfig {
        // Enough blocks to fill the GPU a few times over; each thread strides through the rest.
        let blocks = total.div_ceil(256).clamp(1, 132 * 16) as u32;
        LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 }
    }

    /// One SGD step over every pushed parameter (a = 1 where the momentum buffer is new).
    pub fn launch_sgd(&self, dev: &CudaDevice, lr: f32, mu: f32, keep: f32, wd: f32, nesterov: bool) {
        self.launch(dev, "sgd_multi_f32", &[lr, mu, keep, wd], nesterov as i32);
    }

    /// One Adam/AdamW step over every pushed parameter (a = step size, b = 1/√(1−β₂ᵗ)).
    #[allow(clippy::too_many_arguments)]
    pub fn launch_adam(
        &self,
        dev: &CudaDevice,
        w1: f32,
        b2: f32,
        w2: f32,
        eps: f32,
        decay: f32,
        l2: f32,
        decoupled: bool,
    ) {
        self.launch(dev, "adam_multi_f32", &[w1, b2, w2, eps, decay, l2], decoupled as i32);
    }

    /// Copies the table to the GPU and launches `kernel(table, p, total, hyper…, flag)`.
    fn launch(&self, dev: &CudaDevice, kernel: &'static str, hyper: &[f32], flag: i32) {
        let (table, p, total) = self.table();
        if p == 0 {
            return;
        }
        let table = dev.stream.clone_htod(&table).unwrap_or_else(|e| panic!("CUDA copy to device failed: {e:?}"));
        let mut l = dev.stream.launch_builder(dev.function(kernel));
        l.arg(&table).arg(&p).arg(&total);
        for h in hyper {
            l.arg(h);
        }
        l.arg(&flag);
        let _timer = dev.profile(kernel);
        // SAFETY: the table holds p live parameter/gradient/state pointers of the lengths its
        // offsets give (checked in `push`; Adam sets both state pointers for every parameter);
        // each element is touched by one thread; the hyper-parameters follow the kernel's
        // signature in optim.cu.
        unsafe { l.launch(Self::config(total)) }.unwrap_or_else(|e| panic!("CUDA {kernel} failed: {e:?}"));
    }
}
