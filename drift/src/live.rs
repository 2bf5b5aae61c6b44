//! The streaming profile a running model keeps of what it scores: per column, a count per reference
//! bucket, nulls and values seen, as relaxed atomic counters. Updating is lock-free (threads add into
//! the same counters, so there is nothing to merge), the memory is fixed when the model opens
//! ([`Live::state_bytes`]), and [`Snapshot::since`] turns two snapshots into a window.

use crate::compare::{Observed, bucket_count, compare_profile};
use crate::{ColumnDrift, DriftError, Profile};
use ferry_spec::policy::DriftPolicy;
use ferry_tensor::{Tensor, TensorMap};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The most `(tensor, feature, rule)` keys counted apart.
const MAX_REFUSAL_KEYS: usize = 4096;

/// Where a profiled column's values are in a tensor.
#[derive(Debug)]
struct Tap {
    tensor: String,
    /// `(index along the last axis, column number)`.
    columns: Vec<(usize, usize)>,
}

/// A column's counters. Values seen are the nulls plus the buckets' sum, not a counter of their own:
/// at batch 1 each atomic add is a measurable share of the call.
#[derive(Debug)]
struct Counters {
    /// The reference's bin edges (numeric) or listed categories (categorical), copied here so the hot
    /// path reads one slice: few enough that a linear pass beats a binary search.
    cuts: Box<[f64]>,
    categorical: bool,
    nulls: AtomicU64,
    buckets: Box<[AtomicU64]>,
}

impl Counters {
    /// The bucket of `x` (not NaN): as [`crate::compare::bucket`], a category the reference never saw
    /// counted in the last bucket (`other`).
    #[inline]
    fn bucket(&self, x: f64) -> usize {
        if self.categorical {
            let x = x + 0.0;
            self.cuts.iter().position(|&c| c == x).unwrap_or(self.cuts.len())
        } else {
            self.cuts.iter().filter(|&&e| e < x).count()
        }
    }
}

/// A running model's streaming profile.
#[derive(Debug)]
pub struct Live {
    profile: Profile,
    counters: Vec<Counters>,
    inputs: Vec<Tap>,
    outputs: Vec<Tap>,
    calls: AtomicU64,
    refused: AtomicU64,
    /// `(tensor, feature, rule)` → requests refused. A refusal is the rare path; a lock there costs
    /// the accepted requests nothing.
    refusals: Mutex<BTreeMap<(String, String, String), u64>>,
}

/// Counts at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Calls observed (accepted and refused).
    pub calls: u64,
    /// Calls the contract refused.
    pub refused: u64,
    /// Refusals per `(tensor, feature, rule)`; the feature is empty when the rule is not a feature's.
    pub refusals: BTreeMap<(String, String, String), u64>,
    /// Per profiled feature, in profile order.
    pub features: Vec<Observed>,
    /// Per profiled prediction column, in profile order.
    pub predictions: Vec<Observed>,
}

impl Live {
    /// A streaming profile shaped by `profile`.
    pub fn new(profile: Profile) -> Live {
        let mut counters = Vec::new();
        let mut taps = |columns: &[crate::Column]| {
            let mut taps: Vec<Tap> = Vec::new();
            for c in columns {
                let n = counters.len();
                let (cuts, categorical) = match (&c.bins, &c.categories) {
                    (Some(b), _) => (b.edges.clone().into_boxed_slice(), false),
                    (None, Some(k)) => (k.values.clone().into_boxed_slice(), true),
                    (None, None) => (Box::default(), false),
                };
                counters.push(Counters {
                    cuts,
                    categorical,
                    nulls: AtomicU64::new(0),
                    buckets: (0..bucket_count(c)).map(|_| AtomicU64::new(0)).collect(),
                });
                match taps.iter_mut().find(|t| t.tensor == c.tensor) {
                    Some(t) => t.columns.push((c.index, n)),
                    None => taps.push(Tap { tensor: c.tensor.clone(), columns: vec![(c.index, n)] }),
                }
            }
            taps
        };
        let inputs = taps(&profile.features);
        let outputs = taps(&profile.predictions);
        Live {
            profile,
            counters,
            inputs,
            outputs,
            calls: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            refusals: Mutex::new(BTreeMap::new()),
        }
    }

    /// The reference profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Bytes of state: per column 8 per bucket, 8 per edge or category, and 48 for the null counter
    /// and the two slices; fixed at [`Live::new`].
    pub fn state_bytes(&self) -> usize {
        self.counters.iter().map(|c| 48 + 8 * (c.buckets.len() + c.cuts.len())).sum()
    }

