//! Elementwise sums: the residual stream's adds and Qwen2's q/k/v biases.

/// x += y over the first `n` values.
pub fn add(x: &mut [f32], y: &[f32], n: usize) {
    for (a, b) in x[..n].iter_mut().zip(&y[..n]) {
        *a += b;
    }
}

/// x[m × n] += bias[n] for each row (n = bias.len()).
pub fn add_bias(x: &mut [f32], m: usize, bias: &[f32]) {
    let n = bias.len();
    for r in x[..m * n].chunks_exact_mut(n) {
        add(r, bias, n);
    }
}
