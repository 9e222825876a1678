// Causal grouped-query attention over KV-cache segments (the engine's `attention` op): one warp per
// (query row, head), the keys visited once in position order with an online softmax (running max,
// sum and weighted values), so no score row is ever stored. The lanes split the head's dimensions
// (dims lane, lane + 32, …, up to 128), and each key's score is a warp sum.
//
// This is the simple, correct version (every cache length, every GQA ratio); the tiled
// flash-attention prefill and the split-K decode come next.
#include "sq_cuda.cuh"

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

// Launch: grid (rows, n_heads), 32 threads.
extern "C" __global__ void __launch_bounds__(32) attention_f32(const float* __restrict__ q, const AttnSegment* segs,
                                                               const AttnRow* row_info, float* __restrict__ out,
                                                               int n_heads, int n_kv_heads, int head_dim) {
    int row = blockIdx.x, h = blockIdx.y, lane = threadIdx.x;
    AttnRow info = row_info[row];
    if (info.visible <= 0) return;
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
    int seen = 0;
    for (int s = 0; s < info.seg_count && seen < info.visible; s++) {
        AttnSegment seg = segs[info.seg_begin + s];
        const float* k = reinterpret_cast<const float*>(seg.k) + (size_t)kvh * head_dim;
        const float* v = reinterpret_cast<const float*>(seg.v) + (size_t)kvh * head_dim;
        int take = (long long)(info.visible - seen) < seg.len ? info.visible - seen : (int)seg.len;
        for (int t = 0; t < take; t++) {
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
        seen += take;
    }
    float* o = out + (size_t)row * n_heads * head_dim + (size_t)h * head_dim;
    for (int i = 0; i < kMaxDimsPerLane; i++) {
        int d = lane + 32 * i;
        if (d < head_dim) o[d] = acc[i] / sum;
    }
}
