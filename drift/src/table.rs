//! A data sample as drift sees it: one column of values per declared feature (read by
//! `ferry_contract::sample`, as `verify --data` reads it), the batch of rows the contract accepts, and
//! the model's output columns. `pack` profiles it ([`build_profile`]); `verify --data` and `ferry drift`
//! compare it ([`observe`]).

use crate::profile::{ColumnSpec, DEFAULT_BINS, DEFAULT_TOP_K, profile_column};
use crate::{Column, DriftError, Kind, Observed, Profile, SampleInfo};
use ferry_contract::sample::{Cell, FeatureColumn, Table};
use ferry_spec::{ColumnSettings, ReferenceSection, TensorSpec};
use ferry_tensor::{Tensor, TensorData, TensorMap};

/// The most columns of one output that are profiled one by one; a wider output (an embedding) is not
/// profiled.
pub const MAX_OUTPUT_COLUMNS: usize = 64;

/// A sample's feature columns.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureTable {
    /// The contract's features, in order.
    pub features: Vec<FeatureColumn>,
    /// Per feature, the column of the file it was read from (`None`: the file has none).
    pub found: Vec<Option<String>>,
    /// Per feature, one value per record: `None` when missing or not a number.
    pub values: Vec<Vec<Option<f64>>>,
    /// Records.
    pub rows: usize,
}

impl FeatureTable {
    /// The features of `inputs` read from `table` (read with one cell per feature, in
    /// [`FeatureColumn::all`] order).
    pub fn new(inputs: &[TensorSpec], table: &Table) -> FeatureTable {
        let features = FeatureColumn::all(inputs);
        let found = features.iter().map(|f| f.column_in(&table.columns)).collect();
        let mut values: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(table.rows.len()); features.len()];
        for (_, cells) in &table.rows {
            for (k, column) in values.iter_mut().enumerate() {
                column.push(match cells.get(k) {
                    Some(Cell::Number(x)) => Some(*x),
                    _ => None,
                });
            }
        }
        FeatureTable { features, found, values, rows: table.rows.len() }
    }

    /// The features the file has no column for.
    pub fn missing(&self) -> Vec<&FeatureColumn> {
        self.features.iter().zip(&self.found).filter(|(_, f)| f.is_none()).map(|(c, _)| c).collect()
    }

    /// The rows every feature rule accepts, as one batch of input tensors (`[rows, features]` per
    /// input), with the indices of the rows kept. Every input must declare its features, one per
    /// position of its last axis.
    pub fn batch(&self, inputs: &[TensorSpec]) -> Result<(TensorMap, Vec<usize>), String> {
        for t in inputs {
            if t.features.is_empty() || t.shape.len() != 2 {
                return Err(format!(
                    "input `{}` is not a [batch, features] tensor with declared features, so a table cannot fill it",
                    t.name
                ));
            }
        }
        let kept: Vec<usize> = (0..self.rows)
            .filter(|&r| {
                self.features.iter().zip(&self.values).all(|(f, column)| {
                    let Some(input) = inputs.iter().find(|t| t.name == f.input) else { return false };
                    let Some(feature) = input.features.get(f.index) else { return false };
                    let v = column[r].unwrap_or(f64::NAN);
                    ferry_contract::broken_rules(feature, input.dtype, v).is_empty()
                })
            })
            .collect();
        let mut batch = TensorMap::new();
        for t in inputs {
            let width = t.features.len();
            // Each position of the row: the table's column for it.
            let columns: Vec<Option<usize>> = (0..width)
                .map(|j| self.features.iter().position(|f| f.input == t.name && f.index == j))
                .collect();
            let mut flat = Vec::with_capacity(kept.len() * width);
            for &r in &kept {
                for k in &columns {
                    flat.push(k.and_then(|k| self.values[k][r]).unwrap_or(f64::NAN));
                }
            }
            let data = TensorData::from_f64s(t.dtype, &flat).ok_or_else(|| {
                format!("input `{}`: {} features cannot be built from numbers", t.name, t.dtype)
            })?;
            let tensor = Tensor::new(vec![kept.len(), width], data).map_err(|e| e.to_string())?;
            batch.insert(t.name.clone(), tensor);
        }
        Ok((batch, kept))
    }
}

/// One output column: `(tensor, name, index along the last axis)`. An output of rank 0 or 1, or of
/// rank 2 with one column, is one column named as the output; of rank 2 with up to
/// [`MAX_OUTPUT_COLUMNS`] columns, `NAME[i]`; anything else (strings, wider or deeper tensors) is not
/// profiled.
pub fn output_columns(outputs: &[TensorSpec], produced: &TensorMap) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for spec in outputs {
        let Some(t) = produced.get(&spec.name) else { continue };
        if t.dtype() == ferry_spec::DType::String {
            continue;
        }
        let width = match t.shape.len() {
            0 | 1 => 1,
            2 => t.shape[1],
            _ => continue,
        };
        if width == 0 || width > MAX_OUTPUT_COLUMNS {
            continue;
        }
        for i in 0..width {
            let name = if width == 1 { spec.name.clone() } else { format!("{}[{i}]", spec.name) };
            out.push((spec.name.clone(), name, i));
        }
    }
    out
}

