//! The NCCL engine (feature `nccl`): gradients that live on GPUs are summed GPU to GPU by NVIDIA's
//! collective library, through cudarc, without a trip through host memory. NCCL needs one thing
//! it cannot make alone — every rank must hold the same 128-byte unique id — so rank 0 makes it
//! and the job's host collectives (MPI, or nothing for one process) broadcast it: llm.c's design.
//! One communicator per process, made at the first GPU all-reduce, on the device of the tensors.
//!
//! NCCL is loaded at run time. Debian ships no NCCL; the PyPI wheel (`nvidia-nccl-cu12`, which
//! PyTorch installs) names it `libnccl.so.2`, a name cudarc does not try: [`ensure_loadable`]
//! explains the one-line fix, and `gradschool launch` applies it for the ranks it starts.

use super::Collectives;
use crate::backend::cuda::{cuda_device, CudaStorage};
use crate::backend::Storage;
use crate::error::{Error, Result};
use crate::{Device, Tensor};
use cudarc::driver::CudaSlice;
use cudarc::nccl::{Comm, Id, ReduceOp};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// This process's communicator, the device it was made for, and its (rank, size).
struct Group {
    comm: Comm,
    ordinal: usize,
}

// SAFETY: an NCCL communicator may be used from any thread as long as calls on it are not
// concurrent; the Mutex around the group serializes them.
unsafe impl Send for Group {}

static GROUP: OnceLock<Mutex<Group>> = OnceLock::new();

