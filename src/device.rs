//! Where a tensor's data lives.

use crate::error::{Error, Result};
use std::fmt;

/// A compute device. `Cpu` is always available; `Cuda(i)` names the i-th GPU and is usable only
/// in a build with the `cuda` feature on a machine with an NVIDIA driver
/// (`Device::ensure_available`, which the backend module implements: it knows which backends
/// were built).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// The host CPU: ndarray + rayon kernels.
    #[default]
    Cpu,
    /// The GPU with this ordinal.
    Cuda(usize),
}

impl Device {
    /// Parses a `--device` flag value: `cpu`, `cuda` or `cuda:N`. Plain `cuda` is this process's
    /// GPU: cuda:0 alone, and under a launcher (mpirun, Slurm) the GPU of the rank's local rank,
    /// so the ranks on one machine take one GPU each.
    pub fn parse(s: &str) -> Result<Device> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(local_rank())),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => Ok(Device::Cuda(i)),
                _ => Err(Error::Config(format!("--device: expected `cpu`, `cuda` or `cuda:N`, got `{s}`"))),
            },
        }
    }
}

/// This process's rank among the ranks on its machine, as the launcher says (Open MPI's
/// `OMPI_COMM_WORLD_LOCAL_RANK`, MPICH's `MPI_LOCALRANKID`, Slurm's `SLURM_LOCALID`); 0 alone.
pub fn local_rank() -> usize {
    ["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"]
        .iter()
        .find_map(|k| std::env::var(k).ok()?.parse().ok())
        .unwrap_or(0)
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
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
}
