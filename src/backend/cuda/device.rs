//! One `CudaDevice` per GPU, created on first use and cached for the process: its context, its
//! stream, its cuBLAS handle, and every kernel compiled once by NVRTC and loaded.

use super::{compile_all_kernels, probe_device, CudaLibrary};
use crate::error::{Error, Result};
use cudarc::cublas::CudaBlas;
use cudarc::driver::sys::{self as cu, CUmemPool_attribute as PoolAttr};
use cudarc::driver::{CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, DevicePtr};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A GPU ready to run gradschool's kernels.
pub struct CudaDevice {
    /// The GPU's ordinal.
    pub ordinal: usize,
    pub(crate) stream: Arc<CudaStream>,
    pub(crate) blas: CudaBlas,
    functions: HashMap<String, CudaFunction>,
    pool: cu::CUmemoryPool,
    /// cuBLAS's workspace, owned here so that it lives as long as the handle.
    _workspace: CudaSlice<u8>,
    allocations: AtomicU64,
    /// Per-kernel (launches, time) when GRADSCHOOL_CUDA_PROFILE is set.
    profile: Option<Mutex<HashMap<&'static str, (u64, Duration)>>>,
}

// SAFETY: `pool` is a driver handle to the device's default memory pool, valid for the process
// and safe to use from any thread (the driver API is thread-safe); the other fields are Send/Sync.
unsafe impl Send for CudaDevice {}
unsafe impl Sync for CudaDevice {}

/// GPU memory as the stream-ordered allocator's pool sees it (bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Memory the pool holds from the driver now.
    pub reserved: u64,
    /// The most the pool has held since the last [`CudaDevice::reset_peak_memory`].
    pub reserved_peak: u64,
    /// The most that tensors have used at once since the last reset.
    pub used_peak: u64,
    /// Device allocations gradschool has asked the pool for since the device opened.
    pub allocations: u64,
}

/// Times one kernel launch when profiling is on: synchronizes before and after.
pub(crate) struct ProfileGuard<'a> {
    dev: &'a CudaDevice,
    name: &'static str,
    start: Option<Instant>,
}

