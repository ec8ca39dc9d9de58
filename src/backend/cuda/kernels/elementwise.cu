// Elementwise kernels: unary maps and their fused gradients, broadcasting binary ops, `where`,
// strided copies (permute, broadcast_to, narrow, cat) and fills. One thread per output element:
// i = blockIdx.x * blockDim.x + threadIdx.x, with the bounds check every kernel starts with.
// The op codes match `UnaryOp` / `BinaryOp` in src/ops (see src/backend/cuda/mod.rs).

#define MAX_DIMS 8

__device__ __forceinline__ float sigmoidf_(float x) {
    // two branches so that expf never overflows (as the CPU twin)
    if (x >= 0.0f) { return 1.0f / (1.0f + expf(-x)); }
    float e = expf(x);
    return e / (1.0f + e);
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
    }
    return 0.0f;
}

// ANCHOR: unary_kernel
extern "C" __global__ void unary_f32(int op, float a, float b, const float* x, float* y, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) { y[i] = unary_apply(op, a, b, x[i]); }
}
// ANCHOR_END: unary_kernel

// grad_x = grad_y · f'(x)
extern "C" __global__ void unary_grad_f32(int op, float a, float b, const float* x, const float* y,
                                          const float* g, float* out, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) { out[i] = g[i] * unary_derivative(op, a, b, x[i], y[i]); }
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

// Offset of output element i in an operand read through `strides` (0 on broadcast dims).
__device__ __forceinline__ size_t strided_offset(size_t i, int rank, const size_t* dims, const size_t* strides) {
    size_t off = 0;
    for (int k = rank - 1; k >= 0; --k) {
        size_t d = dims[k];
        off += (i % d) * strides[k];
        i /= d;
    }
    return off;
}

// info = [dims (rank), lhs strides (rank), rhs strides (rank)]
extern "C" __global__ void binary_f32(int op, int rank, const size_t* info, const float* a, const float* b,
                                      float* out, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) { return; }
    size_t oa = strided_offset(i, rank, info, info + rank);
    size_t ob = strided_offset(i, rank, info, info + 2 * rank);
    out[i] = binary_apply(op, a[oa], b[ob]);
}

// info = [dims, cond strides, a strides, b strides]
extern "C" __global__ void where_f32(int rank, const size_t* info, const float* c, const float* a, const float* b,
                                     float* out, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) { return; }
    size_t oc = strided_offset(i, rank, info, info + rank);
    size_t oa = strided_offset(i, rank, info, info + 2 * rank);
    size_t ob = strided_offset(i, rank, info, info + 3 * rank);
    out[i] = c[oc] != 0.0f ? a[oa] : b[ob];
}

// out[dst_offset + dst position of i] = x[src_offset + Σ i_k·src_strides[k]], i over `dims`.
// info = [dims, src strides, dst strides]. Permute, broadcast_to and narrow copy into a fresh
// contiguous output (dst strides contiguous, dst_offset 0); cat copies each part into its window.
extern "C" __global__ void strided_copy_f32(int rank, const size_t* info, const float* x, size_t src_offset,
                                            float* out, size_t dst_offset, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) { return; }
    size_t s = strided_offset(i, rank, info, info + rank);
    size_t d = strided_offset(i, rank, info, info + 2 * rank);
    out[dst_offset + d] = x[src_offset + s];
}

extern "C" __global__ void fill_f32(float* out, float v, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) { out[i] = v; }
}
