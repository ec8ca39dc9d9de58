//! Data: the IDX format, MNIST-style datasets, and a batching DataLoader.

pub mod download;
pub mod idx;
mod loader;
mod mnist;
pub mod sentiment;

pub use loader::DataLoader;
pub use mnist::{ImageDataset, MnistFiles, MNIST_MEAN_STD};
