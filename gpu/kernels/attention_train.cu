// Causal grouped-query attention for training over the packed sequences of a batch (the engine's
// `attention_packed` and `attention_packed_bwd`), flash-attention style: no score matrix exists
// beyond one tile's 32 scores per row. The forward keeps an online softmax (running max, sum and
// weighted values) and saves each row's log-sum-exp; the backward recomputes P = exp(s − lse) from it.
//
// Every kernel works on tiles of up to 16 rows of one sequence (TrainAttnTile, built by the host):
// the forward and dq take them as query rows and walk the keys 0 … (their last row) in tiles of 32;
// dk/dv take them as key rows and walk the queries (their first row) … (the sequence's end) of every
// query head of their KV head's group, in tiles of 32. Four warps of four rows each; in a tile of 32
// of the other side a lane takes one (a key or a query: its scores are whole dot products out of shared
// memory), then the warp folds the tile's 32 weights into what it accumulates for its rows (a lane owns
// the dims lane, lane + 32, … of head_dim ≤ 128), shuffling them in lane order.
//
// Deterministic: every value is summed by one thread (or one warp's fixed butterfly) in a fixed order,
// no atomics — a row's dq is its warp's alone, a key row's dk and dv (summed over the query heads of
// its group) the key tile's block's alone.
#include "sq_cuda.cuh"

// A tile: rows [first, first + count) of the sequence of `len` rows starting at batch row `row0`.
struct TrainAttnTile {
    int row0, len, first, count;
};

// Loops over a warp's 4 rows unrolled on the GPU, so their accumulators stay in registers.
#ifdef __CUDACC__
#define SQ_TRAIN_UNROLL _Pragma("unroll")
#else
#define SQ_TRAIN_UNROLL
#endif

constexpr int kTrainTileRows = 16;  // rows per tile: 4 warps × 4
constexpr int kTrainSpan = 32;      // rows of the other side per step: one per lane
constexpr int kTrainMaxHeadDim = 128;
constexpr int kTrainDims = kTrainMaxHeadDim / 32;  // dims per lane

// Where element d of row j of a 32-row tile lies in its shared row of 128 floats: rotated by j, so a
// lane reading dim d of its own row (lane j: row j) and the lanes reading dims lane + 32·i of one row
// both hit 32 distinct banks, with no padding (the dq and dk/dv kernels use 48 KiB as it is).
__device__ __forceinline__ int train_swz(int j, int d) { return (d + j) & (kTrainMaxHeadDim - 1); }

// Rows [0, n) of a 32-row tile from global rows of `stride` floats (n ≤ 32), multiplied by `mul`,
// by every thread of the block. Rows n … 31 are left unwritten: no lane reads them.
__device__ __forceinline__ void train_load_span(float (*dst)[kTrainMaxHeadDim], const float* src, size_t stride, int n,
                                                int head_dim, float mul) {
    for (int c = threadIdx.x; c < n * head_dim; c += blockDim.x) {
        int j = c / head_dim, d = c % head_dim;
        dst[j][train_swz(j, d)] = src[(size_t)j * stride + d] * mul;
    }
}

// A tile's rows [0, count) into a 16-row tile (rows count … 15 are zeros), times `mul`.
__device__ __forceinline__ void train_load_tile(float (*dst)[kTrainMaxHeadDim], const float* src, size_t stride,
                                                int count, int head_dim, float mul) {
    for (int c = threadIdx.x; c < kTrainTileRows * head_dim; c += blockDim.x) {
        int r = c / head_dim, d = c % head_dim;
        dst[r][d] = r < count ? src[(size_t)r * stride + d] * mul : 0.0f;
    }
}

