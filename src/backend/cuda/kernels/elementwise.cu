// Elementwise kernels: unary maps and their fused gradients, broadcasting binary ops, `where`,
// strided copies (permute, broadcast_to, narrow, cat) and fills. One thread per output element:
// i = blockIdx.x * blockDim.x + threadIdx.x, with the bounds check every kernel starts with.
// The op codes match `UnaryOp` / `BinaryOp` in src/ops (see src/backend/cuda/mod.rs).

// Shapes and strides travel by value as a kernel parameter (no copy to the GPU per launch):
// up to 32 words, i.e. rank ≤ 8 with three operands (see ShapeInfo in storage.rs).
struct ShapeInfo { size_t v[32]; };

__device__ __forceinline__ float sigmoidf_(float x) {
    // two branches so that expf never overflows (as the CPU twin)
    if (x >= 0.0f) { return 1.0f / (1.0f + expf(-x)); }
    float e = expf(x);
    return e / (1.0f + e);
}

// The nearest bfloat16 / IEEE half, ties to even, as a float: the bit rounding of
// round_bf16 / round_fp16 in src/backend/op/unary.rs.
__device__ float round_bf16_(float x) {
    if (isnan(x)) return x;
    unsigned int bits = __float_as_uint(x);
    return __uint_as_float((bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u);
}

__device__ float round_fp16_(float x) {
    if (isnan(x)) return x;
    if (fabsf(x) < 6.103515625e-5f) return rintf(x * 16777216.0f) * 5.9604644775390625e-8f;
    unsigned int bits = __float_as_uint(x);
    float y = __uint_as_float((bits + 0xfffu + ((bits >> 13) & 1u)) & 0xffffe000u);
    return fabsf(y) > 65504.0f ? copysignf(__uint_as_float(0x7f800000u), x) : y;
}

__device__ float unary_apply(int op, float a, float b, float x) {
    const float SQRT_2_OVER_PI = 0.7978845608f, GELU_C = 0.044715f;
    switch (op) {
        case 0: return -x;                                   // neg
        case 1: return expf(x);                              // exp
        case 2: return logf(x);                              // log
        case 3: return sqrtf(x);                             // sqrt
        case 4: return fabsf(x);                             // abs
        case 5: return fmaxf(x, 0.0f);                       // relu
        case 6: return x > 0.0f ? x : a * x;                 // leaky_relu(a)
        case 7: return sigmoidf_(x);                         // sigmoid
        case 8: return tanhf(x);                             // tanh
        case 9: return 0.5f * x * (1.0f + erff(x * 0.70710678f));                      // gelu (erf)
        case 10: return x / (1.0f + expf(-2.0f * SQRT_2_OVER_PI * (x + GELU_C * x * x * x)));  // gelu_tanh = x·σ(2u)
        case 11: return x * sigmoidf_(x);                    // silu
        case 12: return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));  // softplus
        case 13: return powf(x, a);                          // pow(a)
        case 14: return x + a;                               // add_scalar(a)
        case 15: return a * x;                               // mul_scalar(a)
        case 16: return fminf(fmaxf(x, a), b);               // clamp(a, b)
        case 17: return round_bf16_(x);                      // round_bf16
        case 18: return round_fp16_(x);                      // round_fp16
    }
    return 0.0f;
}

