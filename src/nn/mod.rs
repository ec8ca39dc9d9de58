//! Neural-network building blocks. Layers, modules and `functional` grow here with the MNIST
//! and GPT-2 chapters; the foundation provides initialisation and the functional ops.

pub mod init;

/// Functional forms of activations and losses, like `torch.nn.functional`.
pub mod functional {
    pub use crate::ops::loss::*;
}
