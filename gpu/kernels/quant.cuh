// The weight encodings the GPU kernels decode on the fly, each as blocks of 32 values (GGUF's order);
// decode8(block, first, out) writes values first .. first + 7 of one block. F32 is a "block" of 32
// plain floats, so one product template serves every encoding.
#pragma once

__device__ __forceinline__ float load_f16(const unsigned char* p) {
    return sq_half_bits_to_float((unsigned short)(p[0] | (p[1] << 8)));
}

// Q8_0: f16 scale d, 32 signed bytes; x = q·d.
struct Q8_0 {
    static constexpr int kBytes = 34;
    __device__ static void decode8(const unsigned char* blk, int first, float* out) {
        float d = load_f16(blk);
        for (int e = 0; e < 8; e++) out[e] = (float)(signed char)blk[2 + first + e] * d;
    }
};

// Q4_1: f16 scale d, f16 minimum m, 16 bytes of nibbles (low nibbles: values 0-15, high: 16-31);
// x = q·d + m.
struct Q4_1 {
    static constexpr int kBytes = 20;
    __device__ static void decode8(const unsigned char* blk, int first, float* out) {
        float d = load_f16(blk), m = load_f16(blk + 2);
        for (int e = 0; e < 8; e++) {
            int i = first + e;
            int q = i < 16 ? (blk[4 + i] & 0xf) : (blk[4 + i - 16] >> 4);
            out[e] = (float)q * d + m;
        }
    }
};

// f32, 4-byte aligned (the rows of an f32 matrix are).
struct F32 {
    static constexpr int kBytes = 128;
    __device__ static void decode8(const unsigned char* blk, int first, float* out) {
        const float* v = reinterpret_cast<const float*>(blk) + first;
        for (int e = 0; e < 8; e++) out[e] = v[e];
    }
};
