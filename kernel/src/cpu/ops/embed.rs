//! Embedding lookup: rows of the (possibly quantized) table, dequantized. The table is frozen, so there
//! is no backward.
use crate::cpu::matrix::CpuMatrix;
use rayon::prelude::*;

/// out row i = row `ids[i]` of `table`.
pub fn embed(table: &CpuMatrix, ids: &[u32], out: &mut [f32]) {
    let n = table.cols();
    out[..ids.len() * n].par_chunks_mut(n).zip(ids).for_each(|(o, &id)| table.dequant_row(id as usize, o));
}
