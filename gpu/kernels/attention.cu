// Causal grouped-query attention over KV-cache segments (the engine's `attention` op), for decode
// steps (one new row per sequence; prefill rows go to attention_prefill_f32 below): one warp per
// (query row, head, split), the keys visited once in position order with an online softmax (running
// max, sum and weighted values), so no score row is ever stored. The lanes split the head's dimensions
// (dims lane, lane + 32, …, up to 128), and each key's score is a warp sum.
//
// Split-K over long caches: with gridDim.z = S > 1, split z takes positions [z·chunk, (z+1)·chunk) of
// what its row sees and writes its unnormalized state (max, sum, weighted values) to `partial`;
// attention_combine_f32 merges the S states. With S = 1 the warp writes the output itself.
#include "sq_cuda.cuh"
#include "mma.cuh"

// A KV segment: keys and values of `len` positions, rows of n_kv_heads · head_dim.
struct AttnSegment {
    unsigned long long k, v;  // device addresses
    long long len;
};

// For each query row: its sequence's segments [seg_begin, seg_begin + seg_count) and how many
// positions it may see (past + its index among the new tokens + 1); visible 0 leaves the row alone.
struct AttnRow {
    int seg_begin, seg_count, visible, pad;
};

constexpr int kMaxDimsPerLane = 4;  // head_dim ≤ 128

// Launch: grid (rows, n_heads, splits), 32 threads. partial: rows · n_heads · splits states of
// head_dim + 2 floats (max, sum, values), used when splits > 1; chunk: positions per split.
extern "C" __global__ void __launch_bounds__(32)
    attention_f32(const float* __restrict__ q, const AttnSegment* segs, const AttnRow* row_info, float* __restrict__ out,
                  float* __restrict__ partial, int n_heads, int n_kv_heads, int head_dim, int chunk) {
    int row = blockIdx.x, h = blockIdx.y, split = blockIdx.z, splits = gridDim.z, lane = threadIdx.x;
    AttnRow info = row_info[row];
    if (info.visible <= 0) return;
    long long first = (long long)split * chunk, last = splits == 1 ? info.visible : first + chunk;
    if (last > info.visible) last = info.visible;  // positions [first, last) of this split
    int kvh = h / (n_heads / n_kv_heads), kv_width = n_kv_heads * head_dim;
    const float* qr = q + (size_t)row * n_heads * head_dim + (size_t)h * head_dim;
    float scale = rsqrtf((float)head_dim);
    float qv[kMaxDimsPerLane], acc[kMaxDimsPerLane];
    for (int i = 0; i < kMaxDimsPerLane; i++) {
        int d = lane + 32 * i;
        qv[i] = d < head_dim ? qr[d] * scale : 0.0f;
        acc[i] = 0.0f;
    }
    float running_max = -__int_as_float(0x7f800000), sum = 0.0f;  // −∞: the first key's weight is 1
    long long seen = 0;                                           // positions before segment s
    for (int s = 0; s < info.seg_count && seen < last; s++) {
        AttnSegment seg = segs[info.seg_begin + s];
        const float* k = reinterpret_cast<const float*>(seg.k) + (size_t)kvh * head_dim;
        const float* v = reinterpret_cast<const float*>(seg.v) + (size_t)kvh * head_dim;
        long long t0 = first > seen ? first - seen : 0, t1 = last - seen < seg.len ? last - seen : seg.len;
        for (long long t = t0; t < t1; t++) {
            float part = 0.0f;
            for (int i = 0; i < kMaxDimsPerLane; i++) {
                int d = lane + 32 * i;
                if (d < head_dim) part += qv[i] * k[(size_t)t * kv_width + d];
            }
            float score = warp_sum(part);
            float new_max = fmaxf(running_max, score);
            float correction = __expf(running_max - new_max), p = __expf(score - new_max);
            sum = sum * correction + p;
            for (int i = 0; i < kMaxDimsPerLane; i++) {
                int d = lane + 32 * i;
                if (d < head_dim) acc[i] = acc[i] * correction + p * v[(size_t)t * kv_width + d];
            }
            running_max = new_max;
        }
        seen += seg.len;
    }
    if (splits == 1) {
        float* o = out + (size_t)row * n_heads * head_dim + (size_t)h * head_dim;
        for (int i = 0; i < kMaxDimsPerLane; i++) {
            int d = lane + 32 * i;
            if (d < head_dim) o[d] = acc[i] / sum;
        }
        return;
    }
    // A split past the row's last position leaves (−∞, 0, zeros): it weighs nothing in the merge.
    float* state = partial + (((size_t)row * n_heads + h) * splits + split) * (head_dim + 2);
    if (lane == 0) {
        state[0] = running_max;
        state[1] = sum;
    }
    for (int i = 0; i < kMaxDimsPerLane; i++) {
        int d = lane + 32 * i;
        if (d < head_dim) state[2 + d] = acc[i];
    }
}

