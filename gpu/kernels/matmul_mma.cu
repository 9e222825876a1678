// Prefill products on the tensor cores: out[m × rows] = x[m × cols] · Wᵀ (+ the LoRA term, fused into
// the epilogue as in matmul_quant.cu), through the wrapper header mma.cuh (bf16 mma.sync m16n8k16,
// ldmatrix). Same arguments as matmul_<encoding>_f32; the backend takes this kernel for many rows.
//
// Exact, not a bf16 approximation: the weights enter as their codes (quant.cuh's codes16: the
// quantized encodings' small integers, exact in bf16; value = scale·code + offset per 16 columns),
// and each activation as three bf16 parts x = x₀ + x₁ + x₂ (x₀ its rounding, x₁ the rounding of the
// rest, x₂ of what is left: together f32's 24 bits). Every product of a part and a code is exact in
// f32, the tensor core sums them in f32, and per 16 columns the epilogue applies the block's scale
// and adds offset·Σx — the sums the CUDA-core kernel forms, grouped differently.
//
// A block: 64 tokens × 64 weight rows, 4 warps; warp w owns tokens 16w … 16w + 15 against all 64 rows
// (eight n8 tiles). Per 32 columns the x tile (as parts) and the weight codes are staged in shared
// memory, then each 16-column half runs 3 parts × 8 tiles of mma.
#include "sq_cuda.cuh"
#include "quant.cuh"
#include "mma.cuh"
#include "matmul_common.cuh"

namespace {

constexpr int kTok = 64, kRows = 64, kCols = 32, kStride = kCols + 8;  // rows of 80 bytes: 16-byte aligned

template <class Q>
__device__ void matmul_mma_tile(const float* __restrict__ x, const unsigned char* __restrict__ w, float* __restrict__ out,
                                int m, int rows, int cols, const float* __restrict__ xa, const float* __restrict__ lora_b,
                                int r, float lora_scale) {
    SQ_SHARED(unsigned short, xs, [3][kTok][kStride]);  // bf16 parts of x
    SQ_SHARED(unsigned short, ws, [kRows][kStride]);    // bf16 codes of W
    SQ_SHARED(float, w_scale, [kRows][2]);              // per row and 16-column half
    SQ_SHARED(float, w_offset, [kRows][2]);
    SQ_SHARED(float, x_sum, [kTok][2]);                 // Σx per token and half, for the offsets
    int t = threadIdx.x, lane = t & 31, warp = t >> 5, g = lane >> 2, tq = lane & 3;
    int tok0 = blockIdx.y * kTok, row0 = blockIdx.x * kRows;
    size_t row_bytes = (size_t)(cols / Q::kValues) * Q::kBytes;
    float acc[8][4];
    for (int j = 0; j < 8; j++)
        for (int i = 0; i < 4; i++) acc[j][i] = 0.0f;
    for (int c0 = 0; c0 < cols; c0 += kCols) {
        // Stage: thread t takes token (and weight row) t / 2, columns 16·(t % 2) … + 15.
        {
            int rr = t >> 1, half = t & 1, tok = tok0 + rr, row = row0 + rr;
            float sum = 0.0f;
            for (int e = 0; e < 16; e += 2) {
                float v0 = 0.0f, v1 = 0.0f;
                if (tok < m) {
                    const float* xp = x + (size_t)tok * cols + c0 + 16 * half + e;
                    v0 = xp[0];
                    v1 = xp[1];
                }
                sum += v0 + v1;
                for (int p = 0; p < 3; p++) {
                    unsigned packed = sq_pack_bf16x2(v0, v1);
                    xs[p][rr][16 * half + e] = (unsigned short)(packed & 0xffffu);
                    xs[p][rr][16 * half + e + 1] = (unsigned short)(packed >> 16);
                    v0 -= __int_as_float((int)(packed << 16));  // exact: what the part left out
                    v1 -= __int_as_float((int)(packed & 0xffff0000u));
                }
            }
            x_sum[rr][half] = sum;
            float sc = 0.0f, off = 0.0f;
            unsigned short codes[16];
            if (row < rows) {
                int at = c0 % Q::kValues + 16 * half;
                Q::codes16(w + row * row_bytes + (size_t)(c0 / Q::kValues) * Q::kBytes, at, codes, sc, off);
            } else {
                for (int e = 0; e < 16; e++) codes[e] = 0;
            }
            for (int e = 0; e < 16; e++) ws[rr][16 * half + e] = codes[e];
            w_scale[rr][half] = sc;
            w_offset[rr][half] = off;
        }
        __syncthreads();
        for (int half = 0; half < 2; half++) {
            int k0 = 16 * half;
            unsigned a[3][4];
            for (int p = 0; p < 3; p++) sq_ldmatrix_x4(a[p], &xs[p][16 * warp + (lane & 15)][k0 + 8 * (lane >> 4)]);
            for (int j2 = 0; j2 < 4; j2++) {
                // Two n8 tiles: matrices (rows +0…7, k 0…7), (+0…7, 8…15), (+8…15, 0…7), (+8…15, 8…15).
                unsigned b[4];
                int mat = lane >> 3;
                sq_ldmatrix_x4(b, &ws[16 * j2 + 8 * (mat >> 1) + (lane & 7)][k0 + 8 * (mat & 1)]);
                for (int sub = 0; sub < 2; sub++) {
                    int j = 2 * j2 + sub;
                    unsigned bj[2] = {b[2 * sub], b[2 * sub + 1]};
                    float d[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                    for (int p = 2; p >= 0; p--) sq_mma_bf16_16816(d, a[p], bj, d);  // smallest part first
                    for (int i = 0; i < 4; i++) {
                        int row = 8 * j + 2 * tq + (i & 1), tok = 16 * warp + g + 8 * (i >> 1);
                        acc[j][i] += w_scale[row][half] * d[i] + w_offset[row][half] * x_sum[tok][half];
                    }
                }
            }
        }
        __syncthreads();
    }
    for (int j = 0; j < 8; j++)
        for (int i = 0; i < 4; i++) {
            int row = row0 + 8 * j + 2 * tq + (i & 1), tok = tok0 + 16 * warp + g + 8 * (i >> 1);
            if (row >= rows || tok >= m) continue;
            out[(size_t)tok * rows + row] = with_lora(acc[j][i], tok, row, xa, lora_b, r, lora_scale);
        }
}

}  // namespace

// matmul_mma_<encoding>_f32: launch grid (ceil(rows / 64), ceil(m / 64)), 128 threads; arguments as
// matmul_<encoding>_f32 (cols a multiple of the encoding's block).
#define SQ_MATMUL_MMA(name, Q) SQ_MATMUL_ENTRY(name, matmul_mma_tile, Q, 128)
SQ_MATMUL_MMA(matmul_mma_q8_0_f32, Q8_0)
SQ_MATMUL_MMA(matmul_mma_q4_1_f32, Q4_1)
SQ_MATMUL_MMA(matmul_mma_q4_k_f32, Q4_K)
SQ_MATMUL_MMA(matmul_mma_q6_k_f32, Q6_K)
SQ_MATMUL_MMA(matmul_mma_bf16_f32, BF16)
