// Greedy decoding on the device: each row's largest logit's index, so a decode step moves one index
// per sequence to the host instead of a row of the vocabulary's logits. The rule is the host's
// (`generate::argmax`): the first index on ties, and NaN never wins (a row of NaN gives 0).
#include "sq_cuda.cuh"

namespace {

// Whether candidate (v, i) beats (bv, bi): a larger value, or the same value at a lower index; a NaN
// never beats anything, and anything that is not NaN beats a NaN.
__device__ __forceinline__ bool beats(float v, int i, float bv, int bi) {
    if (v != v) return false;
    if (bv != bv) return true;
    return v > bv || (v == bv && i < bi);
}

// The warp's best candidate, in every lane (the comparison is symmetric, so all lanes agree).
__device__ __forceinline__ void warp_best(float& bv, int& bi) {
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (beats(ov, oi, bv, bi)) {
            bv = ov;
            bi = oi;
        }
    }
}

}  // namespace

// out[row] = argmax of x[row][0..n). Launch: one block per row, blockDim.x a multiple of 32 (≤ 1,024).
extern "C" __global__ void __launch_bounds__(1024) argmax_rows_f32(const float* __restrict__ x, unsigned* __restrict__ out,
                                                                  int n) {
    SQ_SHARED(float, warp_v, [32]);
    SQ_SHARED(int, warp_i, [32]);
    const float* row = x + (size_t)blockIdx.x * n;
    // Start from "nothing yet": a NaN at index n, which every real candidate beats.
    float bv = __int_as_float(0x7fc00000);
    int bi = n;
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        if (beats(row[j], j, bv, bi)) {  // j grows: an equal value later never replaces
            bv = row[j];
            bi = j;
        }
    warp_best(bv, bi);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    if (lane == 0) {
        warp_v[warp] = bv;
        warp_i[warp] = bi;
    }
    __syncthreads();
    if (warp == 0) {
        bv = lane < warps ? warp_v[lane] : __int_as_float(0x7fc00000);
        bi = lane < warps ? warp_i[lane] : n;
        warp_best(bv, bi);
        if (lane == 0) out[blockIdx.x] = bi == n ? 0u : (unsigned)bi;
    }
}
