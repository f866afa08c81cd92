//! Statistics (docs/statistics.md), hand-rolled (statrs would pull a linear-algebra tree for a
//! handful of formulas). Every function is pure and tested against reference values.

use serde::Serialize;

/// z for a two-sided 95% interval (the 0.975 quantile of the standard normal).
pub const Z95: f64 = 1.959963984540054;

/// A proportion with its 95% Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Proportion {
    pub successes: u64,
    pub n: u64,
    /// `successes / n`; `None` when `n == 0` (nothing judged, so no accuracy to show).
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

impl Proportion {
    pub fn new(successes: u64, n: u64) -> Proportion {
        match wilson(successes, n, Z95) {
            Some((lo, hi)) => Proportion {
                successes,
                n,
                value: Some(successes as f64 / n as f64),
                ci_low: Some(lo),
                ci_high: Some(hi),
            },
            None => Proportion {
                successes,
                n,
                value: None,
                ci_low: None,
                ci_high: None,
            },
        }
    }
}

/// Wilson score interval for `x` successes out of `n` at normal quantile `z`.
/// Returns `None` for `n == 0`. Bounds are clamped to [0, 1] against rounding.
pub fn wilson(x: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 || x > n {
        return None;
    }
    let n_f = n as f64;
    let p = x as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let center = (p + z2 / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    Some(((center - half).max(0.0), (center + half).min(1.0)))
}

/// Exact two-sided McNemar test on the discordant pairs: `b` (pass→fail) and `c`
/// (fail→pass). p = min(1, 2·P[X ≤ min(b, c)]) with X ~ Bin(b + c, 1/2), summed in log
/// space so large counts neither overflow nor underflow. No discordant pairs gives p = 1.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    if b + c == 0 {
        return 1.0;
    }
    (2.0 * binom_half_cdf(b + c, b.min(c))).min(1.0)
}

/// Exact one-sided sign test: with `worse` units that moved one way and `better` that moved
/// the other (ties dropped), the chance of at least `worse` of them moving that way if
/// either direction were equally likely: P[X ≥ worse], X ~ Bin(worse + better, 1/2).
/// No moved unit gives p = 1.
pub fn sign_test_one_sided(worse: u64, better: u64) -> f64 {
    if worse + better == 0 {
        return 1.0;
    }
    // By symmetry P[X ≥ worse] = P[X ≤ better].
    binom_half_cdf(worse + better, better).min(1.0)
}

/// The fewest units that must all move the same way (none the other way) for
/// [`sign_test_one_sided`] to fall below `alpha`: the floor of what a suite can detect.
pub fn sign_test_min_units(alpha: f64) -> u64 {
    (1..=64u64)
        .find(|&k| sign_test_one_sided(k, 0) < alpha)
        .unwrap_or(64)
}

/// P[X ≤ k] for X ~ Bin(n, 1/2), summed in log space so large counts neither overflow nor
/// underflow.
fn binom_half_cdf(n: u64, k: u64) -> f64 {
    if k >= n {
        return 1.0;
    }
    // ln C(n, i), built incrementally: C(n, i) = C(n, i-1) · (n - i + 1) / i.
    let mut ln_c = 0.0f64;
    let mut terms = Vec::with_capacity(k as usize + 1);
    terms.push(0.0);
    for i in 1..=k {
        ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        terms.push(ln_c);
    }
    let max = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let ln_sum = max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln();
    let ln_tail = ln_sum - n as f64 * std::f64::consts::LN_2;
    ln_tail.exp().min(1.0)
}

/// Unbiased pass@k from `n` samples with `c` correct: 1 − C(n−c, k) / C(n, k)
/// (the probability that at least one of k draws without replacement passes).
/// `None` when `k == 0` or `k > n`.
pub fn pass_at_k(n: u64, c: u64, k: u64) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if n - c < k {
        return Some(1.0);
    }
    // C(n−c, k) / C(n, k) = Π_{i<k} (n−c−i) / (n−i): a product of ratios stays in range.
    let ratio: f64 = (0..k)
        .map(|i| (n - c - i) as f64 / (n - i) as f64)
        .product();
    Some(1.0 - ratio)
}

/// Unbiased pass^k from `n` samples with `c` correct: C(c, k) / C(n, k) (the probability
/// that all k draws without replacement pass). With `n == k` this is "all k repeats passed".
pub fn pass_hat_k(n: u64, c: u64, k: u64) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if c < k {
        return Some(0.0);
    }
    Some((0..k).map(|i| (c - i) as f64 / (n - i) as f64).product())
}

/// Percentile `q` in [0, 100] of sorted data, by linear interpolation between closest ranks
/// (numpy's default `method="linear"`: index h = (n−1)·q/100). `None` for empty data.
pub fn percentile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * (q / 100.0).clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// Distribution summary of one latency metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Dist {
    pub n: usize,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
}

impl Dist {
    /// `None` for no finite values. Non-finite values (NaN, ∞) are dropped: a broken timing
    /// must not poison a whole table.
    pub fn from_values(values: &[f64]) -> Option<Dist> {
        Dist::from_vec(values.iter().copied().filter(|x| x.is_finite()).collect())
    }