// Merges the splits' states of attention_f32: out = Σ e^(m_z − M)·acc_z / Σ e^(m_z − M)·sum_z, M the
// largest max. Launch: grid (rows, n_heads), 32 threads; row_info as for attention_f32.
extern "C" __global__ void __launch_bounds__(32) attention_combine_f32(const float* __restrict__ partial,
                                                                       const AttnRow* row_info, float* __restrict__ out,
                                                                       int n_heads, int head_dim, int splits) {
    int row = blockIdx.x, h = blockIdx.y, lane = threadIdx.x;
    if (row_info[row].visible <= 0) return;
    const float* states = partial + ((size_t)row * n_heads + h) * splits * (head_dim + 2);
    float top = -__int_as_float(0x7f800000);
    for (int z = 0; z < splits; z++) top = fmaxf(top, states[(size_t)z * (head_dim + 2)]);
    float total = 0.0f, acc[kMaxDimsPerLane] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int z = 0; z < splits; z++) {
        const float* st = states + (size_t)z * (head_dim + 2);
        if (st[1] == 0.0f) continue;  // an empty split (its max is −∞)
        float w = __expf(st[0] - top);
        total += w * st[1];
        for (int i = 0; i < kMaxDimsPerLane; i++) {
            int d = lane + 32 * i;
            if (d < head_dim) acc[i] += w * st[2 + d];
        }
    }
    float* o = out + (size_t)row * n_heads * head_dim + (size_t)h * head_dim;
    for (int i = 0; i < kMaxDimsPerLane; i++) {
        int d = lane + 32 * i;
        if (d < head_dim) o[d] = acc[i] / total;
    }
}

// The prefill kernel, in the flash-attention style: a block takes a tile of up to 16 new rows of one
// sequence and one head, and walks the keys once in tiles of 32 positions copied into shared memory
// with cp.async (K and V rows of the head's KV head), each row keeping its online softmax (running
// max, sum and weighted values) so no score matrix exists beyond one tile's 32 scores per row. Four
// warps, four rows each; in a key tile a lane scores one key, then the warp folds the tile's
// weights into the values it accumulates (its dims lane, lane + 32, …).
// A tile of a sequence's new rows: rows [row0, row0 + rows) of q / out, its segments, and how many
// positions its first row sees (row i of the tile sees visible0 + i).
struct AttnTile {
    int row0, rows, seg_begin, seg_count, visible0, pad0, pad1, pad2;
};

constexpr int kTileRows = 16, kTileKeys = 32, kMaxHeadDim = 128, kKeyStride = kMaxHeadDim + 4;

