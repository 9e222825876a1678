//! The tensor-core wrapper's instructions (kernels/mma.cuh) against the PTX ISA's documented layouts,
//! over any device: the emulator's rebuilding of the fragments (gpu_emulator.rs) and the real
//! instructions on a GPU (gpu_cuda.rs) are held to the same expectations, written here from the PTX
//! ISA's "Matrix fragments for mma.m16n8k16" and "ldmatrix" sections.
#![allow(dead_code)]
use sqlora_gpu::device::Gpu;
use sqlora_gpu::emulated::LaunchConfig;
use sqlora_gpu::kernels::{selftest_cp_async, selftest_ldmatrix, selftest_mma};
use sqlora_gpu::launch::Arg;

/// Runs `kernel`-style work: uploads each input, launches one block of `threads`, reads `out_bytes`.
pub fn launch<G: Gpu>(
    gpu: &G,
    kernel: &sqlora_gpu::launch::Kernel,
    threads: u32,
    inputs: &[&[u8]],
    extra: &[Arg],
    out_bytes: usize,
) -> Result<Vec<u8>, String> {
    let bufs: Vec<G::Buffer> = inputs
        .iter()
        .map(|b| {
            let buf = gpu.alloc(b.len());
            gpu.write(&buf, 0, b);
            buf
        })
        .collect();
    let out = gpu.alloc(out_bytes);
    let mut args: Vec<Arg> = bufs.iter().map(|b| Arg::Ptr(gpu.address(b))).collect();
    args.push(Arg::Ptr(gpu.address(&out)));
    args.extend_from_slice(extra);
    gpu.launch(kernel, LaunchConfig::linear(1, threads), &args)?;
    let mut bytes = vec![0u8; out_bytes];
    gpu.read(&out, 0, &mut bytes);
    Ok(bytes)
}

fn le<T: Copy, const N: usize>(v: &[T], to: fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|&x| to(x)).collect()
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// Small exact values (multiples of 1/8 in [-2, 2)): bf16 holds them, products and sums of 16 are exact.
fn exact(i: usize, seed: usize) -> f32 {
    ((i * 37 + seed * 11) % 32) as f32 / 8.0 - 2.0
}

/// Two bf16 in one register, `lo` in the low half (the values are exact in bf16: truncation is exact).
fn pack(lo: f32, hi: f32) -> u32 {
    lo.to_bits() >> 16 | (hi.to_bits() >> 16) << 16
}

/// mma.m16n8k16 (bf16 → f32): fragments built by the documented layout, D read back by it, against A·B + C.
pub fn check_mma<G: Gpu>(gpu: &G) {
    let a: Vec<f32> = (0..256).map(|i| exact(i, 1)).collect(); // 16 × 16, row-major
    let b: Vec<f32> = (0..128).map(|i| exact(i, 2)).collect(); // 16 (k) × 8 (n), row-major
    let c: Vec<f32> = (0..128).map(|i| exact(i, 3)).collect(); // 16 × 8
    let (mut af, mut bf, mut cf) = (vec![0u32; 128], vec![0u32; 64], vec![0f32; 128]);
    for l in 0..32 {
        let (g, t) = (l / 4, l % 4);
        for r in 0..4 {
            // a[r]: row g + 8·(r & 1), columns 2t + 8·(r >> 1) and the next.
            let (row, col) = (g + 8 * (r & 1), 2 * t + 8 * (r >> 1));
            af[4 * l + r] = pack(a[row * 16 + col], a[row * 16 + col + 1]);
        }
        for r in 0..2 {
            // b[r]: rows (k) 2t + 8r and the next, column (n) g.
            let k = 2 * t + 8 * r;
            bf[2 * l + r] = pack(b[k * 8 + g], b[(k + 1) * 8 + g]);
        }
        for i in 0..4 {
            cf[4 * l + i] = c[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)];
        }
    }
    let out =
        launch(gpu, &selftest_mma, 32, &[&le(&af, u32::to_le_bytes), &le(&bf, u32::to_le_bytes), &le(&cf, f32::to_le_bytes)], &[], 512)
            .unwrap();
    let d = f32s(&out);
    for l in 0..32 {
        let (g, t) = (l / 4, l % 4);
        for i in 0..4 {
            let (row, col) = (g + 8 * (i >> 1), 2 * t + (i & 1));
            let want = c[row * 8 + col] + (0..16).map(|k| a[row * 16 + k] * b[k * 8 + col]).sum::<f32>();
            assert_eq!(d[4 * l + i], want, "mma: lane {l} d[{i}] = D[{row}][{col}]");
        }
    }
}

/// ldmatrix .x4, plain and .trans: lane l gets of matrix i row l/4, elements 2(l%4) and the next (of
/// the transpose with .trans).
pub fn check_ldmatrix<G: Gpu>(gpu: &G) {
    let m: Vec<u16> = (0..256).map(|i| i as u16 * 3 + 1).collect(); // 32 rows of 8: matrix i = rows 8i..8i+8
    for trans in [false, true] {
        let out = launch(gpu, &selftest_ldmatrix, 32, &[&le(&m, u16::to_le_bytes)], &[Arg::I32(trans as i32)], 512).unwrap();
        let r = u32s(&out);
        for l in 0..32 {
            for i in 0..4 {
                let at = |row: usize, col: usize| m[(8 * i + row) * 8 + col] as u32;
                let (e0, e1) = if trans {
                    (at(2 * (l % 4), l / 4), at(2 * (l % 4) + 1, l / 4))
                } else {
                    (at(l / 4, 2 * (l % 4)), at(l / 4, 2 * (l % 4) + 1))
                };
                assert_eq!(r[4 * l + i], e0 | e1 << 16, "ldmatrix trans={trans}: lane {l} register {i}");
            }
        }
    }
}

/// cp.async, waited for before the barrier: each thread reads its neighbour's copied values.
pub fn check_cp_async<G: Gpu>(gpu: &G) {
    let n = 64usize;
    let input: Vec<f32> = (0..4 * n).map(|i| i as f32).collect();
    let out = launch(gpu, &selftest_cp_async, n as u32, &[&le(&input, f32::to_le_bytes)], &[Arg::I32(1)], 16 * n).unwrap();
    let got = f32s(&out);
    for t in 0..n {
        for e in 0..4 {
            assert_eq!(got[4 * t + e], input[4 * ((t + 1) % n) + e], "cp.async: thread {t} value {e}");
        }
    }
}
