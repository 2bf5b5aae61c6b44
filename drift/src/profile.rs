//! The reference profile: what the training data looked like, per feature and per model output.
//!
//! Written by `pack` as canonical JSON (`reference/profile.json`, FORMAT.md §3.9), so the same sample
//! always gives the same bytes, and read back only through [`Profile::from_json`], which refuses a
//! profile that is not self-consistent (NaN or unordered bin edges, counts that do not add up, more
//! categories than [`MAX_CATEGORIES`]).

use crate::DriftError;
use base64ct::{Base64, Encoding};
use datasketches::tdigest::{TDigest, TDigestMut};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The profile format's version; a reader refuses any other.
pub const PROFILE_VERSION: u32 = 1;
/// Quantile bins per numeric column unless the source says otherwise.
pub const DEFAULT_BINS: usize = 10;
/// The most bins a numeric column may have.
pub const MAX_BINS: usize = 100;
/// Categories kept per categorical column unless the source says otherwise (the rest are "other").
pub const DEFAULT_TOP_K: usize = 20;
/// The most categories a profile may list for one column.
pub const MAX_CATEGORIES: usize = 1000;
/// The most distinct values a categorical column of a reference sample may have: more is not a
/// category but a number (or an identifier), and counting them would be unbounded.
pub const MAX_DISTINCT: usize = 10_000;
/// The t-digest's compression: rank error well under 1% (DataSketches' guidance), about 5 KiB per
/// column once serialised.
pub const SKETCH_K: u16 = 200;
/// The most columns a profile may hold.
pub const MAX_COLUMNS: usize = 4096;
/// The most bytes of a profile file.
pub const MAX_PROFILE_BYTES: u64 = 64 << 20;

pub use ferry_spec::{Kind, Method};

/// A reference profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// [`PROFILE_VERSION`].
    pub profile_version: u32,
    /// The sample the profile was computed from.
    pub sample: SampleInfo,
    /// One per declared feature, in contract order.
    pub features: Vec<Column>,
    /// One per model output column (the model run on the sample), in declaration order.
    pub predictions: Vec<Column>,
}

/// The reference sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleInfo {
    /// `sha256:` and the hex digest of the sample file's bytes.
    pub digest: String,
    /// Rows (records) in the sample.
    pub rows: u64,
    /// Whether the sample itself is in the bundle (`[reference] ship_sample`), at this path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// One column's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// The tensor it is read from (an input, or an output for predictions).
    pub tensor: String,
    /// The feature's name; for an output, the output's name, with `[i]` when it has several columns.
    pub name: String,
    /// Its position along the tensor's last axis.
    pub index: usize,
    /// How it is compared.
    pub kind: Kind,
    /// The statistic that decides drift for this column.
    pub method: Method,
    /// That statistic's threshold.
    pub threshold: f64,
    /// Values seen (null ones included).
    pub count: u64,
    /// Null (missing, NaN) values.
    pub nulls: u64,
    /// Smallest non-null value.
    pub min: Option<f64>,
    /// Largest non-null value.
    pub max: Option<f64>,
    /// Mean of the non-null values.
    pub mean: Option<f64>,
    /// Population standard deviation of the non-null values.
    pub std: Option<f64>,
    /// Numeric columns: quantile bins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bins: Option<Bins>,
    /// Numeric columns: the t-digest of the non-null values, DataSketches' binary format in base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sketch: Option<String>,
    /// Categorical columns: the most frequent categories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Categories>,
}

/// Quantile bins: bucket `i` holds the values `v` with `edges[i-1] < v <= edges[i]` (the first is
/// unbounded below, the last above), so there is one more bucket than edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bins {
    /// Finite, strictly increasing.
    pub edges: Vec<f64>,
    /// Non-null reference values per bucket.
    pub counts: Vec<u64>,
    /// `counts[i]` over the non-null count.
    pub proportions: Vec<f64>,
    /// Whether the edges are the sample's distinct values (it had no more of them than bins), so that
    /// every reference value sits on an edge and the reference's CDF is known exactly (KS is then
    /// computed from the bins, not the sketch).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub distinct: bool,
}