    /// [`Dist::from_values`] reusing the caller's vector (no copy of a large sample).
    pub fn from_vec(mut v: Vec<f64>) -> Option<Dist> {
        v.retain(|x| x.is_finite());
        if v.is_empty() {
            return None;
        }
        // Unstable is exact here: values equal under `total_cmp` are the same bits.
        v.sort_unstable_by(|a, b| a.total_cmp(b));
        let p = |q| percentile_sorted(&v, q).unwrap_or(f64::NAN);
        Some(Dist {
            n: v.len(),
            mean: v.iter().sum::<f64>() / v.len() as f64,
            min: v[0],
            max: v[v.len() - 1],
            p50: p(50.0),
            p90: p(90.0),
            p95: p(95.0),
            p99: p(99.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-9;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < EPS, "{a} != {b}");
    }

    // References computed with the closed-form Wilson formula in Python floats:
    // centre = (p + z²/2n)/(1 + z²/n), half = z·sqrt(p(1−p)/n + z²/4n²)/(1 + z²/n).
    #[test]
    fn wilson_reference_values() {
        let cases = [
            (12, 16, 0.5050168346449122, 0.8981793250878696),
            (15, 16, 0.7167126242970107, 0.9888806552353576),
            (0, 10, 0.0, 0.2775327998628892),
            (10, 10, 0.7224672001371107, 1.0),
            (1, 3, 0.06149194472039621, 0.7923403991979522),
        ];
        for (x, n, lo, hi) in cases {
            let (l, h) = wilson(x, n, Z95).unwrap();
            close(l, lo);
            close(h, hi);
        }
        assert_eq!(wilson(0, 0, Z95), None);
        assert_eq!(Proportion::new(0, 0).value, None);
    }

    // References: exact binomial sums with Python integers (math.comb), 2·Σ_{i≤k} C(n,i)/2ⁿ.
    #[test]
    fn mcnemar_reference_values() {
        close(mcnemar_exact(0, 3), 0.25);
        close(mcnemar_exact(1, 6), 0.125);
        close(mcnemar_exact(6, 1), 0.125);
        close(mcnemar_exact(5, 5), 1.0);
        close(mcnemar_exact(0, 0), 1.0);
        close(mcnemar_exact(2, 10), 0.03857421875);
        close(mcnemar_exact(10, 40), 2.3861331676755526e-05);
        close(mcnemar_exact(300, 340), 0.12310113072196767);
    }

    // References: Python `sum(math.comb(n, i) for i in range(k + 1)) / 2**n`.
    #[test]
    fn sign_test_reference_values() {
        close(sign_test_one_sided(5, 0), 0.03125);
        close(sign_test_one_sided(1, 0), 0.5);
        close(sign_test_one_sided(0, 0), 1.0);
        close(sign_test_one_sided(0, 3), 1.0);
        // 23-case example: 5 worse, 1 better → 7/64.
        close(sign_test_one_sided(5, 1), 7.0 / 64.0);
        // 200-case example: 35 worse, 5 better → Σ_{i≤5} C(40,i)/2⁴⁰.
        close(sign_test_one_sided(35, 5), 760099.0 / 1099511627776.0);
        assert_eq!(sign_test_min_units(0.05), 5);
        assert_eq!(sign_test_min_units(0.01), 7);
    }

    #[test]
    fn pass_at_k_and_pass_hat_k() {
        // n=10, c=3: pass@1 = 0.3; pass@5 = 1 − C(7,5)/C(10,5) = 1 − 21/252.
        close(pass_at_k(10, 3, 1).unwrap(), 0.3);
        close(pass_at_k(10, 3, 5).unwrap(), 1.0 - 21.0 / 252.0);
        close(pass_at_k(10, 8, 3).unwrap(), 1.0);
        // pass^2 with n=10, c=7: C(7,2)/C(10,2) = 21/45.
        close(pass_hat_k(10, 7, 2).unwrap(), 21.0 / 45.0);
        close(pass_hat_k(2, 2, 2).unwrap(), 1.0);
        close(pass_hat_k(2, 1, 2).unwrap(), 0.0);
        close(pass_at_k(2, 1, 2).unwrap(), 1.0);
        close(pass_at_k(2, 0, 2).unwrap(), 0.0);
        assert_eq!(pass_at_k(2, 1, 3), None);
        assert_eq!(pass_hat_k(2, 1, 0), None);
    }

    // Reference by hand for [80, 95.5, 101, 120, 300] with numpy-linear indices (n−1)·q.
    #[test]
    fn percentiles_interpolate_like_numpy_linear() {
        let d = Dist::from_values(&[120.0, 80.0, 95.5, 300.0, 101.0, f64::NAN]).unwrap();
        assert_eq!(d.n, 5);
        close(d.p50, 101.0);
        close(d.p90, 228.0);
        close(d.p95, 264.0);
        close(d.p99, 292.8);
        close(d.mean, 139.3);
        close(d.min, 80.0);
        close(d.max, 300.0);
        assert_eq!(Dist::from_values(&[]), None);
        close(Dist::from_values(&[7.0]).unwrap().p99, 7.0);
    }
}
