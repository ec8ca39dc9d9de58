// Fused optimizer steps: one thread per parameter element reads the gradient and state and
// writes the new parameter and state, with the arithmetic of src/optim (the CPU twins).

// SGD with momentum μ, dampening keep = 1 − dampening, weight decay wd, Nesterov; first = 1 on
// the first step (the buffer becomes the gradient).
extern "C" __global__ void sgd_f32(float* w, const float* g, float* buf, float lr, float mu, float keep, float wd,
                                   int nesterov, int first, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) { return; }
    float d = g[i];
    if (wd != 0.0f) { d += wd * w[i]; }
    if (mu != 0.0f) {
        buf[i] = first ? d : buf[i] * mu + keep * d;
        d = nesterov ? d + mu * buf[i] : buf[i];
    }
    w[i] += -lr * d;
}

// Adam / AdamW (decoupled = 1): scalars precomputed on the host as the CPU twin does.
extern "C" __global__ void adam_f32(float* w, const float* g, float* m, float* v, float step_size, float inv_bc2_sqrt,
                                    float w1, float b2, float w2, float eps, float decay, float l2, int decoupled, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= n) { return; }
    float d = g[i];
    if (decoupled) { w[i] *= decay; } else if (l2 != 0.0f) { d += l2 * w[i]; }
    m[i] += w1 * (d - m[i]);
    v[i] = v[i] * b2 + w2 * d * d;
    float denom = sqrtf(v[i]) * inv_bc2_sqrt + eps;
    w[i] += -step_size * (m[i] / denom);
}
