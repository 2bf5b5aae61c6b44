//! Comparing data with a reference profile: per column, every statistic that applies, the corrected
//! p-values, the buckets that moved most, and a decision under the policy's `[drift]` table.

use crate::profile::{Column, Kind, Method, bucket_of};
use crate::stats;
use crate::{DriftError, Profile};
use ferry_spec::policy::{DriftCorrection, DriftPolicy};
use serde::Serialize;

/// The threshold `method` has under `policy`: the policy's when it sets one, else the column's own,
/// else the method's default.
fn threshold(policy: &DriftPolicy, method: Method, own: Option<f64>) -> f64 {
    let set = match method {
        Method::Psi => policy.psi,
        Method::Js => policy.js,
        Method::Ks | Method::Chi2 => policy.alpha,
    };
    set.or(own).unwrap_or(method.default_threshold())
}

/// One column of data as a comparison sees it: bucket counts over the reference's buckets (plus any
/// new categories), nulls, and for KS the sorted non-null values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// Values seen, null ones included.
    pub count: u64,
    /// Null values.
    pub nulls: u64,
    /// Per bucket: the reference's bins or categories, then `other` for a categorical column.
    pub buckets: Vec<u64>,
    /// Categories not in the reference and not counted in `other`, each with its count.
    pub new_categories: Vec<(f64, u64)>,
    /// The sorted non-null values, when kept (KS needs them).
    pub sorted: Option<Vec<f64>>,
}

/// The most new categories kept apart before the rest are counted together.
const MAX_NEW_CATEGORIES: usize = 1000;

impl Observed {
    /// Empty counts shaped for `column`.
    pub fn empty(column: &Column) -> Observed {
        Observed { buckets: vec![0; bucket_count(column)], ..Observed::default() }
    }

    /// Counts `values` (`None` or NaN is null) against `column`'s buckets, keeping the sorted values.
    pub fn of(column: &Column, values: &[Option<f64>]) -> Observed {
        let mut o = Observed::empty(column);
        let mut new: std::collections::BTreeMap<i64, (f64, u64)> = Default::default();
        let mut sorted = Vec::with_capacity(values.len());
        for v in values {
            o.count += 1;
            let x = match v {
                Some(x) if !x.is_nan() => *x,
                _ => {
                    o.nulls += 1;
                    continue;
                }
            };
            sorted.push(x);
            match bucket(column, x) {
                Some(b) => o.buckets[b] += 1,
                None => {
                    // A category the reference never saw (it listed all of its own).
                    let key = (x + 0.0).to_bits() as i64;
                    if new.len() < MAX_NEW_CATEGORIES || new.contains_key(&key) {
                        new.entry(key).or_insert((x, 0)).1 += 1;
                    } else if let Some(last) = o.buckets.last_mut() {
                        *last += 1;
                    }
                }
            }
        }
        let mut new: Vec<(f64, u64)> = new.into_values().collect();
        new.sort_by(|a, b| a.0.total_cmp(&b.0));
        o.new_categories = new;
        if column.kind == Kind::Numeric {
            sorted.sort_by(f64::total_cmp);
            o.sorted = Some(sorted);
        }
        o
    }
}

/// Buckets of a column: bins, or the listed categories and `other`.
pub(crate) fn bucket_count(column: &Column) -> usize {
    match (&column.bins, &column.categories) {
        (Some(b), _) => b.edges.len() + 1,
        (None, Some(c)) => c.values.len() + 1,
        (None, None) => 1,
    }
}

/// The bucket `x` falls in; `None` for a category the reference never saw when it listed every
/// category it had (its `other` is empty), so the category is new rather than rare.
pub(crate) fn bucket(column: &Column, x: f64) -> Option<usize> {
    match (&column.bins, &column.categories) {
        (Some(b), _) => Some(bucket_of(&b.edges, x)),
        (None, Some(c)) => match c.values.binary_search_by(|v| v.total_cmp(&(x + 0.0))) {
            Ok(i) => Some(i),
            Err(_) if c.other > 0 => Some(c.values.len()),
            Err(_) => None,
        },
        (None, None) => Some(0),
    }
}

