// Training's small ops: the row scatter (gather_rows' backward), dropout, the RMSNorm and SwiGLU
// backwards, the sum of squares (gradient norms) and AdamW. Each gives the same result in any thread
// order (no atomics): the sums are over fixed assignments of values to threads, in fixed order.
#include "sq_cuda.cuh"

// Single roundings the compiler must not contract: NVRTC (--fmad=true) fuses a·b + c into one FMA,
// which rounds once where the CPU (Rust, which never contracts) rounds twice. The _rn intrinsics are
// never contracted, and __fdiv_rn / __fsqrt_rn are IEEE whatever -prec-div / -prec-sqrt say. On the
// CPU each is a call of its own, which the host compiler does not contract either (C++17, separate
// expressions), and / and std::sqrt are IEEE.
#ifdef __CUDACC__
static __device__ __forceinline__ float rn_mul(float a, float b) { return __fmul_rn(a, b); }
static __device__ __forceinline__ float rn_add(float a, float b) { return __fadd_rn(a, b); }
static __device__ __forceinline__ float rn_sub(float a, float b) { return __fsub_rn(a, b); }
static __device__ __forceinline__ float rn_div(float a, float b) { return __fdiv_rn(a, b); }
static __device__ __forceinline__ float rn_sqrt(float a) { return __fsqrt_rn(a); }
#else
static inline float rn_mul(float a, float b) { return a * b; }
static inline float rn_add(float a, float b) { return a + b; }
static inline float rn_sub(float a, float b) { return a - b; }
static inline float rn_div(float a, float b) { return a / b; }
static inline float rn_sqrt(float a) { return std::sqrt(a); }
#endif

// out row rows[i] = x row i, for `count` rows of n (the rows distinct; the other rows of out untouched).
extern "C" __global__ void scatter_rows_f32(const float* __restrict__ x, const unsigned* __restrict__ rows,
                                            float* __restrict__ out, int count, int n) {
    SQ_GRID_STRIDE(i, (size_t)count * n) out[(size_t)rows[i / n] * n + i % n] = x[i];
}

// kernel/src/rng.rs's splitmix64_mix, bit for bit.
static __device__ __forceinline__ unsigned long long sq_splitmix64_mix(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// rng::dropout_keeps(seed, i, p): the top 24 bits of the mix as a value in [0, 1) (exact in f32), kept
// where it is at least p.
static __device__ __forceinline__ bool sq_dropout_keeps(unsigned long long seed, unsigned long long i, float p) {
    unsigned long long z = sq_splitmix64_mix(seed ^ ((i + 1ull) * 0x9E3779B97F4A7C15ull));
    return (float)(z >> 40) * (1.0f / 16777216.0f) >= p;
}

// out[i] = x[i]·scale where dropout keeps element i (seed = seed_hi·2³² + seed_lo), else 0; scale is
// the host's 1 / (1 − p) in f32, as the CPU computes it.
extern "C" __global__ void dropout_f32(const float* __restrict__ x, float* __restrict__ out, int n, float p, float scale,
                                       unsigned seed_lo, unsigned seed_hi) {
    unsigned long long seed = ((unsigned long long)seed_hi << 32) | seed_lo;
    SQ_GRID_STRIDE(i, n) out[i] = sq_dropout_keeps(seed, (unsigned long long)i, p) ? x[i] * scale : 0.0f;
}

// RMSNorm's backward for the row blockIdx.x of n values: dx = inv·(dy⊙w) − inv³/n·x·Σ(dy⊙w⊙x), with
// inv = 1/sqrt(mean(x²) + eps); inv is saved to inv_out[row] where inv_out is not null (for dw).
extern "C" __global__ void rmsnorm_bwd_f32(const float* __restrict__ dy, const float* __restrict__ x,
                                           const float* __restrict__ w, float* __restrict__ dx,
                                           float* __restrict__ inv_out, int n, float eps) {
    size_t row = blockIdx.x;
    const float* xr = x + row * n;
    const float* gr = dy + row * n;
    float* d = dx + row * n;
    float ss = 0.0f, dot = 0.0f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        float xv = xr[j];
        ss += xv * xv;
        dot += gr[j] * w[j] * xv;
    }
    ss = block_sum(ss);
    dot = block_sum(dot);
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
    float k = inv * inv * inv * dot / (float)n;
    for (int j = threadIdx.x; j < n; j += blockDim.x) d[j] = gr[j] * w[j] * inv - k * xr[j];
    if (inv_out != nullptr && threadIdx.x == 0) inv_out[row] = inv;
}

