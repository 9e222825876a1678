//! The blocked GEMM (`gemm` crate) over strided operands, so transposes are free: the LoRA term's small
//! products (parallel) and training attention's per-head blocks (on the calling task's thread).
use gemm::Parallelism;

/// dst[m × n] = beta·lhs·rhs (+ dst with `acc`) through the blocked GEMM over all cores; each operand
/// given by its pointer and (row stride, column stride).
///
/// # Safety
/// Every operand must be valid for the cells its shape and strides name; dst must not alias the others.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_strided(
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
    product(Parallelism::Rayon(0), [m, n, k], dst, dst_rs, acc, [lhs, rhs], [lhs_rs, lhs_cs, rhs_rs, rhs_cs], beta)
}

/// As `gemm_strided`, on the calling thread (inside a parallel task).
///
/// # Safety
/// As `gemm_strided`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_here(
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
    product(Parallelism::None, [m, n, k], dst, dst_rs, acc, [lhs, rhs], [lhs_rs, lhs_cs, rhs_rs, rhs_cs], beta)
}

#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn product(
    par: Parallelism,
    [m, n, k]: [usize; 3],
    dst: *mut f32,
    dst_rs: usize,
    acc: bool,
    [lhs, rhs]: [*const f32; 2],
    [lrs, lcs, rrs, rcs]: [usize; 4],
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
        lcs as isize,
        lrs as isize,
        rhs,
        rcs as isize,
        rrs as isize,
        alpha,
        beta,
        false,
        false,
        false,
        par,
    );
}
