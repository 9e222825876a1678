//! Weight matrices on the CPU and the matrix product x·Wᵀ.
//!
//! Why quantized weights stay quantized (measured on the 2-core machine, see README "Speed"): decoding one
//! token reads every weight once. Dequantized to f32, SmolLM2-135M is 540 MB per token — at ≈ 21 GB/s
//! that caps decode near 40 tok/s and breaks the 600 MB RSS budget. Kept as 4-bit blocks it is ≈ 100 MB,
//! which sits in L3. Quantized matrices are multiplied by the panel kernel (`panel.rs`) for any number
//! of activation rows, decoding weights in registers; dense ones (LoRA factors, f16/bf16 models) by a
//! register kernel for few rows and a blocked GEMM for many. All compute with the exact dequantized
//! values (x = q·d + m in f32): no activation rounding.
use super::panel::Panels;
use super::vector;
use super::SyncPtr;
use crate::backend::HostMatrix;
use crate::formats::quant::{self, GgmlType, QK, QK_K};
use crate::Result;
use rayon::prelude::*;

pub enum CpuMatrix {
    Dense {
        rows: usize,
        cols: usize,
        w: Vec<f32>,
    },
    /// 4-bit or 8-bit blocks, interleaved in panels of 16 rows (see `panel.rs`).
    Quant(Panels),
}

/// Above this many activation rows a dense product goes through the blocked GEMM.
const GEMM_MIN_ROWS: usize = 24;

impl CpuMatrix {
    pub fn rows(&self) -> usize {
        match self {
            CpuMatrix::Dense { rows, .. } => *rows,
            CpuMatrix::Quant(p) => p.rows,
        }
    }
    pub fn cols(&self) -> usize {
        match self {
            CpuMatrix::Dense { cols, .. } => *cols,
            CpuMatrix::Quant(p) => p.cols,
        }
    }

    /// Converts a loaded tensor into the CPU encoding: Q4_0/Q4_1/Q4_K become 4-bit panels (Q4_K's
    /// 6-bit sub-block scales fold into an exact f32 (d, m) per 32), Q8_0 becomes 8-bit panels, anything
    /// else is dequantized to f32 once.
    pub fn from_host(h: &HostMatrix) -> Result<Self> {
        let (rows, cols) = (h.rows, h.cols);
        h.check_size()?;
        let bb = h.ty.block_bytes();
        Ok(match h.ty {
            GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q4K => {
                let nb = rows * cols / QK;
                let mut qs = Vec::with_capacity(nb * 16);
                let mut dm = Vec::with_capacity(nb);
                for b in h.bytes.chunks_exact(bb) {
                    match h.ty {
                        GgmlType::Q4K => repack_q4_k(b, &mut qs, &mut dm),
                        GgmlType::Q4_0 => {
                            let d = f16(b, 0);
                            dm.push([d, -8.0 * d]);
                            qs.extend_from_slice(&b[2..18]);
                        }
                        _ => {
                            dm.push([f16(b, 0), f16(b, 2)]);
                            qs.extend_from_slice(&b[4..20]);
                        }
                    }
                }
                CpuMatrix::Quant(Panels::from_q4(rows, cols, &qs, &dm))
            }
            GgmlType::Q8_0 => {
                let nb = rows * cols / QK;
                let mut qs = Vec::with_capacity(nb * QK);
                let mut d = Vec::with_capacity(nb);
                for b in h.bytes.chunks_exact(bb) {
                    d.push(f16(b, 0));
                    qs.extend(b[2..34].iter().map(|&v| v as i8));
                }
                CpuMatrix::Quant(Panels::from_q8(rows, cols, &qs, &d))
            }
            _ => {
                let mut w = vec![0f32; rows * cols];
                let rb = h.ty.row_bytes(cols);
                w.par_chunks_mut(cols).zip(h.bytes.par_chunks(rb)).for_each(|(o, b)| quant::dequantize(h.ty, b, o));
                CpuMatrix::Dense { rows, cols, w }
            }
        })
    }