/// The verdict on one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Within every threshold.
    Stable,
    /// PSI at or above the warning level, within the failing thresholds.
    Warn,
    /// A deciding statistic crossed its threshold.
    Drift,
    /// No non-null values to compare.
    NoData,
}

/// A p-value test's result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Test {
    /// The statistic (KS: the largest CDF gap; chi-squared: Pearson's).
    pub statistic: f64,
    /// The p-value.
    pub p_value: f64,
    /// The p-value after the multiple-testing correction.
    pub p_adjusted: f64,
}

/// A bucket that moved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Moved {
    /// `(a, b]`, a category, `other` or `new a`.
    pub bucket: String,
    /// Share in the reference.
    pub reference: f64,
    /// Share in the data.
    pub current: f64,
    /// The bucket's PSI term.
    pub psi: f64,
}

/// One column compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnDrift {
    /// [`Column::tensor`].
    pub tensor: String,
    /// [`Column::name`].
    pub name: String,
    /// [`Column::kind`].
    pub kind: Kind,
    /// The deciding statistic.
    pub method: Method,
    /// Its threshold, after the policy.
    pub threshold: f64,
    /// The verdict.
    pub decision: Decision,
    /// Why, in words.
    pub reason: String,
    /// Values compared, nulls included.
    pub count: u64,
    /// Share of null values in the data.
    pub null_share: f64,
    /// Share of null values in the reference.
    pub reference_null_share: f64,
    /// Population stability index.
    pub psi: f64,
    /// Jensen–Shannon distance.
    pub js: f64,
    /// Two-sample Kolmogorov–Smirnov (numeric columns, when the values were kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ks: Option<Test>,
    /// Chi-squared (categorical columns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chi2: Option<Test>,
    /// The three buckets with the largest PSI terms.
    pub moved: Vec<Moved>,
}

impl ColumnDrift {
    /// The value of `method` for this column (a p-value after correction for tests).
    pub fn value(&self, method: Method) -> Option<f64> {
        match method {
            Method::Psi => Some(self.psi),
            Method::Js => Some(self.js),
            Method::Ks => self.ks.map(|t| t.p_adjusted),
            Method::Chi2 => self.chi2.map(|t| t.p_adjusted),
        }
    }
}

/// Compares each column with what was observed of it (`observed[i]` for `columns[i]`), correcting the
/// p-values over all of them together, and decides under the policy's `[drift]` table (a threshold it
/// sets replaces the profile's for every column judged by that statistic; `require` adds statistics
/// every column must pass as well as its own).
pub fn compare(
    columns: &[Column],
    observed: &[Observed],
    policy: &DriftPolicy,
) -> Result<Vec<ColumnDrift>, DriftError> {
    let mut out = Vec::with_capacity(columns.len());
    for (c, o) in columns.iter().zip(observed) {
        out.push(one(c, o)?);
    }
    // Correct the KS and chi-squared p-values as one family.
    let raw: Vec<f64> = out.iter().map(|d| d.ks.or(d.chi2).map_or(f64::NAN, |t| t.p_value)).collect();
    let adjusted = match policy.correction {
        DriftCorrection::Holm => stats::holm(&raw),
        DriftCorrection::Bonferroni => stats::bonferroni(&raw),
        DriftCorrection::None => raw,
    };
    for ((d, c), adj) in out.iter_mut().zip(columns).zip(adjusted) {
        for t in [&mut d.ks, &mut d.chi2].into_iter().flatten() {
            t.p_adjusted = adj;
        }
        decide(d, c, policy);
    }
    Ok(out)
}