impl Drop for ProfileGuard<'_> {
    fn drop(&mut self) {
        if let (Some(start), Some(profile)) = (self.start, &self.dev.profile) {
            let _ = self.dev.stream.synchronize();
            let mut p = profile.lock().unwrap_or_else(|e| e.into_inner());
            let e = p.entry(self.name).or_default();
            e.0 += 1;
            e.1 += start.elapsed();
        }
    }
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
        // SAFETY: gradschool runs everything of a device on its one stream, and stream order
        // already orders every read after the write it needs: cudarc's per-buffer events (two
        // created per allocation, recorded at every launch) would only add cost.
        unsafe { ctx.disable_event_tracking() };
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
        let mut pool: cu::CUmemoryPool = std::ptr::null_mut();
        // SAFETY: writes the default pool's handle of this context's device into `pool`.
        let status = unsafe { cu::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device()) };
        if status != cu::CUresult::CUDA_SUCCESS {
            return Err(err(&format!("cuDeviceGetDefaultMemPool: {status:?}")));
        }
        let profile = std::env::var_os("GRADSCHOOL_CUDA_PROFILE").map(|_| Mutex::new(HashMap::new()));
        // A 32 MiB cuBLAS workspace, as PyTorch gives cuBLAS on Hopper: without one, cuBLAS
        // cannot pick the algorithms (split-K among them) that need scratch memory.
        const WORKSPACE: usize = 32 << 20;
        let workspace = stream.alloc_zeros::<u8>(WORKSPACE).map_err(|e| err(&e))?;
        {
            let (ptr, _) = workspace.device_ptr(&stream);
            // SAFETY: the workspace is WORKSPACE bytes of device memory that this device owns for
            // as long as the cuBLAS handle lives.
            let status =
                unsafe { cudarc::cublas::sys::cublasSetWorkspace_v2(*blas.handle(), ptr as *mut _, WORKSPACE) };
            if status != cudarc::cublas::sys::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
                return Err(err(&format!("cublasSetWorkspace: {status:?}")));
            }
        }
        let dev = CudaDevice {
            ordinal,
            stream,
            blas,
            functions,
            pool,
            _workspace: workspace,
            allocations: AtomicU64::new(0),
            profile,
        };
        dev.set_memory_pool_retain(true)?;
        Ok(dev)
    }

    /// The memory-reuse strategy. cudarc allocates with `cuMemAllocAsync` from the device's
    /// default pool, so a freed intermediate goes back to the pool and the next allocation of the
    /// step reuses it, without a driver call. By default the pool hands its memory back to the
    /// driver at every synchronization (release threshold 0), and the next step maps it again;
    /// retaining (threshold ∞, the default here, as PyTorch's caching allocator does) keeps it.
    pub fn set_memory_pool_retain(&self, retain: bool) -> Result<()> {
        let mut threshold: u64 = if retain { u64::MAX } else { 0 };
        // SAFETY: `pool` is this device's default pool; the attribute takes a u64.
        let status = unsafe {
            cu::cuMemPoolSetAttribute(
                self.pool,
                PoolAttr::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                (&mut threshold as *mut u64).cast(),
            )
        };
        if status != cu::CUresult::CUDA_SUCCESS {
            return Err(Error::Device(format!("cuda:{}: cuMemPoolSetAttribute: {status:?}", self.ordinal)));
        }
        Ok(())
    }

    fn pool_attr(&self, attr: PoolAttr) -> u64 {
        let mut v: u64 = 0;
        // SAFETY: reads one u64 attribute of this device's default pool.
        let _ = unsafe { cu::cuMemPoolGetAttribute(self.pool, attr, (&mut v as *mut u64).cast()) };
        v
    }

    /// The pool's current and peak memory, and how many allocations gradschool has made.
    pub fn memory_stats(&self) -> MemoryStats {
        let _ = self.stream.synchronize();
        MemoryStats {
            reserved: self.pool_attr(PoolAttr::CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT),
            reserved_peak: self.pool_attr(PoolAttr::CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH),
            used_peak: self.pool_attr(PoolAttr::CU_MEMPOOL_ATTR_USED_MEM_HIGH),
            allocations: self.allocations.load(Ordering::Relaxed),
        }
    }

    /// Starts a new peak-memory window.
    pub fn reset_peak_memory(&self) {
        let _ = self.stream.synchronize();
        for attr in [PoolAttr::CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH, PoolAttr::CU_MEMPOOL_ATTR_USED_MEM_HIGH] {
            let mut zero: u64 = 0;
            // SAFETY: the high-water attributes may only be reset to zero, which this does.
            let _ = unsafe { cu::cuMemPoolSetAttribute(self.pool, attr, (&mut zero as *mut u64).cast()) };
        }
    }

    pub(crate) fn count_allocation(&self) {
        self.allocations.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits until every queued kernel of this device has finished.
    pub fn synchronize(&self) -> Result<()> {
        self.stream.synchronize().map_err(|e| Error::Device(format!("cuda:{}: {e}", self.ordinal)))
    }

    /// With GRADSCHOOL_CUDA_PROFILE set, times the launch this guard spans (synchronizing the
    /// stream on both sides, so a profiled run is slower than a plain one).
    pub(crate) fn profile(&self, name: &'static str) -> ProfileGuard<'_> {
        let start = self.profile.as_ref().map(|_| {
            let _ = self.stream.synchronize();
            Instant::now()
        });
        ProfileGuard { dev: self, name, start }
    }

    /// Like [`CudaDevice::profile`], under a name made at run time (cuBLAS calls by shape); the
    /// name is built only when profiling is on.
    pub(crate) fn profile_named(&self, name: impl FnOnce() -> String) -> ProfileGuard<'_> {
        static NAMES: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
        if self.profile.is_none() {
            return ProfileGuard { dev: self, name: "", start: None };
        }
        let name = name();
        let mut names = NAMES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        // Each distinct shape is leaked once: a profiled run has a few dozen.
        let interned = *names.entry(name.clone()).or_insert_with(|| Box::leak(name.into_boxed_str()));
        self.profile(interned)
    }

    /// The per-kernel table of a profiled run (GRADSCHOOL_CUDA_PROFILE set), most time first;
    /// `None` when profiling is off.
    pub fn profile_report(&self) -> Option<String> {
        let p = self.profile.as_ref()?.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<_> = p.iter().map(|(k, (n, t))| (*k, *n, *t)).collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.2));
        let total: f64 = rows.iter().map(|r| r.2.as_secs_f64()).sum();
        let mut out = format!("{:<40} {:>8} {:>10} {:>6}\n", "kernel", "launches", "ms", "%");
        for (k, n, t) in rows {
            let ms = t.as_secs_f64() * 1e3;
            out += &format!("{k:<40} {n:>8} {ms:>10.2} {:>6.1}\n", 100.0 * t.as_secs_f64() / total.max(1e-12));
        }
        Some(out)
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

/// The profiler's clock for one kernel: a CUDA event (timing enabled) recorded on the stream
/// before the launch; [`crate::profiler::DeviceTimer::end`] records the second after it.
pub(crate) struct EventTimer {
    start: CudaEvent,
    stream: Arc<CudaStream>,
}

/// A kernel's two events, read when the profile is finished.
#[derive(Debug)]
pub(crate) struct EventSpan {
    start: CudaEvent,
    end: CudaEvent,
}

fn timing_event(stream: &CudaStream) -> Option<CudaEvent> {
    stream.record_event(Some(cu::CUevent_flags::CU_EVENT_DEFAULT)).ok()
}

impl CudaDevice {
    /// Starts timing the next launch on this device's stream (`None` if the driver refuses an
    /// event: the profiler then keeps the launch's host time).
    pub(crate) fn start_event_timer(&self) -> Option<EventTimer> {
        Some(EventTimer { start: timing_event(&self.stream)?, stream: self.stream.clone() })
    }
}

impl crate::profiler::DeviceTimer for EventTimer {
    fn end(self: Box<Self>) -> Option<Arc<dyn crate::profiler::DeviceSpan>> {
        let end = timing_event(&self.stream)?;
        Some(Arc::new(EventSpan { start: self.start, end }))
    }
}

impl crate::profiler::DeviceSpan for EventSpan {
    fn times(&self, origin: &dyn std::any::Any) -> Option<(f64, f64)> {
        let origin = origin.downcast_ref::<EventSpan>()?;
        // elapsed_ms waits for both events: the kernels have run by the time the profile is read
        let start = origin.start.elapsed_ms(&self.start).ok()?;
        let dur = self.start.elapsed_ms(&self.end).ok()?;
        Some((f64::from(start) * 1e3, f64::from(dur) * 1e3))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
