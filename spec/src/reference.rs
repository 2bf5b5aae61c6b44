//! `[reference]`: the training-data sample a bundle's reference profile is computed from (§3.9), the
//! manifest's `reference` key that names the profile in the bundle, and the kinds and statistics of
//! drift, which the profile (`ferry-drift`), the source and the policy all name.

use crate::source::invalid;
use crate::{SourceError, check_relative_path};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where `pack` writes the profile in the file view.
pub const PROFILE_PATH: &str = "reference/profile.json";

/// How a column's values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Ordered values: quantile bins and a t-digest.
    Numeric,
    /// Codes: a frequency per category.
    Categorical,
}

impl Kind {
    /// The name used in `ferry.toml`, profiles and reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Numeric => "numeric",
            Kind::Categorical => "categorical",
        }
    }
}

/// A drift statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Population stability index over the reference's bins; drift at or above the threshold.
    Psi,
    /// Jensen–Shannon distance over the same buckets; drift at or above the threshold.
    Js,
    /// Two-sample Kolmogorov–Smirnov (numeric): drift when the corrected p-value is below the threshold.
    Ks,
    /// Pearson's chi-squared (categorical): drift when the corrected p-value is below the threshold.
    Chi2,
}

impl Method {
    /// The name used in `ferry.toml`, policies and reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::Psi => "psi",
            Method::Js => "js",
            Method::Ks => "ks",
            Method::Chi2 => "chi2",
        }
    }

    /// The threshold used when neither the source nor the policy names one: PSI 0.25, Jensen–Shannon
    /// 0.1 (Evidently's default), a significance level of 0.05 for the tests.
    pub fn default_threshold(self) -> f64 {
        match self {
            Method::Psi => 0.25,
            Method::Js => 0.1,
            Method::Ks | Method::Chi2 => 0.05,
        }
    }

    /// Whether the statistic is a p-value (drift below the threshold) rather than a distance.
    pub fn is_test(self) -> bool {
        matches!(self, Method::Ks | Method::Chi2)
    }

    /// Whether the method applies to a column of this kind.
    pub fn fits(self, kind: Kind) -> bool {
        !matches!((self, kind), (Method::Ks, Kind::Categorical) | (Method::Chi2, Kind::Numeric))
    }

    /// Whether `threshold` is one this method can take.
    pub fn admits(self, threshold: f64) -> bool {
        threshold.is_finite() && threshold >= 0.0 && (!self.is_test() || threshold <= 1.0)
    }
}

/// `[reference]` in `ferry.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSection {
    /// The sample: CSV with a header row, JSON lines or Parquet, a column per feature (named as for
    /// `verify --data`). `ferry pack --reference FILE` names one from outside the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Whether the sample itself goes into the bundle (at its source path); the profile always does.
    #[serde(default)]
    pub ship_sample: bool,
    /// Quantile bins per numeric column (2 to 100; default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bins: Option<usize>,
    /// Categories kept per categorical column, the rest counted as `other` (1 to 1000; default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    /// Per feature (by name, or `INPUT.FEATURE`): how it is profiled and judged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub features: BTreeMap<String, ColumnSettings>,
    /// Per output column (`OUTPUT`, or `OUTPUT[i]` for one of several columns).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub predictions: BTreeMap<String, ColumnSettings>,
}

/// `[reference.features.NAME]` and `[reference.predictions.NAME]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnSettings {
    /// Default: `categorical` for a feature with `allowed` values, else `numeric`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// The statistic that decides drift; default `psi` for numeric columns, `js` for categorical ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// Its threshold; default [`Method::default_threshold`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Fixed inner bin edges instead of the sample's quantiles (numeric; finite, strictly increasing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edges: Option<Vec<f64>>,
}

/// The manifest's `reference`: where the profile (and, if shipped, the sample) is in the file view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferenceManifest {
    /// The profile, [`PROFILE_PATH`].
    pub profile: String,
    /// The sample, when `ship_sample` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
}

impl ReferenceSection {
    pub(crate) fn validate(&self) -> Result<(), SourceError> {
        if let Some(d) = &self.data {
            check_relative_path(d).map_err(|e| invalid("reference.data", e.to_string()))?;
            if d == PROFILE_PATH || d.starts_with(".ferry/") {
                return Err(invalid("reference.data", format!("`{d}` is a path Ferry writes")));
            }
        }
        if self.ship_sample && self.data.is_none() {
            return Err(invalid("reference.ship_sample", "set, but `data` names no sample in the source"));
        }
        if let Some(b) = self.bins
            && !(2..=100).contains(&b)
        {
            return Err(invalid("reference.bins", format!("{b}: between 2 and 100 are allowed")));
        }
        if let Some(k) = self.top_k
            && !(1..=1000).contains(&k)
        {
            return Err(invalid("reference.top_k", format!("{k}: between 1 and 1000 are allowed")));
        }
        for (side, map) in [("features", &self.features), ("predictions", &self.predictions)] {
            for (name, c) in map {
                let key = |k: &str| format!("reference.{side}.{name}.{k}");
                if let (Some(m), Some(k)) = (c.method, c.kind)
                    && !m.fits(k)
                {
                    return Err(invalid(
                        key("method"),
                        format!("`{}` does not apply to a {} column", m.name(), k.name()),
                    ));
                }
                if let Some(t) = c.threshold
                    && !c.method.unwrap_or(Method::Psi).admits(t)
                {
                    return Err(invalid(key("threshold"), format!("{t} is out of range")));
                }
                if let Some(edges) = &c.edges {
                    if c.kind == Some(Kind::Categorical) {
                        return Err(invalid(key("edges"), "bin edges are for numeric columns"));
                    }
                    if edges.is_empty() || edges.len() > 100 {
                        return Err(invalid(
                            key("edges"),
                            format!("{} edges: between 1 and 100", edges.len()),
                        ));
                    }
                    for (i, e) in edges.iter().enumerate() {
                        if !e.is_finite() {
                            return Err(invalid(
                                format!("{}[{i}]", key("edges")),
                                format!("{e} is not a finite edge"),
                            ));
                        }
                        if i > 0 && edges[i - 1] >= *e {
                            return Err(invalid(
                                format!("{}[{i}]", key("edges")),
                                format!("edges must increase ({} then {e})", edges[i - 1]),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