    /// Counts an accepted request's inputs and the outputs it got.
    pub fn observe(&self, inputs: &TensorMap, outputs: &TensorMap) {
        self.calls.fetch_add(1, Relaxed);
        self.tap(&self.inputs, inputs);
        self.tap(&self.outputs, outputs);
    }

    /// Counts a request the contract refused, under the rule it broke.
    pub fn refuse(&self, tensor: &str, feature: Option<&str>, rule: &str) {
        self.calls.fetch_add(1, Relaxed);
        self.refused.fetch_add(1, Relaxed);
        if let Ok(mut map) = self.refusals.lock() {
            // Tensors and features are the contract's and rules a fixed set, so the map stays small; a
            // bound all the same, past which a refusal is counted in `refused` only.
            let key = (tensor.to_owned(), feature.unwrap_or("").to_owned(), rule.to_owned());
            if map.len() < MAX_REFUSAL_KEYS || map.contains_key(&key) {
                *map.entry(key).or_insert(0) += 1;
            }
        }
    }

    fn tap(&self, taps: &[Tap], tensors: &TensorMap) {
        for t in taps {
            let Some(tensor) = tensors.get(&t.tensor) else { continue };
            let width = row_width(tensor);
            if width == 0 {
                continue;
            }
            let rows = tensor.len() / width;
            for &(index, n) in &t.columns {
                let Some(c) = self.counters.get(n) else { continue };
                if index >= width {
                    continue;
                }
                let mut nulls = 0u64;
                for r in 0..rows {
                    match tensor.as_f64(r * width + index) {
                        Some(x) if !x.is_nan() => {
                            if let Some(slot) = c.buckets.get(c.bucket(x)) {
                                slot.fetch_add(1, Relaxed);
                            }
                        }
                        _ => nulls += 1,
                    }
                }
                if nulls > 0 {
                    c.nulls.fetch_add(nulls, Relaxed);
                }
            }
        }
    }

    /// The counters now (each read on its own: a snapshot taken while requests run may be a few
    /// requests apart between columns, never torn within one counter).
    pub fn snapshot(&self) -> Snapshot {
        let read = |c: &Counters| {
            let nulls = c.nulls.load(Relaxed);
            let buckets: Vec<u64> = c.buckets.iter().map(|b| b.load(Relaxed)).collect();
            Observed {
                count: nulls + buckets.iter().sum::<u64>(),
                nulls,
                buckets,
                new_categories: Vec::new(),
                sorted: None,
            }
        };
        let nf = self.profile.features.len();
        Snapshot {
            calls: self.calls.load(Relaxed),
            refused: self.refused.load(Relaxed),
            refusals: self.refusals.lock().map(|m| m.clone()).unwrap_or_default(),
            features: self.counters[..nf.min(self.counters.len())].iter().map(read).collect(),
            predictions: self.counters[nf.min(self.counters.len())..].iter().map(read).collect(),
        }
    }

    /// Compares a snapshot (or a window of two, [`Snapshot::since`]) with the reference.
    pub fn compare(
        &self,
        window: &Snapshot,
        policy: &DriftPolicy,
    ) -> Result<(Vec<ColumnDrift>, Vec<ColumnDrift>), DriftError> {
        compare_profile(&self.profile, &window.features, &window.predictions, policy)
    }
}

/// Values per row along the last axis: the last dimension for a tensor of rank 2 or more, else 1.
fn row_width(t: &Tensor) -> usize {
    if t.shape.len() >= 2 { t.shape.last().copied().unwrap_or(0) } else { 1 }
}

impl Snapshot {
    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        let minus = |a: &[Observed], b: &[Observed]| -> Vec<Observed> {
            a.iter()
                .enumerate()
                .map(|(i, now)| match b.get(i) {
                    Some(then) => Observed {
                        count: now.count.saturating_sub(then.count),
                        nulls: now.nulls.saturating_sub(then.nulls),
                        buckets: now
                            .buckets
                            .iter()
                            .enumerate()
                            .map(|(j, n)| n.saturating_sub(then.buckets.get(j).copied().unwrap_or(0)))
                            .collect(),
                        new_categories: Vec::new(),
                        sorted: None,
                    },
                    None => now.clone(),
                })
                .collect()
        };
        let refusals = self
            .refusals
            .iter()
            .map(|(k, n)| (k.clone(), n.saturating_sub(earlier.refusals.get(k).copied().unwrap_or(0))))
            .filter(|(_, n)| *n > 0)
            .collect();
        Snapshot {
            calls: self.calls.saturating_sub(earlier.calls),
            refused: self.refused.saturating_sub(earlier.refused),
            refusals,
            features: minus(&self.features, &earlier.features),
            predictions: minus(&self.predictions, &earlier.predictions),
        }
    }
}