// f'(x) given x and y = f(x): the same formulas as UnaryOp::derivative.
__device__ float unary_derivative(int op, float a, float b, float x, float y) {
    const float SQRT_2_OVER_PI = 0.7978845608f, GELU_C = 0.044715f, INV_SQRT_2PI = 0.3989422804f;
    switch (op) {
        case 0: return -1.0f;
        case 1: return y;
        case 2: return 1.0f / x;
        case 3: return 0.5f / y;
        case 4: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
        case 5: return x > 0.0f ? 1.0f : 0.0f;
        case 6: return x > 0.0f ? 1.0f : a;
        case 7: return y * (1.0f - y);
        case 8: return 1.0f - y * y;
        case 9: return 0.5f * (1.0f + erff(x * 0.70710678f)) + x * INV_SQRT_2PI * expf(-0.5f * x * x);
        case 10: {
            float s = sigmoidf_(2.0f * SQRT_2_OVER_PI * (x + GELU_C * x * x * x));
            return s + 2.0f * x * s * (1.0f - s) * SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * x * x);
        }
        case 11: { float s = sigmoidf_(x); return s * (1.0f + x * (1.0f - s)); }
        case 12: return sigmoidf_(x);
        case 13: return a == 0.0f ? 0.0f : a * powf(x, a - 1.0f);
        case 14: return 1.0f;
        case 15: return a;
        case 16: return (x >= a && x <= b) ? 1.0f : 0.0f;
        case 17: case 18: return 1.0f;                       // casts pass the gradient through
    }
    return 0.0f;
}

// Contiguous kernels give each thread 4 neighbouring elements, loaded and stored as one float4
// (16 bytes): a quarter of the memory instructions of one-element threads, which is what a
// memory-bound kernel is limited by. Buffers start 256-byte aligned (cudaMallocAsync), so the
// float4 accesses are aligned; the last, partial group of a length not divisible by 4 goes
// element by element.
__device__ __forceinline__ float4 load4(const float* p) { return *reinterpret_cast<const float4*>(p); }
__device__ __forceinline__ void store4(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }

// ANCHOR: unary_kernel
// y = f(x), 4 elements per thread (the grid covers ⌈n/4⌉ threads).
extern "C" __global__ void unary_f32(int op, float a, float b, const float* x, float* y, size_t n) {
    size_t i = 4 * (blockIdx.x * (size_t)blockDim.x + threadIdx.x);
    if (i + 3 < n) {
        float4 v = load4(x + i);
        store4(y + i, make_float4(unary_apply(op, a, b, v.x), unary_apply(op, a, b, v.y),
                                  unary_apply(op, a, b, v.z), unary_apply(op, a, b, v.w)));
    } else {
        for (; i < n; ++i) { y[i] = unary_apply(op, a, b, x[i]); }
    }
}
// ANCHOR_END: unary_kernel

// grad_x = grad_y · f'(x)
extern "C" __global__ void unary_grad_f32(int op, float a, float b, const float* x, const float* y,
                                          const float* g, float* out, size_t n) {
    size_t i = 4 * (blockIdx.x * (size_t)blockDim.x + threadIdx.x);
    if (i + 3 < n) {
        float4 vx = load4(x + i), vy = load4(y + i), vg = load4(g + i);
        store4(out + i, make_float4(vg.x * unary_derivative(op, a, b, vx.x, vy.x),
                                    vg.y * unary_derivative(op, a, b, vx.y, vy.y),
                                    vg.z * unary_derivative(op, a, b, vx.z, vy.z),
                                    vg.w * unary_derivative(op, a, b, vx.w, vy.w)));
    } else {
        for (; i < n; ++i) { out[i] = g[i] * unary_derivative(op, a, b, x[i], y[i]); }
    }
}

__device__ float binary_apply(int op, float a, float b) {
    switch (op) {
        case 0: return a + b;
        case 1: return a - b;
        case 2: return a * b;
        case 3: return a / b;
        case 4: return powf(a, b);
        case 5: return fmaxf(a, b);
        case 6: return fminf(a, b);
        case 7: return a > b ? 1.0f : 0.0f;
        case 8: return a >= b ? 1.0f : 0.0f;
        case 9: return a < b ? 1.0f : 0.0f;
        case 10: return a <= b ? 1.0f : 0.0f;
        case 11: return a == b ? 1.0f : 0.0f;
        case 12: return a != b ? 1.0f : 0.0f;
    }
    return 0.0f;
}

