//! The profiler's hook in the kernel dispatch: `profiled!` wraps each of `Storage`'s kernels in
//! [`crate::profiler::kernel`] and records the CPU buffer pool's bytes after it.

#[cfg(feature = "cuda")]
use super::cuda;
use crate::device::Device;

/// Runs a kernel through the profiler ([`crate::profiler`]): `name`, the operand shapes, FLOPs
/// and elements moved are computed only while it records.
macro_rules! profiled {
    ($dev:expr, $name:expr, [$($shape:expr),*], $flops:expr, $elems:expr; $body:expr) => {
        {
            let out = crate::profiler::kernel(
                || crate::profiler::KernelInfo {
                    name: $name,
                    shapes: crate::profiler::shapes(&[$($shape),*]),
                    flops: ($flops) as u64,
                    bytes: 4 * ($elems) as u64,
                },
                || device_timer($dev),
                || $body,
            );
            if crate::profiler::is_recording() {
                let s = $crate::backend::cpu::pool::stats();
                let values = vec![("in use", s.live_bytes as f64), ("cached", s.cached_bytes as f64)];
                crate::profiler::counter("CPU buffer pool (bytes)", values);
            }
            out
        }
    };
}

/// A GPU kernel's first event, recorded on the device's stream before its launch (see
/// [`crate::profiler::DeviceSpan`]); none on the CPU, where the host clock times the call.
pub(super) fn device_timer(device: Device) -> Option<Box<dyn crate::profiler::DeviceTimer>> {
    #[cfg(feature = "cuda")]
    if let Device::Cuda(ordinal) = device {
        let dev = cuda::cuda_device(ordinal).ok()?;
        return dev.start_event_timer().map(|t| Box::new(t) as Box<dyn crate::profiler::DeviceTimer>);
    }
    let _ = device;
    None
}
