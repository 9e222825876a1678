// RMSNorm: one block per row.
#include "sq_cuda.cuh"

// out[row] = x[row] / sqrt(mean(x[row]²) + eps) · w, for the row blockIdx.x of n values.
extern "C" __global__ void rmsnorm_f32(const float* __restrict__ x, const float* __restrict__ w,
                                       float* __restrict__ out, int n, float eps) {
    const float* xr = x + (size_t)blockIdx.x * n;
    float* o = out + (size_t)blockIdx.x * n;
    float ss = 0.0f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) ss += xr[j] * xr[j];
    float inv = rsqrtf(block_sum(ss) / (float)n + eps);
    for (int j = threadIdx.x; j < n; j += blockDim.x) o[j] = xr[j] * inv * w[j];
}
