// Integer indexing: index_select / index_add (embedding lookups and their gradient) and
// gather / scatter_add (picking the label's logit). Gradients accumulate with atomicAdd because
// one index may be used by many rows.

// Shapes and strides travel by value as a kernel parameter (no copy to the GPU per launch):
// up to 32 words, i.e. rank ≤ 8 with three operands (see ShapeInfo in storage.rs).
struct ShapeInfo { size_t v[32]; };

// out (outer, m, inner)[o, j, :] = x (outer, n, inner)[o, idx[j], :]
extern "C" __global__ void index_select_f32(const float* x, const long long* idx, float* out,
                                            size_t outer, size_t n, size_t m, size_t inner) {
    size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (t >= outer * m * inner) { return; }
    size_t i = t % inner, j = (t / inner) % m, o = t / (inner * m);
    out[t] = x[(o * n + (size_t)idx[j]) * inner + i];
}

// out (outer, n, inner) += g (outer, m, inner) at rows idx: out must start zeroed.
extern "C" __global__ void index_add_f32(const float* g, const long long* idx, float* out,
                                         size_t outer, size_t n, size_t m, size_t inner) {
    size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (t >= outer * m * inner) { return; }
    size_t i = t % inner, j = (t / inner) % m, o = t / (inner * m);
    atomicAdd(&out[(o * n + (size_t)idx[j]) * inner + i], g[t]);
}

// Offset in a tensor of `dims` (strides `strides`) of index-tensor element e (shape `idx_dims`),
// with dimension `dim` replaced by idx[e]. info = [idx_dims (rank), strides (rank)].
__device__ size_t gather_offset(size_t e, int rank, int dim, const size_t* info, long long v) {
    const size_t* idx_dims = info;
    const size_t* strides = info + rank;
    size_t off = 0;
    for (int k = rank - 1; k >= 0; --k) {
        size_t pos = e % idx_dims[k];
        e /= idx_dims[k];
        off += (k == dim ? (size_t)v : pos) * strides[k];
    }
    return off;
}

extern "C" __global__ void gather_f32(int rank, int dim, ShapeInfo info, const float* x, const long long* idx,
                                      float* out, size_t n) {
    size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (e < n) { out[e] = x[gather_offset(e, rank, dim, info.v, idx[e])]; }
}

extern "C" __global__ void scatter_add_f32(int rank, int dim, ShapeInfo info, const float* src,
                                           const long long* idx, float* out, size_t n) {
    size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (e < n) { atomicAdd(&out[gather_offset(e, rank, dim, info.v, idx[e])], src[e]); }
}
