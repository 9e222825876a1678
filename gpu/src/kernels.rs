//! Every kernel of `gpu/kernels/*.cu` (and the emulator's self-tests, `emu/selftest.cu`), declared
//! once from its `extern "C" __global__` signature, which documents it; `P` is a device address.
use std::ffi::c_void;
type P = *mut c_void;

crate::kernels! {
    // norm.cu
    rmsnorm_f32(x: P, w: P, out: P, n: i32, eps: f32);
    // elementwise.cu
    swiglu_f32(gate: P, up: P, out: P, n: i32);
    add_f32(x: P, y: P, n: i32);
    add_bias_f32(x: P, bias: P, m: i32, n: i32);
    // rope.cu
    rope_f32(x: P, positions: P, m: i32, n_heads: i32, head_dim: i32, theta: f32, halves: i32, sign: f32);
    // matmul_quant.cu
    matmul_q8_0_f32(x: P, w: P, out: P, m: i32, rows: i32, cols: i32, xa: P, lora_b: P, r: i32, scale: f32);
    matmul_q4_1_f32(x: P, w: P, out: P, m: i32, rows: i32, cols: i32, xa: P, lora_b: P, r: i32, scale: f32);
    matmul_q4_k_f32(x: P, w: P, out: P, m: i32, rows: i32, cols: i32, xa: P, lora_b: P, r: i32, scale: f32);
    matmul_q6_k_f32(x: P, w: P, out: P, m: i32, rows: i32, cols: i32, xa: P, lora_b: P, r: i32, scale: f32);
    matmul_f32_f32(x: P, w: P, out: P, m: i32, rows: i32, cols: i32, xa: P, lora_b: P, r: i32, scale: f32);
    matmul_f16_f32(x: P, w: P, out: P, m: i32, rows: i32, cols: i32, xa: P, lora_b: P, r: i32, scale: f32);
    matmul_bf16_f32(x: P, w: P, out: P, m: i32, rows: i32, cols: i32, xa: P, lora_b: P, r: i32, scale: f32);
    lora_xa_f32(x: P, a: P, xa: P, m: i32, din: i32, r: i32);
    // matmul_mma.cu
    matmul_mma_q8_0_f32(x: P, w: P, out: P, m: i32, rows: i32, cols: i32, xa: P, lora_b: P, r: i32, scale: f32);
    matmul_mma_q4_1_f32(x: P, w: P, out: P, m: i32, rows: i32, cols: i32, xa: P, lora_b: P, r: i32, scale: f32);
    matmul_mma_q4_k_f32(x: P, w: P, out: P, m: i32, rows: i32, cols: i32, xa: P, lora_b: P, r: i32, scale: f32);
    matmul_mma_q6_k_f32(x: P, w: P, out: P, m: i32, rows: i32, cols: i32, xa: P, lora_b: P, r: i32, scale: f32);
    matmul_mma_bf16_f32(x: P, w: P, out: P, m: i32, rows: i32, cols: i32, xa: P, lora_b: P, r: i32, scale: f32);
    lora_b_add_f32(xa: P, b: P, y: P, m: i32, dout: i32, r: i32, scale: f32);
    // embed.cu
    embed_q8_0(w: P, ids: P, out: P, n_ids: i32, cols: i32);
    embed_q4_1(w: P, ids: P, out: P, n_ids: i32, cols: i32);
    embed_q4_k(w: P, ids: P, out: P, n_ids: i32, cols: i32);
    embed_q6_k(w: P, ids: P, out: P, n_ids: i32, cols: i32);
    embed_f32(w: P, ids: P, out: P, n_ids: i32, cols: i32);
    embed_f16(w: P, ids: P, out: P, n_ids: i32, cols: i32);
    embed_bf16(w: P, ids: P, out: P, n_ids: i32, cols: i32);
    gather_rows_f32(x: P, rows: P, out: P, count: i32, n: i32);
    // attention.cu
    attention_f32(q: P, segs: P, row_info: P, out: P, partial: P, n_heads: i32, n_kv_heads: i32, head_dim: i32, chunk: i32);
    attention_combine_f32(partial: P, row_info: P, out: P, n_heads: i32, head_dim: i32, splits: i32);
    attention_prefill_f32(q: P, segs: P, tiles: P, out: P, n_heads: i32, n_kv_heads: i32, head_dim: i32);
    // attention_train.cu (training attention)
    attention_packed_f32(q: P, k: P, v: P, tiles: P, out: P, lse: P, n_heads: i32, n_kv_heads: i32, head_dim: i32);
    attention_packed_bwd_dot_f32(dout: P, out: P, dd: P, rows: i32, n_heads: i32, head_dim: i32);
    attention_packed_bwd_dq_f32(q: P, k: P, v: P, dout: P, lse: P, dd: P, tiles: P, dq: P, n_heads: i32, n_kv_heads: i32, head_dim: i32);
    attention_packed_bwd_dkv_f32(q: P, k: P, v: P, dout: P, lse: P, dd: P, tiles: P, dk: P, dv: P, n_heads: i32, n_kv_heads: i32, head_dim: i32);
    // train_ops.cu (training's small ops)
    scatter_rows_f32(x: P, rows: P, out: P, count: i32, n: i32);
    dropout_f32(x: P, out: P, n: i32, p: f32, scale: f32, seed_lo: u32, seed_hi: u32);
    rmsnorm_bwd_f32(dy: P, x: P, w: P, dx: P, inv_out: P, n: i32, eps: f32);
    rmsnorm_bwd_dw_partial_f32(dy: P, x: P, inv: P, partial: P, m: i32, n: i32, chunk_rows: i32);
    rmsnorm_bwd_dw_sum_f32(partial: P, dw: P, chunks: i32, n: i32);
    swiglu_bwd_f32(dy: P, gate: P, up: P, dgate: P, dup: P, n: i32);
    sum_squares_f32(x: P, partial: P, n: i32);
    adamw_f32(p: P, g: P, m: P, v: P, n: i32, decay: f32, b1: f32, b2: f32, c1: f32, c2: f32, lr_t: f32, bc2: f32, eps: f32, scale: f32);
    // cross_entropy.cu
    ce_stats_f32(logits: P, c: i32, v0: i32, targets: P, state: P);
    ce_grad_f32(logits: P, rows: i32, c: i32, v0: i32, targets: P, weights: P, state: P);
    // matmul_bwd.cu (training's products)
    matmul_bwd_q8_0_f32(dy: P, w: P, dx: P, m: i32, rows: i32, cols: i32, accumulate: i32);
    matmul_bwd_q4_1_f32(dy: P, w: P, dx: P, m: i32, rows: i32, cols: i32, accumulate: i32);
    matmul_bwd_q4_k_f32(dy: P, w: P, dx: P, m: i32, rows: i32, cols: i32, accumulate: i32);
    matmul_bwd_q6_k_f32(dy: P, w: P, dx: P, m: i32, rows: i32, cols: i32, accumulate: i32);
    matmul_bwd_f32_f32(dy: P, w: P, dx: P, m: i32, rows: i32, cols: i32, accumulate: i32);
    matmul_bwd_f16_f32(dy: P, w: P, dx: P, m: i32, rows: i32, cols: i32, accumulate: i32);
    matmul_bwd_bf16_f32(dy: P, w: P, dx: P, m: i32, rows: i32, cols: i32, accumulate: i32);
    gemm_small_f32(a: P, b: P, c: P, m: i32, n: i32, k: i32, a_row: i32, a_col: i32, b_row: i32, b_col: i32, scale: f32, accumulate: i32);
    // tensor_core_check.cu
    selftest_mma(a: P, b: P, c: P, d: P);
    selftest_ldmatrix(m: P, out: P, trans: i32);
    selftest_cp_async(input: P, out: P, wait_first: i32);
    // argmax.cu
    argmax_rows_f32(x: P, out: P, n: i32);
    // emu/selftest.cu
    selftest_missing_barrier(out: P);
    selftest_with_barrier(out: P);
    selftest_divergent_barrier(out: P);
    selftest_warp_ops(input: P, sum: P, down: P, ballot: P);
    selftest_block_sum(input: P, out: P);
    selftest_out_of_bounds(input: P, out: P);
    selftest_cp_async_unwaited(input: P, out: P);
}