// The forward. out[row, h] = Σ_j softmax_j(s)·v_j and lse[row·n_heads + h] = log Σ_j e^(s_j), over
// the row's keys j (its sequence's rows up to itself), s_j = (q·scale)·k_j with scale = 1/√head_dim.
// q, out [rows × n_heads·head_dim]; k, v [rows × n_kv_heads·head_dim]; query head h reads KV head
// h / (n_heads / n_kv_heads). Rows outside every tile are left alone.
// Launch: grid (tiles, n_heads), 128 threads; head_dim ≤ 128.
extern "C" __global__ void __launch_bounds__(128)
    attention_packed_f32(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                         const TrainAttnTile* tiles, float* __restrict__ out, float* __restrict__ lse, int n_heads,
                         int n_kv_heads, int head_dim) {
    SQ_SHARED(float, qs, [kTrainTileRows][kTrainMaxHeadDim]);
    SQ_SHARED(float, ks, [kTrainSpan][kTrainMaxHeadDim]);
    SQ_SHARED(float, vs, [kTrainSpan][kTrainMaxHeadDim]);
    TrainAttnTile tile = tiles[blockIdx.x];
    int h = blockIdx.y, kvh = h / (n_heads / n_kv_heads);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    size_t q_width = (size_t)n_heads * head_dim, kv_width = (size_t)n_kv_heads * head_dim;
    float scale = 1.0f / sqrtf((float)head_dim);  // correctly rounded, as the CPU's 1/√hd
    const float* kb = k + (size_t)tile.row0 * kv_width + (size_t)kvh * head_dim;
    const float* vb = v + (size_t)tile.row0 * kv_width + (size_t)kvh * head_dim;
    train_load_tile(qs, q + (size_t)(tile.row0 + tile.first) * q_width + (size_t)h * head_dim, q_width, tile.count,
                    head_dim, scale);
    float run_max[4], run_sum[4], acc[4][kTrainDims];
    for (int r = 0; r < 4; r++) {
        run_max[r] = -__int_as_float(0x7f800000);  // −∞: the first visible key's weight is 1
        run_sum[r] = 0.0f;
        for (int i = 0; i < kTrainDims; i++) acc[r][i] = 0.0f;
    }
    int keys = tile.first + tile.count;  // the tile's last row sees keys [0, keys)
    for (int t0 = 0; t0 < keys; t0 += kTrainSpan) {
        int valid = keys - t0 < kTrainSpan ? keys - t0 : kTrainSpan;
        __syncthreads();  // every warp is done with the previous keys (and the q tile is written)
        train_load_span(ks, kb + (size_t)t0 * kv_width, kv_width, valid, head_dim, 1.0f);
        train_load_span(vs, vb + (size_t)t0 * kv_width, kv_width, valid, head_dim, 1.0f);
        __syncthreads();
        for (int r = 0; r < 4; r++) {
            int row = warp * 4 + r;
            if (row >= tile.count) break;  // the whole warp leaves together
            int i = tile.first + row;      // sees keys [0, i]
            if (t0 > i) continue;
            bool seen = lane < valid && t0 + lane <= i;
            float score = -__int_as_float(0x7f800000);
            if (seen) {
                score = 0.0f;
                for (int d = 0; d < head_dim; d++) score += qs[row][d] * ks[lane][train_swz(lane, d)];
            }
            float new_max = fmaxf(run_max[r], warp_max(score));  // finite: key t0 ≤ i is seen
            float correction = expf(run_max[r] - new_max);
            float p = seen ? expf(score - new_max) : 0.0f;
            run_sum[r] = run_sum[r] * correction + warp_sum(p);
            int upto = i - t0 + 1 < valid ? i - t0 + 1 : valid;  // keys past i weigh 0
            for (int x = 0; x < kTrainDims; x++) acc[r][x] *= correction;
            for (int j = 0; j < upto; j++) {
                float pj = __shfl_sync(0xffffffffu, p, j);
                for (int x = 0; x < kTrainDims; x++) {
                    int d = lane + 32 * x;
                    if (d < head_dim) acc[r][x] += pj * vs[j][train_swz(j, d)];
                }
            }
            run_max[r] = new_max;
        }
    }
    for (int r = 0; r < 4; r++) {
        int row = warp * 4 + r;
        if (row >= tile.count) break;
        size_t at = (size_t)tile.row0 + tile.first + row;
        float* o = out + at * q_width + (size_t)h * head_dim;
        for (int x = 0; x < kTrainDims; x++) {
            int d = lane + 32 * x;
            if (d < head_dim) o[d] = acc[r][x] / run_sum[r];
        }
        if (lane == 0) lse[at * n_heads + h] = run_max[r] + logf(run_sum[r]);
    }
}

// The backward's first step: dd[row·n_heads + h] = Σ_d dout·out over the head's dims (the row term of
// dS = P ⊙ (dP − dd)), for rows [0, rows). One warp per (row, head).
// Launch: grid (⌈rows·n_heads / 4⌉), 128 threads.
extern "C" __global__ void __launch_bounds__(128)
    attention_packed_bwd_dot_f32(const float* __restrict__ dout, const float* __restrict__ out, float* __restrict__ dd,
                                 int rows, int n_heads, int head_dim) {
    int lane = threadIdx.x & 31;
    long long w = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);  // row·n_heads + h
    if (w >= (long long)rows * n_heads) return;                                    // the whole warp
    const float* a = dout + (size_t)w * head_dim;
    const float* b = out + (size_t)w * head_dim;
    float part = 0.0f;
    for (int d = lane; d < head_dim; d += 32) part += a[d] * b[d];
    float sum = warp_sum(part);
    if (lane == 0) dd[w] = sum;
}

