//! Neural-network building blocks, as in `torch.nn`: the [`Module`] trait, layers,
//! initialisation, and `functional` (losses and activations as plain functions).

pub mod init;
mod layers;
mod module;

pub use layers::{Activation, Dropout, Embedding, Layer, LayerNorm, Linear, Sequential};
pub use module::{load_state, prefixed, Forward, Module};

/// Functional forms of losses, like `torch.nn.functional`.
pub mod functional {
    pub use crate::ops::loss::*;
}
