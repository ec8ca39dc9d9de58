//! `CudaStorage`: a tensor's data in GPU memory, and the forward kernels of the [`Backend`] trait
//! launched on it. Errors from the driver at this depth are fatal (a lost device, out of
//! memory) and panic with the kernel's name; device availability was checked before any tensor
//! reached the GPU (`Device::ensure_available`).

pub use super::buffer::CudaStorage;
use super::device::{cuda_device, CudaDevice};
use super::layout::{shape_info, Layout};
use crate::backend::op::{BinaryOp, OptimStep, ParamSlot, ReduceOp, UnaryOp};
use crate::backend::{Backend, MatmulLayout};
use crate::device::Device;
use crate::shape::{broadcast_strides, contiguous_strides};
use cudarc::cublas::{sys::cublasOperation_t, Gemm, GemmConfig, StridedBatchedConfig};
use cudarc::driver::{CudaSlice, DevicePtr, LaunchConfig, PushKernelArg};

/// Threads per block for elementwise kernels and row reductions (reduce.cu's BLOCK).
const BLOCK: u32 = 256;

/// Driver errors past `Device::ensure_available` are fatal: panic naming the call.
trait OrFatal<T> {
    fn or_fatal(self, what: &str) -> T;
}

impl<T, E: std::fmt::Debug> OrFatal<T> for Result<T, E> {
    fn or_fatal(self, what: &str) -> T {
        self.unwrap_or_else(|e| panic!("CUDA {what} failed: {e:?}"))
    }
}

/// Checks the 16-byte alignment the float4 kernels rely on (the allocator gives 256 bytes).
fn aligned(dev: &CudaDevice, s: CudaSlice<f32>) -> CudaSlice<f32> {
    let (ptr, _) = s.device_ptr(&dev.stream);
    assert!(ptr % 16 == 0, "CUDA allocation at {ptr:#x} is not 16-byte aligned");
    s
}

