//! The CUDA backend (feature `cuda`), on cudarc with dynamic loading: it builds on any machine
//! and needs NVIDIA's libraries only at run time.
//!
//! Kernels (src/backend/cuda/kernels/*.cu: elementwise and broadcasting ops, reductions and row
//! softmax, indexing, fused optimizer steps) are compiled by NVRTC once per process and device
//! (CI compiles them without a GPU); `CudaStorage` runs them, and cuBLAS runs matrix products.

mod buffer;
mod device;
mod grad;
mod layout;
mod optim;
mod storage;

pub use device::{cuda_device, CudaDevice, MemoryStats};
pub use storage::CudaStorage;

use crate::error::{Error, Result};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions, Ptx};

/// Every kernel source file, by name.
pub const KERNELS: [(&str, &str); 4] = [
    ("elementwise", include_str!("kernels/elementwise.cu")),
    ("reduce", include_str!("kernels/reduce.cu")),
    ("index", include_str!("kernels/index.cu")),
    ("optim", include_str!("kernels/optim.cu")),
];

/// Which of NVIDIA's libraries to look for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CudaLibrary {
    /// libcuda, the driver
    Driver,
    /// libnvrtc, the runtime compiler
    Nvrtc,
    /// libcublas
    Cublas,
}

/// Whether `lib` can be loaded. cudarc panics when a call needs a missing library, so every
/// entry point probes first and returns an error instead.
pub fn library_present(lib: CudaLibrary) -> bool {
    // SAFETY: each probe only tries `dlopen` on the library's usual names and drops the handle;
    // loading NVIDIA's libraries runs no code of ours.
    unsafe {
        match lib {
            CudaLibrary::Driver => cudarc::driver::sys::is_culib_present(),
            CudaLibrary::Nvrtc => cudarc::nvrtc::sys::is_culib_present(),
            CudaLibrary::Cublas => cudarc::cublas::sys::is_culib_present(),
        }
    }
}

/// Compiles one kernel source to PTX, with NVRTC's log in the error.
pub fn compile_kernel(name: &str, source: &str) -> Result<Ptx> {
    if !library_present(CudaLibrary::Nvrtc) {
        return Err(Error::Device(
            "NVRTC (libnvrtc) not found: install the CUDA toolkit, or `pip install nvidia-cuda-nvrtc==13.0.*` and add its \
             nvidia/cu13/lib folder to LD_LIBRARY_PATH"
                .into(),
        ));
    }
    let opts = CompileOptions { name: Some(format!("{name}.cu")), ..Default::default() };
    compile_ptx_with_opts(source, opts).map_err(|e| Error::Device(format!("kernel {name}.cu does not compile: {e}")))
}

/// Compiles every kernel of [`KERNELS`].
pub fn compile_all_kernels() -> Result<Vec<(&'static str, Ptx)>> {
    KERNELS.iter().map(|(name, src)| compile_kernel(name, src).map(|ptx| (*name, ptx))).collect()
}

/// Checks that GPU `ordinal` can be used: the driver loads and a context can be created.
pub fn probe_device(ordinal: usize) -> Result<()> {
    if !library_present(CudaLibrary::Driver) {
        return Err(Error::Device(format!(
            "cuda:{ordinal} requested, but no CUDA driver found (libcuda could not be loaded)"
        )));
    }
    cudarc::driver::CudaContext::new(ordinal).map(|_| ()).map_err(|e| Error::Device(format!("cuda:{ordinal}: {e}")))
}
