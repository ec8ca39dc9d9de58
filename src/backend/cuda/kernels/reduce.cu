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

// inner == 1: the n values of a row are contiguous. Block (row, z) reduces the row's chunk
// [z·chunk, (z+1)·chunk) and writes out[row·gridDim.y + z]: with one chunk that is the result,
// with several the host reduces the partials in a second launch (a long row then spreads over
// many SMs instead of one).
extern "C" __global__ void reduce_rows_f32(int op, const float* x, float* out, size_t n, size_t chunk) {
    __shared__ float shared[BLOCK];
    const float* row = x + blockIdx.x * n;
    size_t j0 = blockIdx.y * chunk, j1 = min(n, j0 + chunk);
    float acc = identity(op);
    for (size_t j = j0 + threadIdx.x; j < j1; j += blockDim.x) { acc = combine(op, acc, row[j]); }
    float r = block_reduce(op, acc, shared);
    if (threadIdx.x == 0) { out[blockIdx.x * gridDim.y + blockIdx.y] = r; }
}

// inner > 1: a block of 32×8 threads takes 32 neighbouring columns i (coalesced reads) of one
// o, its 8 rows of threads splitting the n values, then combines the 8 partials in shared memory.
// blockIdx.x = o·tiles + tile; blockIdx.y picks the chunk of n, as in reduce_rows_f32, and out is
// (outer, gridDim.y, inner).
extern "C" __global__ void reduce_cols_f32(int op, const float* x, float* out, size_t n, size_t inner, size_t chunk) {
    __shared__ float shared[8][33];
    size_t tiles = (inner + 31) / 32;
    size_t o = blockIdx.x / tiles, i = (blockIdx.x % tiles) * 32 + threadIdx.x;
    size_t j0 = blockIdx.y * chunk, j1 = min(n, j0 + chunk);
    float acc = identity(op);
    if (i < inner) {
        const float* base = x + o * n * inner + i;
        for (size_t j = j0 + threadIdx.y; j < j1; j += 8) { acc = combine(op, acc, base[j * inner]); }
    }
    shared[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && i < inner) {
        float r = shared[0][threadIdx.x];
        for (int y = 1; y < 8; ++y) { r = combine(op, r, shared[y][threadIdx.x]); }
        out[(o * gridDim.y + blockIdx.y) * inner + i] = r;
    }
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

// A row's maximum m and Σ exp(x − m), each reduced over the block (every thread gets both).
__device__ void row_max_sumexp(const float* row, size_t cols, float* shared, float* m_out, float* s_out) {
    float m = -INF;
    for (size_t j = threadIdx.x; j < cols; j += blockDim.x) { m = fmaxf(m, row[j]); }
    m = block_reduce(1, m, shared);
    float s = 0.0f;
    for (size_t j = threadIdx.x; j < cols; j += blockDim.x) { s += expf(row[j] - m); }
    *m_out = m;
    *s_out = block_reduce(0, s, shared);
}

// Row softmax / log-softmax, max-subtracted: block per row.
extern "C" __global__ void softmax_rows_f32(int log_out, const float* x, float* y, size_t cols) {
    __shared__ float shared[BLOCK];
    const float* row = x + blockIdx.x * cols;
    float* out = y + blockIdx.x * cols;
    float m, s;
    row_max_sumexp(row, cols, shared, &m, &s);
    if (log_out) {
        float ls = logf(s);
        for (size_t j = threadIdx.x; j < cols; j += blockDim.x) { out[j] = row[j] - m - ls; }
    } else {
        float inv = 1.0f / s;
        for (size_t j = threadIdx.x; j < cols; j += blockDim.x) { out[j] = expf(row[j] - m) * inv; }
    }
}

// Softmax's backward, block per row: dx = y·(g − Σ g·y), one reduction and one pass.
extern "C" __global__ void softmax_grad_rows_f32(const float* y, const float* g, float* out, size_t cols) {
    __shared__ float shared[BLOCK];
    const float* yr = y + blockIdx.x * cols;
    const float* gr = g + blockIdx.x * cols;
    float* o = out + blockIdx.x * cols;
    float dot = 0.0f;
    for (size_t j = threadIdx.x; j < cols; j += blockDim.x) { dot += yr[j] * gr[j]; }
    dot = block_reduce(0, dot, shared);
    for (size_t j = threadIdx.x; j < cols; j += blockDim.x) { o[j] = yr[j] * (gr[j] - dot); }
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

// Fused cross-entropy, block per row: lse = m + log Σ exp(z − m) and ℓ = lse − z[target].
extern "C" __global__ void cross_entropy_rows_f32(const float* z, const long long* targets, float* loss, float* lse,
                                                  size_t cols) {
    __shared__ float shared[BLOCK];
    const float* row = z + blockIdx.x * cols;
    float m, s;
    row_max_sumexp(row, cols, shared, &m, &s);
    if (threadIdx.x == 0) {
        float e = m + logf(s);
        lse[blockIdx.x] = e;
        loss[blockIdx.x] = e - row[targets[blockIdx.x]];
    }
}

// Its gradient, block per row: ∂L/∂z = g·(exp(z − lse) − onehot(target)).
extern "C" __global__ void cross_entropy_rows_grad_f32(const float* z, const float* lse, const long long* targets,
                                                       const float* g, float* out, size_t cols) {
    const float* row = z + blockIdx.x * cols;
    float* o = out + blockIdx.x * cols;
    float e = lse[blockIdx.x], gr = g[blockIdx.x];
    long long t = targets[blockIdx.x];
    for (size_t j = threadIdx.x; j < cols; j += blockDim.x) {
        o[j] = gr * (expf(row[j] - e) - ((long long)j == t ? 1.0f : 0.0f));
    }
}