/// The values of column `index` of `tensor` (rows along axis 0).
fn column_values(tensor: &Tensor, index: usize) -> Vec<Option<f64>> {
    let width = if tensor.shape.len() >= 2 { tensor.shape[1] } else { 1 };
    if width == 0 {
        return Vec::new();
    }
    let rows = tensor.len() / width;
    (0..rows).map(|r| tensor.as_f64(r * width + index).filter(|x| !x.is_nan())).collect()
}

/// Scores a batch: the model run on input tensors, its outputs by name.
pub type Score<'a> = dyn FnMut(&TensorMap) -> Result<TensorMap, String> + 'a;

fn settings<'a>(
    map: &'a std::collections::BTreeMap<String, ColumnSettings>,
    names: &[String],
) -> Option<&'a ColumnSettings> {
    names.iter().find_map(|n| map.get(n))
}

fn spec_for(
    tensor: &str,
    name: &str,
    index: usize,
    kind: Kind,
    s: Option<&ColumnSettings>,
    r: &ReferenceSection,
) -> ColumnSpec {
    let mut spec = ColumnSpec::new(tensor, name, index, s.and_then(|s| s.kind).unwrap_or(kind));
    spec.method = s.and_then(|s| s.method);
    spec.threshold = s.and_then(|s| s.threshold);
    spec.edges = s.and_then(|s| s.edges.clone());
    spec.bins = r.bins.unwrap_or(DEFAULT_BINS);
    spec.top_k = r.top_k.unwrap_or(DEFAULT_TOP_K);
    spec
}

/// The reference profile of a sample: every declared feature, then every output column of the model
/// run (through `score`) on the rows the contract accepts. A feature the sample has no column for, or
/// a settings key that names no feature or output column, is an error naming it.
pub fn build_profile(
    inputs: &[TensorSpec],
    outputs: &[TensorSpec],
    reference: &ReferenceSection,
    table: &FeatureTable,
    sample: SampleInfo,
    score: &mut Score<'_>,
) -> Result<Profile, DriftError> {
    let invalid = |column: &str, message: String| DriftError::Invalid { column: column.to_owned(), message };
    if let Some(f) = table.missing().first() {
        return Err(invalid(
            &f.feature,
            format!("the reference sample has no column `{}` or `{}`", f.feature, f.qualified()),
        ));
    }
    let mut known: Vec<String> = Vec::new();
    let mut features = Vec::with_capacity(table.features.len());
    for (f, values) in table.features.iter().zip(&table.values) {
        let declared = inputs.iter().find(|t| t.name == f.input).and_then(|t| t.features.get(f.index));
        let kind =
            if declared.is_some_and(|d| d.allowed.is_some()) { Kind::Categorical } else { Kind::Numeric };
        let names = [f.feature.clone(), f.qualified()];
        known.extend(names.iter().cloned());
        let spec =
            spec_for(&f.input, &f.feature, f.index, kind, settings(&reference.features, &names), reference);
        features.push(profile_column(&spec, values)?);
    }
    for key in reference.features.keys() {
        if !known.contains(key) {
            return Err(invalid(key, "[reference.features] names no declared feature".into()));
        }
    }
    let (batch, kept) = table
        .batch(inputs)
        .map_err(|m| invalid("", format!("the model cannot be run on the sample: {m}")))?;
    let mut predictions = Vec::new();
    let mut known: Vec<String> = Vec::new();
    if !kept.is_empty() {
        let produced =
            score(&batch).map_err(|m| invalid("", format!("running the model on the sample: {m}")))?;
        for (tensor, name, index) in output_columns(outputs, &produced) {
            let values = produced.get(&tensor).map(|t| column_values(t, index)).unwrap_or_default();
            let s = settings(&reference.predictions, std::slice::from_ref(&name));
            known.push(name.clone());
            predictions.push(profile_column(
                &spec_for(&tensor, &name, index, Kind::Numeric, s, reference),
                &values,
            )?);
        }
    }
    for key in reference.predictions.keys() {
        if !known.contains(key) {
            return Err(invalid(key, "[reference.predictions] names no output column".into()));
        }
    }
    let profile = Profile { profile_version: crate::PROFILE_VERSION, sample, features, predictions };
    profile.check()?;
    Ok(profile)
}

/// What a sample holds of each profiled column: the features from `table`, the predictions from
/// `produced` (the model's outputs on the rows [`FeatureTable::batch`] kept; `None` leaves them empty).
pub fn observe(
    profile: &Profile,
    table: &FeatureTable,
    produced: Option<&TensorMap>,
) -> (Vec<Observed>, Vec<Observed>) {
    let features = profile
        .features
        .iter()
        .map(|c| {
            let k = table.features.iter().position(|f| f.input == c.tensor && f.index == c.index);
            match k.and_then(|k| table.values.get(k)) {
                Some(values) => Observed::of(c, values),
                None => Observed::empty(c),
            }
        })
        .collect();
    let predictions = profile
        .predictions
        .iter()
        .map(|c: &Column| match produced.and_then(|p| p.get(&c.tensor)) {
            Some(t) => Observed::of(c, &column_values(t, c.index)),
            None => Observed::empty(c),
        })
        .collect();
    (features, predictions)
}
