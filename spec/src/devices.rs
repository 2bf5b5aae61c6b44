//! Where a model may run: the device kinds Ferry knows, a GPU's compute capability, and a bundle's
//! `[devices]` declaration.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The device kinds: where a golden set's per-device tolerances apply (`[golden.tolerance.<kind>]`) and
/// what `[devices] supported` lists.
pub const DEVICE_KINDS: &[&str] = &["cpu", "cuda"];

/// A GPU's compute capability (`9.0` for Hopper), ordered by version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ComputeCapability {
    /// Major revision.
    pub major: u32,
    /// Minor revision.
    pub minor: u32,
}

impl ComputeCapability {
    /// Parses `MAJOR.MINOR` (`8.6`): one to three digits each.
    ///
    /// ```
    /// use ferry_spec::ComputeCapability;
    /// assert!(ComputeCapability::parse("9.0") > ComputeCapability::parse("8.9"));
    /// assert_eq!(ComputeCapability::parse("8"), None);
    /// ```
    pub fn parse(text: &str) -> Option<ComputeCapability> {
        let (major, minor) = text.split_once('.')?;
        let ok = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
        if !ok(major) || !ok(minor) {
            return None;
        }
        Some(ComputeCapability { major: major.parse().ok()?, minor: minor.parse().ok()? })
    }
}

impl fmt::Display for ComputeCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// `[devices]`: where the model is meant to run. Absent, it runs on every device kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DevicesSection {
    /// The device kinds the model supports ([`DEVICE_KINDS`]); absent: all of them. A runtime on a kind
    /// not listed refuses the bundle (or, with `--device auto`, runs it on one that is listed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported: Option<Vec<String>>,
    /// The oldest GPU it runs on, as a CUDA compute capability `MAJOR.MINOR` (`8.0`: its kernels need
    /// Ampere). Only with `cuda` supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_compute_capability: Option<String>,
}

impl DevicesSection {
    /// Whether the model may run on `kind` (`cpu`, `cuda`).
    pub fn supports(&self, kind: &str) -> bool {
        self.supported.as_ref().is_none_or(|s| s.iter().any(|k| k == kind))
    }

    /// The minimum compute capability, parsed.
    pub fn min_compute_capability(&self) -> Option<ComputeCapability> {
        self.min_compute_capability.as_deref().and_then(ComputeCapability::parse)
    }

    /// The section's rules: known kinds, each once, at least one; a well-formed capability, and only
    /// where `cuda` is supported. Returns the offending key (under `devices.`) and why.
    pub fn check(&self) -> Result<(), (String, String)> {
        if let Some(kinds) = &self.supported {
            if kinds.is_empty() {
                return Err(("supported".into(), "lists no device kind: leave it out to allow all".into()));
            }
            for (i, k) in kinds.iter().enumerate() {
                if !DEVICE_KINDS.contains(&k.as_str()) {
                    return Err((
                        format!("supported[{i}]"),
                        format!("`{k}` is not a device kind (one of: {})", DEVICE_KINDS.join(", ")),
                    ));
                }
                if kinds[..i].contains(k) {
                    return Err((format!("supported[{i}]"), format!("`{k}` is listed twice")));
                }
            }
        }
        if let Some(text) = &self.min_compute_capability {
            if ComputeCapability::parse(text).is_none() {
                return Err((
                    "min_compute_capability".into(),
                    format!("`{text}` is not a compute capability: write MAJOR.MINOR, as `8.0`"),
                ));
            }
            if !self.supports("cuda") {
                return Err((
                    "min_compute_capability".into(),
                    "applies to GPUs, and `supported` does not list `cuda`".into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_parse_strictly_and_order_by_version() {
        assert_eq!(ComputeCapability::parse("8.6"), Some(ComputeCapability { major: 8, minor: 6 }));
        for bad in ["8", "8.", ".6", "a.b", "8.6.1", "-1.0", "1234.0", "", " 8.0", "8.0 "] {
            assert_eq!(ComputeCapability::parse(bad), None, "{bad:?}");
        }
        assert!(ComputeCapability::parse("10.0") > ComputeCapability::parse("9.0"));
        assert_eq!(ComputeCapability { major: 9, minor: 0 }.to_string(), "9.0");
    }

    #[test]
    fn the_section_names_the_key_it_refuses() {
        let s = |supported: Option<&[&str]>, min: Option<&str>| DevicesSection {
            supported: supported.map(|s| s.iter().map(|k| (*k).to_owned()).collect()),
            min_compute_capability: min.map(str::to_owned),
        };
        assert!(s(None, None).check().is_ok());
        assert!(s(Some(&["cuda"]), Some("8.0")).check().is_ok());
        assert_eq!(s(Some(&[]), None).check().unwrap_err().0, "supported");
        assert_eq!(s(Some(&["cpu", "tpu"]), None).check().unwrap_err().0, "supported[1]");
        assert_eq!(s(Some(&["cpu", "cpu"]), None).check().unwrap_err().0, "supported[1]");
        assert_eq!(s(None, Some("eight")).check().unwrap_err().0, "min_compute_capability");
        let e = s(Some(&["cpu"]), Some("8.0")).check().unwrap_err();
        assert!(e.1.contains("does not list `cuda`"), "{e:?}");
        assert!(s(Some(&["cuda"]), None).supports("cuda") && !s(Some(&["cuda"]), None).supports("cpu"));
        assert!(s(None, None).supports("cpu"));
    }
}