    /// Writes row `r` dequantized into `out` (`cols` values).
    pub fn dequant_row(&self, r: usize, out: &mut [f32]) {
        match self {
            CpuMatrix::Dense { cols, w, .. } => out.copy_from_slice(&w[r * cols..(r + 1) * cols]),
            CpuMatrix::Quant(p) => p.dequant_row(r, out),
        }
    }

    /// out[m × rows] = x[m × cols] · Wᵀ.
    pub fn matmul(&self, x: &[f32], m: usize, out: &mut [f32]) {
        let (n, k) = (self.rows(), self.cols());
        assert!(x.len() >= m * k && out.len() >= m * n, "matmul: buffers too small");
        match self {
            CpuMatrix::Quant(p) => p.matmul(x, m, out),
            // The register kernel works on whole blocks of 32; other row lengths (a LoRA B with small r) use GEMM.
            CpuMatrix::Dense { w, .. } if m < GEMM_MIN_ROWS && k % 32 == 0 => self.matmul_rows(w, x, m, out),
            CpuMatrix::Dense { w, .. } => dense_gemm(w, n, k, x, m, out),
        }
    }

    /// Few activation rows of a dense matrix: tasks take runs of weight rows; each weight row is read
    /// once per tile of activation rows.
    fn matmul_rows(&self, w: &[f32], x: &[f32], m: usize, out: &mut [f32]) {
        let (n, k) = (self.rows(), self.cols());
        let optr = SyncPtr(out.as_mut_ptr());
        // Enough rows per task that scheduling costs little, enough tasks to balance the cores.
        let chunk = (n / (8 * rayon::current_num_threads())).clamp(16, 512);
        (0..n.div_ceil(chunk)).into_par_iter().for_each(|c| {
            let optr = &optr;
            // SAFETY: tasks cover disjoint weight rows, so they write disjoint output cells.
            unsafe { vector::rows_matmul(w, k, c * chunk..((c + 1) * chunk).min(n), x, m, optr.0, n) };
        });
    }
}

/// out[m × n] = x[m × k] · Wᵀ for a dense row-major W (n × k), through the blocked GEMM.
fn dense_gemm(w: &[f32], n: usize, k: usize, x: &[f32], m: usize, out: &mut [f32]) {
    // SAFETY: dst is out (m×n, row stride n); lhs is x (m×k, row-major); rhs is W read as its
    // transpose (k×n: element (kk, j) at w[j·k + kk]). All in bounds by the caller's assert.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            x.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            k as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        );
    }
}

fn f16(b: &[u8], i: usize) -> f32 {
    half::f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Splits a Q4_K super-block into 8 Q4 blocks of 32: x = q·(d·sc) − dmin·mn, exact in f32.
fn repack_q4_k(b: &[u8], qs: &mut Vec<u8>, dm: &mut Vec<[f32; 2]>) {
    let mut vals = [0f32; QK_K];
    quant::dequant_q4_k(b, &mut vals);
    let d = f16(b, 0);
    let dmin = f16(b, 2);
    let nib = &b[16..144];
    for sub in 0..8 {
        let (g, high) = (sub / 2, sub % 2 == 1);
        let q: Vec<u8> = (0..32).map(|l| if high { nib[32 * g + l] >> 4 } else { nib[32 * g + l] & 0xF }).collect();
        let (sc, mn) = quant::scale_min_k4(sub, &b[4..16]);
        dm.push([d * sc as f32, -(dmin * mn as f32)]);
        for j in 0..16 {
            qs.push(q[j] | (q[j + 16] << 4));
        }
        debug_assert!((0..32).all(|l| (q[l] as f32 * d * sc as f32 - dmin * mn as f32 - vals[32 * sub + l]).abs() < 1e-6));
    }
}
