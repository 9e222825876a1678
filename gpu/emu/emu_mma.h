// The tensor-core operations of gpu/kernels/mma.cuh, for the emulation: the same functions, built
// from the fragment layouts the PTX ISA documents (section "Matrix fragments for mma.m16n8k16" and
// "ldmatrix"). A warp's lanes pool their fragments through sq_emu::warp_gather (one switch of every
// lane, as mma.sync and ldmatrix are warp-collective), and each lane rebuilds from them the rows of A
// and columns of B its own D elements need, by the layout. Products of two bf16 are exact in f32; the sum runs over k
// in order in f32 (the hardware's order is unspecified: tests compare with a tolerance).
#pragma once

// Two f32 rounded to bf16 (nearest even) in one 32-bit register: `lo` in the low half, as a fragment
// register holds elements 2i and 2i+1.
inline unsigned sq_pack_bf16x2(float lo, float hi) {
    return (unsigned)__float2bfloat16_rn(lo).bits | (unsigned)__float2bfloat16_rn(hi).bits << 16;
}

namespace sq_emu {
inline float bf16_lo(unsigned r) { return __bfloat162float(__ushort_as_bfloat16((unsigned short)(r & 0xffffu))); }
inline float bf16_hi(unsigned r) { return __bfloat162float(__ushort_as_bfloat16((unsigned short)(r >> 16))); }
inline int lane_id() { return (int)(current().thread_idx.x + current().block_dim.x * (current().thread_idx.y + current().block_dim.y * current().thread_idx.z)) & 31; }
}  // namespace sq_emu

// D = A·B + C: A 16×16 bf16 (row-major fragments a[4]), B 16×8 bf16 (k × n, "col" fragments b[2]),
// C and D 16×8 f32. Lane = 4·group + t: a[r] holds A[group + 8·(r & 1)][2t + 8·(r >> 1) + {0, 1}],
// b[r] holds B[2t + 8r + {0, 1}][group], c[i] / d[i] hold [group + 8·(i >> 1)][2t + (i & 1)].
inline void sq_mma_bf16_16816(float d[4], const unsigned a[4], const unsigned b[2], const float c[4]) {
    struct Frag {
        unsigned a[4], b[2];
    };
    Frag mine{{a[0], a[1], a[2], a[3]}, {b[0], b[1]}}, all[32];
    sq_emu::warp_gather(0xffffffffu, &mine, sizeof mine, all);
    // This lane's D elements need rows g and g + 8 of A (held by lanes 4g … 4g + 3: registers 0 and 2
    // for row g, 1 and 3 for row g + 8) and columns 2t and 2t + 1 of B (lanes 4n … 4n + 3, n the
    // column: registers 0 and 1 for k < 8 and k ≥ 8).
    int lane = sq_emu::lane_id(), g = lane >> 2, t = lane & 3;
    float arow[2][16], bcol[2][16];
    for (int u = 0; u < 4; u++) {
        for (int h = 0; h < 2; h++) {
            const Frag& f = all[4 * g + u];
            arow[h][2 * u] = sq_emu::bf16_lo(f.a[h]);
            arow[h][2 * u + 1] = sq_emu::bf16_hi(f.a[h]);
            arow[h][2 * u + 8] = sq_emu::bf16_lo(f.a[h + 2]);
            arow[h][2 * u + 9] = sq_emu::bf16_hi(f.a[h + 2]);
        }
        for (int c = 0; c < 2; c++) {
            const Frag& f = all[4 * (2 * t + c) + u];
            bcol[c][2 * u] = sq_emu::bf16_lo(f.b[0]);
            bcol[c][2 * u + 1] = sq_emu::bf16_hi(f.b[0]);
            bcol[c][2 * u + 8] = sq_emu::bf16_lo(f.b[1]);
            bcol[c][2 * u + 9] = sq_emu::bf16_hi(f.b[1]);
        }
    }
    float out[4];
    for (int i = 0; i < 4; i++) {
        float s = c[i];
        for (int k = 0; k < 16; k++) s += arow[i >> 1][k] * bcol[i & 1][k];
        out[i] = s;
    }
    for (int i = 0; i < 4; i++) d[i] = out[i];  // d may alias c
}

namespace sq_emu {
// ldmatrix .x4 of 16-bit elements: lanes 8i … 8i+7 give the row addresses of matrix i (16-byte
// aligned rows of 8 elements in shared memory); lane l gets, of each matrix i, row l/4 elements
// 2(l%4) and 2(l%4)+1 — or with `trans`, those of the transposed matrix.
inline void ldmatrix_x4(unsigned r[4], const void* row, bool trans) {
    if (reinterpret_cast<uintptr_t>(row) % 16 != 0) fail("ldmatrix with a row address not 16-byte aligned");
    const void* rows[32];
    sq_emu::warp_gather(0xffffffffu, &row, sizeof row, rows);
    int l = lane_id();
    for (int i = 0; i < 4; i++) {
        uint16_t e0, e1;
        if (!trans) {
            const uint16_t* p = static_cast<const uint16_t*>(rows[8 * i + l / 4]);
            e0 = p[2 * (l % 4)];
            e1 = p[2 * (l % 4) + 1];
        } else {
            e0 = static_cast<const uint16_t*>(rows[8 * i + 2 * (l % 4)])[l / 4];
            e1 = static_cast<const uint16_t*>(rows[8 * i + 2 * (l % 4) + 1])[l / 4];
        }
        r[i] = (unsigned)e0 | (unsigned)e1 << 16;
    }
}
}  // namespace sq_emu

inline void sq_ldmatrix_x4(unsigned r[4], const void* row) { sq_emu::ldmatrix_x4(r, row, false); }
inline void sq_ldmatrix_x4_trans(unsigned r[4], const void* row) { sq_emu::ldmatrix_x4(r, row, true); }

// cp.async.cg of 16 bytes, global → shared; made at the wait that covers its group.
inline void sq_cp_async_16(void* dst, const void* src) { sq_emu::cp_async(dst, src, 16); }
inline void sq_cp_async_commit() { sq_emu::cp_async_commit(); }
template <int N>
inline void sq_cp_async_wait() {
    sq_emu::cp_async_wait(N);
}
