// What every kernel file includes first: the shared-memory macros and the f16 widening on the GPU
// (NVRTC defines __CUDACC__), and the block-wide helpers the kernels share. On the CPU the emulation
// header (emu/cuda_emu.h, force-included) has already defined the dialect. No CUDA header is
// included, so NVRTC compiles the kernels with no include path (the CUDA backend embeds them).
#pragma once
#ifdef __CUDACC__
// 16-byte aligned: ldmatrix rows and cp.async destinations must be.
#define SQ_SHARED(type, name, dims) __shared__ __align__(16) type name dims
#define SQ_DYNAMIC_SHARED(type, name) extern __shared__ __align__(16) type name[]
// An f16 given as its 16 bits, widened exactly (one PTX conversion).
__device__ __forceinline__ float sq_half_bits_to_float(unsigned short bits) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(bits));
    return f;
}
#else
inline float sq_half_bits_to_float(unsigned short bits) { return __half2float(__ushort_as_half(bits)); }
#endif

// A loop over i in [0, n) spread over every thread of the grid (any grid size is right).
#define SQ_GRID_STRIDE(i, n) \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)(n); i += (size_t)gridDim.x * blockDim.x)

// Sum over the 32 lanes of a warp; every lane gets it.
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over a block of blockDim.x threads (a multiple of 32, at most 1,024); every thread gets it.
// Every thread of the block must call it (two barriers inside).
__device__ __forceinline__ float block_sum(float v) {
    SQ_SHARED(float, partial, [32]);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = warp_sum(lane < warps ? partial[lane] : 0.0f);
    __syncthreads();  // `partial` may be written again by the next call
    return v;
}