/// Category frequencies: the `top_k` most frequent values (ties broken by value), listed by value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Categories {
    /// Finite, strictly increasing.
    pub values: Vec<f64>,
    /// Non-null reference values per category.
    pub counts: Vec<u64>,
    /// `counts[i]` over the non-null count.
    pub proportions: Vec<f64>,
    /// Non-null values of the categories not listed.
    pub other: u64,
}

/// What a column is and how to profile it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// [`Column::tensor`].
    pub tensor: String,
    /// [`Column::name`].
    pub name: String,
    /// [`Column::index`].
    pub index: usize,
    /// [`Column::kind`].
    pub kind: Kind,
    /// The deciding statistic; PSI for numeric columns, Jensen–Shannon for categorical ones when `None`.
    pub method: Option<Method>,
    /// Its threshold; [`Method::default_threshold`] when `None`.
    pub threshold: Option<f64>,
    /// Quantile bins (numeric).
    pub bins: usize,
    /// Categories kept (categorical).
    pub top_k: usize,
    /// Fixed inner bin edges instead of the sample's quantiles (numeric): finite, strictly increasing.
    pub edges: Option<Vec<f64>>,
}

impl ColumnSpec {
    /// A column with the default method, threshold, bins and categories.
    pub fn new(tensor: &str, name: &str, index: usize, kind: Kind) -> ColumnSpec {
        ColumnSpec {
            tensor: tensor.to_owned(),
            name: name.to_owned(),
            index,
            kind,
            method: None,
            threshold: None,
            bins: DEFAULT_BINS,
            top_k: DEFAULT_TOP_K,
            edges: None,
        }
    }

    /// The method that decides, and its threshold.
    pub fn decision(&self) -> Result<(Method, f64), DriftError> {
        let method = self.method.unwrap_or(match self.kind {
            Kind::Numeric => Method::Psi,
            Kind::Categorical => Method::Js,
        });
        if !method.fits(self.kind) {
            return Err(self.invalid(format!(
                "method `{}` does not apply to a {} column",
                method.name(),
                self.kind.name()
            )));
        }
        let threshold = self.threshold.unwrap_or(method.default_threshold());
        if !method.admits(threshold) {
            return Err(self.invalid(format!("threshold {threshold} is out of range")));
        }
        Ok((method, threshold))
    }

    fn invalid(&self, message: String) -> DriftError {
        DriftError::Invalid { column: self.name.clone(), message }
    }
}

