//! Data: the IDX format, MNIST-style datasets, a batching DataLoader, text-classification files
//! (Rotten Tomatoes, CSV, JSON Lines), the data-quality report, and the hotel-booking
//! dialogues.

#[cfg(feature = "cli")]
pub mod download;
pub mod hotel;
pub mod idx;
mod loader;
mod mnist;
pub mod report;
pub mod sentiment;
pub mod text;

pub use loader::DataLoader;
pub use mnist::{offline_data_dir, ImageDataset, MnistFiles, MNIST_MEAN_STD};
