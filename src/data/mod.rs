//! Data: the IDX format, MNIST-style datasets, a batching DataLoader, text-classification files
//! (Rotten Tomatoes, CSV, JSON Lines) and the data-quality report.

pub mod download;
pub mod idx;
mod loader;
mod mnist;
pub mod report;
pub mod sentiment;
pub mod text;

pub use loader::DataLoader;
pub use mnist::{ImageDataset, MnistFiles, MNIST_MEAN_STD};