/// Profiles one column of a reference sample: `values[i]` is record `i`'s value, `None` or NaN when
/// missing. An infinite value, more than [`MAX_DISTINCT`] distinct values in a categorical column, or
/// bins or categories out of range are refused.
pub fn profile_column(spec: &ColumnSpec, values: &[Option<f64>]) -> Result<Column, DriftError> {
    let (method, threshold) = spec.decision()?;
    if spec.kind == Kind::Numeric && !(2..=MAX_BINS).contains(&spec.bins) {
        return Err(spec.invalid(format!("{} bins: between 2 and {MAX_BINS} are allowed", spec.bins)));
    }
    if let Some(edges) = &spec.edges {
        if spec.kind == Kind::Categorical {
            return Err(spec.invalid("bin edges are for numeric columns".into()));
        }
        if edges.is_empty() || edges.len() > MAX_BINS {
            return Err(
                spec.invalid(format!("{} bin edges: between 1 and {MAX_BINS} are allowed", edges.len()))
            );
        }
        ordered("bin edge", edges).map_err(|m| spec.invalid(m))?;
    }
    if spec.kind == Kind::Categorical && !(1..=MAX_CATEGORIES).contains(&spec.top_k) {
        return Err(spec.invalid(format!("top_k {}: between 1 and {MAX_CATEGORIES} are allowed", spec.top_k)));
    }
    let mut present = Vec::with_capacity(values.len());
    for (record, v) in values.iter().enumerate() {
        match v {
            Some(x) if x.is_infinite() => {
                return Err(DriftError::Data {
                    column: spec.name.clone(),
                    record: record as u64,
                    message: format!("{x} is not a value a profile can hold"),
                });
            }
            Some(x) if !x.is_nan() => present.push(*x),
            _ => {}
        }
    }
    let nulls = (values.len() - present.len()) as u64;
    let n = present.len();
    let (mut min, mut max, mut mean, mut std) = (None, None, None, None);
    if n > 0 {
        let lo = present.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = present.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let m = present.iter().sum::<f64>() / n as f64;
        let var = present.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
        (min, max, mean, std) = (Some(lo), Some(hi), Some(m), Some(var.sqrt()));
    }
    let mut column = Column {
        tensor: spec.tensor.clone(),
        name: spec.name.clone(),
        index: spec.index,
        kind: spec.kind,
        method,
        threshold,
        count: values.len() as u64,
        nulls,
        min,
        max,
        mean,
        std,
        bins: None,
        sketch: None,
        categories: None,
    };
    match spec.kind {
        Kind::Numeric => {
            let mut sorted = present.clone();
            sorted.sort_by(f64::total_cmp);
            let (edges, distinct) = match &spec.edges {
                Some(e) => (e.clone(), false),
                None => quantile_edges(&sorted, spec.bins),
            };
            let counts = bucket_counts(&edges, &sorted);
            column.bins = Some(Bins { proportions: proportions(&counts), edges, counts, distinct });
            if n > 0 {
                let mut sketch = TDigestMut::new(SKETCH_K)
                    .map_err(|e| spec.invalid(format!("cannot make a t-digest: {e}")))?;
                for x in &present {
                    sketch.update(*x);
                }
                column.sketch = Some(Base64::encode_string(&sketch.serialize()));
            }
        }
        Kind::Categorical => {
            let mut freq: BTreeMap<OrderedF64, u64> = BTreeMap::new();
            for x in &present {
                let next = freq.len();
                let slot = freq.entry(OrderedF64(*x)).or_insert(0);
                if *slot == 0 && next >= MAX_DISTINCT {
                    return Err(spec.invalid(format!(
                        "more than {MAX_DISTINCT} distinct values: too many for a categorical column \
                         (declare it numeric)"
                    )));
                }
                *slot += 1;
            }
            let mut ranked: Vec<(f64, u64)> = freq.into_iter().map(|(k, c)| (k.0, c)).collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.total_cmp(&b.0)));
            let other: u64 = ranked.iter().skip(spec.top_k).map(|(_, c)| c).sum();
            ranked.truncate(spec.top_k);
            ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
            let counts: Vec<u64> = ranked.iter().map(|(_, c)| *c).collect();
            let values = ranked.iter().map(|(v, _)| *v).collect();
            column.categories =
                Some(Categories { proportions: share_of(&counts, n as u64), values, counts, other });
        }
    }
    Ok(column)
}

/// `f64` with a total order, for counting categories (NaN never reaches it).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedF64(f64);
impl Eq for OrderedF64 {}
impl PartialOrd for OrderedF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrderedF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // -0.0 and 0.0 are one category.
        (self.0 + 0.0).total_cmp(&(other.0 + 0.0))
    }
}

/// Inner bin edges of sorted values: the distinct values themselves when there are at most `bins` of
/// them (each its own bucket; `true`), otherwise the `i/bins` quantiles (the inverse empirical CDF: the
/// value at position `ceil(i·n/bins) − 1`), duplicates removed.
pub(crate) fn quantile_edges(sorted: &[f64], bins: usize) -> (Vec<f64>, bool) {
    let mut distinct: Vec<f64> = Vec::new();
    for &x in sorted {
        if distinct.last().is_none_or(|&last| last < x) {
            distinct.push(x);
            if distinct.len() > bins {
                break;
            }
        }
    }
    if distinct.len() <= bins {
        return (distinct, true);
    }
    let n = sorted.len();
    let mut edges: Vec<f64> = Vec::with_capacity(bins);
    for i in 1..bins {
        let pos = (i * n).div_ceil(bins).saturating_sub(1);
        let e = sorted[pos.min(n - 1)];
        if edges.last().is_none_or(|&last| last < e) {
            edges.push(e);
        }
    }
    (edges, false)
}

