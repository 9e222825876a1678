// f16 and bf16 as the kernels see them on the GPU (cuda_fp16.h / cuda_bf16.h), for the emulation:
// storage types of 16 bits, converted from f32 with round-to-nearest-even as the GPU's
// __float2half / __float2bfloat16 do, and widened exactly.
#pragma once
#include <cstdint>
#include <cstring>

struct __half {
    uint16_t bits;
};
struct __nv_bfloat16 {
    uint16_t bits;
};

inline float __half2float(__half h) {
    _Float16 f;
    std::memcpy(&f, &h.bits, 2);
    return (float)f;
}
inline __half __float2half(float f) {
    _Float16 h = (_Float16)f;  // the compiler's conversion rounds to nearest even
    __half out;
    std::memcpy(&out.bits, &h, 2);
    return out;
}
inline __half __float2half_rn(float f) { return __float2half(f); }

inline float __bfloat162float(__nv_bfloat16 b) {
    uint32_t u = (uint32_t)b.bits << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline __nv_bfloat16 __float2bfloat16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    __nv_bfloat16 out;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        out.bits = (uint16_t)((u >> 16) | 0x40);  // NaN stays a (quiet) NaN
    } else {
        u += 0x7fffu + ((u >> 16) & 1);  // round to nearest, ties to even
        out.bits = (uint16_t)(u >> 16);
    }
    return out;
}
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __float2bfloat16(f); }

inline __half __ushort_as_half(unsigned short bits) { return __half{bits}; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short bits) { return __nv_bfloat16{bits}; }
