//! Optimizers (`torch.optim`): the update rules, with PyTorch's defaults and arithmetic, plus
//! learning-rate schedules, gradient clipping and gradient accumulation. [`Lbfgs`] stands apart:
//! it needs the loss function (a closure), not one gradient, so it is not an [`Optimizer`].
//!
//! Each optimizer holds handles to the parameters; `step()` reads each `.grad()` and updates
//! the parameter in place (outside autograd); parameters without a gradient are skipped, as in
//! PyTorch. SGD and Adam/AdamW hand all parameters to one multi-tensor step (`ops::optim`): one
//! loop per parameter on the host, one launch per GPU; the others loop per parameter on the host.

/// The accessors every optimizer struct (with `params`, `lr` and `state` fields) implements the
/// same way.
macro_rules! optimizer_accessors {
    () => {
        fn params(&self) -> &[Tensor] {
            &self.params
        }
        fn lr(&self) -> f64 {
            self.lr
        }
        fn set_lr(&mut self, lr: f64) {
            self.lr = lr;
        }
        fn state(&self) -> &OptimizerState {
            &self.state
        }
        fn state_mut(&mut self) -> &mut OptimizerState {
            &mut self.state
        }
    };
}

mod adadelta;
mod adagrad;
mod adam;
mod clip;
mod grad_scaler;
mod lbfgs;
mod rmsprop;
mod rprop;
mod schedule;
mod sgd;

pub use adadelta::Adadelta;
pub use adagrad::Adagrad;
pub use adam::{Adam, AdamW};
pub use clip::{clip_grad_norm, GradAccumulation};
pub use grad_scaler::GradScaler;
pub use lbfgs::Lbfgs;
pub use rmsprop::RmsProp;
pub use rprop::Rprop;
pub use schedule::{LrSchedule, Schedule};
pub use sgd::Sgd;

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::BTreeMap;

/// What every optimizer offers.
pub trait Optimizer {
    /// Applies one update to every parameter that has a gradient.
    fn step(&mut self);
    /// The parameters being optimised.
    fn params(&self) -> &[Tensor];
    /// The current learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate (schedulers call this).
    fn set_lr(&mut self, lr: f64);
    /// The optimizer's per-parameter state (`<index>.<buffer>` tensors and `<index>.step`).
    fn state(&self) -> &OptimizerState;
    /// Mutable state, for loading a checkpoint.
    fn state_mut(&mut self) -> &mut OptimizerState;

    /// Clears every parameter's gradient (`optimizer.zero_grad()`).
    fn zero_grad(&self) {
        self.params().iter().for_each(|p| p.zero_grad());
    }
}

/// Per-parameter buffers (momentum, running averages …) and step counts, by parameter index.
/// The multi-tensor optimizers (SGD, Adam/AdamW) keep buffers as tensors on their parameter's
/// device (`tensors`); the host-loop ones as vectors (`buffers`), where checkpoints restore all.
#[derive(Clone, Debug, Default)]
pub struct OptimizerState {
    buffers: BTreeMap<(usize, String), Vec<f32>>,
    tensors: BTreeMap<(usize, String), Tensor>,
    steps: BTreeMap<usize, u64>,
}

impl PartialEq for OptimizerState {
    /// Equal when every buffer holds the same values and every step count matches, wherever
    /// the buffers live.
    fn eq(&self, other: &Self) -> bool {
        let values = |s: &Self| s.to_tensors().into_iter().map(|(n, t)| (n, t.to_vec())).collect::<Vec<_>>();
        values(self) == values(other)
    }
}

impl OptimizerState {
    /// Takes buffer `name` of parameter `i` out (to be put back), creating it filled with
    /// `init` on first use. The bool says whether it already existed.
    pub(crate) fn take(&mut self, i: usize, name: &str, len: usize, init: f32) -> (Vec<f32>, bool) {
        match self.buffers.remove(&(i, name.to_string())) {
            Some(b) => (b, true),
            None => (vec![init; len], false),
        }
    }

    /// Puts a buffer back.
    pub(crate) fn put(&mut self, i: usize, name: &str, buf: Vec<f32>) {
        self.buffers.insert((i, name.to_string()), buf);
    }

    /// Buffer `name` of parameter `i` as a tensor on `like`'s device (created filled with `init`,
    /// or moved there from the host if a checkpoint restored it), for the multi-tensor updates.
    /// The bool says whether it already existed.
    pub(crate) fn buffer(&mut self, i: usize, name: &str, like: &Tensor, init: f32) -> (Tensor, bool) {
        let key = (i, name.to_string());
        if let Some(t) = self.tensors.get(&key) {
            return (t.clone(), true);
        }
        let (t, existed) = match self.buffers.remove(&key) {
            Some(host) => (like.new_from_vec(host, [like.numel()]), true),
            None => (like.new_full([like.numel()], init), false),
        };
        self.tensors.insert(key, t.clone());
        (t, existed)
    }

