//! Moving rows within the backend: copies, the KV cache's appends, and gathering the rows that carry
//! logits or a loss (`gather_rows`) with its backward (`scatter_rows`).
use crate::backend::Rows;

/// dst[..n] = src[..n].
pub fn copy(src: &[f32], dst: &mut [f32], n: usize) {
    dst[..n].copy_from_slice(&src[..n]);
}

/// Rows `src_row..` of src into rows `dst_row..` of dst (`rows.m` rows of `rows.n` values).
pub fn copy_rows(src: &[f32], src_row: usize, dst: &mut [f32], dst_row: usize, rows: Rows) {
    let (m, n) = (rows.m, rows.n);
    dst[dst_row * n..(dst_row + m) * n].copy_from_slice(&src[src_row * n..(src_row + m) * n]);
}

/// out row i = x row `rows[i]`.
pub fn gather_rows(x: &[f32], rows: &[usize], n: usize, out: &mut [f32]) {
    for (i, &r) in rows.iter().enumerate() {
        out[i * n..(i + 1) * n].copy_from_slice(&x[r * n..(r + 1) * n]);
    }
}

/// out row `rows[i]` = x row i: the backward of `gather_rows` when the rows are distinct.
pub fn scatter_rows(x: &[f32], rows: &[usize], n: usize, out: &mut [f32]) {
    for (i, &r) in rows.iter().enumerate() {
        out[r * n..(r + 1) * n].copy_from_slice(&x[i * n..(i + 1) * n]);
    }
}
