// Cross-entropy fused with the output head, over vocabulary chunks (the host runs the head's product
// for one chunk at a time with the matmul kernels, so no rows × vocabulary logits exist): per row a
// running state (max M, sum S of exp(l − M), the target's logit, and S′ = S without the target's
// term), then the gradient of each chunk's logits. S′ gives the target's gradient as −S′/S instead
// of p − 1, which loses digits when p is near 1 (a trained model's common case) — the CPU's rule.
#include "sq_cuda.cuh"

namespace {

// The largest value over a block of blockDim.x threads (a multiple of 32); every thread gets it.
__device__ __forceinline__ float block_max(float v) {
    SQ_SHARED(float, partial, [32]);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_max(v);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = warp_max(lane < warps ? partial[lane] : -__int_as_float(0x7f800000));
    __syncthreads();
    return v;
}

}  // namespace

// Folds one chunk of logits (rows × c, vocabulary ids v0 … v0 + c − 1) into each row's state
// (4 floats: M, S, target logit, S′; start from −∞, 0, 0, 0). Launch: one block per row, 256 threads.
extern "C" __global__ void __launch_bounds__(256) ce_stats_f32(const float* __restrict__ logits, int c, int v0,
                                                               const unsigned* __restrict__ targets, float* __restrict__ state) {
    int row = blockIdx.x;
    const float* l = logits + (size_t)row * c;
    float* st = state + 4 * (size_t)row;
    int t = (int)targets[row] - v0;  // the target's place in this chunk, if 0 ≤ t < c
    float mx = -__int_as_float(0x7f800000);
    for (int j = threadIdx.x; j < c; j += blockDim.x) mx = fmaxf(mx, l[j]);
    float old = st[0], top = fmaxf(old, block_max(mx));
    float sum = 0.0f, excl = 0.0f;
    for (int j = threadIdx.x; j < c; j += blockDim.x) {
        float e = __expf(l[j] - top);
        sum += e;
        if (j != t) excl += e;
    }
    sum = block_sum(sum);
    excl = block_sum(excl);
    if (threadIdx.x == 0) {
        float f = __expf(old - top);  // 0 for the first chunk (old = −∞)
        st[0] = top;
        st[1] = st[1] * f + sum;
        st[3] = st[3] * f + excl;
        if (t >= 0 && t < c) st[2] = l[t];
    }
}

// In place, a chunk's logits become their gradient: weight·softmax, and −weight·S′/S at the target.
// Launch over rows · c threads, any grid; `state` final (every chunk folded in).
extern "C" __global__ void __launch_bounds__(256) ce_grad_f32(float* __restrict__ logits, int rows, int c, int v0,
                                                              const unsigned* __restrict__ targets,
                                                              const float* __restrict__ weights, const float* __restrict__ state) {
    SQ_GRID_STRIDE(o, (size_t)rows * c) {
        size_t row = o / c;
        int v = v0 + (int)(o % c);
        const float* st = state + 4 * row;
        float w = weights[row];
        logits[o] = v == (int)targets[row] ? -w * st[3] / st[1] : w * (__expf(logits[o] - st[0]) / st[1]);
    }
}
