//! A DataLoader: batches of (images, labels) in a seeded random order, like
//! `torch.utils.data.DataLoader(dataset, batch_size, shuffle=True, drop_last=…)`.

use super::mnist::ImageDataset;
use crate::device::Device;
use crate::error::Result;
use crate::int_tensor::IntTensor;
use crate::tensor::Tensor;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::sync::OnceLock;

/// Iterates a dataset in batches.
pub struct DataLoader<'a> {
    data: &'a ImageDataset,
    /// Examples per batch.
    pub batch_size: usize,
    /// Shuffle each epoch.
    pub shuffle: bool,
    /// Skip the last, smaller batch.
    pub drop_last: bool,
    /// Every image, once copied to a GPU by [`DataLoader::epoch_on`].
    resident: OnceLock<Tensor>,
}

impl<'a> DataLoader<'a> {
    /// A loader over `data`.
    pub fn new(data: &'a ImageDataset, batch_size: usize, shuffle: bool, drop_last: bool) -> DataLoader<'a> {
        assert!(batch_size > 0, "DataLoader: batch_size must be at least 1");
        DataLoader { data, batch_size, shuffle, drop_last, resident: OnceLock::new() }
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
        let order = self.order(seed);
        (0..self.len()).map(move |b| self.host_batch(&order, b))
    }
    // ANCHOR_END: epoch

    /// Batch `b` of an epoch with example order `order` (from [`DataLoader::order`]), on the host.
    fn host_batch(&self, order: &[usize], b: usize) -> (Tensor, IntTensor) {
        let (px, rows, cols) = (self.data.image_size(), self.data.rows, self.data.cols);
        let idx = &order[b * self.batch_size..((b + 1) * self.batch_size).min(order.len())];
        let mut images = Vec::with_capacity(idx.len() * px);
        for &i in idx {
            images.extend_from_slice(&self.data.images[i * px..(i + 1) * px]);
        }
        let labels = idx.iter().map(|&i| self.data.labels[i]).collect();
        (Tensor::from_vec(images, [idx.len(), 1, rows, cols]), IntTensor::from_vec(labels, [idx.len()]))
    }

    /// Batch `b` of the epoch whose example order is `order`, made on `device` — random access,
    /// so a resumed run starts mid-epoch without building the batches before it. On a GPU the
    /// whole image set is copied there once, at the first call, and each batch is gathered there
    /// (`index_select`), so a training step sends only its indices.
    pub fn batch(&self, order: &[usize], b: usize, device: &Device) -> Result<(Tensor, IntTensor)> {
        if *device == Device::Cpu {
            return Ok(self.host_batch(order, b));
        }
        let (rows, cols) = (self.data.rows, self.data.cols);
        let all = self.resident(device)?;
        let idx: Vec<i64> = order[b * self.batch_size..((b + 1) * self.batch_size).min(order.len())]
            .iter()
            .map(|&i| i as i64)
            .collect();
        let labels = idx.iter().map(|&i| self.data.labels[i as usize]).collect();
        let m = idx.len();
        let images = all.index_select(0, &IntTensor::from_vec(idx, [m])).reshape([m, 1, rows, cols]);
        Ok((images, IntTensor::from_vec(labels, [m])))
    }

    /// The batches of [`DataLoader::epoch`] (same order, same contents), made on `device`
    /// (see [`DataLoader::batch`]).
    pub fn epoch_on(&self, seed: u64, device: &Device) -> Result<Box<dyn Iterator<Item = (Tensor, IntTensor)> + '_>> {
        let (order, device) = (self.order(seed), *device);
        if device != Device::Cpu {
            self.resident(&device)?; // the one fallible part: copying the images to the GPU
        }
        Ok(Box::new((0..self.len()).map(move |b| self.batch(&order, b, &device).unwrap_or_else(|e| panic!("{e}")))))
    }

    /// Every image, on `device` (copied at the first call).
    fn resident(&self, device: &Device) -> Result<Tensor> {
        if let Some(t) = self.resident.get() {
            return Ok(t.clone());
        }
        let (n, px) = (self.data.len(), self.data.image_size());
        let t = Tensor::from_slice(&self.data.images, [n, px]).to(device)?;
        Ok(self.resident.get_or_init(|| t).clone())
    }

    /// The example order of the epoch with `seed` (shuffled when `shuffle` is set).
    pub fn order(&self, seed: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.data.len()).collect();
        if self.shuffle {
            order.shuffle(&mut StdRng::seed_from_u64(seed));
        }
        order
    }
}
