//! The CUDA backend's kernels compile with NVRTC — no GPU needed (CI installs the NVRTC wheel,
//! see .ci/run) — and device probing fails with a message, never a panic from inside cudarc.
#![cfg(feature = "cuda")]

use gradschool::backend::cuda::{compile_all_kernels, compile_kernel, library_present, CudaLibrary, KERNELS};
use gradschool::{Device, Tensor};

#[test]
fn every_kernel_compiles_with_nvrtc() {
    assert!(
        library_present(CudaLibrary::Nvrtc),
        "libnvrtc not found: this test needs it (pip install nvidia-cuda-nvrtc==13.0.* and put its lib folder on LD_LIBRARY_PATH)"
    );
    let compiled = compile_all_kernels().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(compiled.len(), KERNELS.len());
    for (name, ptx) in &compiled {
        let text = ptx.to_src();
        // PTX declares each `extern "C" __global__` function as a `.entry`.
        let expected = KERNELS.iter().find(|(n, _)| n == name).unwrap().1.matches("__global__").count();
        assert_eq!(text.matches(".entry").count(), expected, "{name}.cu: every kernel in the PTX");
    }
}

#[test]
fn a_broken_kernel_fails_with_nvrtcs_message() {
    assert!(library_present(CudaLibrary::Nvrtc), "libnvrtc not found (see every_kernel_compiles_with_nvrtc)");
    let err =
        compile_kernel("broken", "extern \"C\" __global__ void k(float* x) { x[0] = undefined_name; }").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("broken.cu") && msg.contains("undefined_name"), "{msg}");
}

#[test]
fn asking_for_a_gpu_is_an_error_not_a_panic() {
    // cuda:64 exists on no machine: with a driver the error names the ordinal, without one it
    // says the driver is missing. Either way an Err, never a panic from inside cudarc.
    let err = Tensor::zeros([2]).to(&Device::Cuda(64)).unwrap_err().to_string();
    if library_present(CudaLibrary::Driver) {
        assert!(err.contains("cuda:64"), "{err}");
    } else {
        assert!(err.contains("no CUDA driver found"), "{err}");
    }
}