// Offsets of output element i in K operands: info = [dims (rank), strides of operand 0 (rank),
// …, strides of operand K−1] (0 on broadcast dims). The multi-index is computed once for all
// operands, in index type I: 32-bit (idx32 = 1) when the host has checked that every index and
// offset fits, as 32-bit division is several times cheaper than 64-bit. The host also merges
// dimensions that can be walked as one, so rank is usually 1 or 2.
template <typename I, int K>
__device__ __forceinline__ void strided_offsets(I i, int rank, const size_t* info, I* off) {
    for (int k = 0; k < K; ++k) { off[k] = 0; }
    for (int d = rank - 1; d >= 0; --d) {
        I dim = (I)info[d];
        I pos = i % dim;
        i /= dim;
        for (int k = 0; k < K; ++k) { off[k] += pos * (I)info[(k + 1) * rank + d]; }
    }
}

template <typename I>
__device__ __forceinline__ void binary_at(int op, I i, int rank, const size_t* info, const float* a, const float* b, float* out) {
    I off[2];
    strided_offsets<I, 2>(i, rank, info, off);
    out[i] = binary_apply(op, a[off[0]], b[off[1]]);
}

// info = [dims (rank), lhs strides (rank), rhs strides (rank)]
extern "C" __global__ void binary_f32(int op, int idx32, int rank, ShapeInfo info, const float* a, const float* b,
                                      float* out, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) { return; }
    if (idx32) {
        binary_at<unsigned int>(op, (unsigned int)i, rank, info.v, a, b, out);
    } else {
        binary_at<size_t>(op, i, rank, info.v, a, b, out);
    }
}

// Both operands contiguous and of the output's shape: no index arithmetic at all.
extern "C" __global__ void binary_contig_f32(int op, const float* a, const float* b, float* out, size_t n) {
    size_t i = 4 * (blockIdx.x * (size_t)blockDim.x + threadIdx.x);
    if (i + 3 < n) {
        float4 va = load4(a + i), vb = load4(b + i);
        store4(out + i, make_float4(binary_apply(op, va.x, vb.x), binary_apply(op, va.y, vb.y),
                                    binary_apply(op, va.z, vb.z), binary_apply(op, va.w, vb.w)));
    } else {
        for (; i < n; ++i) { out[i] = binary_apply(op, a[i], b[i]); }
    }
}

template <typename I>
__device__ __forceinline__ void where_at(I i, int rank, const size_t* info, const float* c, const float* a, const float* b,
                                         float* out) {
    I off[3];
    strided_offsets<I, 3>(i, rank, info, off);
    out[i] = c[off[0]] != 0.0f ? a[off[1]] : b[off[2]];
}

// info = [dims, cond strides, a strides, b strides]
extern "C" __global__ void where_f32(int idx32, int rank, ShapeInfo info, const float* c, const float* a, const float* b,
                                     float* out, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) { return; }
    if (idx32) {
        where_at<unsigned int>((unsigned int)i, rank, info.v, c, a, b, out);
    } else {
        where_at<size_t>(i, rank, info.v, c, a, b, out);
    }
}

// out[dst_offset + dst position of i] = x[src_offset + Σ i_k·src_strides[k]], i over `dims`.
// info = [dims, src strides, dst strides]. Permute, broadcast_to and narrow copy into a fresh
// contiguous output (dst strides contiguous, dst_offset 0); cat copies each part into its window.
extern "C" __global__ void strided_copy_f32(int idx32, int rank, ShapeInfo info, const float* x, size_t src_offset,
                                            float* out, size_t dst_offset, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) { return; }
    if (idx32) {
        unsigned int off[2];
        strided_offsets<unsigned int, 2>((unsigned int)i, rank, info.v, off);
        out[dst_offset + off[1]] = x[src_offset + off[0]];
    } else {
        size_t off[2];
        strided_offsets<size_t, 2>(i, rank, info.v, off);
        out[dst_offset + off[1]] = x[src_offset + off[0]];
    }
}

extern "C" __global__ void fill_f32(float* out, float v, size_t n) {
    size_t i = 4 * (blockIdx.x * (size_t)blockDim.x + threadIdx.x);
    if (i + 3 < n) {
        store4(out + i, make_float4(v, v, v, v));
    } else {
        for (; i < n; ++i) { out[i] = v; }
    }
}
