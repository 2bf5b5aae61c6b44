//! The statistics, each written once and checked against SciPy and Evidently (`drift/tests/evidently.py`).
//!
//! Shares are over non-null values. PSI fills an empty bucket the way Evidently does (a share of
//! 0.0001, or a millionth of the smallest non-zero share when that is smaller), so the two agree to
//! rounding; Jensen–Shannon is SciPy's `jensenshannon` (the distance, natural log), which needs no fill.

/// The share an empty bucket counts as in PSI (Evidently's `feel_zeroes`): 0.0001, or a millionth of the
/// smallest non-zero share when that is at most 0.0001.
fn zero_fill(shares: &[f64]) -> f64 {
    let smallest = shares.iter().copied().filter(|s| *s > 0.0).fold(f64::INFINITY, f64::min);
    if smallest <= 1e-4 { smallest / 1e6 } else { 1e-4 }
}

/// Shares of each bucket; all zero when there are no values.
pub fn shares(counts: &[u64]) -> Vec<f64> {
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return vec![0.0; counts.len()];
    }
    counts.iter().map(|c| *c as f64 / n as f64).collect()
}

/// The population stability index of `current` against `reference` (bucket shares), with each
/// bucket's term: `Σ (r − c) · ln(r / c)`, empty buckets filled as Evidently fills them.
pub fn psi(reference: &[f64], current: &[f64]) -> (f64, Vec<f64>) {
    let (fr, fc) = (zero_fill(reference), zero_fill(current));
    let terms: Vec<f64> = reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| {
            let r = if r == 0.0 { fr } else { r };
            let c = if c == 0.0 { fc } else { c };
            (r - c) * (r / c).ln()
        })
        .collect();
    (terms.iter().sum(), terms)
}

/// The Jensen–Shannon distance (the square root of the divergence, natural log), as SciPy's
/// `scipy.spatial.distance.jensenshannon`: each side is normalised to sum to 1 first.
pub fn js_distance(reference: &[f64], current: &[f64]) -> f64 {
    let (sr, sc): (f64, f64) = (reference.iter().sum(), current.iter().sum());
    if sr <= 0.0 || sc <= 0.0 {
        return f64::NAN;
    }
    let mut divergence = 0.0;
    for (&r, &c) in reference.iter().zip(current) {
        let (p, q) = (r / sr, c / sc);
        let m = (p + q) / 2.0;
        if p > 0.0 {
            divergence += p * (p / m).ln();
        }
        if q > 0.0 {
            divergence += q * (q / m).ln();
        }
    }
    (divergence / 2.0).max(0.0).sqrt()
}

