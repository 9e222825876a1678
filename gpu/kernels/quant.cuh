// The weight encodings the GPU kernels decode on the fly, in GGUF's blocks (the CPU decoder,
// kernel/src/formats/quant.rs, is the spec): each struct gives kValues (values per block: 32, or 256
// for the K-quants' super-blocks), kBytes (bytes per block) and decode8(block, first, out), which
// writes values first .. first + 7 of one block (first a multiple of 8 in [0, kValues)). F32, f16 and
// bf16 are "blocks" of 32 plain values, so one product template serves every encoding. The decoders
// round as the CPU's does (no product fused into an add), so a decoded weight is the CPU's bit for bit.
//
// For the tensor-core products (matmul_mma.cu) an encoding may also give codes16(block, first, codes,
// scale, offset): values first .. first + 15 (first a multiple of 16) as bf16 codes c with value =
// scale·c + offset, exactly — the integer codes of the quantized encodings are exact in bf16 (|c| ≤ 128
// here), bf16 weights are their own codes — so the products need no rounding of the weights at all.
#pragma once

// An integer of at most 8 bits as bf16 bits (exact: its f32 has no bits below the top 16).
__device__ __forceinline__ unsigned short bf16_of_int(int q) { return (unsigned short)((unsigned)__float_as_int((float)q) >> 16); }

__device__ __forceinline__ float load_f16(const unsigned char* p) {
    return sq_half_bits_to_float((unsigned short)(p[0] | (p[1] << 8)));
}

