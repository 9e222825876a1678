// Training's products: the input gradient through a frozen weight, and the small dense products of
// the LoRA backward. Every output is summed by one thread in a fixed order (no atomics), so a result
// does not depend on how the threads are scheduled.
#include "sq_cuda.cuh"
#include "quant.cuh"

namespace {

constexpr int kTok = 16, kCols = 64, kK = 32;

// dx[m × cols] (+)= dy[m × rows] · W, W [rows × cols] decoded on the fly. A block: 16 tokens × 64
// columns, 256 threads as 16 (tokens) × 16; thread (tx, ty) sums token ty's columns tx, tx + 16,
// tx + 32, tx + 48 over W's rows, 32 at a time (dy's 16 × 32 and W's 32 × 64 staged in shared memory).
template <class Q>
__device__ void matmul_bwd_tile(const float* __restrict__ dy, const unsigned char* __restrict__ w, float* __restrict__ dx,
                                int m, int rows, int cols, int accumulate) {
    SQ_SHARED(float, ds, [kTok][kK + 1]);
    SQ_SHARED(float, ws, [kK][kCols + 1]);
    int t = threadIdx.x, tx = t % 16, ty = t / 16;
    int tok0 = blockIdx.y * kTok, col0 = blockIdx.x * kCols;
    size_t row_bytes = (size_t)(cols / Q::kValues) * Q::kBytes;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int k0 = 0; k0 < rows; k0 += kK) {
        for (int i = t; i < kTok * kK; i += 256) {
            int tok = tok0 + i / kK, k = k0 + i % kK;
            ds[i / kK][i % kK] = tok < m && k < rows ? dy[(size_t)tok * rows + k] : 0.0f;
        }
        // W: 32 rows × 64 columns, eight values per thread.
        {
            int kk = t / 8, part = (t % 8) * 8, row = k0 + kk, c = col0 + part;
            float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            if (row < rows && c < cols) Q::decode8(w + row * row_bytes + (size_t)(c / Q::kValues) * Q::kBytes, c % Q::kValues, v);
            for (int e = 0; e < 8; e++) ws[kk][part + e] = v[e];
        }
        __syncthreads();
        for (int k = 0; k < kK; k++) {
            float d = ds[ty][k];
            for (int j = 0; j < 4; j++) acc[j] += d * ws[k][tx + 16 * j];
        }
        __syncthreads();
    }
    int tok = tok0 + ty;
    if (tok >= m) return;
    for (int j = 0; j < 4; j++) {
        int c = col0 + tx + 16 * j;
        if (c >= cols) continue;
        float* o = dx + (size_t)tok * cols + c;
        *o = accumulate ? *o + acc[j] : acc[j];
    }
}

}  // namespace

// matmul_bwd_<encoding>_f32: launch grid (ceil(cols / 64), ceil(m / 16)), 256 threads; cols a
// multiple of the encoding's block; accumulate != 0 adds to dx.
#define SQ_MATMUL_BWD(name, Q)                                                                                \
    extern "C" __global__ void __launch_bounds__(256)                                                         \
        name(const float* dy, const unsigned char* w, float* dx, int m, int rows, int cols, int accumulate) { \
        matmul_bwd_tile<Q>(dy, w, dx, m, rows, cols, accumulate);                                             \
    }
SQ_MATMUL_BWD(matmul_bwd_q8_0_f32, Q8_0)
SQ_MATMUL_BWD(matmul_bwd_q4_1_f32, Q4_1)
SQ_MATMUL_BWD(matmul_bwd_q4_k_f32, Q4_K)
SQ_MATMUL_BWD(matmul_bwd_q6_k_f32, Q6_K)
SQ_MATMUL_BWD(matmul_bwd_f32_f32, F32)
SQ_MATMUL_BWD(matmul_bwd_f16_f32, F16)
SQ_MATMUL_BWD(matmul_bwd_bf16_f32, BF16)

// C[M × N] (+)= s · A·B for small strided operands (the LoRA backward's products, r = 8 … 64): element
// (i, k) of A at a[i·a_row + k·a_col], (k, j) of B at b[k·b_row + j·b_col], so transposes are strides.
// One thread per output, summing over k in order; accumulate != 0 adds to C. Launch over M·N threads.
extern "C" __global__ void __launch_bounds__(256)
    gemm_small_f32(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c, int M, int N, int K,
                   int a_row, int a_col, int b_row, int b_col, float scale, int accumulate) {
    SQ_GRID_STRIDE(o, (size_t)M * N) {
        size_t i = o / N, j = o % N;
        float s = 0.0f;
        for (int k = 0; k < K; k++) s += a[i * a_row + (size_t)k * a_col] * b[(size_t)k * b_row + j * b_col];
        c[o] = accumulate ? c[o] + scale * s : scale * s;
    }
}