fn decide(d: &mut ColumnDrift, c: &Column, th: &DriftPolicy) {
    d.method = c.method;
    d.threshold = threshold(th, c.method, Some(c.threshold));
    if d.count == 0 || d.null_share >= 1.0 {
        d.decision = Decision::NoData;
        d.reason = "no non-null values".into();
        return;
    }
    let mut methods = vec![(c.method, d.threshold)];
    for m in &th.require {
        if m.fits(c.kind) && *m != c.method {
            methods.push((*m, threshold(th, *m, None)));
        }
    }
    for (m, t) in methods {
        let Some(v) = d.value(m) else { continue };
        let crossed = if m.is_test() { v < t } else { v >= t };
        if crossed {
            let op = if m.is_test() { "<" } else { "≥" };
            let what =
                if m.is_test() { format!("{} p-value (corrected)", m.name()) } else { m.name().to_owned() };
            d.decision = Decision::Drift;
            d.reason = format!("{what} {} {op} {t}", short(v));
            return;
        }
    }
    if d.psi >= th.psi_warn {
        d.decision = Decision::Warn;
        d.reason = format!("psi {} ≥ {} (warning level)", short(d.psi), th.psi_warn);
    } else {
        d.decision = Decision::Stable;
        d.reason = format!(
            "{} {} within {}",
            d.method.name(),
            d.value(d.method).map_or("n/a".into(), short),
            d.threshold
        );
    }
}