// a·b rounded on its own: NVRTC (--fmad=true) would otherwise fuse it into the add that follows. On
// the CPU a call keeps the host compiler from contracting it (C++17 and a separate expression).
__device__ __forceinline__ float mul_rn(float a, float b) {
#ifdef __CUDACC__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

// Q8_0: f16 scale d, 32 signed bytes; x = q·d.
struct Q8_0 {
    static constexpr int kValues = 32, kBytes = 34;
    __device__ static void decode8(const unsigned char* blk, int first, float* out) {
        float d = load_f16(blk);
        for (int e = 0; e < 8; e++) out[e] = (float)(signed char)blk[2 + first + e] * d;
    }
    __device__ static void codes16(const unsigned char* blk, int first, unsigned short* codes, float& scale, float& offset) {
        scale = load_f16(blk);
        offset = 0.0f;
        for (int e = 0; e < 16; e++) codes[e] = bf16_of_int((signed char)blk[2 + first + e]);
    }
};

// Q4_1: f16 scale d, f16 minimum m, 16 bytes of nibbles (low nibbles: values 0-15, high: 16-31);
// x = q·d + m.
struct Q4_1 {
    static constexpr int kValues = 32, kBytes = 20;
    __device__ static void decode8(const unsigned char* blk, int first, float* out) {
        float d = load_f16(blk), m = load_f16(blk + 2);
        for (int e = 0; e < 8; e++) {
            int i = first + e;
            int q = i < 16 ? (blk[4 + i] & 0xf) : (blk[4 + i - 16] >> 4);
            out[e] = mul_rn((float)q, d) + m;
        }
    }
    __device__ static void codes16(const unsigned char* blk, int first, unsigned short* codes, float& scale, float& offset) {
        scale = load_f16(blk);
        offset = load_f16(blk + 2);
        for (int e = 0; e < 16; e++) {
            int i = first + e;
            codes[e] = bf16_of_int(i < 16 ? (blk[4 + i] & 0xf) : (blk[4 + i - 16] >> 4));
        }
    }
};

// Q4_K: super-blocks of 256 values in 8 sub-blocks of 32. f16 d, f16 dmin, 12 bytes of 6-bit
// (scale, min) pairs, one per sub-block, 128 bytes of nibbles: sub-blocks 2g and 2g + 1 are the low
// and the high nibbles of bytes 32g .. 32g + 31. x = (d·scale)·q − dmin·min.
struct Q4_K {
    static constexpr int kValues = 256, kBytes = 144;
    // Sub-block j's scale d·s and the min dmin·m it subtracts (the 6-bit pairs' packing).
    __device__ static void scale_min(const unsigned char* blk, int j, float& d, float& n) {
        const unsigned char* sc = blk + 4;
        int s, m;
        if (j < 4) {
            s = sc[j] & 63;
            m = sc[j + 4] & 63;
        } else {
            s = (sc[j + 4] & 0xf) | ((sc[j - 4] >> 6) << 4);
            m = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
        }
        d = load_f16(blk) * (float)s;
        n = mul_rn(load_f16(blk + 2), (float)m);
    }
    __device__ static void decode8(const unsigned char* blk, int first, float* out) {
        int j = first / 32, l = first % 32;  // sub-block, and the first value's place in it
        float d, n;
        scale_min(blk, j, d, n);
        const unsigned char* q = blk + 16 + 32 * (j / 2) + l;
        int shift = (j & 1) * 4;
        for (int e = 0; e < 8; e++) out[e] = mul_rn(d, (float)((q[e] >> shift) & 0xf)) - n;
    }
    __device__ static void codes16(const unsigned char* blk, int first, unsigned short* codes, float& scale, float& offset) {
        int j = first / 32, l = first % 32;
        float n;
        scale_min(blk, j, scale, n);
        offset = -n;
        const unsigned char* q = blk + 16 + 32 * (j / 2) + l;
        int shift = (j & 1) * 4;
        for (int e = 0; e < 16; e++) codes[e] = bf16_of_int((q[e] >> shift) & 0xf);
    }
};

// Q6_K: super-blocks of 256 values. ql[128] (low 4 bits), qh[64] (high 2 bits), 16 signed 8-bit
// scales (one per 16 values), f16 d. Two halves of 128 values; in half h, value l + 32k (l < 32,
// k < 4) takes its low bits from ql[64h + l + 32(k & 1)] (the low nibble for k < 2, else the high) and
// its high bits from qh[32h + l] >> 2k, its scale from scales[8h + l / 16 + 2k]. x = (d·scale)·(q − 32).
struct Q6_K {
    static constexpr int kValues = 256, kBytes = 210;
    __device__ static void decode8(const unsigned char* blk, int first, float* out) {
        int h = first / 128, k = (first % 128) / 32, l = first % 32;
        const unsigned char* ql = blk + 64 * h + 32 * (k & 1) + l;
        const unsigned char* qh = blk + 128 + 32 * h + l;
        float ds = load_f16(blk + 208) * (float)(signed char)blk[192 + 8 * h + l / 16 + 2 * k];
        int lshift = (k >> 1) * 4, hshift = 2 * k;
        for (int e = 0; e < 8; e++) {
            int q = ((ql[e] >> lshift) & 0xf) | (((qh[e] >> hshift) & 3) << 4);
            out[e] = ds * (float)(q - 32);
        }
    }
    // Sixteen values share one scale (first a multiple of 16).
    __device__ static void codes16(const unsigned char* blk, int first, unsigned short* codes, float& scale, float& offset) {
        int h = first / 128, k = (first % 128) / 32, l = first % 32;
        const unsigned char* ql = blk + 64 * h + 32 * (k & 1) + l;
        const unsigned char* qh = blk + 128 + 32 * h + l;
        scale = load_f16(blk + 208) * (float)(signed char)blk[192 + 8 * h + l / 16 + 2 * k];
        offset = 0.0f;
        int lshift = (k >> 1) * 4, hshift = 2 * k;
        for (int e = 0; e < 16; e++) codes[e] = bf16_of_int((((ql[e] >> lshift) & 0xf) | (((qh[e] >> hshift) & 3) << 4)) - 32);
    }
};

// f32, 4-byte aligned (the rows of an f32 matrix are).
struct F32 {
    static constexpr int kValues = 32, kBytes = 128;
    __device__ static void decode8(const unsigned char* blk, int first, float* out) {
        const float* v = reinterpret_cast<const float*>(blk) + first;
        for (int e = 0; e < 8; e++) out[e] = v[e];
    }
};

// f16, little-endian, widened exactly.
struct F16 {
    static constexpr int kValues = 32, kBytes = 64;
    __device__ static void decode8(const unsigned char* blk, int first, float* out) {
        for (int e = 0; e < 8; e++) out[e] = load_f16(blk + 2 * (first + e));
    }
};

// bf16, little-endian: the high 16 bits of an f32.
struct BF16 {
    static constexpr int kValues = 32, kBytes = 64;
    __device__ static void decode8(const unsigned char* blk, int first, float* out) {
        const unsigned char* p = blk + 2 * first;
        for (int e = 0; e < 8; e++) out[e] = __int_as_float((int)((unsigned)(p[2 * e] | (p[2 * e + 1] << 8)) << 16));
    }
    __device__ static void codes16(const unsigned char* blk, int first, unsigned short* codes, float& scale, float& offset) {
        scale = 1.0f;
        offset = 0.0f;
        const unsigned char* p = blk + 2 * first;
        for (int e = 0; e < 16; e++) codes[e] = (unsigned short)(p[2 * e] | (p[2 * e + 1] << 8));
    }
};
