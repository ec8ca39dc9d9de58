//! The `Module` trait: what every layer and model shares — named parameters, train/eval mode,
//! and a PyTorch-compatible `state_dict` saved as safetensors.

use crate::error::{Error, Result};
use crate::io;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::path::Path;

/// A layer or model: it owns parameters, reachable by dotted names like `fc1.weight`.
pub trait Module {
    /// The parameters with their dotted names, in registration order.
    fn named_parameters(&self) -> Vec<(String, Tensor)>;

    /// Switches training behaviour (dropout) on or off; containers pass it on to children.
    fn set_training(&mut self, _training: bool) {}

    /// The parameters (handles: updating them updates the model).
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters().into_iter().map(|(_, t)| t).collect()
    }

    /// Training mode (`model.train()`): dropout active.
    fn train(&mut self) {
        self.set_training(true);
    }

    /// Evaluation mode (`model.eval()`): dropout off.
    fn eval(&mut self) {
        self.set_training(false);
    }

    /// Total number of parameter elements.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|p| p.numel()).sum()
    }

    /// Saves the parameters as safetensors with PyTorch's names and shapes, so
    /// `model.load_state_dict(safetensors.torch.load_file(path))` works on the same
    /// architecture in PyTorch. Written atomically.
    fn save(&self, path: &Path) -> Result<()> {
        io::save_safetensors(path, &self.named_parameters(), &HashMap::new())
    }

    /// Loads parameters saved by [`Module::save`] (or by PyTorch's safetensors). Every parameter
    /// must be present with its shape; the error names the file and the tensor otherwise.
    fn load(&self, path: &Path) -> Result<()> {
        let (tensors, _) = io::load_safetensors(path)?;
        load_named_impl(&self.named_parameters(), &tensors, path)
    }
}

/// A module that maps one tensor to another.
pub trait Forward {
    /// The forward pass.
    fn forward(&self, x: &Tensor) -> Tensor;
}

/// Copies `source` tensors into `params` by name, checking presence and shapes.
pub(crate) fn load_named_impl(params: &[(String, Tensor)], source: &[(String, Tensor)], path: &Path) -> Result<()> {
    let by_name: HashMap<&str, &Tensor> = source.iter().map(|(n, t)| (n.as_str(), t)).collect();
    for (name, p) in params {
        let t = by_name.get(name.as_str()).ok_or_else(|| Error::format(path, format!("missing tensor {name}")))?;
        if t.dims() != p.dims() {
            return Err(Error::format(
                path,
                format!("tensor {name}: shape {:?}, the model expects {:?}", t.dims(), p.dims()),
            ));
        }
    }
    for (name, p) in params {
        p.set_data(by_name[name.as_str()]);
    }
    Ok(())
}

/// Prefixes the parameter names of a child module: `fc1` + `weight` → `fc1.weight`.
pub fn prefixed(prefix: &str, params: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    params.into_iter().map(|(n, t)| (format!("{prefix}.{n}"), t)).collect()
}

/// Loads named tensors (e.g. from a checkpoint) into `module`'s parameters, checking that every
/// parameter is present with its shape; `path` names the source in errors.
pub fn load_state(module: &dyn Module, tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    load_named_impl(&module.named_parameters(), tensors, path)
}