/// The survival function of the Kolmogorov distribution (SciPy's `kstwobign.sf`): the limiting
/// distribution of `√n · D`, which the two-sample KS p-value uses with `n = n₁n₂ / (n₁ + n₂)`.
pub fn kolmogorov_sf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    if x < 1.0 {
        // The Jacobi-theta form converges fast for small x: cdf = √(2π)/x · Σ exp(−(2k−1)²π²/(8x²)).
        let mut sum = 0.0;
        for k in 1..=64u32 {
            let j = f64::from(2 * k - 1);
            let term = (-j * j * std::f64::consts::PI * std::f64::consts::PI / (8.0 * x * x)).exp();
            sum += term;
            if term < 1e-18 {
                break;
            }
        }
        return (1.0 - (2.0 * std::f64::consts::PI).sqrt() / x * sum).clamp(0.0, 1.0);
    }
    let mut sum = 0.0;
    for k in 1..=128u32 {
        let k = f64::from(k);
        let term = (-2.0 * k * k * x * x).exp();
        sum += if k as u64 % 2 == 1 { term } else { -term };
        if term < 1e-18 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// The two-sample KS p-value for statistic `d` between samples of `n1` and `n2` values, from the
/// limiting distribution ([`kolmogorov_sf`]).
pub fn ks_p_value(d: f64, n1: u64, n2: u64) -> f64 {
    if n1 == 0 || n2 == 0 {
        return f64::NAN;
    }
    let (a, b) = (n1 as f64, n2 as f64);
    kolmogorov_sf((a * b / (a + b)).sqrt() * d)
}

/// Pearson's chi-squared statistic and p-value of observed counts against expected counts (SciPy's
/// `chisquare`, as Evidently calls it): an expected count of zero with an observed one gives an infinite
/// statistic and a p-value of 0. Degrees of freedom: buckets − 1.
pub fn chi_squared(observed: &[f64], expected: &[f64]) -> (f64, f64, usize) {
    let dof = observed.len().saturating_sub(1);
    let mut stat = 0.0;
    for (&o, &e) in observed.iter().zip(expected) {
        if e == 0.0 {
            if o != 0.0 {
                return (f64::INFINITY, 0.0, dof);
            }
            continue;
        }
        stat += (o - e) * (o - e) / e;
    }
    if dof == 0 {
        return (stat, f64::NAN, dof);
    }
    (stat, gamma_q(dof as f64 / 2.0, stat / 2.0), dof)
}

/// Holm's step-down adjustment of p-values (family-wise error rate); NaN stays NaN and is not counted.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let m = order.len();
    let mut out = vec![f64::NAN; p.len()];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// Bonferroni's adjustment: each p-value times the number of tests, capped at 1.
pub fn bonferroni(p: &[f64]) -> Vec<f64> {
    let m = p.iter().filter(|x| !x.is_nan()).count() as f64;
    p.iter().map(|x| (x * m).min(1.0)).collect()
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, n = 9; relative error about 1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised upper incomplete gamma function `Q(a, x)`: a series below `a + 1`, a continued
/// fraction (modified Lentz) above.
fn gamma_q(a: f64, x: f64) -> f64 {
    if x.is_nan() || a <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    let prefix = (-x + a * x.ln() - ln_gamma(a)).exp();
    if x < a + 1.0 {
        let (mut term, mut sum, mut n) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            n += 1.0;
            term *= x / n;
            sum += term;
            if term.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        return (1.0 - sum * prefix).clamp(0.0, 1.0);
    }
    let tiny = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / tiny;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..10_000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < tiny {
            d = tiny;
        }
        c = b + an / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (prefix * h).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    // Expected values from SciPy 1.17 (scipy.stats.chi2.sf, kstwobign.sf, distance.jensenshannon).
    #[test]
    fn chi_squared_matches_scipy() {
        // chi2.sf(3.0, 2) = exp(-1.5)
        assert!(close(gamma_q(1.0, 1.5), (-1.5f64).exp(), 1e-12));
        // chi2.sf(10.0, 5) = 0.07523524614651217
        assert!(close(gamma_q(2.5, 5.0), 0.075_235_246_146_512_17, 1e-10));
        // chi2.sf(0.5, 7) = 0.9994464813904249
        assert!(close(gamma_q(3.5, 0.25), 0.999_446_481_390_424_9, 1e-10));
        let (stat, p, dof) = chi_squared(&[10.0, 20.0, 30.0], &[20.0, 20.0, 20.0]);
        assert_eq!(dof, 2);
        assert!(close(stat, 10.0, 1e-12));
        assert!(close(p, (-5.0f64).exp(), 1e-10));
        assert_eq!(chi_squared(&[1.0, 2.0], &[3.0, 0.0]).1, 0.0);
    }

    #[test]
    fn kolmogorov_matches_scipy() {
        // kstwobign.sf(x) for x = 0.5, 1.0, 1.36, 2.0
        assert!(close(kolmogorov_sf(0.5), 0.963_945_243_664_875_1, 1e-10));
        assert!(close(kolmogorov_sf(1.0), 0.269_999_671_677_354_56, 1e-10));
        assert!(close(kolmogorov_sf(1.36), 0.049_485_876_755_377_876, 1e-10));
        assert!(close(kolmogorov_sf(2.0), 0.000_670_925_255_779_695_3, 1e-10));
        assert_eq!(kolmogorov_sf(0.0), 1.0);
        // Continuous across the switch between the two series.
        assert!((kolmogorov_sf(1.0 - 1e-12) - kolmogorov_sf(1.0)).abs() < 1e-9);
    }

    #[test]
    fn psi_and_js() {
        let (p, terms) = psi(&[0.5, 0.5], &[0.5, 0.5]);
        assert_eq!(p, 0.0);
        assert_eq!(terms, vec![0.0, 0.0]);
        let (p, _) = psi(&[0.5, 0.5, 0.0], &[0.4, 0.4, 0.2]);
        let want = 2.0 * 0.1 * (0.5f64 / 0.4).ln() + (0.0001 - 0.2) * (0.0001f64 / 0.2).ln();
        assert!(close(p, want, 1e-12));
        assert_eq!(js_distance(&[0.5, 0.5], &[0.5, 0.5]), 0.0);
        // jensenshannon([1, 0], [0, 1]) = sqrt(ln 2)
        assert!(close(js_distance(&[1.0, 0.0], &[0.0, 1.0]), 2f64.ln().sqrt(), 1e-12));
    }

    #[test]
    fn holm_step_down() {
        let adj = holm(&[0.01, 0.04, 0.03, f64::NAN]);
        assert!(close(adj[0], 0.03, 1e-12));
        assert!(close(adj[2], 0.06, 1e-12));
        assert!(close(adj[1], 0.06, 1e-12));
        assert!(adj[3].is_nan());
        assert_eq!(bonferroni(&[0.5, 0.01]), vec![1.0, 0.02]);
    }
}
