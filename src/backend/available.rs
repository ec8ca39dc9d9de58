//! Which devices this build and this machine can use: the backend side of [`Device`], kept
//! here so that `device.rs` stays a plain name and the feature switch lives with the backends.

use crate::device::Device;
#[cfg(not(feature = "cuda"))]
use crate::error::Error;
use crate::error::Result;

impl Device {
    /// Checks that this device can be used here, with a message that says why not.
    pub fn ensure_available(&self) -> Result<()> {
        match self {
            Device::Cpu => Ok(()),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(i) => Err(Error::Device(format!(
                "cuda:{i} requested, but gradschool was built without the `cuda` feature \
                 (rebuild with `cargo build --release --features cuda`)"
            ))),
            #[cfg(feature = "cuda")]
            Device::Cuda(i) => super::cuda::cuda_device(*i).map(|_| ()),
        }
    }

    /// The per-kernel time table of a profiled CUDA run (GRADSCHOOL_CUDA_PROFILE set); `None`
    /// for the CPU or an unprofiled run.
    pub fn profile_report(&self) -> Option<String> {
        match self {
            #[cfg(feature = "cuda")]
            Device::Cuda(i) => super::cuda::cuda_device(*i).ok().and_then(|d| d.profile_report()),
            _ => None,
        }
    }
}

/// Sets how many threads the CPU kernels use (`torch.set_num_threads`); call it before any
/// tensor work. An error if the thread pool was already started.
pub fn set_num_threads(n: usize) -> Result<()> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .map_err(|e| crate::error::Error::Config(format!("--threads {n}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(not(feature = "cuda"))]
    fn cuda_without_the_feature_is_an_error_not_a_panic() {
        let err = Device::Cuda(0).ensure_available().unwrap_err().to_string();
        assert!(err.contains("without the `cuda` feature"), "{err}");
    }

    #[test]
    fn the_cpu_is_always_available_and_unprofiled() {
        assert!(Device::Cpu.ensure_available().is_ok());
        assert_eq!(Device::Cpu.profile_report(), None);
    }
}