/// Four significant digits, for messages (scientific below 0.0001).
pub fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    if v.abs() < 1e-4 {
        return format!("{v:.3e}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}

fn one(c: &Column, o: &Observed) -> Result<ColumnDrift, DriftError> {
    let (mut ref_counts, labels) = reference_buckets(c);
    if o.buckets.len() != ref_counts.len() {
        return Err(DriftError::Invalid {
            column: c.name.clone(),
            message: format!("{} buckets observed, the profile has {}", o.buckets.len(), ref_counts.len()),
        });
    }
    let mut cur_counts = o.buckets.clone();
    let mut labels = labels;
    for (v, n) in &o.new_categories {
        ref_counts.push(0);
        cur_counts.push(*n);
        labels.push(format!("new {}", short_value(*v)));
    }
    let (r, q) = (stats::shares(&ref_counts), stats::shares(&cur_counts));
    let present = o.count - o.nulls;
    let (psi, terms) = if present == 0 { (f64::NAN, vec![0.0; r.len()]) } else { stats::psi(&r, &q) };
    let js = if present == 0 { f64::NAN } else { stats::js_distance(&r, &q) };
    let mut moved: Vec<Moved> = labels
        .into_iter()
        .zip(r.iter().zip(&q))
        .zip(&terms)
        .map(|((bucket, (&reference, &current)), &psi)| Moved { bucket, reference, current, psi })
        .filter(|m| m.reference != m.current)
        .collect();
    moved.sort_by(|a, b| b.psi.total_cmp(&a.psi));
    moved.truncate(3);
    let mut ks = None;
    let mut chi2 = None;
    if present > 0 && c.present() > 0 {
        match c.kind {
            Kind::Numeric => {
                let exact = c.bins.as_ref().filter(|b| b.distinct);
                let d = match (&o.sorted, exact) {
                    (Some(sorted), Some(b)) => Some(ks_exact(b, sorted)),
                    (Some(sorted), None) => c.digest()?.map(|sketch| ks_statistic(&sketch, sorted)),
                    (None, _) => None,
                };
                if let Some(d) = d {
                    let p = stats::ks_p_value(d, c.present(), present);
                    ks = Some(Test { statistic: d, p_value: p, p_adjusted: p });
                }
            }
            Kind::Categorical => {
                // Evidently's form: expected = reference counts scaled to the data's size.
                let scale = present as f64 / c.present() as f64;
                let expected: Vec<f64> = ref_counts.iter().map(|n| *n as f64 * scale).collect();
                let observed: Vec<f64> = cur_counts.iter().map(|n| *n as f64).collect();
                // Buckets empty on both sides are not categories of either sample.
                let (e, ob): (Vec<f64>, Vec<f64>) =
                    expected.into_iter().zip(observed).filter(|(e, o)| *e > 0.0 || *o > 0.0).unzip();
                let (s, p, _) = stats::chi_squared(&ob, &e);
                chi2 = Some(Test { statistic: s, p_value: p, p_adjusted: p });
            }
        }
    }
    let share = |nulls: u64, count: u64| if count == 0 { 0.0 } else { nulls as f64 / count as f64 };
    Ok(ColumnDrift {
        tensor: c.tensor.clone(),
        name: c.name.clone(),
        kind: c.kind,
        method: c.method,
        threshold: c.threshold,
        decision: Decision::Stable,
        reason: String::new(),
        count: o.count,
        null_share: share(o.nulls, o.count),
        reference_null_share: share(c.nulls, c.count),
        psi,
        js,
        ks,
        chi2,
        moved,
    })
}

/// The reference's counts per bucket, with each bucket's label.
fn reference_buckets(c: &Column) -> (Vec<u64>, Vec<String>) {
    match (&c.bins, &c.categories) {
        (Some(b), _) => {
            let mut labels = Vec::with_capacity(b.counts.len());
            for i in 0..b.counts.len() {
                let lo = if i == 0 { "-inf".to_owned() } else { short_value(b.edges[i - 1]) };
                let hi = b.edges.get(i).map_or("inf".to_owned(), |e| short_value(*e));
                labels.push(format!("({lo}, {hi}]"));
            }
            (b.counts.clone(), labels)
        }
        (None, Some(cat)) => {
            let mut counts = cat.counts.clone();
            counts.push(cat.other);
            let mut labels: Vec<String> = cat.values.iter().map(|v| short_value(*v)).collect();
            labels.push("other".into());
            (counts, labels)
        }
        (None, None) => (vec![c.present()], vec!["all".into()]),
    }
}

fn short_value(v: f64) -> String {
    // Shortest round-trip form; integers without a fraction.
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

/// The largest gap between the reference's CDF (from its t-digest) and the data's empirical CDF. The
/// digest answers a value's mid-rank (the share below it plus half the share at it), so the data's CDF
/// is taken at the same mid-rank at each of its distinct values: for continuous data that is the KS
/// statistic to within `1/(2n)` and the digest's rank error; a tie is compared mid to mid, which never
/// exceeds the exact statistic.
fn ks_statistic(sketch: &datasketches::tdigest::TDigest, sorted: &[f64]) -> f64 {
    let n = sorted.len() as f64;
    let mut d: f64 = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let x = sorted[i];
        let mut j = i;
        while j < sorted.len() && sorted[j] == x {
            j += 1;
        }
        let mid = (i + j) as f64 / (2.0 * n);
        if let Ok(Some(r)) = sketch.rank(x) {
            d = d.max((r - mid).abs());
        }
        i = j;
    }
    d
}

/// The exact KS statistic against a reference whose every value sits on a bin edge (`distinct`): both
/// CDFs are step functions, compared at and just below every edge and every data value.
fn ks_exact(bins: &crate::Bins, sorted: &[f64]) -> f64 {
    let total: u64 = bins.counts.iter().sum();
    if total == 0 || sorted.is_empty() {
        return f64::NAN;
    }
    let (nr, nc) = (total as f64, sorted.len() as f64);
    // Reference CDF at x: the counts of the edges <= x; just below x: of the edges < x.
    let mut cum = Vec::with_capacity(bins.edges.len() + 1);
    let mut acc = 0u64;
    cum.push(0u64);
    for c in &bins.counts[..bins.edges.len()] {
        acc += c;
        cum.push(acc);
    }
    let f_ref = |x: f64, inclusive: bool| {
        let k = if inclusive {
            bins.edges.partition_point(|&e| e <= x)
        } else {
            bins.edges.partition_point(|&e| e < x)
        };
        cum[k] as f64 / nr
    };
    let f_cur = |x: f64, inclusive: bool| {
        let k =
            if inclusive { sorted.partition_point(|&v| v <= x) } else { sorted.partition_point(|&v| v < x) };
        k as f64 / nc
    };
    let mut d: f64 = 0.0;
    for &x in bins.edges.iter().chain(sorted) {
        d = d.max((f_ref(x, true) - f_cur(x, true)).abs()).max((f_ref(x, false) - f_cur(x, false)).abs());
    }
    d
}

/// Compares a whole profile with observations of its features and predictions, in profile order.
pub fn compare_profile(
    profile: &Profile,
    features: &[Observed],
    predictions: &[Observed],
    policy: &DriftPolicy,
) -> Result<(Vec<ColumnDrift>, Vec<ColumnDrift>), DriftError> {
    Ok((compare(&profile.features, features, policy)?, compare(&profile.predictions, predictions, policy)?))
}
