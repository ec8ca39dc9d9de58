// Reductions over one dimension of a tensor viewed as (outer, n, inner), arg-reductions, and the
// row softmax. Row kernels use one block per row and a shared-memory tree (book chapter 9).

#define BLOCK 256
// NVRTC has no <math.h>: +∞ from its IEEE-754 bit pattern.
#define INF __int_as_float(0x7f800000)

// op: 0 sum, 1 max, 2 min
__device__ __forceinline__ float combine(int op, float acc, float v) {
    return op == 0 ? acc + v : (op == 1 ? fmaxf(acc, v) : fminf(acc, v));
}

__device__ __forceinline__ float identity(int op) {
    return op == 0 ? 0.0f : (op == 1 ? -INF : INF);
}

// Tree reduction of one value per thread within a block; every thread gets the result.
__device__ float block_reduce(int op, float v, float* shared) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) { shared[threadIdx.x] = combine(op, shared[threadIdx.x], shared[threadIdx.x + stride]); }
        __syncthreads();
    }
    float r = shared[0];
    __syncthreads();
    return r;
}

// inner == 1: block per output, the n values of a row are contiguous.
extern "C" __global__ void reduce_rows_f32(int op, const float* x, float* out, size_t n) {
    __shared__ float shared[BLOCK];
    const float* row = x + blockIdx.x * n;
    float acc = identity(op);
    for (size_t j = threadIdx.x; j < n; j += blockDim.x) { acc = combine(op, acc, row[j]); }
    float r = block_reduce(op, acc, shared);
    if (threadIdx.x == 0) { out[blockIdx.x] = r; }
}

// General case: one thread per output (o, i) walks the n values `inner` apart (coalesced over i).
extern "C" __global__ void reduce_strided_f32(int op, const float* x, float* out, size_t outer, size_t n, size_t inner) {
    size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (t >= outer * inner) { return; }
    size_t o = t / inner, i = t % inner;
    const float* base = x + o * n * inner + i;
    float acc = identity(op);
    for (size_t j = 0; j < n; ++j) { acc = combine(op, acc, base[j * inner]); }
    out[t] = acc;
}

// Index of the largest (largest = 1) or smallest value along n; first on ties, as the CPU twin.
extern "C" __global__ void arg_reduce_f32(int largest, const float* x, long long* out, size_t outer, size_t n, size_t inner) {
    size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (t >= outer * inner) { return; }
    size_t o = t / inner, i = t % inner;
    const float* base = x + o * n * inner + i;
    size_t best = 0;
    float best_v = base[0];
    for (size_t j = 1; j < n; ++j) {
        float v = base[j * inner];
        if ((largest && v > best_v) || (!largest && v < best_v)) { best = j; best_v = v; }
    }
    out[t] = (long long)best;
}

// Row softmax / log-softmax, max-subtracted: block per row.
extern "C" __global__ void softmax_rows_f32(int log_out, const float* x, float* y, size_t cols) {
    __shared__ float shared[BLOCK];
    const float* row = x + blockIdx.x * cols;
    float* out = y + blockIdx.x * cols;
    float m = -INF;
    for (size_t j = threadIdx.x; j < cols; j += blockDim.x) { m = fmaxf(m, row[j]); }
    m = block_reduce(1, m, shared);
    float s = 0.0f;
    for (size_t j = threadIdx.x; j < cols; j += blockDim.x) { s += expf(row[j] - m); }
    s = block_reduce(0, s, shared);
    if (log_out) {
        float ls = logf(s);
        for (size_t j = threadIdx.x; j < cols; j += blockDim.x) { out[j] = row[j] - m - ls; }
    } else {
        float inv = 1.0f / s;
        for (size_t j = threadIdx.x; j < cols; j += blockDim.x) { out[j] = expf(row[j] - m) * inv; }
    }
}

// Fused layer norm: block per row of `cols`; two tree reductions (mean, then variance about
// the mean), then y = (x − μ)·rstd·w + b. Writes μ and rstd per row for the backward pass.
extern "C" __global__ void layer_norm_f32(const float* x, const float* w, const float* b, float* y, float* mean,
                                          float* rstd, size_t cols, float eps) {
    __shared__ float shared[BLOCK];
    const float* row = x + blockIdx.x * cols;
    float* out = y + blockIdx.x * cols;
    float s = 0.0f;
    for (size_t j = threadIdx.x; j < cols; j += blockDim.x) { s += row[j]; }
    float mu = block_reduce(0, s, shared) / (float)cols;
    float v = 0.0f;
    for (size_t j = threadIdx.x; j < cols; j += blockDim.x) { float d = row[j] - mu; v += d * d; }
    float rs = rsqrtf(block_reduce(0, v, shared) / (float)cols + eps);
    for (size_t j = threadIdx.x; j < cols; j += blockDim.x) { out[j] = (row[j] - mu) * rs * w[j] + b[j]; }
    if (threadIdx.x == 0) { mean[blockIdx.x] = mu; rstd[blockIdx.x] = rs; }
}