/// One block of BLOCK threads per row (the row kernels of reduce.cu).
fn block_per_row(rows: usize) -> LaunchConfig {
    LaunchConfig { grid_dim: (rows as u32, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
}

/// One thread per 4 elements: the contiguous kernels' float4 layout.
fn grid4(n: usize) -> LaunchConfig {
    grid(n.div_ceil(4))
}

fn grid(n: usize) -> LaunchConfig {
    LaunchConfig { grid_dim: ((n as u32).div_ceil(BLOCK).max(1), 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
}

/// The op codes of elementwise.cu, and the op's scalar parameters.
fn unary_code(op: UnaryOp) -> (i32, f32, f32) {
    match op {
        UnaryOp::Neg => (0, 0.0, 0.0),
        UnaryOp::Exp => (1, 0.0, 0.0),
        UnaryOp::Log => (2, 0.0, 0.0),
        UnaryOp::Sqrt => (3, 0.0, 0.0),
        UnaryOp::Abs => (4, 0.0, 0.0),
        UnaryOp::Relu => (5, 0.0, 0.0),
        UnaryOp::LeakyRelu(s) => (6, s, 0.0),
        UnaryOp::Sigmoid => (7, 0.0, 0.0),
        UnaryOp::Tanh => (8, 0.0, 0.0),
        UnaryOp::GeluErf => (9, 0.0, 0.0),
        UnaryOp::GeluTanh => (10, 0.0, 0.0),
        UnaryOp::Silu => (11, 0.0, 0.0),
        UnaryOp::Softplus => (12, 0.0, 0.0),
        UnaryOp::PowScalar(p) => (13, p, 0.0),
        UnaryOp::AddScalar(c) => (14, c, 0.0),
        UnaryOp::MulScalar(c) => (15, c, 0.0),
        UnaryOp::Clamp(lo, hi) => (16, lo, hi),
        UnaryOp::RoundBf16 => (17, 0.0, 0.0),
        UnaryOp::RoundFp16 => (18, 0.0, 0.0),
    }
}

fn binary_code(op: BinaryOp) -> i32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Pow => 4,
        BinaryOp::Maximum => 5,
        BinaryOp::Minimum => 6,
        BinaryOp::Gt => 7,
        BinaryOp::Ge => 8,
        BinaryOp::Lt => 9,
        BinaryOp::Le => 10,
        BinaryOp::Eq => 11,
        BinaryOp::Ne => 12,
    }
}

fn split_at_dim(shape: &[usize], dim: usize) -> (usize, usize, usize) {
    (shape[..dim].iter().product(), shape[dim], shape[dim + 1..].iter().product())
}

impl CudaStorage {
    /// Copies host data to GPU `ordinal`.
    pub fn from_host(ordinal: usize, data: &[f32]) -> CudaStorage {
        let dev = cuda_device(ordinal).unwrap_or_else(|e| panic!("{e}"));
        let data = aligned(&dev, dev.stream.clone_htod(data).or_fatal("copy to device"));
        CudaStorage { data, dev }
    }

    /// `n` copies of `v` on GPU `ordinal`, written by the fill kernel.
    pub fn full(ordinal: usize, n: usize, v: f32) -> CudaStorage {
        let dev = cuda_device(ordinal).unwrap_or_else(|e| panic!("{e}"));
        dev.count_allocation();
        // SAFETY: fill_f32 below writes all n values before anything reads them.
        let mut out = aligned(&dev, unsafe { dev.stream.alloc::<f32>(n.max(1)) }.or_fatal("alloc"));
        {
            let f = dev.function("fill_f32");
            let mut b = dev.stream.launch_builder(f);
            b.arg(&mut out).arg(&v).arg(&n);
            let _timer = dev.profile("fill_f32");
            // SAFETY: arguments match fill_f32(float*, float, size_t); out holds n values.
            unsafe { b.launch(grid4(n)) }.or_fatal("fill_f32");
        }
        CudaStorage { data: out, dev }
    }

    /// An output buffer of `n` values for a kernel that writes every one of them: uninitialised,
    /// from the device's memory pool (see `CudaDevice::set_memory_pool_retain`).
    fn alloc(&self, n: usize) -> CudaSlice<f32> {
        self.dev.count_allocation();
        // SAFETY: every caller launches a kernel (or cuBLAS with β = 0) that writes all n values
        // before anything reads them; accumulating kernels use `alloc_zeroed`.
        aligned(&self.dev, unsafe { self.dev.stream.alloc::<f32>(n.max(1)) }.or_fatal("alloc"))
    }

    /// A zeroed buffer, for kernels that accumulate into their output.
    fn alloc_zeroed(&self, n: usize) -> CudaSlice<f32> {
        self.dev.count_allocation();
        aligned(&self.dev, self.dev.stream.alloc_zeros::<f32>(n.max(1)).or_fatal("alloc"))
    }

    fn wrap(&self, data: CudaSlice<f32>) -> CudaStorage {
        CudaStorage { data, dev: self.dev.clone() }
    }

    fn upload_i64(&self, v: &[i64]) -> CudaSlice<i64> {
        let v = if v.is_empty() { vec![0] } else { v.to_vec() };
        self.dev.stream.clone_htod(&v).or_fatal("copy to device")
    }

    /// `out` (batch·m·n values) = self·rhs + β·out for the products `l` describes: cuBLAS's
    /// SGEMM (β = 0: out is only written; β = 1: the product is added to it).
    fn gemm_into(&self, rhs: &Self, l: &MatmulLayout, out: &mut CudaSlice<f32>, beta: f32) {
        let (m, n, k) = (l.m, l.n, l.k); // with β ≠ 0 cuBLAS reads `out`: the caller wrote all of it
        assert!(out.len() >= l.batch * m * n, "matmul: an output of {} for {}·{m}·{n}", out.len(), l.batch);
        // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: cuBLAS gets B first, with m and n
        // swapped. A row-major r×c matrix is a column-major c×r one with leading dimension c.
        let op = |t: bool| if t { cublasOperation_t::CUBLAS_OP_T } else { cublasOperation_t::CUBLAS_OP_N };
        let gemm = GemmConfig {
            transa: op(l.trans_b),
            transb: op(l.trans_a),
            m: n as i32,
            n: m as i32,
            k: k as i32,
            alpha: 1.0f32,
            lda: if l.trans_b { k } else { n } as i32,
            ldb: if l.trans_a { m } else { k } as i32,
            beta,
            ldc: n as i32,
        };
        let _timer = self.dev.profile_named(|| {
            let t = |on: bool| if on { "T" } else { "N" };
            format!("sgemm {}x({}x{}x{}) {}{}", l.batch, m, n, k, t(l.trans_a), t(l.trans_b))
        });
        if l.batch == 1 {
            // One product: plain cublasSgemm, whose kernel choice for a single matrix can be far
            // better than the strided-batched call's (measured on the H100: c_attn's 8192×2304×768
            // took 4.3 ms through the batched API; see benches/README.md).
            // SAFETY: the leading dimensions describe exactly the k·n, m·k and m·n elements of
            // rhs, self and out.
            unsafe { self.dev.blas.gemm(gemm, &rhs.data, &self.data, out) }.or_fatal("cublasSgemm");
        } else {
            let cfg = StridedBatchedConfig {
                gemm,
                batch_size: l.batch as i32,
                stride_a: l.b_batch_stride as i64,
                stride_b: l.a_batch_stride as i64,
                stride_c: (m * n) as i64,
            };
            // SAFETY: the strides and leading dimensions describe exactly the batch·k·n,
            // batch·m·k and batch·m·n elements of rhs, self and out (batch stride 0 re-reads one
            // matrix).
            unsafe { self.dev.blas.gemm_strided_batched(cfg, &rhs.data, &self.data, out) }
                .or_fatal("cublasSgemmStridedBatched");
        }
    }

    /// Launches a strided copy of `dims` elements from `src` into `out` (see strided_copy_f32).
    #[allow(clippy::too_many_arguments)]
    fn strided_copy_into(
        &self,
        src: &CudaSlice<f32>,
        dims: &[usize],
        src_strides: &[usize],
        src_offset: usize,
        out: &mut CudaSlice<f32>,
        dst_strides: &[usize],
        dst_offset: usize,
    ) {
        let n: usize = dims.iter().product();
        if n == 0 {
            return;
        }
        let layout = Layout::new(dims, &[src_strides, dst_strides], &[src_offset, dst_offset]);
        let (rank, idx32) = (layout.dims.len() as i32, layout.idx32);
        let info = shape_info(&layout.info());
        let f = self.dev.function("strided_copy_f32");
        let mut b = self.dev.stream.launch_builder(f);
        b.arg(&idx32).arg(&rank).arg(&info).arg(src).arg(&src_offset).arg(out).arg(&dst_offset).arg(&n);
        let _timer = self.dev.profile("strided_copy_f32");
        // SAFETY: the argument list matches strided_copy_f32's signature; every offset the
        // kernel computes lies within the source and destination shapes the caller checked.
        unsafe { b.launch(grid(n)) }.or_fatal("strided_copy_f32");
    }

    /// Reduces `x` viewed as (outer, n, inner) over n. When the outputs alone would leave most
    /// SMs idle (a bias gradient: outer 1, inner 768, n = batch·tokens), n is also split into
    /// chunks, one block each, and the partials are reduced by a second pass.
    fn reduce_pass(&self, x: &CudaSlice<f32>, code: i32, outer: usize, n: usize, inner: usize) -> CudaSlice<f32> {
        const WANT_BLOCKS: usize = 1024; // ~8 per SM of an H100
        let blocks = if inner == 1 { outer } else { outer * inner.div_ceil(32) };
        let splits = if blocks >= WANT_BLOCKS || n < 2048 { 1 } else { WANT_BLOCKS.div_ceil(blocks).min(n / 1024) };
        let splits = splits.clamp(1, 65_535);
        let chunk = n.div_ceil(splits);
        let mut out = self.alloc(outer * splits * inner);
        if inner == 1 {
            let f = self.dev.function("reduce_rows_f32");
            let mut b = self.dev.stream.launch_builder(f);
            b.arg(&code).arg(x).arg(&mut out).arg(&n).arg(&chunk);
            let cfg = LaunchConfig {
                grid_dim: (outer as u32, splits as u32, 1),
                block_dim: (BLOCK, 1, 1),
                shared_mem_bytes: 0,
            };
            let _timer = self.dev.profile("reduce_rows_f32");
            // SAFETY: block (row, z) reads chunk z of row `row` (n contiguous values) and writes
            // out[row·splits + z]; out holds outer·splits values.
            unsafe { b.launch(cfg) }.or_fatal("reduce_rows_f32");
        } else {
            let f = self.dev.function("reduce_cols_f32");
            let mut b = self.dev.stream.launch_builder(f);
            b.arg(&code).arg(x).arg(&mut out).arg(&n).arg(&inner).arg(&chunk);
            let cfg = LaunchConfig {
                grid_dim: (blocks as u32, splits as u32, 1),
                block_dim: (32, 8, 1),
                shared_mem_bytes: 0,
            };
            let _timer = self.dev.profile("reduce_cols_f32");
            // SAFETY: reads stay within outer·n·inner; out holds outer·splits·inner values.
            unsafe { b.launch(cfg) }.or_fatal("reduce_cols_f32");
        }
        if splits == 1 {
            out
        } else {
            self.reduce_pass(&out, code, outer, splits, inner)
        }
    }
}

impl Backend for CudaStorage {
    fn device(&self) -> Device {
        Device::Cuda(self.dev.ordinal)
    }

    fn len(&self) -> usize {
        self.data.len()
    }

    fn to_vec(&self) -> Vec<f32> {
        self.dev.stream.clone_dtoh(&self.data).or_fatal("copy to host")
    }

    fn unary(&self, op: UnaryOp) -> Self {
        let n = self.len();
        let mut out = self.alloc(n);
        let (code, a, b2) = unary_code(op);
        let f = self.dev.function("unary_f32");
        let mut b = self.dev.stream.launch_builder(f);
        b.arg(&code).arg(&a).arg(&b2).arg(&self.data).arg(&mut out).arg(&n);
        let _timer = self.dev.profile("unary_f32");
        // SAFETY: arguments match unary_f32(int, float, float, const float*, float*, size_t);
        // both buffers hold n elements.
        unsafe { b.launch(grid4(n)) }.or_fatal("unary_f32");
        self.wrap(out)
    }

    fn unary_grad(&self, op: UnaryOp, y: &Self, grad: &Self) -> Self {
        let n = self.len();
        let mut out = self.alloc(n);
        let (code, a, b2) = unary_code(op);
        let f = self.dev.function("unary_grad_f32");
        let mut b = self.dev.stream.launch_builder(f);
        b.arg(&code).arg(&a).arg(&b2).arg(&self.data).arg(&y.data).arg(&grad.data).arg(&mut out).arg(&n);
        let _timer = self.dev.profile("unary_grad_f32");
        // SAFETY: arguments match unary_grad_f32; x, y, grad and out all hold n elements.
        unsafe { b.launch(grid4(n)) }.or_fatal("unary_grad_f32");
        self.wrap(out)
    }

    fn binary(&self, rhs: &Self, op: BinaryOp, shapes: [&[usize]; 3]) -> Self {
        let [sa, sb, so] = shapes;
        let n: usize = so.iter().product();
        let mut out = self.alloc(n);
        let code = binary_code(op);
        let layout = Layout::new(so, &[&broadcast_strides(sa, so), &broadcast_strides(sb, so)], &[0, 0]);
        if layout.contiguous() {
            let f = self.dev.function("binary_contig_f32");
            let mut b = self.dev.stream.launch_builder(f);
            b.arg(&code).arg(&self.data).arg(&rhs.data).arg(&mut out).arg(&n);
            let _timer = self.dev.profile("binary_contig_f32");
            // SAFETY: arguments match binary_contig_f32; a, b and out all hold n elements.
            unsafe { b.launch(grid4(n)) }.or_fatal("binary_contig_f32");
            return self.wrap(out);
        }
        let (rank, idx32) = (layout.dims.len() as i32, layout.idx32);
        let info = shape_info(&layout.info());
        let f = self.dev.function("binary_f32");
        let mut b = self.dev.stream.launch_builder(f);
        b.arg(&code).arg(&idx32).arg(&rank).arg(&info).arg(&self.data).arg(&rhs.data).arg(&mut out).arg(&n);
        let _timer = self.dev.profile("binary_f32");
        // SAFETY: arguments match binary_f32; broadcast strides keep every read inside a and b,
        // and idx32 is set only when every offset fits in 32 bits.
        unsafe { b.launch(grid(n)) }.or_fatal("binary_f32");
        self.wrap(out)
    }

    fn where_cond(cond: &Self, a: &Self, b: &Self, shapes: [&[usize]; 4]) -> Self {
        let [sc, sa, sb, so] = shapes;
        let n: usize = so.iter().product();
        let mut out = cond.alloc(n);
        let strides = [broadcast_strides(sc, so), broadcast_strides(sa, so), broadcast_strides(sb, so)];
        let layout = Layout::new(so, &[&strides[0], &strides[1], &strides[2]], &[0, 0, 0]);
        let (rank, idx32) = (layout.dims.len() as i32, layout.idx32);
        let info = shape_info(&layout.info());
        let f = cond.dev.function("where_f32");
        let mut l = cond.dev.stream.launch_builder(f);
        l.arg(&idx32).arg(&rank).arg(&info).arg(&cond.data).arg(&a.data).arg(&b.data).arg(&mut out).arg(&n);
        let _timer = cond.dev.profile("where_f32");
        // SAFETY: arguments match where_f32; broadcast strides keep reads in bounds, and idx32
        // is set only when every offset fits in 32 bits.
        unsafe { l.launch(grid(n)) }.or_fatal("where_f32");
        cond.wrap(out)
    }

    fn reduce(&self, op: ReduceOp, shape: &[usize], dim: usize) -> Self {
        let (outer, n, inner) = split_at_dim(shape, dim);
        let code: i32 = match op {
            ReduceOp::Sum => 0,
            ReduceOp::Max => 1,
            ReduceOp::Min => 2,
        };
        if outer * inner == 0 {
            return self.wrap(self.alloc(outer * inner));
        }
        self.wrap(self.reduce_pass(&self.data, code, outer, n, inner))
    }

    fn arg_reduce(&self, shape: &[usize], dim: usize, largest: bool) -> Vec<i64> {
        let (outer, n, inner) = split_at_dim(shape, dim);
        let mut out = self.dev.stream.alloc_zeros::<i64>((outer * inner).max(1)).or_fatal("alloc");
        let largest = largest as i32;
        let f = self.dev.function("arg_reduce_f32");
        let mut b = self.dev.stream.launch_builder(f);
        b.arg(&largest).arg(&self.data).arg(&mut out).arg(&outer).arg(&n).arg(&inner);
        let _timer = self.dev.profile("arg_reduce_f32");
        // SAFETY: arguments match arg_reduce_f32; one thread per output.
        unsafe { b.launch(grid(outer * inner)) }.or_fatal("arg_reduce_f32");
        let mut v = self.dev.stream.clone_dtoh(&out).or_fatal("copy to host");
        v.truncate(outer * inner);
        v
    }

    fn matmul(&self, rhs: &Self, l: &MatmulLayout) -> Self {
        let mut out = self.alloc(l.batch * l.m * l.n);
        self.gemm_into(rhs, l, &mut out, 0.0);
        self.wrap(out)
    }

    fn matmul_bias(&self, rhs: &Self, bias: &Self, l: &MatmulLayout) -> Self {
        assert_eq!(bias.len(), l.n, "matmul: a bias of {} for {} output columns", bias.len(), l.n);
        let rows = l.batch * l.m; // every row starts as the bias (a stride-0 copy); cuBLAS adds to it
        let mut out = self.alloc(rows * l.n);
        self.strided_copy_into(&bias.data, &[rows, l.n], &[0, 1], 0, &mut out, &[l.n, 1], 0);
        self.gemm_into(rhs, l, &mut out, 1.0);
        self.wrap(out)
    }

    fn strided_copy(&self, out_shape: &[usize], strides: &[usize], offset: usize) -> Self {
        let mut out = self.alloc(out_shape.iter().product());
        self.strided_copy_into(&self.data, out_shape, strides, offset, &mut out, &contiguous_strides(out_shape), 0);
        self.wrap(out)
    }

    fn cat(parts: &[(&Self, &[usize])], dim: usize) -> Self {
        let first = parts[0].0;
        let mut out_shape = parts[0].1.to_vec();
        out_shape[dim] = parts.iter().map(|(_, s)| s[dim]).sum();
        let out_strides = contiguous_strides(&out_shape);
        let mut out = first.alloc(out_shape.iter().product());
        let mut at = 0;
        for (part, shape) in parts {
            first.strided_copy_into(
                &part.data,
                shape,
                &contiguous_strides(shape),
                0,
                &mut out,
                &out_strides,
                at * out_strides[dim],
            );
            at += shape[dim];
        }
        first.wrap(out)
    }

    fn index_select(&self, shape: &[usize], dim: usize, idx: &[i64]) -> Self {
        let (outer, n, inner) = split_at_dim(shape, dim);
        let m = idx.len();
        check_indices("index_select", idx, n);
        let mut out = self.alloc(outer * m * inner);
        let d_idx = self.upload_i64(idx);
        let f = self.dev.function("index_select_f32");
        let mut b = self.dev.stream.launch_builder(f);
        b.arg(&self.data).arg(&d_idx).arg(&mut out).arg(&outer).arg(&n).arg(&m).arg(&inner);
        let _timer = self.dev.profile("index_select_f32");
        // SAFETY: indices were checked in [0, n) on the host; one thread per output element.
        unsafe { b.launch(grid(outer * m * inner)) }.or_fatal("index_select_f32");
        self.wrap(out)
    }

    fn index_add(&self, shape: &[usize], dim: usize, idx: &[i64], out_shape: &[usize]) -> Self {
        let (outer, m, inner) = split_at_dim(shape, dim);
        let n = out_shape[dim];
        check_indices("index_add", idx, n);
        let mut out = self.alloc_zeroed(out_shape.iter().product());
        let d_idx = self.upload_i64(idx);
        let f = self.dev.function("index_add_f32");
        let mut b = self.dev.stream.launch_builder(f);
        b.arg(&self.data).arg(&d_idx).arg(&mut out).arg(&outer).arg(&n).arg(&m).arg(&inner);
        let _timer = self.dev.profile("index_add_f32");
        // SAFETY: indices checked on the host; out starts zeroed (alloc_zeroed).
        unsafe { b.launch(grid(outer * m * inner)) }.or_fatal("index_add_f32");
        self.wrap(out)
    }

    fn gather(&self, shape: &[usize], dim: usize, idx: &[i64], idx_shape: &[usize]) -> Self {
        check_indices("gather", idx, shape[dim]);
        let n = idx.len();
        let mut out = self.alloc(n);
        let info = shape_info(&[idx_shape, &contiguous_strides(shape)].concat());
        let d_idx = self.upload_i64(idx);
        let (rank, dim) = (shape.len() as i32, dim as i32);
        let f = self.dev.function("gather_f32");
        let mut b = self.dev.stream.launch_builder(f);
        b.arg(&rank).arg(&dim).arg(&info).arg(&self.data).arg(&d_idx).arg(&mut out).arg(&n);
        let _timer = self.dev.profile("gather_f32");
        // SAFETY: indices checked on the host; the index shape fits inside `shape` (checked by
        // Tensor::gather).
        unsafe { b.launch(grid(n)) }.or_fatal("gather_f32");
        self.wrap(out)
    }

    fn scatter_add(&self, idx: &[i64], idx_shape: &[usize], dim: usize, out_shape: &[usize]) -> Self {
        check_indices("scatter_add", idx, out_shape[dim]);
        let n = idx.len();
        let mut out = self.alloc_zeroed(out_shape.iter().product());
        let info = shape_info(&[idx_shape, &contiguous_strides(out_shape)].concat());
        let d_idx = self.upload_i64(idx);
        let (rank, dim) = (out_shape.len() as i32, dim as i32);
        let f = self.dev.function("scatter_add_f32");
        let mut b = self.dev.stream.launch_builder(f);
        b.arg(&rank).arg(&dim).arg(&info).arg(&self.data).arg(&d_idx).arg(&mut out).arg(&n);
        let _timer = self.dev.profile("scatter_add_f32");
        // SAFETY: as gather; out starts zeroed.
        unsafe { b.launch(grid(n)) }.or_fatal("scatter_add_f32");
        self.wrap(out)
    }

    fn layer_norm(&self, weight: &Self, bias: &Self, cols: usize, eps: f32) -> (Self, Self, Self) {
        let n = self.len();
        let rows = n / cols.max(1);
        let (mut y, mut mean, mut rstd) = (self.alloc(n), self.alloc(rows), self.alloc(rows));
        if rows > 0 {
            let f = self.dev.function("layer_norm_f32");
            let mut b = self.dev.stream.launch_builder(f);
            b.arg(&self.data)
                .arg(&weight.data)
                .arg(&bias.data)
                .arg(&mut y)
                .arg(&mut mean)
                .arg(&mut rstd)
                .arg(&cols)
                .arg(&eps);
            let cfg = block_per_row(rows);
            let _timer = self.dev.profile("layer_norm_f32");
            // SAFETY: one block per row of `cols` values; weight and bias hold `cols` values
            // (checked by Tensor::layer_norm); mean and rstd hold one value per row.
            unsafe { b.launch(cfg) }.or_fatal("layer_norm_f32");
        }
        (self.wrap(y), self.wrap(mean), self.wrap(rstd))
    }

    fn softmax_last_grad(&self, g: &Self, cols: usize) -> Self {
        let n = self.len();
        let mut out = self.alloc(n);
        let rows = n / cols.max(1);
        if rows > 0 {
            let f = self.dev.function("softmax_grad_rows_f32");
            let mut b = self.dev.stream.launch_builder(f);
            b.arg(&self.data).arg(&g.data).arg(&mut out).arg(&cols);
            let cfg = block_per_row(rows);
            let _timer = self.dev.profile("softmax_grad_rows_f32");
            // SAFETY: one block per row of `cols` values; y, g and out hold rows·cols values.
            unsafe { b.launch(cfg) }.or_fatal("softmax_grad_rows_f32");
        }
        self.wrap(out)
    }

    fn cross_entropy_rows(&self, cols: usize, targets: &[i64]) -> (Self, Self) {
        let rows = targets.len();
        check_indices("cross_entropy", targets, cols);
        let (mut loss, mut lse) = (self.alloc(rows), self.alloc(rows));
        if rows > 0 {
            let t = self.upload_i64(targets);
            let f = self.dev.function("cross_entropy_rows_f32");
            let mut b = self.dev.stream.launch_builder(f);
            b.arg(&self.data).arg(&t).arg(&mut loss).arg(&mut lse).arg(&cols);
            let cfg = block_per_row(rows);
            let _timer = self.dev.profile("cross_entropy_rows_f32");
            // SAFETY: one block per row of `cols` logits; targets were checked in [0, cols).
            unsafe { b.launch(cfg) }.or_fatal("cross_entropy_rows_f32");
        }
        (self.wrap(loss), self.wrap(lse))
    }

    fn cross_entropy_rows_grad(&self, lse: &Self, targets: &[i64], grad_rows: &Self, cols: usize) -> Self {
        let rows = targets.len();
        let mut out = self.alloc(rows * cols);
        if rows > 0 {
            let t = self.upload_i64(targets);
            let f = self.dev.function("cross_entropy_rows_grad_f32");
            let mut b = self.dev.stream.launch_builder(f);
            b.arg(&self.data).arg(&lse.data).arg(&t).arg(&grad_rows.data).arg(&mut out).arg(&cols);
            let cfg = block_per_row(rows);
            let _timer = self.dev.profile("cross_entropy_rows_grad_f32");
            // SAFETY: one block per row; lse, targets and grad_rows hold one value per row.
            unsafe { b.launch(cfg) }.or_fatal("cross_entropy_rows_grad_f32");
        }
        self.wrap(out)
    }

    fn layer_norm_grad(&self, w: &Self, mean: &Self, rstd: &Self, g: &Self, cols: usize) -> (Self, Self, Self) {
        self.layer_norm_grad_composed(w, mean, rstd, g, cols)
    }

    fn index_add_(&mut self, g: &Self, shape: &[usize], dim: usize, idx: &[i64], out_shape: &[usize]) {
        self.index_add_composed(g, shape, dim, idx, out_shape)
    }

    fn narrow_add_(&mut self, g: &Self, shape: &[usize], dim: usize, start: usize, len: usize) {
        self.narrow_add_composed(g, shape, dim, start, len)
    }

    fn optim_step(slots: &mut [ParamSlot<'_, Self>], step: OptimStep) {
        super::optim::multi_tensor_step(slots, step)
    }

    fn softmax_last(&self, cols: usize, log: bool) -> Self {
        let n = self.len();
        let mut out = self.alloc(n);
        let rows = n / cols.max(1);
        if rows == 0 {
            return self.wrap(out);
        }
        let log = log as i32;
        let f = self.dev.function("softmax_rows_f32");
        let mut b = self.dev.stream.launch_builder(f);
        b.arg(&log).arg(&self.data).arg(&mut out).arg(&cols);
        let cfg = block_per_row(rows);
        let _timer = self.dev.profile("softmax_rows_f32");
        // SAFETY: one block per row of `cols` contiguous values.
        unsafe { b.launch(cfg) }.or_fatal("softmax_rows_f32");
        self.wrap(out)
    }
}

/// Indices are checked on the host, as the CPU backend does, so a bad label is a clear panic
/// instead of a wild read on the GPU.
fn check_indices(op: &str, idx: &[i64], size: usize) {
    if let Some(bad) = idx.iter().find(|&&i| i < 0 || i as usize >= size) {
        panic!("{op}: index {bad} out of range for a dimension of size {size}");
    }
}