// Launch: grid (tiles, n_heads), 128 threads. head_dim ≤ 128 and a multiple of 4, n_kv_heads ·
// head_dim a multiple of 4 (16-byte rows for cp.async).
extern "C" __global__ void __launch_bounds__(128)
    attention_prefill_f32(const float* __restrict__ q, const AttnSegment* segs, const AttnTile* tiles,
                          float* __restrict__ out, int n_heads, int n_kv_heads, int head_dim) {
    SQ_SHARED(float, qs, [kTileRows][kMaxHeadDim]);
    SQ_SHARED(float, ks, [kTileKeys][kKeyStride]);
    SQ_SHARED(float, vs, [kTileKeys][kKeyStride]);
    AttnTile tile = tiles[blockIdx.x];
    int h = blockIdx.y, kvh = h / (n_heads / n_kv_heads), kv_width = n_kv_heads * head_dim;
    int t = threadIdx.x, lane = t & 31, warp = t >> 5;
    float scale = rsqrtf((float)head_dim);
    size_t q_width = (size_t)n_heads * head_dim;
    for (int i = t; i < kTileRows * head_dim; i += blockDim.x) {
        int r = i / head_dim, d = i % head_dim;
        qs[r][d] = r < tile.rows ? q[(size_t)(tile.row0 + r) * q_width + (size_t)h * head_dim + d] * scale : 0.0f;
    }
    // Per row of this warp: running max, sum, and the weighted values of dims lane + 32·i.
    float run_max[4], run_sum[4], acc[4][kMaxHeadDim / 32];
    for (int r = 0; r < 4; r++) {
        run_max[r] = -__int_as_float(0x7f800000);
        run_sum[r] = 0.0f;
        for (int i = 0; i < kMaxHeadDim / 32; i++) acc[r][i] = 0.0f;
    }
    int last_visible = tile.visible0 + tile.rows - 1;  // the most positions any row of the tile sees
    int chunks = head_dim / 4;                          // 16-byte pieces of a key row
    long long seen = 0;                                 // positions before the current segment
    for (int s = 0; s < tile.seg_count && seen < last_visible; s++) {
        AttnSegment seg = segs[tile.seg_begin + s];
        const float* kbase = reinterpret_cast<const float*>(seg.k) + (size_t)kvh * head_dim;
        const float* vbase = reinterpret_cast<const float*>(seg.v) + (size_t)kvh * head_dim;
        for (long long t0 = 0; t0 < seg.len && seen + t0 < last_visible; t0 += kTileKeys) {
            long long left = seg.len - t0 < last_visible - (seen + t0) ? seg.len - t0 : last_visible - (seen + t0);
            int valid = left < kTileKeys ? (int)left : kTileKeys;
            __syncthreads();  // every warp is done with the previous tile (and the q tile is written)
            for (int c = t; c < valid * chunks; c += blockDim.x) {
                int j = c / chunks, d = (c % chunks) * 4;
                size_t at = (size_t)(t0 + j) * kv_width + d;
                sq_cp_async_16(&ks[j][d], kbase + at);
                sq_cp_async_16(&vs[j][d], vbase + at);
            }
            sq_cp_async_commit();
            sq_cp_async_wait<0>();
            __syncthreads();
            for (int r = 0; r < 4; r++) {
                int row = warp * 4 + r;
                if (row >= tile.rows) break;  // the whole warp leaves together
                long long pos = seen + t0 + lane, visible = tile.visible0 + row;
                float score = -__int_as_float(0x7f800000);
                if (lane < valid && pos < visible) {
                    score = 0.0f;
                    for (int d = 0; d < head_dim; d++) score += qs[row][d] * ks[lane][d];
                }
                float tile_max = warp_max(score);
                if (tile_max == -__int_as_float(0x7f800000)) continue;  // no key of this tile visible
                float new_max = fmaxf(run_max[r], tile_max);
                float correction = __expf(run_max[r] - new_max);
                float p = lane < valid && pos < visible ? __expf(score - new_max) : 0.0f;
                run_sum[r] = run_sum[r] * correction + warp_sum(p);
                for (int i = 0; i < kMaxHeadDim / 32; i++) acc[r][i] *= correction;
                for (int j = 0; j < valid; j++) {
                    float pj = __shfl_sync(0xffffffffu, p, j);
                    for (int i = 0; i < kMaxHeadDim / 32; i++) {
                        int d = lane + 32 * i;
                        if (d < head_dim) acc[r][i] += pj * vs[j][d];
                    }
                }
                run_max[r] = new_max;
            }
        }
        seen += seg.len;
    }
    for (int r = 0; r < 4; r++) {
        int row = warp * 4 + r;
        if (row >= tile.rows) break;
        float* o = out + (size_t)(tile.row0 + row) * q_width + (size_t)h * head_dim;
        for (int i = 0; i < kMaxHeadDim / 32; i++) {
            int d = lane + 32 * i;
            if (d < head_dim) o[d] = acc[r][i] / run_sum[r];
        }
    }
}
