// RoPE: one thread per rotated pair.
#include "sq_cuda.cuh"

// Rotates pair i of every head of row r by positions[r]·θ^(−2i/head_dim). The pairs are (2i, 2i+1)
// (Llama's interleaved layout) or (i, i + head_dim/2) (Qwen2's halves) when `halves` is set.
// `sign` −1 rotates back (the backward).
extern "C" __global__ void rope_f32(float* __restrict__ x, const unsigned* __restrict__ positions, int m, int n_heads,
                                    int head_dim, float theta, int halves, float sign) {
    int half = head_dim / 2;
    SQ_GRID_STRIDE(t, (size_t)m * n_heads * half) {
        int i = (int)(t % half);
        size_t head = t / half;  // row · n_heads + h
        size_t row = head / n_heads;
        float* h = x + head * head_dim;
        int a = halves ? i : 2 * i, b = halves ? i + half : 2 * i + 1;
        float freq = powf(theta, -2.0f * (float)i / (float)head_dim);
        float s, c;
        sincosf((float)positions[row] * freq, &s, &c);
        s *= sign;
        float x0 = h[a], x1 = h[b];
        h[a] = x0 * c - x1 * s;
        h[b] = x0 * s + x1 * c;
    }
}
