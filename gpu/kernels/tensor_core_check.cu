// Kernels that check the tensor-core wrapper (mma.cuh) itself, on the emulator and on a GPU, against
// the PTX ISA's layouts as gpu/tests/common/tensor_core.rs writes them: the emulation and the real
// instructions are held to the same expectations. Kept with the kernels so that NVRTC and ptxas
// check the wrapper's PTX for every architecture, and the CUDA device can run them.
#include "sq_cuda.cuh"
#include "mma.cuh"

// The tensor-core wrapper (kernels/mma.cuh), one warp. Each lane's fragment registers come from the
// test as it computes them from the PTX ISA's layouts (a: 4 per lane, b: 2, c: 4, as bits), and its D
// registers go back as they are, so the test checks the layouts the emulation assumes.
extern "C" __global__ void selftest_mma(const unsigned* a, const unsigned* b, const float* c, float* d) {
    int l = threadIdx.x;
    unsigned af[4] = {a[4 * l], a[4 * l + 1], a[4 * l + 2], a[4 * l + 3]}, bf[2] = {b[2 * l], b[2 * l + 1]};
    float cf[4] = {c[4 * l], c[4 * l + 1], c[4 * l + 2], c[4 * l + 3]}, df[4];
    sq_mma_bf16_16816(df, af, bf, cf);
    for (int i = 0; i < 4; i++) d[4 * l + i] = df[i];
}

// ldmatrix .x4 (trans != 0: .trans) of four 8×8 matrices of 16-bit values staged in shared memory
// (m: 32 rows of 8, matrix i = rows 8i…8i+7); lane l's four registers to out[4l…4l+3].
extern "C" __global__ void selftest_ldmatrix(const unsigned short* m, unsigned* out, int trans) {
    SQ_SHARED(unsigned short, tile, [32][8]);
    int l = threadIdx.x;
    for (int e = 0; e < 8; e++) tile[l][e] = m[8 * l + e];
    __syncwarp();
    unsigned r[4];
    if (trans)
        sq_ldmatrix_x4_trans(r, tile[l]);
    else
        sq_ldmatrix_x4(r, tile[l]);
    for (int i = 0; i < 4; i++) out[4 * l + i] = r[i];
}

// Each thread copies 4 floats into shared memory with cp.async, then reads its neighbour's 4 after a
// barrier. wait_first != 0: the right order (wait, barrier, read); 0: read before the wait (a bug the
// emulation shows as the shared memory's NaN poison), waiting only before returning.
extern "C" __global__ void selftest_cp_async(const float* in, float* out, int wait_first) {
    SQ_SHARED(float, buf, [256][4]);
    int t = threadIdx.x, n = blockDim.x;
    sq_cp_async_16(buf[t], in + 4 * t);
    sq_cp_async_commit();
    if (wait_first) sq_cp_async_wait<0>();
    __syncthreads();
    for (int e = 0; e < 4; e++) out[4 * t + e] = buf[(t + 1) % n][e];
    sq_cp_async_wait<0>();
}