// dq (overwritten on the tiles' rows): dq_i = scale · Σ_{j ≤ i} P_ij (dP_ij − dd_i) k_j with
// P_ij = e^(s_ij − lse_i), dP_ij = dout_i·v_j. lse from attention_packed_f32, dd from
// attention_packed_bwd_dot_f32. Launch: grid (tiles, n_heads), 128 threads, the forward's tiles.
extern "C" __global__ void __launch_bounds__(128)
    attention_packed_bwd_dq_f32(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                                const float* __restrict__ dout, const float* __restrict__ lse,
                                const float* __restrict__ dd, const TrainAttnTile* tiles, float* __restrict__ dq,
                                int n_heads, int n_kv_heads, int head_dim) {
    SQ_SHARED(float, qs, [kTrainTileRows][kTrainMaxHeadDim]);
    SQ_SHARED(float, dos, [kTrainTileRows][kTrainMaxHeadDim]);
    SQ_SHARED(float, ks, [kTrainSpan][kTrainMaxHeadDim]);
    SQ_SHARED(float, vs, [kTrainSpan][kTrainMaxHeadDim]);
    TrainAttnTile tile = tiles[blockIdx.x];
    int h = blockIdx.y, kvh = h / (n_heads / n_kv_heads);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    size_t q_width = (size_t)n_heads * head_dim, kv_width = (size_t)n_kv_heads * head_dim;
    float scale = 1.0f / sqrtf((float)head_dim);
    const float* kb = k + (size_t)tile.row0 * kv_width + (size_t)kvh * head_dim;
    const float* vb = v + (size_t)tile.row0 * kv_width + (size_t)kvh * head_dim;
    size_t q0 = (size_t)(tile.row0 + tile.first) * q_width + (size_t)h * head_dim;
    train_load_tile(qs, q + q0, q_width, tile.count, head_dim, scale);  // scaled as in the forward
    train_load_tile(dos, dout + q0, q_width, tile.count, head_dim, 1.0f);
    float row_lse[4], row_dd[4], acc[4][kTrainDims];
    for (int r = 0; r < 4; r++) {
        int row = warp * 4 + r;
        size_t at = ((size_t)tile.row0 + tile.first + row) * n_heads + h;
        row_lse[r] = row < tile.count ? lse[at] : 0.0f;
        row_dd[r] = row < tile.count ? dd[at] : 0.0f;
        for (int x = 0; x < kTrainDims; x++) acc[r][x] = 0.0f;
    }
    int keys = tile.first + tile.count;
    for (int t0 = 0; t0 < keys; t0 += kTrainSpan) {
        int valid = keys - t0 < kTrainSpan ? keys - t0 : kTrainSpan;
        __syncthreads();
        train_load_span(ks, kb + (size_t)t0 * kv_width, kv_width, valid, head_dim, 1.0f);
        train_load_span(vs, vb + (size_t)t0 * kv_width, kv_width, valid, head_dim, 1.0f);
        __syncthreads();
        for (int r = 0; r < 4; r++) {
            int row = warp * 4 + r;
            if (row >= tile.count) break;
            int i = tile.first + row;
            if (t0 > i) continue;
            float ds = 0.0f;  // lane's key t0 + lane
            if (lane < valid && t0 + lane <= i) {
                float s = 0.0f, dp = 0.0f;
                for (int d = 0; d < head_dim; d++) {
                    int at = train_swz(lane, d);
                    s += qs[row][d] * ks[lane][at];
                    dp += dos[row][d] * vs[lane][at];
                }
                ds = expf(s - row_lse[r]) * (dp - row_dd[r]);
            }
            int upto = i - t0 + 1 < valid ? i - t0 + 1 : valid;
            for (int j = 0; j < upto; j++) {
                float dsj = __shfl_sync(0xffffffffu, ds, j);
                for (int x = 0; x < kTrainDims; x++) {
                    int d = lane + 32 * x;
                    if (d < head_dim) acc[r][x] += dsj * ks[j][train_swz(j, d)];
                }
            }
        }
    }
    for (int r = 0; r < 4; r++) {
        int row = warp * 4 + r;
        if (row >= tile.count) break;
        float* o = dq + ((size_t)tile.row0 + tile.first + row) * q_width + (size_t)h * head_dim;
        for (int x = 0; x < kTrainDims; x++) {
            int d = lane + 32 * x;
            if (d < head_dim) o[d] = scale * acc[r][x];
        }
    }
}

