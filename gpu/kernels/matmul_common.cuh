// What the two product kernels (matmul_quant.cu on CUDA cores, matmul_mma.cu on tensor cores) share:
// the fused LoRA epilogue and the shape of their entry points.
#pragma once

// y + s · xa[tok] · lora_b[row] (xa [m × r], lora_b [rows × r]); xa null: y alone.
__device__ __forceinline__ float with_lora(float y, size_t tok, size_t row, const float* __restrict__ xa,
                                           const float* __restrict__ lora_b, int r, float scale) {
    if (!xa) return y;
    float l = 0.0f;
    for (int q = 0; q < r; q++) l += xa[tok * r + q] * lora_b[row * r + q];
    return y + scale * l;
}

// An entry point `name` running tile<Q> with the products' arguments, at most `threads` per block.
#define SQ_MATMUL_ENTRY(name, tile, Q, threads)                                                            \
    extern "C" __global__ void __launch_bounds__(threads)                                                  \
        name(const float* x, const unsigned char* w, float* out, int m, int rows, int cols, const float* xa, \
             const float* lora_b, int r, float scale) {                                                    \
        tile<Q>(x, w, out, m, rows, cols, xa, lora_b, r, scale);                                           \
    }
