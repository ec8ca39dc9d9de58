//! The GPU storage type on its own, so that the files implementing its kernels (storage.rs,
//! grad.rs, optim.rs) all depend on it and not on each other.

use super::device::CudaDevice;
use cudarc::driver::CudaSlice;
use std::sync::Arc;

/// f32 data on a GPU.
pub struct CudaStorage {
    pub(crate) data: CudaSlice<f32>,
    pub(crate) dev: Arc<CudaDevice>,
}
