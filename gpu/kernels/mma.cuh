// The tensor-core and asynchronous-copy instructions, and the only place the kernels use them: one
// small wrapper over PTX (mma.sync, ldmatrix, cp.async; sm_80 and later). On the CPU the emulation
// header defines the same functions (emu/emu_mma.h), built from the PTX ISA's fragment layouts, so
// the kernels that use these run and are checked with no GPU.
//
//   sq_pack_bf16x2(lo, hi)          two f32 → one register of two bf16 (round to nearest even)
//   sq_mma_bf16_16816(d, a, b, c)   D[16×8] = A[16×16]·B[16×8] + C, bf16 inputs, f32 accumulate
//   sq_ldmatrix_x4(r, row)          four 8×8 16-bit matrices from shared memory (each lane one row address)
//   sq_ldmatrix_x4_trans(r, row)    the same, transposed
//   sq_cp_async_16(dst, src)        16 bytes global → shared, asynchronously (16-byte aligned)
//   sq_cp_async_commit()            closes the group of copies issued since the last commit
//   sq_cp_async_wait<N>()           waits until at most N committed groups are still in flight
#pragma once
#ifdef __CUDACC__

__device__ __forceinline__ unsigned sq_shared_address(const void* p) {
    unsigned a;
    asm("{ .reg .u64 s; cvta.to.shared.u64 s, %1; cvt.u32.u64 %0, s; }" : "=r"(a) : "l"(p));
    return a;
}

__device__ __forceinline__ unsigned sq_pack_bf16x2(float lo, float hi) {
    unsigned r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));  // the first source goes high
    return r;
}

__device__ __forceinline__ void sq_mma_bf16_16816(float d[4], const unsigned a[4], const unsigned b[2], const float c[4]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%10, %11, %12, %13};"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}

__device__ __forceinline__ void sq_ldmatrix_x4(unsigned r[4], const void* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(sq_shared_address(row)));
}

__device__ __forceinline__ void sq_ldmatrix_x4_trans(unsigned r[4], const void* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(sq_shared_address(row)));
}

__device__ __forceinline__ void sq_cp_async_16(void* dst, const void* src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(sq_shared_address(dst)), "l"(src) : "memory");
}

__device__ __forceinline__ void sq_cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }

template <int N>
__device__ __forceinline__ void sq_cp_async_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

#endif