    /// Keeps only the state of the parameters `keep` accepts (ZeRO-1: a rank drops the state of
    /// the parameters other ranks own).
    pub fn retain_params(&mut self, keep: impl Fn(usize) -> bool) {
        self.buffers.retain(|(i, _), _| keep(*i));
        self.tensors.retain(|(i, _), _| keep(*i));
        self.steps.retain(|i, _| keep(*i));
    }

    /// The bytes the state's buffers hold (step counts aside).
    pub fn bytes(&self) -> usize {
        4 * (self.buffers.values().map(Vec::len).sum::<usize>()
            + self.tensors.values().map(Tensor::numel).sum::<usize>())
    }

    /// Increments and returns parameter `i`'s step count.
    pub(crate) fn next_step(&mut self, i: usize) -> u64 {
        let s = self.steps.entry(i).or_insert(0);
        *s += 1;
        *s
    }

    /// The state as named tensors, for checkpoints: `3.exp_avg`, `3.step` ….
    pub fn to_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> =
            self.buffers.iter().map(|((i, n), b)| (format!("{i}.{n}"), Tensor::from_slice(b, [b.len()]))).collect();
        out.extend(
            self.tensors.iter().map(|((i, n), t)| (format!("{i}.{n}"), Tensor::from_vec(t.to_vec(), [t.numel()]))),
        );
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.extend(self.steps.iter().map(|(i, s)| (format!("{i}.step"), Tensor::from_vec(vec![*s as f32], [1]))));
        out
    }

    /// Restores state saved by [`OptimizerState::to_tensors`].
    pub fn load_tensors(&mut self, tensors: &[(String, Tensor)]) -> Result<()> {
        let mut state = OptimizerState::default();
        for (name, t) in tensors {
            let (i, buf) = name
                .split_once('.')
                .and_then(|(i, b)| i.parse::<usize>().ok().map(|i| (i, b)))
                .ok_or_else(|| Error::Config(format!("optimizer state: unexpected entry `{name}`")))?;
            if buf == "step" {
                state.steps.insert(i, t.item() as u64);
            } else {
                state.buffers.insert((i, buf.to_string()), t.to_vec());
            }
        }
        *self = state;
        Ok(())
    }
}

/// Runs `f(index, param, grad)` on the host data of each parameter that has a gradient. A
/// parameter on a GPU makes a round trip through the host: the path of the optimizers without a
/// multi-tensor step (RMSprop, AdaGrad, AdaDelta); SGD and Adam/AdamW use `ops::optim`.
pub(crate) fn for_each_param(params: &[Tensor], mut f: impl FnMut(usize, &mut [f32], &[f32])) {
    for (i, p) in params.iter().enumerate() {
        let Some(g) = p.grad() else { continue };
        if p.device() == crate::Device::Cpu {
            g.with_data(|g| p.with_data_mut(|w| f(i, w, g)));
        } else {
            let (mut w, g) = (p.to_vec(), g.to_vec());
            f(i, &mut w, &g);
            p.set_host_data(w);
        }
    }
}

/// The solvers a command can be told to use (`--optimizer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum OptimizerKind {
    /// SGD (with `--momentum`)
    Sgd,
    /// RMSprop
    #[cfg_attr(feature = "cli", value(name = "rmsprop"))]
    RmsProp,
    /// AdaGrad
    Adagrad,
    /// AdaDelta
    Adadelta,
    /// Adam
    Adam,
    /// AdamW (weight decay 0.01, PyTorch's default)
    #[cfg_attr(feature = "cli", value(name = "adamw"))]
    AdamW,
    /// Rprop (sign-based; meant for full batches — try it on mini-batches to see why)
    Rprop,
}

impl OptimizerKind {
    /// The optimizer over `params` with learning rate `lr`, PyTorch's defaults otherwise, and
    /// `momentum` for SGD and RMSprop.
    pub fn build(self, params: Vec<Tensor>, lr: f64, momentum: f64) -> Box<dyn Optimizer> {
        match self {
            OptimizerKind::Sgd => Box::new(Sgd::new(params, lr).momentum(momentum)),
            OptimizerKind::RmsProp => {
                let mut o = RmsProp::new(params, lr);
                o.momentum = momentum;
                Box::new(o)
            }
            OptimizerKind::Adagrad => Box::new(Adagrad::new(params, lr)),
            OptimizerKind::Adadelta => Box::new(Adadelta::new(params, lr)),
            OptimizerKind::Adam => Box::new(Adam::new(params, lr)),
            OptimizerKind::AdamW => Box::new(AdamW::new(params, lr)),
            OptimizerKind::Rprop => Box::new(Rprop::new(params, lr)),
        }
    }
}
