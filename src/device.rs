//! Where a tensor's data lives.

use crate::error::{Error, Result};
use std::fmt;

/// A compute device. `Cpu` is always available; `Cuda(i)` names the i-th GPU and is usable only
/// in a build with the `cuda` feature on a machine with an NVIDIA driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// The host CPU: ndarray + rayon kernels.
    #[default]
    Cpu,
    /// The GPU with this ordinal.
    Cuda(usize),
}

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
            Device::Cuda(i) => crate::backend::cuda::cuda_device(*i).map(|_| ()),
        }
    }

    /// Parses a `--device` flag value: `cpu`, `cuda` or `cuda:N`.
    pub fn parse(s: &str) -> Result<Device> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => Ok(Device::Cuda(i)),
                _ => Err(Error::Config(format!("--device: expected `cpu`, `cuda` or `cuda:N`, got `{s}`"))),
            },
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// Prints the per-kernel time table of a profiled CUDA run (GRADSCHOOL_CUDA_PROFILE set) to
/// stderr; nothing for the CPU or an unprofiled run.
pub fn print_cuda_profile(device: &Device) {
    #[cfg(feature = "cuda")]
    if let Device::Cuda(i) = device {
        if let Some(report) = crate::backend::cuda::cuda_device(*i).ok().and_then(|d| d.profile_report()) {
            eprintln!("{report}");
        }
    }
    let _ = device;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_flags_and_rejects_garbage() {
        assert_eq!(Device::parse("cpu").unwrap(), Device::Cpu);
        assert_eq!(Device::parse("cuda:1").unwrap(), Device::Cuda(1));
        let err = Device::parse("gpu").unwrap_err().to_string();
        assert!(err.contains("--device") && err.contains("gpu"), "{err}");
    }

    #[test]
    #[cfg(not(feature = "cuda"))]
    fn cuda_without_the_feature_is_an_error_not_a_panic() {
        let err = Device::Cuda(0).ensure_available().unwrap_err().to_string();
        assert!(err.contains("without the `cuda` feature"), "{err}");
    }
}
