// Products with the frozen quantized weights, and the LoRA term fused into their epilogue:
// out[m × rows] = x[m × cols] · Wᵀ (+ s · xa · Bᵀ, xa = x · Aᵀ from lora_xa_f32), W decoded from its GGUF
// blocks on the fly (rows of whole blocks, as the engine reads them), the adapter never merged.
//
// On CUDA cores, for decode steps (few rows; prefill goes to the tensor cores, matmul_mma.cu, for the
// encodings that have codes for them): a block computes a tile of 16 tokens × 64 weight rows, the
// x tile and the decoded weight tile staged in shared memory 32 columns at a time (one block of the
// 32-value encodings, an eighth of a K-quant super-block).
#include "sq_cuda.cuh"
#include "quant.cuh"
#include "matmul_common.cuh"

namespace {

constexpr int kTileTokens = 16, kTileRows = 64, kBlock = 32;

// The 256 threads are 16 (tokens) × 16; thread (tx, ty) computes token ty of the tile against weight
// rows tx, tx + 16, tx + 32, tx + 48.
template <class Q>
__device__ void matmul_tile(const float* __restrict__ x, const unsigned char* __restrict__ w, float* __restrict__ out,
                            int m, int rows, int cols, const float* __restrict__ xa, const float* __restrict__ lora_b,
                            int r, float scale) {
    SQ_SHARED(float, xs, [kTileTokens][kBlock + 1]);
    SQ_SHARED(float, ws, [kTileRows][kBlock + 1]);
    int t = threadIdx.x, tx = t % 16, ty = t / 16;
    int tok0 = blockIdx.y * kTileTokens, row0 = blockIdx.x * kTileRows;
    size_t row_bytes = (size_t)(cols / Q::kValues) * Q::kBytes;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int c0 = 0; c0 < cols; c0 += kBlock) {
        // x: 16 × 32 values, two per thread.
        for (int i = t; i < kTileTokens * kBlock; i += 256) {
            int tok = tok0 + i / kBlock, c = i % kBlock;
            xs[i / kBlock][c] = tok < m ? x[(size_t)tok * cols + c0 + c] : 0.0f;
        }
        // W: 64 rows × 32 values, eight per thread (a quarter of one row's 32 columns).
        {
            int rr = t / 4, part = (t % 4) * 8, row = row0 + rr;
            float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            if (row < rows)
                Q::decode8(w + row * row_bytes + (size_t)(c0 / Q::kValues) * Q::kBytes, c0 % Q::kValues + part, v);
            for (int e = 0; e < 8; e++) ws[rr][part + e] = v[e];
        }
        __syncthreads();
        for (int c = 0; c < kBlock; c++) {
            float xv = xs[ty][c];
            for (int k = 0; k < 4; k++) acc[k] += xv * ws[tx + 16 * k][c];
        }
        __syncthreads();
    }
    int tok = tok0 + ty;
    if (tok >= m) return;
    for (int k = 0; k < 4; k++) {
        int row = row0 + tx + 16 * k;
        if (row >= rows) continue;
        out[(size_t)tok * rows + row] = with_lora(acc[k], tok, row, xa, lora_b, r, scale);
    }
}

}  // namespace

// One kernel per weight encoding, matmul_<encoding>_f32. Launch: grid (ceil(rows / 64), ceil(m / 16)),
// 256 threads. cols is a multiple of the encoding's block (32 values; 256 for Q4_K and Q6_K). xa null:
// no LoRA term; otherwise xa [m × r] and lora_b [rows × r], scaled by `scale`.
#define SQ_MATMUL(name, Q) SQ_MATMUL_ENTRY(name, matmul_tile, Q, 256)
SQ_MATMUL(matmul_q8_0_f32, Q8_0)
SQ_MATMUL(matmul_q4_1_f32, Q4_1)
SQ_MATMUL(matmul_q4_k_f32, Q4_K)
SQ_MATMUL(matmul_q6_k_f32, Q6_K)
SQ_MATMUL(matmul_f32_f32, F32)
SQ_MATMUL(matmul_f16_f32, F16)
SQ_MATMUL(matmul_bf16_f32, BF16)

// y[m × dout] += scale · xa[m × r] · Bᵀ (B is dout × r): the LoRA term on its own, for a product that
// ran without it. One thread per output; launch ceil(m·dout / 256) blocks of 256.
extern "C" __global__ void __launch_bounds__(256) lora_b_add_f32(const float* __restrict__ xa,
                                                                 const float* __restrict__ b, float* __restrict__ y,
                                                                 int m, int dout, int r, float scale) {
    SQ_GRID_STRIDE(o, (size_t)m * dout) {
        size_t i = o / dout, j = o % dout;
        float l = 0.0f;
        for (int q = 0; q < r; q++) l += xa[i * r + q] * b[j * r + q];
        y[o] += scale * l;
    }
}

// xa[m × r] = x[m × din] · Aᵀ (A is r × din): the LoRA term's first product, kept for the epilogue
// (and for the backward). One warp per output value; launch ceil(m·r / 8) blocks of 256 threads.
extern "C" __global__ void __launch_bounds__(256) lora_xa_f32(const float* __restrict__ x,
                                                              const float* __restrict__ a, float* __restrict__ xa,
                                                              int m, int din, int r) {
    size_t o = (size_t)blockIdx.x * 8 + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    bool live = o < (size_t)m * r;  // every lane of a warp takes part in the sum below
    size_t i = live ? o / r : 0, q = live ? o % r : 0;
    float s = 0.0f;
    if (live)
        for (int c = lane; c < din; c += 32) s += x[i * din + c] * a[q * din + c];
    s = warp_sum(s);
    if (live && lane == 0) xa[o] = s;
}
