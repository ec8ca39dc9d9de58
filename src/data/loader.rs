//! A DataLoader: batches of (images, labels) in a seeded random order, like
//! `torch.utils.data.DataLoader(dataset, batch_size, shuffle=True, drop_last=…)`.

use super::mnist::ImageDataset;
use crate::int_tensor::IntTensor;
use crate::tensor::Tensor;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// Iterates a dataset in batches.
pub struct DataLoader<'a> {
    data: &'a ImageDataset,
    /// Examples per batch.
    pub batch_size: usize,
    /// Shuffle each epoch.
    pub shuffle: bool,
    /// Skip the last, smaller batch.
    pub drop_last: bool,
}

impl<'a> DataLoader<'a> {
    /// A loader over `data`.
    pub fn new(data: &'a ImageDataset, batch_size: usize, shuffle: bool, drop_last: bool) -> DataLoader<'a> {
        assert!(batch_size > 0, "DataLoader: batch_size must be at least 1");
        DataLoader { data, batch_size, shuffle, drop_last }
    }

    /// Number of batches per epoch.
    pub fn len(&self) -> usize {
        if self.drop_last {
            self.data.len() / self.batch_size
        } else {
            self.data.len().div_ceil(self.batch_size)
        }
    }

    /// True when an epoch has no batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // ANCHOR: epoch
    /// The batches of one epoch; the order depends only on `seed` (use a different seed per
    /// epoch, e.g. `seed + epoch`, so that resuming at an epoch reproduces it exactly).
    /// Images come as `(B, 1, rows, cols)`, labels as `(B,)`.
    pub fn epoch(&self, seed: u64) -> impl Iterator<Item = (Tensor, IntTensor)> + '_ {
        let mut order: Vec<usize> = (0..self.data.len()).collect();
        if self.shuffle {
            order.shuffle(&mut StdRng::seed_from_u64(seed));
        }
        let (px, rows, cols) = (self.data.image_size(), self.data.rows, self.data.cols);
        (0..self.len()).map(move |b| {
            let idx = &order[b * self.batch_size..((b + 1) * self.batch_size).min(order.len())];
            let mut images = Vec::with_capacity(idx.len() * px);
            for &i in idx {
                images.extend_from_slice(&self.data.images[i * px..(i + 1) * px]);
            }
            let labels = idx.iter().map(|&i| self.data.labels[i]).collect();
            (Tensor::from_vec(images, [idx.len(), 1, rows, cols]), IntTensor::from_vec(labels, [idx.len()]))
        })
    }
    // ANCHOR_END: epoch
}