/// The bucket of `x` among `edges` (see [`Bins`]); NaN has none.
pub fn bucket_of(edges: &[f64], x: f64) -> usize {
    edges.partition_point(|&e| e < x)
}

fn bucket_counts(edges: &[f64], values: &[f64]) -> Vec<u64> {
    let mut counts = vec![0u64; edges.len() + 1];
    for &x in values {
        counts[bucket_of(edges, x)] += 1;
    }
    counts
}

fn proportions(counts: &[u64]) -> Vec<f64> {
    share_of(counts, counts.iter().sum())
}

fn share_of(counts: &[u64], n: u64) -> Vec<f64> {
    counts.iter().map(|c| if n == 0 { 0.0 } else { *c as f64 / n as f64 }).collect()
}

impl Profile {
    /// The profile's canonical JSON (keys sorted, no whitespace): equal profiles give equal bytes.
    pub fn to_json(&self) -> Result<Vec<u8>, DriftError> {
        self.check()?;
        ferry_spec::to_canonical_json(self).map_err(DriftError::Json)
    }

    /// Reads and checks a profile.
    pub fn from_json(bytes: &[u8]) -> Result<Profile, DriftError> {
        if bytes.len() as u64 > MAX_PROFILE_BYTES {
            return Err(DriftError::Invalid {
                column: String::new(),
                message: format!("{} bytes: a profile is at most {MAX_PROFILE_BYTES}", bytes.len()),
            });
        }
        let profile: Profile = serde_json::from_slice(bytes).map_err(DriftError::Json)?;
        profile.check()?;
        Ok(profile)
    }

    /// Every column, features first.
    pub fn columns(&self) -> impl Iterator<Item = &Column> {
        self.features.iter().chain(&self.predictions)
    }

    /// Checks that the profile is self-consistent.
    pub fn check(&self) -> Result<(), DriftError> {
        let top = |message: String| DriftError::Invalid { column: String::new(), message };
        if self.profile_version != PROFILE_VERSION {
            return Err(top(format!(
                "profile_version {} is not supported (this Ferry reads {PROFILE_VERSION})",
                self.profile_version
            )));
        }
        if self.features.len() + self.predictions.len() > MAX_COLUMNS {
            return Err(top(format!("more than {MAX_COLUMNS} columns")));
        }
        if self.sample.digest.parse::<ferry_digest::Sha256Digest>().is_err() {
            return Err(top(format!(
                "sample digest `{}` is not `sha256:` and 64 lowercase hex digits",
                self.sample.digest
            )));
        }
        for c in self.columns() {
            c.check()?;
        }
        Ok(())
    }
}

impl Column {
    /// Non-null reference values.
    pub fn present(&self) -> u64 {
        self.count - self.nulls
    }

    /// The t-digest, decoded.
    pub fn digest(&self) -> Result<Option<TDigest>, DriftError> {
        let Some(text) = &self.sketch else { return Ok(None) };
        let bytes = Base64::decode_vec(text).map_err(|e| self.invalid(format!("sketch: not base64: {e}")))?;
        let mut sketch = TDigestMut::deserialize(&bytes)
            .map_err(|e| self.invalid(format!("sketch: not a t-digest: {e}")))?;
        if sketch.total_weight() != self.present() {
            return Err(self.invalid(format!(
                "sketch holds {} values, the column {}",
                sketch.total_weight(),
                self.present()
            )));
        }
        // Reject a digest whose centroids would give NaN ranks.
        if sketch.rank(0.0).is_err() {
            return Err(self.invalid("sketch: unusable".into()));
        }
        Ok(Some(sketch.freeze()))
    }

    fn invalid(&self, message: String) -> DriftError {
        DriftError::Invalid { column: self.name.clone(), message }
    }

