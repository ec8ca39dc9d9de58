//! One `CudaDevice` per GPU, created on first use and cached for the process: its context, its
//! stream, its cuBLAS handle, and every kernel compiled once by NVRTC and loaded.

use super::{compile_all_kernels, probe_device, CudaLibrary};
use crate::error::{Error, Result};
use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaFunction, CudaStream};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A GPU ready to run gradschool's kernels.
pub struct CudaDevice {
    /// The GPU's ordinal.
    pub ordinal: usize,
    pub(crate) stream: Arc<CudaStream>,
    pub(crate) blas: CudaBlas,
    functions: HashMap<String, CudaFunction>,
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaDevice(cuda:{})", self.ordinal)
    }
}

impl CudaDevice {
    fn open(ordinal: usize) -> Result<CudaDevice> {
        probe_device(ordinal)?;
        if !super::library_present(CudaLibrary::Cublas) {
            return Err(Error::Device(format!("cuda:{ordinal}: cuBLAS (libcublas) not found")));
        }
        let err = |e: &dyn std::fmt::Display| Error::Device(format!("cuda:{ordinal}: {e}"));
        let ctx = CudaContext::new(ordinal).map_err(|e| err(&e))?;
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone()).map_err(|e| err(&e))?;
        let mut functions = HashMap::new();
        for (name, ptx) in compile_all_kernels()? {
            let source = super::KERNELS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s).unwrap_or_default();
            let module = ctx.load_module(ptx).map_err(|e| err(&e))?;
            for entry in kernel_names(source) {
                let f = module.load_function(&entry).map_err(|e| err(&format!("kernel {entry}: {e}")))?;
                functions.insert(entry, f);
            }
        }
        Ok(CudaDevice { ordinal, stream, blas, functions })
    }

    /// Lets cuBLAS use TF32 tensor cores for f32 matrix products (about 2× faster on Ampere and
    /// Hopper, with a 10-bit mantissa in the products). Off by default so results stay within
    /// 1e-4 of the CPU; an explicit opt-in, like `torch.backends.cuda.matmul.allow_tf32`.
    pub fn set_tf32(&self, on: bool) -> Result<()> {
        use cudarc::cublas::sys::{cublasMath_t, cublasSetMathMode, cublasStatus_t};
        let mode = if on { cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH } else { cublasMath_t::CUBLAS_DEFAULT_MATH };
        // SAFETY: the handle is this device's live cuBLAS handle; setting the math mode only
        // changes how later products on it are computed.
        let status = unsafe { cublasSetMathMode(*self.blas.handle(), mode) };
        if status != cublasStatus_t::CUBLAS_STATUS_SUCCESS {
            return Err(Error::Device(format!("cuda:{}: cublasSetMathMode failed: {status:?}", self.ordinal)));
        }
        Ok(())
    }

    /// The loaded kernel `name`. Panics for a name that no .cu file defines (a programming error).
    pub(crate) fn function(&self, name: &str) -> &CudaFunction {
        self.functions
            .get(name)
            .unwrap_or_else(|| panic!("CUDA kernel `{name}` is not defined in src/backend/cuda/kernels"))
    }
}

/// The names of the `extern "C" __global__` functions of a kernel source.
fn kernel_names(source: &str) -> Vec<String> {
    source
        .split("__global__ void ")
        .skip(1)
        .filter_map(|rest| rest.split('(').next().map(|n| n.trim().to_string()))
        .collect()
}

/// The cached device for `ordinal`, opened (and its kernels compiled) on first use.
pub fn cuda_device(ordinal: usize) -> Result<Arc<CudaDevice>> {
    static DEVICES: OnceLock<Mutex<HashMap<usize, Arc<CudaDevice>>>> = OnceLock::new();
    let mut devices = DEVICES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = devices.get(&ordinal) {
        return Ok(d.clone());
    }
    let d = Arc::new(CudaDevice::open(ordinal)?);
    devices.insert(ordinal, d.clone());
    Ok(d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn kernel_names_are_read_from_the_sources() {
        let names = super::kernel_names(super::super::KERNELS[0].1);
        assert!(
            names.contains(&"unary_f32".to_string()) && names.contains(&"strided_copy_f32".to_string()),
            "{names:?}"
        );
    }
}