// dk and dv (overwritten on the tiles' rows, here key rows) of KV head g = blockIdx.y: over the query
// heads h of its group (in order) and their rows i ≥ j of the sequence (in order),
// dk_j = Σ scale · P_ij (dP_ij − dd_i) q_i and dv_j = Σ P_ij dout_i.
// Launch: grid (tiles, n_kv_heads), 128 threads, the forward's tiles.
extern "C" __global__ void __launch_bounds__(128)
    attention_packed_bwd_dkv_f32(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                                 const float* __restrict__ dout, const float* __restrict__ lse,
                                 const float* __restrict__ dd, const TrainAttnTile* tiles, float* __restrict__ dk,
                                 float* __restrict__ dv, int n_heads, int n_kv_heads, int head_dim) {
    SQ_SHARED(float, ks, [kTrainTileRows][kTrainMaxHeadDim]);
    SQ_SHARED(float, vs, [kTrainTileRows][kTrainMaxHeadDim]);
    SQ_SHARED(float, qs, [kTrainSpan][kTrainMaxHeadDim]);
    SQ_SHARED(float, dos, [kTrainSpan][kTrainMaxHeadDim]);
    TrainAttnTile tile = tiles[blockIdx.x];
    int kvh = blockIdx.y, group = n_heads / n_kv_heads;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    size_t q_width = (size_t)n_heads * head_dim, kv_width = (size_t)n_kv_heads * head_dim;
    float scale = 1.0f / sqrtf((float)head_dim);
    size_t k0 = (size_t)(tile.row0 + tile.first) * kv_width + (size_t)kvh * head_dim;
    train_load_tile(ks, k + k0, kv_width, tile.count, head_dim, 1.0f);
    train_load_tile(vs, v + k0, kv_width, tile.count, head_dim, 1.0f);
    float dk_acc[4][kTrainDims], dv_acc[4][kTrainDims];
    for (int r = 0; r < 4; r++)
        for (int x = 0; x < kTrainDims; x++) dk_acc[r][x] = dv_acc[r][x] = 0.0f;
    for (int h = kvh * group; h < (kvh + 1) * group; h++) {
        const float* qb = q + (size_t)tile.row0 * q_width + (size_t)h * head_dim;
        const float* db = dout + (size_t)tile.row0 * q_width + (size_t)h * head_dim;
        // Queries [tile.first, len): the earlier ones see none of the tile's keys.
        for (int t0 = tile.first; t0 < tile.len; t0 += kTrainSpan) {
            int valid = tile.len - t0 < kTrainSpan ? tile.len - t0 : kTrainSpan;
            __syncthreads();  // every warp is done with the previous queries (and the key tile is written)
            train_load_span(qs, qb + (size_t)t0 * q_width, q_width, valid, head_dim, scale);
            train_load_span(dos, db + (size_t)t0 * q_width, q_width, valid, head_dim, 1.0f);
            __syncthreads();
            // The lane's query t0 + lane: its lse and dd.
            size_t at = ((size_t)tile.row0 + t0 + lane) * n_heads + h;
            float q_lse = lane < valid ? lse[at] : 0.0f, q_dd = lane < valid ? dd[at] : 0.0f;
            SQ_TRAIN_UNROLL
            for (int r = 0; r < 4; r++) {
                int row = warp * 4 + r;
                if (row >= tile.count) break;
                int j = tile.first + row;  // seen by queries [j, len); some lane of this span is one
                float p = 0.0f, ds = 0.0f;
                if (lane < valid && t0 + lane >= j) {
                    float s = 0.0f, dp = 0.0f;
                    for (int d = 0; d < head_dim; d++) {
                        int w = train_swz(lane, d);
                        s += qs[lane][w] * ks[row][d];
                        dp += dos[lane][w] * vs[row][d];
                    }
                    p = expf(s - q_lse);
                    ds = p * (dp - q_dd);
                }
                int from = j - t0 > 0 ? j - t0 : 0;  // queries before j weigh 0
                for (int m = from; m < valid; m++) {
                    float pm = __shfl_sync(0xffffffffu, p, m), dsm = __shfl_sync(0xffffffffu, ds, m);
                    for (int x = 0; x < kTrainDims; x++) {
                        int d = lane + 32 * x;
                        if (d < head_dim) {
                            int w = train_swz(m, d);
                            dv_acc[r][x] += pm * dos[m][w];
                            dk_acc[r][x] += dsm * qs[m][w];  // q scaled: scale·ds·q
                        }
                    }
                }
            }
        }
    }
    for (int r = 0; r < 4; r++) {
        int row = warp * 4 + r;
        if (row >= tile.count) break;
        size_t at = ((size_t)tile.row0 + tile.first + row) * kv_width + (size_t)kvh * head_dim;
        for (int x = 0; x < kTrainDims; x++) {
            int d = lane + 32 * x;
            if (d < head_dim) {
                dk[at + d] = dk_acc[r][x];
                dv[at + d] = dv_acc[r][x];
            }
        }
    }
}
