//! The kernels of `gpu/kernels/*.cu` (and the emulator's self-tests, `emu/selftest.cu`) as the host
//! compiler built them: call them only inside [`crate::emulated::launch`]. Each declaration here
//! matches its `extern "C" __global__` definition, which documents it.
extern "C" {
    // norm.cu
    pub fn rmsnorm_f32(x: *const f32, w: *const f32, out: *mut f32, n: i32, eps: f32);
    // elementwise.cu
    pub fn swiglu_f32(gate: *const f32, up: *const f32, out: *mut f32, n: i32);
    pub fn add_f32(x: *mut f32, y: *const f32, n: i32);
    pub fn add_bias_f32(x: *mut f32, bias: *const f32, m: i32, n: i32);
    // rope.cu
    pub fn rope_f32(x: *mut f32, positions: *const u32, m: i32, n_heads: i32, head_dim: i32, theta: f32, halves: i32, sign: f32);
    // matmul_quant.cu (and the matmul_* kernels declared below, one per weight encoding)
    pub fn lora_xa_f32(x: *const f32, a: *const f32, xa: *mut f32, m: i32, din: i32, r: i32);
    // emu/selftest.cu
    pub fn selftest_missing_barrier(out: *mut f32);
    pub fn selftest_with_barrier(out: *mut f32);
    pub fn selftest_divergent_barrier(out: *mut f32);
    pub fn selftest_warp_ops(input: *const f32, sum: *mut f32, down: *mut f32, ballot: *mut u32);
    pub fn selftest_block_sum(input: *const f32, out: *mut f32);
}

/// The quantized products of matmul_quant.cu, one per weight encoding, all of one signature:
/// (x, w, out, m, rows, cols, xa, lora_b, r, scale).
macro_rules! matmul_kernels {
    ($($name:ident),*) => {
        extern "C" {
            $(
                pub fn $name(
                    x: *const f32,
                    w: *const u8,
                    out: *mut f32,
                    m: i32,
                    rows: i32,
                    cols: i32,
                    xa: *const f32,
                    lora_b: *const f32,
                    r: i32,
                    scale: f32,
                );
            )*
        }
    };
}
matmul_kernels!(matmul_q8_0_f32, matmul_q4_1_f32);
