//! The statistics of the regression report: exact McNemar test, Wilson interval of an accuracy, and
//! a paired bootstrap interval of an accuracy difference (seeded, so a report is reproducible).
use crate::rng::SplitMix64;

/// The standard normal quantile at 0.975 (scipy.stats.norm.ppf(0.975)).
pub const Z95: f64 = 1.959963984540054;

/// Two-sided exact McNemar p-value: a binomial test of `b` against Binomial(b + c, 1/2), where b and
/// c count the discordant pairs (right only in one arm, right only in the other). Summed in logs,
/// so it holds for any n.
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    let k = b.min(c);
    if n == 0 || b == c {
        return 1.0;
    }
    // ln C(n, i) - n ln 2 for i = 0..=k, added up with log-sum-exp.
    let mut ln_c = 0f64;
    let mut terms = Vec::with_capacity(k + 1);
    for i in 0..=k {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        terms.push(ln_c - n as f64 * std::f64::consts::LN_2);
    }
    let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = m.exp() * terms.iter().map(|t| (t - m).exp()).sum::<f64>();
    (2.0 * tail).min(1.0)
}

/// Wilson score interval of `k` successes in `n` (95% with `z` = [`Z95`]); (0, 0) when n = 0.
pub fn wilson(k: usize, n: usize, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 0.0);
    }
    let (nf, p) = (n as f64, k as f64 / n as f64);
    let denom = 1.0 + z * z / nf;
    let center = (p + z * z / (2.0 * nf)) / denom;
    let half = z * (p * (1.0 - p) / nf + z * z / (4.0 * nf * nf)).sqrt() / denom;
    ((center - half).max(0.0), (center + half).min(1.0))
}

/// A paired difference of two arms on the same questions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairedDiff {
    /// mean(other) - mean(base).
    pub diff: f64,
    /// 95% percentile bootstrap interval of `diff`.
    pub lo: f64,
    pub hi: f64,
    /// Right in base only.
    pub b: usize,
    /// Right in other only.
    pub c: usize,
    pub p_mcnemar: f64,
}

/// `base[i]` and `other[i]` are the same question's correctness in the two arms.
pub fn paired_diff(base: &[bool], other: &[bool], resamples: usize, seed: u64) -> PairedDiff {
    assert_eq!(base.len(), other.len(), "paired arms must have the same questions");
    let d: Vec<f64> = base.iter().zip(other).map(|(&x, &y)| f64::from(u8::from(y)) - f64::from(u8::from(x))).collect();
    let b = base.iter().zip(other).filter(|(&x, &y)| x && !y).count();
    let c = base.iter().zip(other).filter(|(&x, &y)| !x && y).count();
    let (lo, hi) = bootstrap_mean_ci(&d, resamples, seed, 0.95);
    let diff = if d.is_empty() { 0.0 } else { d.iter().sum::<f64>() / d.len() as f64 };
    PairedDiff { diff, lo, hi, b, c, p_mcnemar: mcnemar_exact(b, c) }
}

/// Percentile bootstrap interval of the mean of `x`: `resamples` means of n draws with replacement,
/// the interval between their (1 - level)/2 and (1 + level)/2 quantiles (linear interpolation, as
/// numpy.percentile's default).
pub fn bootstrap_mean_ci(x: &[f64], resamples: usize, seed: u64, level: f64) -> (f64, f64) {
    if x.is_empty() || resamples == 0 {
        return (0.0, 0.0);
    }
    let mut rng = SplitMix64::new(seed);
    let n = x.len();
    let mut means: Vec<f64> = (0..resamples).map(|_| (0..n).map(|_| x[rng.below(n as u64) as usize]).sum::<f64>() / n as f64).collect();
    means.sort_by(f64::total_cmp);
    (quantile(&means, (1.0 - level) / 2.0), quantile(&means, (1.0 + level) / 2.0))
}

/// The q-quantile of sorted values, linearly interpolated between order statistics.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos - pos.floor());
    if i + 1 < sorted.len() {
        sorted[i] + f * (sorted[i + 1] - sorted[i])
    } else {
        sorted[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values from scipy 1.17.1: scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue.
    const MCNEMAR: [(usize, usize, f64); 7] = [
        (10, 2, 0.03857421875),
        (25, 12, 0.04703102743951604),
        (7, 7, 1.0),
        (0, 5, 0.0625),
        (120, 90, 0.045114087864840696),
        (1, 0, 1.0),
        (700, 800, 0.010559255466711506),
    ];

    #[test]
    fn mcnemar_exact_matches_scipy_binomtest() {
        for (b, c, want) in MCNEMAR {
            let got = mcnemar_exact(b, c);
            assert!((got - want).abs() <= 1e-10 * want.max(1e-300) + 1e-15, "b={b} c={c}: {got} vs {want}");
            assert_eq!(got, mcnemar_exact(c, b), "symmetric");
        }
        assert_eq!(mcnemar_exact(0, 0), 1.0);
    }

    // scipy 1.17.1: scipy.stats.binomtest(k, n).proportion_ci(0.95, method="wilson").
    const WILSON: [(usize, usize, f64, f64); 4] = [
        (30, 150, 0.14384081582284963, 0.27114133079799635),
        (0, 37, 0.0, 0.09405782583720249),
        (38, 38, 0.908190131774416, 1.0),
        (412, 1531, 0.24748821054572057, 0.29187789405297315),
    ];

    #[test]
    fn wilson_interval_matches_scipy() {
        for (k, n, lo, hi) in WILSON {
            let (l, h) = wilson(k, n, Z95);
            assert!((l - lo).abs() < 1e-12 && (h - hi).abs() < 1e-12, "{k}/{n}: ({l}, {h}) vs ({lo}, {hi})");
        }
    }

    #[test]
    fn bootstrap_is_reproducible_and_near_the_normal_interval() {
        // 150 paired questions: 20 gained, 8 lost -> diff 0.08; sd of d_i known in closed form.
        let mut base = vec![false; 150];
        let mut other = vec![false; 150];
        other[..20].iter_mut().for_each(|x| *x = true);
        base[20..28].iter_mut().for_each(|x| *x = true);
        let a = paired_diff(&base, &other, 10_000, 42);
        assert_eq!(a, paired_diff(&base, &other, 10_000, 42));
        assert!((a.diff - 0.08).abs() < 1e-12);
        assert_eq!((a.b, a.c), (8, 20));
        let var = (28.0 / 150.0) - 0.08f64 * 0.08; // E[d²] - E[d]²
        let half = Z95 * (var / 150.0).sqrt();
        assert!(a.lo < a.diff && a.diff < a.hi);
        assert!(((a.hi - a.lo) / 2.0 - half).abs() < 0.15 * half, "({}, {}) vs ±{half}", a.lo, a.hi);
    }

    #[test]
    fn identical_arms_have_a_zero_interval_and_p_one() {
        let x = vec![true, false, true, true];
        let d = paired_diff(&x, &x, 1000, 1);
        assert_eq!((d.diff, d.lo, d.hi, d.p_mcnemar), (0.0, 0.0, 0.0, 1.0));
    }

    #[test]
    fn quantile_interpolates_like_numpy() {
        // numpy.percentile([1, 2, 3, 4], 25) == 1.75
        assert!((quantile(&[1.0, 2.0, 3.0, 4.0], 0.25) - 1.75).abs() < 1e-15);
    }
}