    fn check(&self) -> Result<(), DriftError> {
        if self.nulls > self.count {
            return Err(self.invalid(format!("{} nulls among {} values", self.nulls, self.count)));
        }
        if !self.method.fits(self.kind) {
            return Err(self.invalid(format!(
                "method `{}` does not apply to a {} column",
                self.method.name(),
                self.kind.name()
            )));
        }
        if !self.threshold.is_finite()
            || self.threshold < 0.0
            || (self.method.is_test() && self.threshold > 1.0)
        {
            return Err(self.invalid(format!("threshold {} is out of range", self.threshold)));
        }
        for (what, v) in [("min", self.min), ("max", self.max), ("mean", self.mean), ("std", self.std)] {
            match v {
                Some(x) if !x.is_finite() => return Err(self.invalid(format!("{what} is {x}"))),
                None if self.present() > 0 => return Err(self.invalid(format!("{what} is missing"))),
                _ => {}
            }
        }
        let n = self.present();
        match self.kind {
            Kind::Numeric => {
                let Some(b) = &self.bins else {
                    return Err(self.invalid("a numeric column needs bins".into()));
                };
                if self.categories.is_some() {
                    return Err(self.invalid("a numeric column has no categories".into()));
                }
                if b.edges.len() > MAX_BINS {
                    return Err(self.invalid(format!("{} bin edges: at most {MAX_BINS}", b.edges.len())));
                }
                ordered("bin edge", &b.edges).map_err(|m| self.invalid(m))?;
                counted(&b.counts, &b.proportions, b.edges.len() + 1, n)
                    .map_err(|m| self.invalid(format!("bins: {m}")))?;
                if (n > 0) != self.sketch.is_some() {
                    return Err(
                        self.invalid("a numeric column with values has a sketch, and only then".into())
                    );
                }
                self.digest()?;
            }
            Kind::Categorical => {
                let Some(c) = &self.categories else {
                    return Err(self.invalid("a categorical column needs categories".into()));
                };
                if self.bins.is_some() || self.sketch.is_some() {
                    return Err(self.invalid("a categorical column has no bins or sketch".into()));
                }
                if c.values.len() > MAX_CATEGORIES {
                    return Err(self.invalid(format!(
                        "{} categories: a profile lists at most {MAX_CATEGORIES}",
                        c.values.len()
                    )));
                }
                ordered("category", &c.values).map_err(|m| self.invalid(m))?;
                let listed = n
                    .checked_sub(c.other)
                    .ok_or_else(|| self.invalid("`other` exceeds the values".into()))?;
                counted(&c.counts, &c.proportions, c.values.len(), listed)
                    .map_err(|m| self.invalid(format!("categories: {m}")))?;
            }
        }
        Ok(())
    }
}

fn ordered(what: &str, values: &[f64]) -> Result<(), String> {
    for (i, v) in values.iter().enumerate() {
        if !v.is_finite() {
            return Err(format!("{what} {i} is {v}"));
        }
        if i > 0 && values[i - 1] >= *v {
            return Err(format!("{what}s are not strictly increasing at {i} ({} then {v})", values[i - 1]));
        }
    }
    Ok(())
}

/// `counts` has `len` entries summing to `total`, and `proportions` are their shares of the column's
/// non-null values (for categories: of all of them, `other` included).
fn counted(counts: &[u64], proportions: &[f64], len: usize, total: u64) -> Result<(), String> {
    if counts.len() != len || proportions.len() != len {
        return Err(format!("{} counts and {} proportions, expected {len}", counts.len(), proportions.len()));
    }
    let sum = counts.iter().try_fold(0u64, |a, c| a.checked_add(*c)).ok_or("counts overflow")?;
    if sum != total {
        return Err(format!("counts add up to {sum}, expected {total}"));
    }
    for (c, p) in counts.iter().zip(proportions) {
        if !p.is_finite() || *p < 0.0 || *p > 1.0 || (*c == 0) != (*p == 0.0) {
            return Err(format!("proportion {p} does not fit count {c}"));
        }
    }
    Ok(())
}
