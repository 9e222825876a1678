//! The blocked GEMM (`gemm` crate) over strided operands, so transposes are free: the LoRA term's small
//! products (over all cores) and training attention's per-head blocks (on the calling task's thread).
pub(crate) use gemm::Parallelism;

/// dst[m × n] = beta·lhs·rhs (+ dst with `acc`) through the blocked GEMM, each operand given by its
/// pointer and (row stride, column stride); `par`: `Rayon(0)` over all cores, `None` on this thread.
///
/// # Safety
/// Every operand must be valid for the cells its shape and strides name; dst must not alias the others.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_strided(
    par: Parallelism,
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    acc: bool,
    lhs: *const f32,
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: *const f32,
    rhs_rs: usize,
    rhs_cs: usize,
    beta: f32,
) {
    let alpha = if acc { 1.0 } else { 0.0 };
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        acc,
        lhs,
        lhs_cs as isize,
        lhs_rs as isize,
        rhs,
        rhs_cs as isize,
        rhs_rs as isize,
        alpha,
        beta,
        false,
        false,
        false,
        par,
    );
}
