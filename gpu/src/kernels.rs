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
    // train_ops.cu (training's small ops)
    // matmul_bwd.cu (training's products)
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
