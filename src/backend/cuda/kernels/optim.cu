// Multi-tensor optimizer steps: one launch updates every parameter of a model, each thread
// walking the concatenation of all parameters (grid-stride). The arithmetic is that of the CPU
// twins in src/optim (sgd.rs, adam.rs), line for line.
//
// table (u64 words, p = number of parameters): w[p], g[p], s1[p], s2[p] (device pointers:
// parameter, gradient, first and second state buffer, 0 when unused), offsets[p + 1] (where each
// parameter starts in the concatenation), then a[p] and b[p]: per-parameter f32 scalars stored
// as bit patterns (SGD: a = 1 on the parameter's first step; Adam: a = step size, b = 1/√(1−β₂ᵗ)).

// The parameter holding element e: the last t with offsets[t] <= e (binary search).
__device__ __forceinline__ int owner(const unsigned long long* offsets, int p, unsigned long long e) {
    int lo = 0, hi = p - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (offsets[mid] <= e) { lo = mid; } else { hi = mid - 1; }
    }
    return lo;
}

__device__ __forceinline__ float scalar_at(const unsigned long long* table, int p, int which, int t) {
    return __uint_as_float((unsigned int)table[(5 + which) * p + 1 + t]);
}

// SGD with momentum μ, dampening keep = 1 − dampening, weight decay wd, Nesterov.
extern "C" __global__ void sgd_multi_f32(const unsigned long long* table, int p, unsigned long long total, float lr,
                                         float mu, float keep, float wd, int nesterov) {
    const unsigned long long* offsets = table + 4 * p;
    for (unsigned long long e = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; e < total;
         e += (unsigned long long)gridDim.x * blockDim.x) {
        int t = owner(offsets, p, e);
        unsigned long long i = e - offsets[t];
        float* w = (float*)table[t];
        const float* g = (const float*)table[p + t];
        float d = g[i];
        if (wd != 0.0f) { d += wd * w[i]; }
        if (mu != 0.0f) {
            float* buf = (float*)table[2 * p + t];
            buf[i] = scalar_at(table, p, 0, t) != 0.0f ? d : buf[i] * mu + keep * d;
            d = nesterov ? d + mu * buf[i] : buf[i];
        }
        w[i] += -lr * d;
    }
}

// Adam / AdamW (decoupled = 1): m ← m + (1−β₁)(d − m), v ← β₂v + (1−β₂)d²,
// w ← w − step_size · m / (√v · (1/√(1−β₂ᵗ)) + ε).
extern "C" __global__ void adam_multi_f32(const unsigned long long* table, int p, unsigned long long total, float w1,
                                          float b2, float w2, float eps, float decay, float l2, int decoupled) {
    const unsigned long long* offsets = table + 4 * p;
    for (unsigned long long e = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; e < total;
         e += (unsigned long long)gridDim.x * blockDim.x) {
        int t = owner(offsets, p, e);
        unsigned long long i = e - offsets[t];
        float* w = (float*)table[t];
        const float* g = (const float*)table[p + t];
        float* m = (float*)table[2 * p + t];
        float* v = (float*)table[3 * p + t];
        float d = g[i];
        if (decoupled) { w[i] *= decay; } else if (l2 != 0.0f) { d += l2 * w[i]; }
        m[i] += w1 * (d - m[i]);
        v[i] = v[i] * b2 + w2 * d * d;
        float denom = sqrtf(v[i]) * scalar_at(table, p, 1, t) + eps;
        w[i] += -scalar_at(table, p, 0, t) * (m[i] / denom);
    }
}
