// Embedding lookup: rows of the (possibly quantized) table, decoded.
#include "sq_cuda.cuh"
#include "quant.cuh"

// out[i] = row ids[i] of w (cols values, a multiple of the encoding's block), one thread per 8 values;
// launch over n_ids · cols / 8 threads in any grid.
template <class Q>
__device__ void embed_rows(const unsigned char* __restrict__ w, const unsigned* __restrict__ ids, float* __restrict__ out,
                           int n_ids, int cols) {
    size_t groups = (size_t)cols / 8, row_bytes = (size_t)(cols / Q::kValues) * Q::kBytes;
    SQ_GRID_STRIDE(g, (size_t)n_ids * groups) {
        size_t i = g / groups, c = (g % groups) * 8;
        const unsigned char* blk = w + ids[i] * row_bytes + (c / Q::kValues) * Q::kBytes;
        float v[8];
        Q::decode8(blk, (int)(c % Q::kValues), v);
        for (int e = 0; e < 8; e++) out[i * cols + c + e] = v[e];
    }
}

#define SQ_EMBED(name, Q)                                                                                       \
    extern "C" __global__ void name(const unsigned char* w, const unsigned* ids, float* out, int n_ids, int cols) { \
        embed_rows<Q>(w, ids, out, n_ids, cols);                                                                \
    }
SQ_EMBED(embed_q8_0, Q8_0)
SQ_EMBED(embed_q4_1, Q4_1)
SQ_EMBED(embed_q4_k, Q4_K)
SQ_EMBED(embed_q6_k, Q6_K)
SQ_EMBED(embed_f32, F32)
SQ_EMBED(embed_f16, F16)
SQ_EMBED(embed_bf16, BF16)

// out row i = x row rows[i] (n values each); launch over count · n threads in any grid.
extern "C" __global__ void gather_rows_f32(const float* __restrict__ x, const unsigned* __restrict__ rows,
                                           float* __restrict__ out, int count, int n) {
    SQ_GRID_STRIDE(o, (size_t)count * n) out[o] = x[(size_t)rows[o / n] * n + o % n];
}
