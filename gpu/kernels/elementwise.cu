// Elementwise ops, each thread over a grid-stride range.
#include "sq_cuda.cuh"

// out = silu(gate) · up.
extern "C" __global__ void swiglu_f32(const float* __restrict__ gate, const float* __restrict__ up,
                                      float* __restrict__ out, int n) {
    SQ_GRID_STRIDE(i, n) {
        float g = gate[i];
        out[i] = g / (1.0f + __expf(-g)) * up[i];
    }
}

// x += y.
extern "C" __global__ void add_f32(float* __restrict__ x, const float* __restrict__ y, int n) {
    SQ_GRID_STRIDE(i, n) x[i] += y[i];
}

// x[m × n] += bias[n], row by row.
extern "C" __global__ void add_bias_f32(float* __restrict__ x, const float* __restrict__ bias, int m, int n) {
    SQ_GRID_STRIDE(i, (size_t)m * n) x[i] += bias[i % n];
}
