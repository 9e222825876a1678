// Kernels that are wrong on purpose, or that exercise one warp operation, for the emulator's own
// tests (gpu/tests/gpu_emulator.rs): each shows that the emulation catches what a GPU would punish.
#include "sq_cuda.cuh"

// Reads a neighbour's shared slot with no barrier between the write and the read: right only when
// the neighbour happens to run first, so the forward and reverse thread orders disagree.
extern "C" __global__ void selftest_missing_barrier(float* out) {
    SQ_SHARED(float, slot, [1024]);
    int t = threadIdx.x, n = blockDim.x;
    slot[t] = (float)t;
    out[t] = slot[(t + 1) % n];
}

// The same with the barrier: every order gives out[t] = t + 1 (mod n).
extern "C" __global__ void selftest_with_barrier(float* out) {
    SQ_SHARED(float, slot, [1024]);
    int t = threadIdx.x, n = blockDim.x;
    slot[t] = (float)t;
    __syncthreads();
    out[t] = slot[(t + 1) % n];
}

// The first half of the block returns before the barrier the second half waits at.
extern "C" __global__ void selftest_divergent_barrier(float* out) {
    if (threadIdx.x < blockDim.x / 2) return;
    __syncthreads();
    out[threadIdx.x] = 1.0f;
}

// Per warp: out[t] = the warp's sum (xor butterfly), down[t] = lane + 1's value (or its own),
// ballot[t] = the mask of odd lanes.
extern "C" __global__ void selftest_warp_ops(const float* in, float* sum, float* down, unsigned* ballot) {
    int t = threadIdx.x;
    float v = in[t];
    sum[t] = warp_sum(v);
    down[t] = __shfl_down_sync(0xffffffffu, v, 1);
    ballot[t] = __ballot_sync(0xffffffffu, t & 1);
}

// Block-wide sum through the shared helper, over a ragged block.
extern "C" __global__ void selftest_block_sum(const float* in, float* out) {
    float s = block_sum(in[blockIdx.x * blockDim.x + threadIdx.x]);
    if (threadIdx.x == 0) out[blockIdx.x] = s;
}

// Thread t copies in[t + 1]: the last thread reads one past the end of `in` (gpu/examples/asan_probe.rs
// shows that the sanitized build stops there).
extern "C" __global__ void selftest_out_of_bounds(const float* in, float* out) { out[threadIdx.x] = in[threadIdx.x + 1]; }

#include "mma.cuh"

// Returns with a copy never waited for: the emulation fails the launch.
extern "C" __global__ void selftest_cp_async_unwaited(const float* in, float* out) {
    SQ_SHARED(float, buf, [32][4]);
    sq_cp_async_16(buf[threadIdx.x], in + 4 * threadIdx.x);
    sq_cp_async_commit();
    out[threadIdx.x] = 0.0f;
}