// dw's share of the rows [c·chunk_rows, (c + 1)·chunk_rows) for c = blockIdx.y, one thread per column
// j, the rows in order: partial[c·n + j] = Σ inv[r]·(dy[r, j]·x[r, j]).
extern "C" __global__ void rmsnorm_bwd_dw_partial_f32(const float* __restrict__ dy, const float* __restrict__ x,
                                                      const float* __restrict__ inv, float* __restrict__ partial,
                                                      int m, int n, int chunk_rows) {
    int j = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (j >= n) return;
    int r0 = (int)blockIdx.y * chunk_rows, r1 = m - r0 < chunk_rows ? m : r0 + chunk_rows;
    float acc = 0.0f;
    for (int r = r0; r < r1; r++) {
        size_t o = (size_t)r * n + j;
        acc += inv[r] * (dy[o] * x[o]);
    }
    partial[(size_t)blockIdx.y * n + j] = acc;
}

// dw[j] += Σ_c partial[c·n + j] over the chunks in order, one thread per column.
extern "C" __global__ void rmsnorm_bwd_dw_sum_f32(const float* __restrict__ partial, float* __restrict__ dw, int chunks,
                                                  int n) {
    SQ_GRID_STRIDE(j, n) {
        float acc = 0.0f;
        for (int c = 0; c < chunks; c++) acc += partial[(size_t)c * n + j];
        dw[j] += acc;
    }
}

// SwiGLU's backward: d gate = dy·up·σ(g)·(1 + g·σ(−g)), d up = dy·g·σ(g), with σ(−g) = 1 − σ(g) from its
// own exp (no cancellation; 0, not NaN, where exp(g) overflows), as the CPU computes it.
extern "C" __global__ void swiglu_bwd_f32(const float* __restrict__ dy, const float* __restrict__ gate,
                                          const float* __restrict__ up, float* __restrict__ dgate,
                                          float* __restrict__ dup, int n) {
    SQ_GRID_STRIDE(i, n) {
        float g = gate[i], d = dy[i];
        float sig = 1.0f / (1.0f + expf(-g));
        float sig_neg = 1.0f / (1.0f + expf(g));
        dgate[i] = d * up[i] * (sig * (g * sig_neg + 1.0f));
        dup[i] = d * (g * sig);
    }
}

// A sum over the block's threads (blockDim.x a multiple of 32, at most 1,024) in double, in an order
// fixed by the thread indices; every thread gets it and must call it.
static __device__ __forceinline__ double block_sum_f64(double v) {
    SQ_SHARED(double, partial, [32]);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    return v;
}

// partial[blockIdx.x] = Σ x[i]² over the block's grid-stride share of the n values, in double (the
// host sums the blocks' partials in order: the result depends on the grid, never on scheduling).
extern "C" __global__ void sum_squares_f32(const float* __restrict__ x, double* __restrict__ partial, int n) {
    double acc = 0.0;
    SQ_GRID_STRIDE(i, n) {
        double v = x[i];
        acc += v * v;
    }
    acc = block_sum_f64(acc);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// One AdamW step, kernel/src/cpu/ops/adamw.rs's arithmetic operation for operation, from the constants
// the host computed in f64 and rounded once: decay = 1 − lr·wd, b1, b2, c1 = 1 − β1, c2 = 1 − β2,
// lr_t = lr / (1 − β1^t), bc2 = sqrt(1 − β2^t), eps, scale = grad_scale. Every operation rounds on its
// own (rn_*): with contraction, --fmad=true would fuse b1·m + c1·g (and the others) into FMAs and
// change the last bit against the CPU's.
extern "C" __global__ void adamw_f32(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                     float* __restrict__ v, int n, float decay, float b1, float b2, float c1, float c2,
                                     float lr_t, float bc2, float eps, float scale) {
    SQ_GRID_STRIDE(i, n) {
        float gi = rn_mul(g[i], scale);
        float mi = rn_add(rn_mul(b1, m[i]), rn_mul(c1, gi));
        float vi = rn_add(rn_mul(b2, v[i]), rn_mul(rn_mul(c2, gi), gi));
        float denom = rn_add(rn_div(rn_sqrt(vi), bc2), eps);
        p[i] = rn_sub(rn_mul(p[i], decay), rn_div(rn_mul(lr_t, mi), denom));
        m[i] = mi;
        v[i] = vi;
    }
}
