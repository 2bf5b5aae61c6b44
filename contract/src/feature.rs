//! The rules of one declared feature applied to one value: shared by the request check (tensor elements)
//! and the verifier's `contract.data` (cells of a sample data file).

use ferry_spec::{DType, Feature};

/// A rule a feature's value can break, in the order they are checked and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureRule {
    /// A value an integer feature cannot hold: not an integer, or not finite.
    Type,
    /// A missing value (NaN) where the feature is not a nullable float.
    Null,
    /// Below the declared minimum.
    Min,
    /// Above the declared maximum.
    Max,
    /// Not one of the declared allowed values.
    Allowed,
}

impl FeatureRule {
    /// The rule's name in reports: `type`, `null`, `min`, `max`, `allowed`.
    pub fn name(self) -> &'static str {
        match self {
            FeatureRule::Type => "type",
            FeatureRule::Null => "null",
            FeatureRule::Min => "min",
            FeatureRule::Max => "max",
            FeatureRule::Allowed => "allowed",
        }
    }
}

/// Every rule of `feature` (of an input of `dtype`) that `value` breaks, in [`FeatureRule`] order; NaN
/// stands for a missing value. A missing value breaks only [`FeatureRule::Null`] (unless the feature is a
/// nullable float); a value an integer feature cannot hold breaks only [`FeatureRule::Type`]; otherwise
/// the minimum, maximum and allowed values are each checked. Empty (and not allocated) when the value is
/// valid.
pub fn broken_rules(feature: &Feature, dtype: DType, value: f64) -> Vec<FeatureRule> {
    if value.is_nan() {
        return if feature.nullable && dtype.is_float() { Vec::new() } else { vec![FeatureRule::Null] };
    }
    if !dtype.is_float() && (value.fract() != 0.0 || !value.is_finite()) {
        return vec![FeatureRule::Type];
    }
    let mut out = Vec::new();
    if feature.min.is_some_and(|min| value < min) {
        out.push(FeatureRule::Min);
    }
    if feature.max.is_some_and(|max| value > max) {
        out.push(FeatureRule::Max);
    }
    if feature.allowed.as_ref().is_some_and(|a| !a.contains(&value)) {
        out.push(FeatureRule::Allowed);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(min: Option<f64>, max: Option<f64>, allowed: Option<Vec<f64>>, nullable: bool) -> Feature {
        Feature { name: "x".into(), min, max, allowed, nullable }
    }

    #[test]
    fn rules_in_order() {
        let age = f(Some(18.0), Some(100.0), Some(vec![20.0, 30.0]), false);
        assert_eq!(broken_rules(&age, DType::Float32, 20.0), vec![]);
        assert_eq!(broken_rules(&age, DType::Float32, 12.0), vec![FeatureRule::Min, FeatureRule::Allowed]);
        assert_eq!(broken_rules(&age, DType::Float32, 120.0), vec![FeatureRule::Max, FeatureRule::Allowed]);
        assert_eq!(broken_rules(&age, DType::Float32, f64::NAN), vec![FeatureRule::Null]);
        assert_eq!(
            broken_rules(&age, DType::Float32, f64::INFINITY),
            vec![FeatureRule::Max, FeatureRule::Allowed]
        );
        assert_eq!(broken_rules(&age, DType::Int64, 20.5), vec![FeatureRule::Type]);
        let nullable = f(None, None, None, true);
        assert_eq!(broken_rules(&nullable, DType::Float64, f64::NAN), vec![]);
        // Integers cannot be missing: a nullable integer feature still refuses a missing value.
        assert_eq!(broken_rules(&nullable, DType::Int32, f64::NAN), vec![FeatureRule::Null]);
        assert_eq!(FeatureRule::Allowed.name(), "allowed");
    }
}
