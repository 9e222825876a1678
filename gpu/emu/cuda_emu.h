// The CUDA dialect the kernels in gpu/kernels/ use, for a C++ compiler on the CPU: the same .cu
// sources run here, thread by thread, so that they can be checked against the plain reference with
// no GPU. Force-included (-include) ahead of every kernel file by gpu/build.rs.
//
// The model of execution (emu/runtime.cpp):
// - a launch runs its blocks one after another; a block's threads are fibers on one OS thread, each
//   running until it reaches a barrier (__syncthreads) or a warp operation (shuffle, vote,
//   __syncwarp), then the next thread runs. Threads go in forward or in reverse order (the launch
//   says which): code that reads shared memory another thread has not yet written, or that lacks a
//   barrier, gives different results in the two orders.
// - a barrier that not every thread of the block reaches, or a warp operation that not every lane of
//   its mask reaches, fails the launch with a message saying which threads were where.
// - __shared__ variables are per OS thread (one block at a time runs on each) and keep no value from
//   one block to the next that a kernel may rely on: the runtime fills them with NaN bytes before
//   each block (see sq_emu_shared_poison).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace sq_emu {

struct ThreadCtx {
    dim3 thread_idx, block_idx, block_dim, grid_dim;
};

// The running thread's indices (one fiber at a time runs on an OS thread).
ThreadCtx& current();
void syncthreads();
void syncwarp(unsigned mask);

enum class WarpOp : int { ShflIdx, ShflUp, ShflDown, ShflXor, Ballot, Gather };

// One lane's part of a warp operation: waits until every lane in `mask` has called it with the same
// operation, then returns this lane's result (the source lane's value for a shuffle; the mask of
// lanes whose value is non-zero for a vote).
uint64_t warp_exchange(WarpOp op, unsigned mask, uint64_t value, int arg, int width);
// Every lane of `mask` hands in `bytes` bytes at `in` and, once all have, gets every lane's (lane i's
// at out + i·bytes; lanes outside the mask leave theirs untouched): the one collective the tensor-core
// operations of emu_mma.h are built on, as a warp's registers are pooled by the hardware.
void warp_gather(unsigned mask, const void* in, size_t bytes, void* out);
// cp.async as the kernels see it: a copy recorded when issued and made only when a wait covers its
// group, so a kernel that reads the destination before waiting reads what was there (NaN-poisoned
// shared memory). A thread that returns with copies it never waited for fails the launch.
void cp_async(void* dst, const void* src, size_t bytes);
void cp_async_commit();
void cp_async_wait(int keep_pending);
// Fails the launch with `message` (about the running thread); the thread goes on to its next switch.
void fail(const char* message);
// The launch's dynamic shared memory (`extern __shared__` in CUDA: see SQ_DYNAMIC_SHARED).
void* dynamic_shared();
// Registers a __shared__ variable so the runtime poisons it before each block.
bool register_shared(void* p, size_t bytes);

template <class T>
uint64_t to_bits(T v) {
    static_assert(sizeof(T) <= 8, "warp operations move at most 64 bits");
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(T));
    return b;
}
template <class T>
T from_bits(uint64_t b) {
    T v;
    std::memcpy(&v, &b, sizeof(T));
    return v;
}

}  // namespace sq_emu

#define threadIdx (sq_emu::current().thread_idx)
#define blockIdx (sq_emu::current().block_idx)
#define blockDim (sq_emu::current().block_dim)
#define gridDim (sq_emu::current().grid_dim)
#define warpSize 32

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __restrict__ __restrict
#define __launch_bounds__(...)
// Kernels declare shared memory with SQ_SHARED / SQ_DYNAMIC_SHARED (below), never `__shared__`
// directly: a plain `__shared__` fails to compile here, naming the macro to use.
#define __shared__ use_SQ_SHARED_for_shared_memory

// Declares a __shared__ array (16-byte aligned, as ldmatrix and cp.async need) and registers it to
// be poisoned before each block. Kernels declare
// shared memory through these two macros, which on the GPU are plain declarations (sq_cuda.cuh).
#define SQ_SHARED(type, name, dims)                                                                 \
    alignas(16) static thread_local type name dims;                                                 \
    static thread_local bool name##_registered = sq_emu::register_shared(&name, sizeof(name));      \
    (void)name##_registered
#define SQ_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(sq_emu::dynamic_shared())

inline void __syncthreads() { sq_emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { sq_emu::syncwarp(mask); }

template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    return sq_emu::from_bits<T>(sq_emu::warp_exchange(sq_emu::WarpOp::ShflIdx, mask, sq_emu::to_bits(v), src, width));
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    return sq_emu::from_bits<T>(sq_emu::warp_exchange(sq_emu::WarpOp::ShflUp, mask, sq_emu::to_bits(v), (int)delta, width));
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    return sq_emu::from_bits<T>(sq_emu::warp_exchange(sq_emu::WarpOp::ShflDown, mask, sq_emu::to_bits(v), (int)delta, width));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    return sq_emu::from_bits<T>(sq_emu::warp_exchange(sq_emu::WarpOp::ShflXor, mask, sq_emu::to_bits(v), lane_mask, width));
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
    return (unsigned)sq_emu::warp_exchange(sq_emu::WarpOp::Ballot, mask, pred != 0, 0, 32);
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
// Every lane of the mask takes part (the emulation checks it), so "all" is "the ballot is the mask".
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }

// Device math: the fast intrinsics as their accurate host versions (the tests compare with a
// tolerance that covers the GPU's documented ulp errors of the fast ones).
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline void sincosf_emu(float x, float* s, float* c) {
    *s = std::sin(x);
    *c = std::cos(x);
}
#define sincosf sincosf_emu
inline float __int_as_float(int i) { return sq_emu::from_bits<float>((uint32_t)i); }
inline int __float_as_int(float f) { return (int)(uint32_t)sq_emu::to_bits(f); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }

// Atomics: blocks may one day run on several OS threads, so these are real atomics.
inline float atomicAdd(float* p, float v) {
    uint32_t* word = reinterpret_cast<uint32_t*>(p);
    uint32_t seen = __atomic_load_n(word, __ATOMIC_RELAXED);
    for (;;) {
        uint32_t want = (uint32_t)sq_emu::to_bits(sq_emu::from_bits<float>(seen) + v);
        if (__atomic_compare_exchange_n(word, &seen, want, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return sq_emu::from_bits<float>(seen);
    }
}
inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }

#include "emu_half.h"
#include "emu_mma.h"