/// Where a `libnccl.so.2` is to be found when `libnccl.so` is not: the library folders on
/// LD_LIBRARY_PATH, and the NVIDIA wheels of the Python site-packages folders named by
/// `sites` (the wheel keeps it in nvidia/nccl/lib).
pub fn find_versioned_nccl(sites: &[PathBuf]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var("LD_LIBRARY_PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .collect();
    dirs.extend(sites.iter().map(|s| s.join("nvidia/nccl/lib")));
    dirs.extend(["/usr/lib/x86_64-linux-gnu", "/usr/local/lib", "/usr/local/cuda/lib64"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join("libnccl.so.2")).find(|p| p.is_file())
}

/// Whether cudarc can load NCCL under one of the names it tries (`libnccl.so`, …).
pub fn loadable() -> bool {
    // SAFETY: the probe only dlopens the library's candidate names and drops the handle.
    unsafe { cudarc::nccl::sys::is_culib_present() }
}

/// The folder of symbolic links that makes a `libnccl.so.2` loadable as `libnccl.so`, for
/// LD_LIBRARY_PATH: made under `cache` (idempotent).
pub fn link_folder(versioned: &Path, cache: &Path) -> Result<PathBuf> {
    let dir = cache.join("gradschool-nccl");
    std::fs::create_dir_all(&dir).map_err(|e| Error::Config(format!("cannot create {}: {e}", dir.display())))?;
    let link = dir.join("libnccl.so");
    if std::fs::read_link(&link).ok().as_deref() != Some(versioned) {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(versioned, &link)
            .map_err(|e| Error::Config(format!("cannot link {} to {}: {e}", link.display(), versioned.display())))?;
    }
    Ok(dir)
}

/// An error naming what to do unless NCCL can be loaded (cudarc would panic on first use).
pub fn ensure_loadable() -> Result<()> {
    if loadable() {
        return Ok(());
    }
    let hint = match find_versioned_nccl(&[]) {
        Some(p) => format!(
            "found {} — cudarc loads `libnccl.so`: run `ln -s {} DIR/libnccl.so` and put DIR on LD_LIBRARY_PATH \
             (`gradschool launch` does this for the ranks it starts)",
            p.display(),
            p.display()
        ),
        None => "install it (`pip install nvidia-nccl-cu12`, or NVIDIA's libnccl2 package) and put the folder holding \
                 libnccl.so on LD_LIBRARY_PATH"
            .into(),
    };
    Err(Error::Device(format!(
        "NCCL (libnccl.so) not found: {hint}; or set GRADSCHOOL_NCCL=0 to sum gradients on the host"
    )))
}

/// Whether GPU gradients should be summed by NCCL: on unless GRADSCHOOL_NCCL=0 asks for the host
/// path (copy to host, the world's all-reduce, copy back), which gives the same sums.
pub fn wanted() -> bool {
    std::env::var_os("GRADSCHOOL_NCCL").is_none_or(|v| v != "0")
}

/// The process's communicator for GPU `ordinal`, made on first use: rank 0's unique id is
/// broadcast to every rank over `world`, then each joins (`ncclCommInitRank`, which waits for
/// all). Every rank must call this at the same point, as any collective.
fn group(world: &dyn Collectives, ordinal: usize) -> Result<&'static Mutex<Group>> {
    if let Some(g) = GROUP.get() {
        let have = g.lock().unwrap_or_else(|e| e.into_inner()).ordinal;
        if have != ordinal {
            return Err(Error::Device(format!(
                "NCCL: this rank's communicator is on cuda:{have}, but the tensors are on cuda:{ordinal}"
            )));
        }
        return Ok(g);
    }
    ensure_loadable()?;
    let dev = cuda_device(ordinal)?;
    let nccl = |e: &dyn std::fmt::Debug| Error::Device(format!("NCCL on cuda:{ordinal}: {e:?}"));
    let mut bytes = [0u8; 128];
    if world.rank() == 0 {
        let id = Id::new().map_err(|e| nccl(&e))?;
        bytes.iter_mut().zip(id.internal()).for_each(|(b, &c)| *b = c as u8);
    }
    world.broadcast_bytes(&mut bytes, 0);
    let id = Id::uninit(bytes.map(|b| b as std::ffi::c_char));
    let comm = Comm::from_rank(dev.stream.clone(), world.rank(), world.size(), id).map_err(|e| nccl(&e))?;
    Ok(GROUP.get_or_init(|| Mutex::new(Group { comm, ordinal })))
}

/// The element-wise sum over every rank of each tensor in `parts` (all on one GPU, every rank
/// passing the same shapes in the same order), as new tensors on that GPU: the parts are packed
/// into one buffer, summed by one `ncclAllReduce` (one launch, at the link's bandwidth, as DDP's
/// buckets), and unpacked.
pub fn all_reduce_sum(world: &dyn Collectives, parts: &[Tensor]) -> Result<Vec<Tensor>> {
    let Some(first) = parts.first() else { return Ok(Vec::new()) };
    let Device::Cuda(ordinal) = first.device() else {
        return Err(Error::Device(format!("NCCL sums GPU tensors; these are on {}", first.device())));
    };
    if let Some(p) = parts.iter().find(|p| p.device() != first.device()) {
        return Err(Error::Device(format!("NCCL: tensors on {} and {} in one all-reduce", first.device(), p.device())));
    }
    let g = group(world, ordinal)?.lock().unwrap_or_else(|e| e.into_inner());
    let dev = cuda_device(ordinal)?;
    let total: usize = parts.iter().map(Tensor::numel).sum();
    let fail = |what: &str, e: &dyn std::fmt::Debug| {
        Error::Device(format!("NCCL all-reduce on cuda:{ordinal}: {what}: {e:?}"))
    };
    let mut flat: CudaSlice<f32> = dev.stream.alloc_zeros(total.max(1)).map_err(|e| fail("alloc", &e))?;
    let mut offset = 0;
    for p in parts {
        let n = p.numel();
        let storage = p.storage();
        let Storage::Cuda(c) = &*storage else { unreachable!("checked: every part is on cuda:{ordinal}") };
        dev.stream
            .memcpy_dtod(&c.data.slice(..n), &mut flat.slice_mut(offset..offset + n))
            .map_err(|e| fail("pack", &e))?;
        offset += n;
    }
    g.comm.all_reduce_in_place(&mut flat, &ReduceOp::Sum).map_err(|e| fail("ncclAllReduce", &e))?;
    let mut out = Vec::with_capacity(parts.len());
    offset = 0;
    for p in parts {
        let n = p.numel();
        let mut data: CudaSlice<f32> = dev.stream.alloc_zeros(n.max(1)).map_err(|e| fail("alloc", &e))?;
        dev.stream
            .memcpy_dtod(&flat.slice(offset..offset + n), &mut data.slice_mut(..n))
            .map_err(|e| fail("unpack", &e))?;
        offset += n;
        out.push(Tensor::from_storage(Storage::Cuda(CudaStorage { data, dev: dev.clone() }), p.shape().clone()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_versioned_nccl_is_found_in_a_wheel_and_linked_under_the_name_cudarc_loads() {
        let tmp = std::env::temp_dir().join(format!("gs-nccl-{}", std::process::id()));
        let lib = tmp.join("site/nvidia/nccl/lib");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(lib.join("libnccl.so.2"), b"not a real library").unwrap();
        let found = find_versioned_nccl(&[tmp.join("site")]).expect("the wheel's libnccl.so.2");
        assert_eq!(found, lib.join("libnccl.so.2"));
        let dir = link_folder(&found, &tmp).unwrap();
        assert_eq!(std::fs::read_link(dir.join("libnccl.so")).unwrap(), found);
        // again: the link is kept, not an error
        assert_eq!(link_folder(&found, &tmp).unwrap(), dir);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn host_tensors_are_refused_with_their_device_named() {
        let err = all_reduce_sum(&super::super::Single, &[Tensor::zeros([2])]).unwrap_err().to_string();
        assert!(err.contains("NCCL sums GPU tensors") && err.contains("cpu"), "{err}");
    }
}
