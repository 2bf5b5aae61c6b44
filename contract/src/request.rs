//! The data contract at the door: every request is checked against the bundle's declared inputs before
//! it reaches a model. Compiled once per model so the per-request check allocates nothing on success and
//! touches each element at most once.

use crate::feature::{FeatureRule, broken_rules};
use crate::{ContractError, ContractErrorKind, OutputError, OutputErrorKind};
use ferry_spec::{DType, Dim, Feature, TensorSpec, ValueType};
use ferry_tensor::{Tensor, TensorData, TensorMap, Value, ValueMap};

/// A request, or a set of outputs, as the contract reads it: tensors by name ([`TensorMap`], the hot
/// path) or values of any kind ([`ValueMap`]: sequences, maps and optionals too).
pub trait Values {
    /// The value named `name`.
    fn item(&self, name: &str) -> Option<Item<'_>>;
    /// How many values there are.
    fn count(&self) -> usize;
    /// Their names.
    fn names(&self) -> impl Iterator<Item = &str>;
}

/// One value of a [`Values`].
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    /// A tensor.
    Tensor(&'a Tensor),
    /// A sequence, map or optional.
    Other(&'a Value),
}

impl<'a> Item<'a> {
    fn tensor(self) -> Option<&'a Tensor> {
        match self {
            Item::Tensor(t) => Some(t),
            Item::Other(_) => None,
        }
    }
}

impl Values for TensorMap {
    #[inline]
    fn item(&self, name: &str) -> Option<Item<'_>> {
        self.get(name).map(Item::Tensor)
    }
    fn count(&self) -> usize {
        self.len()
    }
    fn names(&self) -> impl Iterator<Item = &str> {
        self.keys().map(String::as_str)
    }
}

impl Values for ValueMap {
    fn item(&self, name: &str) -> Option<Item<'_>> {
        self.get(name).map(|v| match v {
            Value::Tensor(t) => Item::Tensor(t),
            other => Item::Other(other),
        })
    }
    fn count(&self) -> usize {
        self.len()
    }
    fn names(&self) -> impl Iterator<Item = &str> {
        self.keys().map(String::as_str)
    }
}

/// The tensors inside a value, each with its place: indexes into sequences and maps, from the outside in
/// (a map's values are one tensor of its entries).
fn leaves<'a>(v: &'a Value, at: &mut Vec<usize>, out: &mut Vec<(Vec<usize>, Leaf<'a>)>) {
    match v {
        Value::Tensor(t) => out.push((at.clone(), Leaf::Tensor(t))),
        Value::Sequence(items) => {
            for (i, x) in items.iter().enumerate() {
                at.push(i);
                leaves(x, at, out);
                at.pop();
            }
        }
        Value::Map(m) => out.push((at.clone(), Leaf::MapValues(m.values()))),
        Value::Optional(x) => {
            if let Some(x) = x {
                leaves(x, at, out);
            }
        }
    }
}

enum Leaf<'a> {
    Tensor(&'a Tensor),
    MapValues(&'a TensorData),
}

/// A compiled contract for a model's inputs (and the shape rules its outputs follow).
#[derive(Debug, Clone)]
pub struct Contract {
    inputs: Vec<InputCheck>,
    outputs: Vec<OutputCheck>,
    max_elements: usize,
}

/// The default for [`Contract::with_max_elements`]: 64 Mi elements (256 MiB of float32), ample for a
/// batch of 64 images of 3×512×512, and far below what a host can be made to allocate by a small file.
pub const DEFAULT_MAX_ELEMENTS: usize = 1 << 26;

/// The widest fixed-size element (8 bytes): an input the contract does not size may declare at most
/// this many bytes per allowed element (which bounds the fixed-width strings of an `.npy`).
const MAX_ELEMENT_BYTES: u64 = 8;

#[derive(Debug, Clone)]
struct InputCheck {
    name: String,
    /// A plain tensor, or the container its tensors sit in.
    kind: ValueType,
    dtype: DType,
    declared: String,
    dims: Vec<DimCheck>,
    /// Whether the contract alone fixes the tensor's size: every dim fixed and elements of a fixed size.
    /// Other inputs are bounded by [`Contract::with_max_elements`].
    sized: bool,
    /// The value rules: the feature table, then the whole-tensor `values` rule; only those that
    /// constrain something.
    rules: Vec<RuleSet>,
}

/// Per-element value rules of one input: a feature table (rule `i` for position `i` of the last axis) or
/// a whole-tensor rule (one rule for every element, a table of width 1).
#[derive(Debug, Clone)]
struct RuleSet {
    /// Whether this is the whole-tensor rule (errors then name no feature, and index the whole tensor).
    whole: bool,
    /// One check per position of a row.
    features: Vec<FeatureCheck>,
    /// The same rules laid out for a branch-free, vectorizable pass over the data: the common case
    /// (everything valid) costs a few comparisons per element; an error is located by a second, slower pass.
    fast: Tiled<f64>,
    /// The rules as float32 for float32 inputs, which then compare without conversion (see [`to_f32_bounds`]).
    fast32: Tiled<f32>,
}

impl RuleSet {
    /// The rules of `features`, or `None` when they constrain nothing for `dtype`.
    fn new(features: &[Feature], dtype: DType, whole: bool) -> Option<RuleSet> {
        let features: Vec<FeatureCheck> = features
            .iter()
            .map(|f| FeatureCheck {
                feature: f.clone(),
                min: f.min.unwrap_or(f64::NEG_INFINITY),
                max: f.max.unwrap_or(f64::INFINITY),
            })
            .collect();
        let numeric = dtype != DType::String && dtype != DType::Bool;
        if features.is_empty() || !numeric || features.iter().all(|f| f.is_trivial(dtype)) {
            return None;
        }
        let fast = FastBounds {
            lo: features.iter().map(|f| f.min).collect(),
            hi: features.iter().map(|f| f.max).collect(),
            // NaN cannot occur in integer tensors; for floats an undeclared feature still refuses NaN.
            null_ok: features.iter().map(|f| f.feature.nullable).collect(),
            allowed: features
                .iter()
                .enumerate()
                .filter_map(|(i, f)| f.feature.allowed.clone().map(|a| (i, a)))
                .collect(),
        };
        let (fast32, fast) = (Tiled::new(&to_f32_bounds(&fast)), Tiled::new(&fast));
        Some(RuleSet { whole, features, fast, fast32 })
    }
}

/// Allowed-value sets up to this size are checked in the vectorized pass; larger ones row by row.
const SET_LANES: usize = 4;
/// A tile spans whole rows and at least this many elements, so that the inner loop is long enough to
/// vectorize whatever the number of features.
const TILE_MIN: usize = 64;

/// Per-element rules repeated over a tile of rows: element `i` of a tile is checked against entry `i`.
#[derive(Debug, Clone, Default)]
struct Tiled<B> {
    width: usize,
    lo: Vec<B>,
    hi: Vec<B>,
    null_ok: Vec<bool>,
    has_set: Vec<bool>,
    /// Allowed values, one lane per array; unused lanes hold NaN, which equals nothing.
    set: [Vec<B>; SET_LANES],
    /// Sets too large for the lanes: column and values.
    big_sets: Vec<(usize, Vec<B>)>,
}

impl<B: Bound> Tiled<B> {
    fn new(b: &FastBounds<B>) -> Tiled<B> {
        let width = b.lo.len();
        let rows = if width == 0 { 0 } else { TILE_MIN.div_ceil(width) };
        let tile = |col: Vec<B>| -> Vec<B> { (0..rows).flat_map(|_| col.iter().copied()).collect() };
        let mut has_set = vec![false; width];
        let mut lanes: [Vec<B>; SET_LANES] = std::array::from_fn(|_| vec![B::NAN; width]);
        let mut big_sets = Vec::new();
        for (col, values) in &b.allowed {
            if values.len() <= SET_LANES {
                if let Some(h) = has_set.get_mut(*col) {
                    *h = true;
                }
                for (lane, v) in lanes.iter_mut().zip(values) {
                    if let Some(slot) = lane.get_mut(*col) {
                        *slot = *v;
                    }
                }
            } else {
                big_sets.push((*col, values.clone()));
            }
        }
        Tiled {
            width,
            lo: tile(b.lo.clone()),
            hi: tile(b.hi.clone()),
            null_ok: (0..rows).flat_map(|_| b.null_ok.iter().copied()).collect(),
            has_set: (0..rows).flat_map(|_| has_set.iter().copied()).collect(),
            set: lanes.map(tile),
            big_sets,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct FastBounds<B> {
    lo: Vec<B>,
    hi: Vec<B>,
    null_ok: Vec<bool>,
    allowed: Vec<(usize, Vec<B>)>,
}

trait Bound: Copy + PartialOrd {
    const NAN: Self;
    fn nan(self) -> bool;
}

impl Bound for f32 {
    const NAN: f32 = f32::NAN;
    #[inline]
    fn nan(self) -> bool {
        self.is_nan()
    }
}

impl Bound for f64 {
    const NAN: f64 = f64::NAN;
    #[inline]
    fn nan(self) -> bool {
        self.is_nan()
    }
}

/// The float32 bounds equivalent to f64 bounds for float32 values: `x >= lo` exactly when `x >= lo32`, the
/// least float32 not below `lo` (and likewise for `hi`); an allowed value matches a float32 only if it is
/// one, so values float32 cannot represent are dropped.
fn to_f32_bounds(b: &FastBounds<f64>) -> FastBounds<f32> {
    // Rounding to nearest then stepping is the documented way to get a directed rounding.
    #[allow(clippy::cast_possible_truncation)]
    let at_least = |v: f64| {
        let f = v as f32;
        if f64::from(f) < v { f.next_up() } else { f }
    };
    #[allow(clippy::cast_possible_truncation)]
    let at_most = |v: f64| {
        let f = v as f32;
        if f64::from(f) > v { f.next_down() } else { f }
    };
    #[allow(clippy::cast_possible_truncation)]
    let exact = |v: &f64| {
        let f = *v as f32;
        (f64::from(f) == *v).then_some(f)
    };
    FastBounds {
        lo: b.lo.iter().map(|&v| at_least(v)).collect(),
        hi: b.hi.iter().map(|&v| at_most(v)).collect(),
        null_ok: b.null_ok.clone(),
        allowed: b.allowed.iter().map(|(c, a)| (*c, a.iter().filter_map(exact).collect())).collect(),
    }
}

#[derive(Debug, Clone)]
struct OutputCheck {
    name: String,
    kind: ValueType,
    dtype: DType,
    declared: String,
    dims: Vec<OutputDim>,
}

#[derive(Debug, Clone, PartialEq)]
enum OutputDim {
    Fixed(u64),
    /// A symbolic dim: its size is the one the first present input (declaration order, then axis order)
    /// that declares the same symbol gives it; `(input, axis)` in that order. Unbound when none does.
    Symbol(Vec<(usize, usize)>),
}

#[derive(Debug, Clone, PartialEq)]
enum DimCheck {
    Fixed(u64),
    /// A symbolic dim; `first` is where the symbol first occurs among the inputs (input, axis), unless this
    /// is that first occurrence. Inputs are checked in order, so the first occurrence is always checked
    /// (and present) before any later one refers to it.
    Symbol {
        name: String,
        first: Option<(usize, usize)>,
    },
}

#[derive(Debug, Clone)]
struct FeatureCheck {
    feature: Feature,
    // Infinite when undeclared, so one comparison covers both bounds and NaN in the fast pass.
    min: f64,
    max: f64,
}

impl FeatureCheck {
    /// Whether the feature constrains nothing for this dtype (an undeclared float feature still refuses NaN).
    fn is_trivial(&self, dtype: DType) -> bool {
        let f = &self.feature;
        f.min.is_none() && f.max.is_none() && f.allowed.is_none() && (f.nullable || !dtype.is_float())
    }
}

/// Where violations go: [`Contract::check_request`] stops at the first, [`Contract::check_all`] keeps
/// every one.
struct Found {
    all: bool,
    errors: Vec<ContractError>,
}

/// The first violation was found and the caller wants no more.
struct Stop;

impl Found {
    fn first() -> Found {
        Found { all: false, errors: Vec::new() }
    }

    fn report(&mut self, e: ContractError) -> Result<(), Stop> {
        self.errors.push(e);
        if self.all { Ok(()) } else { Err(Stop) }
    }

    fn into_first(self) -> Result<(), Box<ContractError>> {
        match self.errors.into_iter().next() {
            Some(e) => Err(Box::new(e)),
            None => Ok(()),
        }
    }
}

impl Contract {
    /// Compiles the declared inputs and outputs.
    pub fn new(inputs: &[TensorSpec], outputs: &[TensorSpec]) -> Contract {
        let mut first_seen: Vec<(String, (usize, usize))> = Vec::new();
        let mut compiled = Vec::with_capacity(inputs.len());
        for (i, spec) in inputs.iter().enumerate() {
            let dims: Vec<DimCheck> = spec
                .shape
                .iter()
                .enumerate()
                .map(|(axis, d)| match d {
                    Dim::Fixed(n) => DimCheck::Fixed(*n),
                    Dim::Symbolic(s) => {
                        let first = first_seen.iter().find(|(name, _)| name == s).map(|(_, at)| *at);
                        if first.is_none() {
                            first_seen.push((s.clone(), (i, axis)));
                        }
                        DimCheck::Symbol { name: s.clone(), first }
                    }
                })
                .collect();
            // Features only make sense when they name every position of a fixed last axis.
            let last_fixed = matches!(spec.shape.last(), Some(Dim::Fixed(n)) if usize::try_from(*n).ok() == Some(spec.features.len()));
            let table = if last_fixed { RuleSet::new(&spec.features, spec.dtype, false) } else { None };
            let whole = spec
                .values
                .as_ref()
                .and_then(|v| RuleSet::new(&[v.as_feature(&spec.name)], spec.dtype, true));
            let sized = spec.dtype.bits().is_some() && dims.iter().all(|d| matches!(d, DimCheck::Fixed(_)));
            compiled.push(InputCheck {
                name: spec.name.clone(),
                kind: spec.value_type.clone(),
                dtype: spec.dtype,
                declared: spec.shape_string(),
                dims,
                sized,
                rules: table.into_iter().chain(whole).collect(),
            });
        }
        let outputs = outputs
            .iter()
            .map(|spec| OutputCheck {
                name: spec.name.clone(),
                kind: spec.value_type.clone(),
                dtype: spec.dtype,
                declared: spec.shape_string(),
                dims: spec
                    .shape
                    .iter()
                    .map(|d| match d {
                        Dim::Fixed(n) => OutputDim::Fixed(*n),
                        Dim::Symbolic(s) => OutputDim::Symbol(
                            inputs
                                .iter()
                                .enumerate()
                                .flat_map(|(i, spec)| {
                                    spec.shape.iter().enumerate().filter_map(move |(axis, d)| {
                                        matches!(d, Dim::Symbolic(x) if x == s).then_some((i, axis))
                                    })
                                })
                                .collect(),
                        ),
                    })
                    .collect(),
            })
            .collect();
        Contract { inputs: compiled, outputs, max_elements: DEFAULT_MAX_ELEMENTS }
    }

    /// The most elements an input whose size the contract leaves open (a symbolic dim, or strings) may
    /// hold, and (×8) the most bytes of data its file may declare. Default [`DEFAULT_MAX_ELEMENTS`].
    #[must_use]
    pub fn with_max_elements(mut self, max_elements: usize) -> Contract {
        self.max_elements = max_elements;
        self
    }

    /// The most elements an input whose size the contract leaves open may hold
    /// ([`Contract::with_max_elements`]).
    pub fn max_elements(&self) -> usize {
        self.max_elements
    }

    /// Checks what a request file declares about one tensor (name, dtype, shape and, where the format
    /// says, bytes of data), before its data is read: the dtype, rank, fixed-dim and size rules of
    /// [`Contract::check_request`] (the same code), so that a tensor the contract would refuse costs no
    /// memory. Symbolic dims shared between inputs are compared by [`Contract::check_request`] once every
    /// tensor is read.
    pub fn check_declared(
        &self,
        name: &str,
        dtype: DType,
        shape: &[usize],
        data_bytes: Option<u64>,
    ) -> Result<(), Box<ContractError>> {
        let mut found = Found::first();
        let _ = self.declared(name, dtype, shape, data_bytes, &mut found);
        found.into_first()
    }

    fn declared(
        &self,
        name: &str,
        dtype: DType,
        shape: &[usize],
        data_bytes: Option<u64>,
        found: &mut Found,
    ) -> Result<(), Stop> {
        let Some(check) = self.inputs.iter().find(|c| c.name == name) else {
            return found.report(self.unknown(name));
        };
        if !accepts_tensor(&check.kind) {
            return found.report(structure(
                check,
                &[],
                format!("is a tensor, the contract says {}", check.kind),
            ));
        }
        if dtype != check.dtype {
            found.report(error(
                &check.name,
                ContractErrorKind::DType { expected: check.dtype, found: dtype },
            ))?;
        }
        self.check_shape(check, shape, data_bytes, &|_, _| None, found)
    }

    /// Names of the declared inputs, in declaration order.
    pub fn input_names(&self) -> impl Iterator<Item = &str> {
        self.inputs.iter().map(|i| i.name.as_str())
    }

    /// Checks a request and returns its first violation (the hot path: nothing is allocated on success).
    /// On success every declared input is present (and nothing else), so the inputs can be fed in
    /// declaration order ([`Contract::input_names`]).
    pub fn check_request<V: Values>(&self, inputs: &V) -> Result<(), Box<ContractError>> {
        let mut found = Found::first();
        let _ = self.request(inputs, &mut found);
        found.into_first()
    }

    /// Every violation of a request, for reports: each missing and each unknown input; per input its
    /// dtype, data length, rank, each dim, symbolic dims and size limit; and, for an input that breaks
    /// none of those, the first element (row-major) that breaks each feature, with the first rule it
    /// breaks. Empty exactly when [`Contract::check_request`] passes, and then holds the error that
    /// [`Contract::check_request`] returns.
    pub fn check_all<V: Values>(&self, inputs: &V) -> Vec<ContractError> {
        let mut found = Found { all: true, errors: Vec::new() };
        let _ = self.request(inputs, &mut found);
        found.errors
    }

    fn request<V: Values>(&self, inputs: &V, found: &mut Found) -> Result<(), Stop> {
        let mut present = 0usize;
        for check in &self.inputs {
            let Some(item) = inputs.item(&check.name) else {
                found.report(error(&check.name, ContractErrorKind::MissingInput))?;
                continue;
            };
            present += 1;
            match (item, check.kind.is_tensor()) {
                (Item::Tensor(tensor), true) => self.check_one(check, tensor, inputs, found)?,
                (item, _) => self.check_container(check, item, found)?,
            }
        }
        if present != inputs.count() {
            for extra in inputs.names().filter(|k| !self.inputs.iter().any(|c| c.name == *k)) {
                found.report(self.unknown(extra))?;
            }
        }
        Ok(())
    }

    fn unknown(&self, name: &str) -> ContractError {
        error(
            name,
            ContractErrorKind::UnknownInput {
                declared: self.inputs.iter().map(|c| c.name.clone()).collect(),
            },
        )
    }

    fn check_one<V: Values>(
        &self,
        check: &InputCheck,
        tensor: &Tensor,
        all: &V,
        found: &mut Found,
    ) -> Result<(), Stop> {
        let before = found.errors.len();
        let dtype = tensor.dtype();
        if dtype != check.dtype {
            found.report(error(
                &check.name,
                ContractErrorKind::DType { expected: check.dtype, found: dtype },
            ))?;
        }
        let expected_len = ferry_tensor::numel(&tensor.shape);
        if expected_len != Some(tensor.data.len()) {
            found.report(error(
                &check.name,
                ContractErrorKind::DataLength { shape: tensor.shape.clone(), len: tensor.data.len() },
            ))?;
        }
        let other = |input: &str, axis: usize| {
            all.item(input).and_then(Item::tensor).and_then(|t| t.shape.get(axis)).copied()
        };
        self.check_shape(check, &tensor.shape, None, &other, found)?;
        // Feature positions only mean something in a tensor that has the declared dtype and shape.
        if found.errors.len() == before {
            for rules in &check.rules {
                check_values(check, rules, tensor, found)?;
            }
        }
        Ok(())
    }

    /// A sequence, map or optional input (or a value given where the contract declares a tensor): its
    /// structure, then each tensor inside it as an input of its own, with symbolic dims free per tensor
    /// (the elements of a sequence may differ in size), the value rules on every element, and the size
    /// limit on all of them together. Errors index the element from the outside in: `[2, 0, 5]` is
    /// element `[0, 5]` of the sequence's third tensor.
    fn check_container(&self, check: &InputCheck, item: Item<'_>, found: &mut Found) -> Result<(), Stop> {
        let value = match item {
            Item::Other(v) => v,
            Item::Tensor(t) => {
                if let Some(reason) = bare_tensor(&check.kind, check.dtype, t) {
                    return found.report(structure(check, &[], reason));
                }
                return self.check_element(check, t, found);
            }
        };
        if let Some(reason) = value.mismatch(&check.kind, check.dtype) {
            return found.report(structure(check, &[], reason));
        }
        let total = value.elements();
        if total > self.max_elements {
            return found.report(structure(
                check,
                &[],
                format!("holds {total} elements, more than the {} this runtime accepts", self.max_elements),
            ));
        }
        let mut inside = Vec::new();
        leaves(value, &mut Vec::new(), &mut inside);
        for (at, leaf) in inside {
            let before = found.errors.len();
            let result = match leaf {
                Leaf::Tensor(tensor) => self.check_element(check, tensor, found),
                Leaf::MapValues(data) => {
                    let tensor = Tensor { shape: vec![data.len()], data: data.clone() };
                    check.rules.iter().try_for_each(|rules| check_values(check, rules, &tensor, found))
                }
            };
            for e in found.errors.iter_mut().skip(before) {
                let inner = e.index.take().unwrap_or_default();
                e.index = Some(at.iter().copied().chain(inner).collect());
            }
            result?;
        }
        Ok(())
    }

    /// One tensor inside a container: rank, fixed dims (symbolic dims are free) and the value rules.
    fn check_element(&self, check: &InputCheck, tensor: &Tensor, found: &mut Found) -> Result<(), Stop> {
        let before = found.errors.len();
        if ferry_tensor::numel(&tensor.shape) != Some(tensor.data.len()) {
            found.report(error(
                &check.name,
                ContractErrorKind::DataLength { shape: tensor.shape.clone(), len: tensor.data.len() },
            ))?;
        }
        self.check_shape(check, &tensor.shape, None, &|_, _| None, found)?;
        if found.errors.len() == before {
            for rules in &check.rules {
                check_values(check, rules, tensor, found)?;
            }
        }
        Ok(())
    }

    /// The shape rules of one input: rank, fixed dims, symbolic dims against their first occurrence
    /// (`other(input, axis)` gives its size where known), and the size limit for inputs the contract does
    /// not size. Shared by [`Contract::check_request`], [`Contract::check_all`] and
    /// [`Contract::check_declared`].
    fn check_shape(
        &self,
        check: &InputCheck,
        shape: &[usize],
        data_bytes: Option<u64>,
        other: &dyn Fn(&str, usize) -> Option<usize>,
        found: &mut Found,
    ) -> Result<(), Stop> {
        if shape.len() != check.dims.len() {
            return found.report(error(
                &check.name,
                ContractErrorKind::Rank {
                    expected: check.dims.len(),
                    found: shape.len(),
                    declared: check.declared.clone(),
                },
            ));
        }
        for (axis, (dim, &size)) in check.dims.iter().zip(shape).enumerate() {
            match dim {
                DimCheck::Fixed(n) => {
                    if u64::try_from(size).ok() != Some(*n) {
                        found.report(error(
                            &check.name,
                            ContractErrorKind::Dim { axis, expected: *n, found: size },
                        ))?;
                    }
                }
                DimCheck::Symbol { name, first: Some((other_input, other_axis)) } => {
                    let Some(other_check) = self.inputs.get(*other_input) else { continue };
                    // The first occurrence was checked already (inputs are checked in order); before the
                    // data is read, or when that input is missing, its size may not be known.
                    if let Some(other_value) = other(&other_check.name, *other_axis)
                        && other_value != size
                    {
                        found.report(error(
                            &check.name,
                            ContractErrorKind::Symbol {
                                symbol: name.clone(),
                                axis,
                                found: size,
                                other_input: other_check.name.clone(),
                                other_axis: *other_axis,
                                other_value,
                            },
                        ))?;
                    }
                }
                DimCheck::Symbol { first: None, .. } => {}
            }
        }
        if !check.sized {
            let too_many = ferry_tensor::numel(shape).is_none_or(|n| n > self.max_elements);
            if too_many {
                found.report(error(
                    &check.name,
                    ContractErrorKind::TooManyElements {
                        shape: shape.to_vec(),
                        declared: check.declared.clone(),
                        limit: self.max_elements,
                    },
                ))?;
            }
            let byte_limit = (self.max_elements as u64).saturating_mul(MAX_ELEMENT_BYTES);
            if let Some(bytes) = data_bytes
                && bytes > byte_limit
            {
                found.report(error(
                    &check.name,
                    ContractErrorKind::TooManyBytes { bytes, limit: byte_limit },
                ))?;
            }
        }
        Ok(())
    }

    /// Checks one output (returned by a model) against its declaration and returns its first violation:
    /// dtype, rank, fixed dims and the symbolic dims the inputs bind. An output the contract does not
    /// declare passes; [`Contract::check_outputs`] reports it.
    pub fn check_output<V: Values>(
        &self,
        name: &str,
        tensor: &Tensor,
        inputs: &V,
    ) -> Result<(), OutputError> {
        self.check_output_item(name, Item::Tensor(tensor), inputs)
    }

    /// [`Contract::check_output`] for an output of any kind: a sequence, map or optional must have the
    /// declared structure and each tensor inside it the declared rank and fixed dims.
    pub fn check_output_value<V: Values>(
        &self,
        name: &str,
        value: &Value,
        inputs: &V,
    ) -> Result<(), OutputError> {
        let item = match value {
            Value::Tensor(t) => Item::Tensor(t),
            other => Item::Other(other),
        };
        self.check_output_item(name, item, inputs)
    }

    fn check_output_item<V: Values>(
        &self,
        name: &str,
        item: Item<'_>,
        inputs: &V,
    ) -> Result<(), OutputError> {
        let Some(check) = self.outputs.iter().find(|o| o.name == name) else { return Ok(()) };
        let mut first = None;
        self.output_rules(check, item, inputs, &mut |kind| {
            first = Some(kind);
            false
        });
        match first {
            Some(kind) => Err(OutputError { output: name.to_owned(), kind }),
            None => Ok(()),
        }
    }

    /// Every violation of a set of outputs (produced by a model, or a golden set's expected outputs):
    /// per declared output (in declaration order) its absence, or its dtype, rank and each dim that
    /// disagrees; then every output the contract does not declare. `inputs` bind the symbolic dims.
    pub fn check_outputs<O: Values, V: Values>(&self, outputs: &O, inputs: &V) -> Vec<OutputError> {
        let mut out = Vec::new();
        for check in &self.outputs {
            let Some(item) = outputs.item(&check.name) else {
                out.push(OutputError { output: check.name.clone(), kind: OutputErrorKind::Missing });
                continue;
            };
            self.output_rules(check, item, inputs, &mut |kind| {
                out.push(OutputError { output: check.name.clone(), kind });
                true
            });
        }
        for name in outputs.names().filter(|k| !self.outputs.iter().any(|o| o.name == *k)) {
            out.push(OutputError { output: name.to_owned(), kind: OutputErrorKind::Unknown });
        }
        out
    }

    /// The rules of one output; `report` returns whether to go on.
    fn output_rules<V: Values>(
        &self,
        check: &OutputCheck,
        item: Item<'_>,
        inputs: &V,
        report: &mut dyn FnMut(OutputErrorKind) -> bool,
    ) {
        let tensor = match (item, check.kind.is_tensor()) {
            (Item::Tensor(t), true) => t,
            (item, _) => return self.output_container(check, item, report),
        };
        if tensor.dtype() != check.dtype
            && !report(OutputErrorKind::DType { expected: check.dtype, found: tensor.dtype() })
        {
            return;
        }
        if tensor.shape.len() != check.dims.len() {
            report(OutputErrorKind::Rank { shape: tensor.shape.clone(), declared: check.declared.clone() });
            return;
        }
        for (axis, (dim, &size)) in check.dims.iter().zip(&tensor.shape).enumerate() {
            let expected = match dim {
                OutputDim::Fixed(n) => usize::try_from(*n).ok(),
                OutputDim::Symbol(occurrences) => occurrences.iter().find_map(|(i, a)| {
                    self.inputs
                        .get(*i)
                        .and_then(|c| inputs.item(&c.name))
                        .and_then(Item::tensor)
                        .and_then(|t| t.shape.get(*a))
                        .copied()
                }),
            };
            if let Some(expected) = expected
                && expected != size
                && !report(OutputErrorKind::Dim {
                    axis,
                    found: size,
                    expected,
                    declared: check.declared.clone(),
                })
            {
                return;
            }
        }
    }

    /// A sequence, map or optional output: its structure, then each tensor's rank and fixed dims.
    fn output_container(
        &self,
        check: &OutputCheck,
        item: Item<'_>,
        report: &mut dyn FnMut(OutputErrorKind) -> bool,
    ) {
        let mut inside = Vec::new();
        match item {
            Item::Other(value) => {
                if let Some(reason) = value.mismatch(&check.kind, check.dtype) {
                    report(OutputErrorKind::Structure { reason });
                    return;
                }
                leaves(value, &mut Vec::new(), &mut inside);
            }
            Item::Tensor(t) => {
                if let Some(reason) = bare_tensor(&check.kind, check.dtype, t) {
                    report(OutputErrorKind::Structure { reason });
                    return;
                }
                inside.push((Vec::new(), Leaf::Tensor(t)));
            }
        }
        for (at, leaf) in inside {
            let Leaf::Tensor(tensor) = leaf else { continue };
            let place = at.iter().map(|i| format!("[{i}]")).collect::<String>();
            if tensor.shape.len() != check.dims.len() {
                let reason = format!(
                    "{place} has shape {:?}, not the declared rank of {}",
                    tensor.shape, check.declared
                );
                if !report(OutputErrorKind::Structure { reason }) {
                    return;
                }
                continue;
            }
            for (axis, (dim, &size)) in check.dims.iter().zip(&tensor.shape).enumerate() {
                if let OutputDim::Fixed(n) = dim
                    && usize::try_from(*n).ok() != Some(size)
                {
                    let reason = format!(
                        "{place} axis {axis} has size {size}, but the contract {} fixes it at {n}",
                        check.declared
                    );
                    if !report(OutputErrorKind::Structure { reason }) {
                        return;
                    }
                }
            }
        }
    }

    /// Names of the declared outputs, in declaration order.
    pub fn output_names(&self) -> impl Iterator<Item = &str> {
        self.outputs.iter().map(|o| o.name.as_str())
    }
}

/// Why a bare tensor cannot stand for a value of kind `kind` (not a plain tensor): only a present optional
/// tensor may come bare, as ONNX Runtime hands it back, and then with the declared dtype.
fn bare_tensor(kind: &ValueType, dtype: DType, t: &Tensor) -> Option<String> {
    if !accepts_tensor(kind) {
        return Some(format!("is a tensor, expected {kind}"));
    }
    (t.dtype() != dtype).then(|| format!("is a {} tensor, expected {dtype}", t.dtype()))
}

/// Whether a tensor may stand for an input of this kind: a plain tensor, or a present optional one.
fn accepts_tensor(kind: &ValueType) -> bool {
    match kind {
        ValueType::Tensor => true,
        ValueType::Optional(inner) => inner.is_tensor(),
        _ => false,
    }
}

fn structure(check: &InputCheck, at: &[usize], reason: String) -> ContractError {
    ContractError {
        input: check.name.clone(),
        feature: None,
        index: (!at.is_empty()).then(|| at.to_vec()),
        value: None,
        kind: ContractErrorKind::Structure { reason },
    }
}

fn error(input: &str, kind: ContractErrorKind) -> ContractError {
    ContractError { input: input.to_owned(), feature: None, index: None, value: None, kind }
}

fn check_values(check: &InputCheck, rules: &RuleSet, tensor: &Tensor, found: &mut Found) -> Result<(), Stop> {
    match &tensor.data {
        TensorData::F16(v) => checked(check, rules, tensor, v, |x| f64::from(x.to_f32()), found),
        TensorData::F32(v) => {
            let ok = fast_pass(v, &rules.fast32, |x| x);
            scan(check, rules, tensor, v, ok, f64::from, found)
        }
        TensorData::F64(v) => checked(check, rules, tensor, v, |x| x, found),
        TensorData::I8(v) => checked(check, rules, tensor, v, f64::from, found),
        TensorData::I16(v) => checked(check, rules, tensor, v, f64::from, found),
        TensorData::I32(v) => checked(check, rules, tensor, v, f64::from, found),
        // Bounds are f64, so comparing in f64 is what the declaration means.
        #[allow(clippy::cast_precision_loss)]
        TensorData::I64(v) => checked(check, rules, tensor, v, |x| x as f64, found),
        TensorData::U8(v) => checked(check, rules, tensor, v, f64::from, found),
        TensorData::U16(v) => checked(check, rules, tensor, v, f64::from, found),
        TensorData::U32(v) => checked(check, rules, tensor, v, f64::from, found),
        #[allow(clippy::cast_precision_loss)]
        TensorData::U64(v) => checked(check, rules, tensor, v, |x| x as f64, found),
        TensorData::Bool(_) | TensorData::String(_) => Ok(()),
        TensorData::BF16(v) => checked(check, rules, tensor, v, |x| x.to_f64(), found),
        TensorData::F8E4M3FN(v) => checked(check, rules, tensor, v, |x| x.to_f64(), found),
        TensorData::F8E4M3FNUZ(v) => checked(check, rules, tensor, v, |x| x.to_f64(), found),
        TensorData::F8E5M2(v) => checked(check, rules, tensor, v, |x| x.to_f64(), found),
        TensorData::F8E5M2FNUZ(v) => checked(check, rules, tensor, v, |x| x.to_f64(), found),
        TensorData::I4(v) => checked(check, rules, tensor, v, f64::from, found),
        TensorData::U4(v) => checked(check, rules, tensor, v, f64::from, found),
    }
}

/// The fast pass in f64, then the locating pass if it failed.
#[inline]
fn checked<T: Copy + std::fmt::Debug>(
    check: &InputCheck,
    rules: &RuleSet,
    tensor: &Tensor,
    data: &[T],
    to_f64: impl Fn(T) -> f64 + Copy,
    found: &mut Found,
) -> Result<(), Stop> {
    let ok = fast_pass(data, &rules.fast, to_f64);
    scan(check, rules, tensor, data, ok, to_f64, found)
}

/// Whether every element satisfies its feature's rules: no early exit and no branches, so that the
/// compiler can vectorize it.
#[inline]
fn fast_pass<T: Copy, B: Bound>(data: &[T], t: &Tiled<B>, conv: impl Fn(T) -> B + Copy) -> bool {
    let tile = t.lo.len();
    if t.width == 0 || tile == 0 {
        return true;
    }
    let mut ok = true;
    let mut tiles = data.chunks_exact(tile);
    for chunk in &mut tiles {
        ok &= tile_pass(chunk, t, conv);
    }
    // The data holds whole rows, so the remainder starts at a row boundary and lines up with the tile.
    ok &= tile_pass(tiles.remainder(), t, conv);
    for (col, values) in &t.big_sets {
        for row in data.chunks_exact(t.width) {
            if let (Some(&v), Some(&n)) = (row.get(*col), t.null_ok.get(*col)) {
                let x = conv(v);
                ok &= values.iter().fold(false, |hit, &a| hit | (a == x)) | (n & x.nan());
            }
        }
    }
    ok
}

#[inline]
fn tile_pass<T: Copy, B: Bound>(x: &[T], t: &Tiled<B>, conv: impl Fn(T) -> B) -> bool {
    let n = x.len();
    let [s0, s1, s2, s3] = &t.set;
    let (Some(lo), Some(hi), Some(null_ok), Some(has_set), Some(s0), Some(s1), Some(s2), Some(s3)) = (
        t.lo.get(..n),
        t.hi.get(..n),
        t.null_ok.get(..n),
        t.has_set.get(..n),
        s0.get(..n),
        s1.get(..n),
        s2.get(..n),
        s3.get(..n),
    ) else {
        return false;
    };
    let mut ok = true;
    // Equal-length slices and an index loop: no bounds checks survive, and the body is branch-free.
    for i in 0..n {
        let v = conv(x[i]);
        let in_range = (v >= lo[i]) & (v <= hi[i]);
        let in_set = !has_set[i] | (v == s0[i]) | (v == s1[i]) | (v == s2[i]) | (v == s3[i]);
        ok &= (in_range & in_set) | (null_ok[i] & v.nan());
    }
    ok
}

/// The locating pass, run only when the fast pass failed (`ok` false): the first element (row-major) that
/// breaks a feature rule ([`broken_rules`], the rule `contract.data` applies to sample data too); when
/// every violation is wanted, the first element of each feature.
#[inline]
fn scan<T: Copy + std::fmt::Debug>(
    check: &InputCheck,
    rules: &RuleSet,
    tensor: &Tensor,
    data: &[T],
    ok: bool,
    to_f64: impl Fn(T) -> f64,
    found: &mut Found,
) -> Result<(), Stop> {
    let width = rules.features.len();
    if width == 0 || ok {
        return Ok(());
    }
    let mut reported = vec![false; width];
    for (row, values) in data.chunks_exact(width).enumerate() {
        for (col, ((&v, f), seen)) in values.iter().zip(&rules.features).zip(&mut reported).enumerate() {
            let x = to_f64(v);
            // One comparison pair per element on the happy path; NaN fails it too.
            if *seen || (x >= f.min && x <= f.max && f.feature.allowed.is_none()) {
                continue;
            }
            let Some(kind) =
                broken_rules(&f.feature, check.dtype, x).into_iter().find_map(|r| kind_of(&f.feature, r))
            else {
                continue;
            };
            *seen = true;
            found.report(value_error(check, rules, tensor, row, col, format!("{v:?}"), kind))?;
        }
    }
    Ok(())
}

/// The request error for a broken feature rule. Tensor elements always have their tensor's type, so
/// [`FeatureRule::Type`] (a non-integer value for an integer feature, which only sample data can hold)
/// has none.
fn kind_of(f: &Feature, rule: FeatureRule) -> Option<ContractErrorKind> {
    match rule {
        FeatureRule::Type => None,
        FeatureRule::Null => Some(ContractErrorKind::Null),
        FeatureRule::Min => Some(ContractErrorKind::BelowMin { min: f.min.unwrap_or(f64::NEG_INFINITY) }),
        FeatureRule::Max => Some(ContractErrorKind::AboveMax { max: f.max.unwrap_or(f64::INFINITY) }),
        FeatureRule::Allowed => {
            Some(ContractErrorKind::NotAllowed { allowed: f.allowed.clone().unwrap_or_default() })
        }
    }
}

/// The full index of element (`row`, `col`), where `row` counts positions of all leading axes.
fn unravel(shape: &[usize], row: usize, col: usize) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    let Some((last, lead)) = index.split_last_mut() else { return index };
    *last = col;
    let mut rest = row;
    for (slot, &dim) in lead.iter_mut().zip(shape).rev() {
        if dim > 0 {
            *slot = rest % dim;
            rest /= dim;
        }
    }
    index
}

fn value_error(
    check: &InputCheck,
    rules: &RuleSet,
    tensor: &Tensor,
    row: usize,
    col: usize,
    value: String,
    kind: ContractErrorKind,
) -> ContractError {
    let (feature, index) = if rules.whole {
        (None, unravel_flat(&tensor.shape, row))
    } else {
        (rules.features.get(col).map(|f| f.feature.name.clone()), unravel(&tensor.shape, row, col))
    };
    ContractError { input: check.name.clone(), feature, index: Some(index), value: Some(value), kind }
}

/// The full index of the `flat`-th element in row-major order.
fn unravel_flat(shape: &[usize], flat: usize) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    let mut rest = flat;
    for (slot, &dim) in index.iter_mut().zip(shape).rev() {
        if dim > 0 {
            *slot = rest % dim;
            rest /= dim;
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_spec::Feature;
    use proptest::prelude::*;

    fn feature(
        name: &str,
        min: Option<f64>,
        max: Option<f64>,
        allowed: Option<Vec<f64>>,
        nullable: bool,
    ) -> Feature {
        Feature { name: name.into(), min, max, allowed, nullable }
    }

    fn containers() -> Contract {
        let spec = |name: &str, ty: &str, dtype, shape: Vec<Dim>, values| TensorSpec {
            value_type: ty.parse().unwrap(),
            name: name.into(),
            dtype,
            shape,
            features: vec![],
            values,
        };
        let ids = ferry_spec::ValueRules { min: Some(0.0), max: Some(9.0), ..Default::default() };
        let inputs = vec![
            spec(
                "seq",
                "sequence<tensor>",
                DType::Int64,
                vec![Dim::Symbolic("n".into()), Dim::Fixed(2)],
                Some(ids),
            ),
            spec("weights", "map<string, tensor>", DType::Float32, vec![], None),
            spec("opt", "optional<tensor>", DType::Float32, vec![Dim::Fixed(1)], None),
        ];
        let outputs = vec![spec("probs", "sequence<map<int64, tensor>>", DType::Float32, vec![], None)];
        Contract::new(&inputs, &outputs)
    }

    fn seq_of(shapes: &[(Vec<usize>, Vec<i64>)]) -> Value {
        Value::Sequence(
            shapes
                .iter()
                .map(|(s, d)| Value::Tensor(Tensor::new(s.clone(), TensorData::I64(d.clone())).unwrap()))
                .collect(),
        )
    }

    fn container_request(seq: Value, opt: Value) -> ValueMap {
        let map =
            ferry_tensor::MapValue::new(TensorData::String(vec!["a".into()]), TensorData::F32(vec![0.5]))
                .unwrap();
        ValueMap::from([
            ("seq".to_owned(), seq),
            ("weights".to_owned(), Value::Map(map)),
            ("opt".to_owned(), opt),
        ])
    }

    /// Elements of a sequence may differ in their symbolic dims but not their fixed ones; values rules hold
    /// every element of every tensor, indexed from the outside in; a wrong kind is named.
    #[test]
    fn containers_are_checked_element_by_element() {
        let c = containers();
        let good = seq_of(&[(vec![1, 2], vec![1, 2]), (vec![3, 2], vec![0, 1, 2, 3, 4, 5])]);
        let tensor = |v: f32| Value::Tensor(Tensor::new(vec![1], TensorData::F32(vec![v])).unwrap());
        c.check_request(&container_request(good.clone(), Value::Optional(None))).unwrap();
        c.check_request(&container_request(good.clone(), tensor(1.0))).unwrap();
        c.check_request(&container_request(good.clone(), Value::Optional(Some(Box::new(tensor(1.0))))))
            .unwrap();

        let bad_value = seq_of(&[(vec![1, 2], vec![1, 2]), (vec![2, 2], vec![0, 1, 2, 10])]);
        let e = c.check_request(&container_request(bad_value, Value::Optional(None))).unwrap_err();
        assert_eq!(e.to_string(), "input `seq` at [1, 1, 1]: value 10 is above the maximum 9");
        let bad_dim = seq_of(&[(vec![1, 3], vec![1, 2, 3])]);
        let e = c.check_request(&container_request(bad_dim, Value::Optional(None))).unwrap_err();
        assert_eq!(e.to_string(), "input `seq` at [0]: axis 1 has size 3, the contract fixes it at 2");
        let e = c.check_request(&container_request(tensor(1.0), Value::Optional(None))).unwrap_err();
        assert_eq!(e.to_string(), "input `seq`: is a tensor, expected sequence<tensor>");
        let e = c.check_request(&container_request(good.clone(), good.clone())).unwrap_err();
        assert_eq!(e.to_string(), "input `opt`: is a sequence of 2, expected tensor");
        let mut missing = container_request(good.clone(), Value::Optional(None));
        missing.remove("weights");
        assert_eq!(c.check_request(&missing).unwrap_err().kind, ContractErrorKind::MissingInput);
        assert_eq!(c.check_all(&container_request(good, tensor(f32::NAN))), vec![]);
    }

    /// A request's containers are bounded by the element limit, keys included.
    #[test]
    fn containers_count_against_the_element_limit() {
        let c = containers().with_max_elements(10);
        let many = seq_of(&vec![(vec![1, 2], vec![1, 2]); 6]);
        let e = c.check_request(&container_request(many, Value::Optional(None))).unwrap_err();
        assert_eq!(e.to_string(), "input `seq`: holds 12 elements, more than the 10 this runtime accepts");
    }

    /// A sequence output is checked for its structure, not as a tensor.
    #[test]
    fn container_outputs_have_their_declared_structure() {
        let c = containers();
        let map = |k: Vec<i64>| {
            Value::Map(
                ferry_tensor::MapValue::new(TensorData::I64(k.clone()), TensorData::F32(vec![0.5; k.len()]))
                    .unwrap(),
            )
        };
        let inputs = ValueMap::new();
        c.check_output_value("probs", &Value::Sequence(vec![map(vec![0, 1])]), &inputs).unwrap();
        let e = c
            .check_output_value("probs", &Value::Sequence(vec![Value::Sequence(vec![])]), &inputs)
            .unwrap_err();
        assert_eq!(e.to_string(), "output `probs`: [0] is a sequence of 0, expected map<int64, tensor>");
        let outputs = ValueMap::from([("probs".to_owned(), map(vec![1]))]);
        let all = c.check_outputs(&outputs, &inputs);
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(
            all[0].to_string(),
            "output `probs`: is a map of 1, expected sequence<map<int64, tensor>>"
        );
    }

    fn tabular() -> Contract {
        let inputs = vec![TensorSpec {
            value_type: Default::default(),
            name: "features".into(),
            dtype: DType::Float32,
            shape: vec![Dim::Symbolic("batch".into()), Dim::Fixed(3)],
            features: vec![
                feature("age", Some(18.0), Some(100.0), None, false),
                feature("months", Some(0.0), Some(600.0), None, true),
                feature("term", None, None, Some(vec![36.0, 60.0]), false),
            ],
            values: None,
        }];
        let outputs = vec![TensorSpec {
            value_type: Default::default(),
            name: "probability".into(),
            dtype: DType::Float32,
            shape: vec![Dim::Symbolic("batch".into()), Dim::Fixed(1)],
            features: vec![],
            values: None,
        }];
        Contract::new(&inputs, &outputs)
    }

    fn text() -> Contract {
        let spec = |name: &str| TensorSpec {
            value_type: Default::default(),
            name: name.into(),
            dtype: DType::Int64,
            shape: vec![Dim::Symbolic("batch".into()), Dim::Symbolic("seq".into())],
            features: vec![],
            values: None,
        };
        Contract::new(&[spec("input_ids"), spec("attention_mask")], &[])
    }

    fn f32s(shape: Vec<usize>, v: Vec<f32>) -> Tensor {
        Tensor { shape, data: TensorData::F32(v) }
    }

    fn one(name: &str, t: Tensor) -> TensorMap {
        TensorMap::from([(name.to_owned(), t)])
    }

    /// The header check applies the rules of `check` (dtype, rank, fixed dims, the size limit) to what a
    /// file declares; the in-memory check applies the same size limit.
    #[test]
    fn declared_headers_follow_the_same_rules() {
        let c = tabular().with_max_elements(30);
        c.check_declared("features", DType::Float32, &[10, 3], Some(120)).unwrap();
        let e = c.check_declared("features", DType::Float32, &[11, 3], Some(132)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input `features`: shape [11, 3] holds 33 elements, more than the 30 this runtime accepts for the contract's [batch, 3]"
        );
        assert_eq!(
            c.check_request(&one("features", f32s(vec![11, 3], [30.0, 0.0, 36.0].repeat(11))))
                .unwrap_err()
                .kind,
            ContractErrorKind::TooManyElements {
                shape: vec![11, 3],
                declared: "[batch, 3]".into(),
                limit: 30
            }
        );
        let e = c.check_declared("features", DType::Float32, &[usize::MAX, 3], None).unwrap_err();
        assert!(matches!(e.kind, ContractErrorKind::TooManyElements { .. }), "{e}");
        let e = c.check_declared("features", DType::Float32, &[1, 1 << 30], None).unwrap_err();
        assert_eq!(e.kind, ContractErrorKind::Dim { axis: 1, expected: 3, found: 1 << 30 });
        let e = c.check_declared("features", DType::Float64, &[1, 3], None).unwrap_err();
        assert_eq!(e.kind, ContractErrorKind::DType { expected: DType::Float32, found: DType::Float64 });
        let e = c.check_declared("features", DType::Float32, &[3], None).unwrap_err();
        assert!(matches!(e.kind, ContractErrorKind::Rank { expected: 2, found: 1, .. }), "{e}");
        let e = c.check_declared("other", DType::Float32, &[3], None).unwrap_err();
        assert!(matches!(e.kind, ContractErrorKind::UnknownInput { .. }), "{e}");
        // Bytes beyond 8 per allowed element (wide fixed-width strings) are refused too.
        let e = c.check_declared("features", DType::Float32, &[1, 3], Some(241)).unwrap_err();
        assert_eq!(e.kind, ContractErrorKind::TooManyBytes { bytes: 241, limit: 240 });
    }

    /// A contract that fixes every dim sizes its input itself: the limit does not apply.
    #[test]
    fn fully_fixed_inputs_are_sized_by_the_contract() {
        let spec = TensorSpec {
            value_type: Default::default(),
            name: "image".into(),
            dtype: DType::Uint8,
            shape: vec![Dim::Fixed(64), Dim::Fixed(64)],
            features: vec![],
            values: None,
        };
        let c = Contract::new(&[spec], &[]).with_max_elements(10);
        c.check_declared("image", DType::Uint8, &[64, 64], Some(4096)).unwrap();
    }

    #[test]
    fn accepts_valid_rows_and_nullable_nan() {
        let c = tabular();
        let t = f32s(vec![2, 3], vec![30.0, f32::NAN, 36.0, 18.0, 600.0, 60.0]);
        c.check_request(&one("features", t)).unwrap();
        c.check_request(&one("features", f32s(vec![0, 3], vec![]))).unwrap();
    }

    #[test]
    fn names_feature_index_and_value() {
        let c = tabular();
        let err = c
            .check_request(&one("features", f32s(vec![2, 3], vec![30.0, 1.0, 36.0, 12.0, 1.0, 36.0])))
            .unwrap_err();
        assert_eq!(err.input, "features");
        assert_eq!(err.feature.as_deref(), Some("age"));
        assert_eq!(err.index, Some(vec![1, 0]));
        assert_eq!(err.value.as_deref(), Some("12.0"));
        assert_eq!(err.kind, ContractErrorKind::BelowMin { min: 18.0 });
        assert!(err.to_string().contains("feature `age` at [1, 0]"), "{err}");

        let err = c.check_request(&one("features", f32s(vec![1, 3], vec![f32::NAN, 1.0, 36.0]))).unwrap_err();
        assert_eq!(err.kind, ContractErrorKind::Null);
        let err = c.check_request(&one("features", f32s(vec![1, 3], vec![30.0, 601.0, 36.0]))).unwrap_err();
        assert_eq!(err.kind, ContractErrorKind::AboveMax { max: 600.0 });
        let err = c.check_request(&one("features", f32s(vec![1, 3], vec![30.0, 1.0, 48.0]))).unwrap_err();
        assert_eq!(err.feature.as_deref(), Some("term"));
        assert!(matches!(err.kind, ContractErrorKind::NotAllowed { .. }));
        let err = c.check_request(&one("features", f32s(vec![1, 3], vec![30.0, 1.0, f32::NAN]))).unwrap_err();
        assert_eq!(err.kind, ContractErrorKind::Null);
        let err =
            c.check_request(&one("features", f32s(vec![1, 3], vec![f32::INFINITY, 1.0, 36.0]))).unwrap_err();
        assert_eq!(err.kind, ContractErrorKind::AboveMax { max: 100.0 });
    }

    /// Token ids bounded to `[0, 999]` by a whole-tensor rule, beside a mask with no rule.
    fn token_ids(values: ferry_spec::ValueRules) -> Contract {
        let spec = |name: &str, values| TensorSpec {
            value_type: Default::default(),
            name: name.into(),
            dtype: DType::Int64,
            shape: vec![Dim::Symbolic("batch".into()), Dim::Symbolic("seq".into())],
            features: vec![],
            values,
        };
        Contract::new(&[spec("input_ids", Some(values)), spec("attention_mask", None)], &[])
    }

    fn ids(shape: Vec<usize>, ids: Vec<i64>) -> TensorMap {
        let n = ids.len();
        TensorMap::from([
            ("input_ids".to_owned(), Tensor { shape: shape.clone(), data: TensorData::I64(ids) }),
            ("attention_mask".to_owned(), Tensor { shape, data: TensorData::I64(vec![-7; n]) }),
        ])
    }

    #[test]
    fn whole_tensor_rules_name_the_input_index_and_value() {
        let c = token_ids(ferry_spec::ValueRules { min: Some(0.0), max: Some(999.0), ..Default::default() });
        c.check_request(&ids(vec![2, 3], vec![0, 5, 999, 1, 2, 3])).unwrap();
        let err = c.check_request(&ids(vec![2, 3], vec![0, 5, 999, 1, -1, 3])).unwrap_err();
        assert_eq!((err.input.as_str(), err.feature.as_deref()), ("input_ids", None));
        assert_eq!((err.index.clone(), err.value.as_deref()), (Some(vec![1, 1]), Some("-1")));
        assert_eq!(err.kind, ContractErrorKind::BelowMin { min: 0.0 });
        assert_eq!(err.to_string(), "input `input_ids` at [1, 1]: value -1 is below the minimum 0");
        let err = c.check_request(&ids(vec![1, 4], vec![1, 2, 3, 1000])).unwrap_err();
        assert_eq!(err.to_string(), "input `input_ids` at [0, 3]: value 1000 is above the maximum 999");
        // Every violation, for reports: the first of each rule set.
        assert_eq!(c.check_all(&ids(vec![1, 3], vec![1000, -1, 5])).len(), 1);
        // Indexed in the whole tensor, row-major.
        let err = c.check_request(&ids(vec![3, 2], vec![0, 0, 0, 0, 0, 5000])).unwrap_err();
        assert_eq!(err.index, Some(vec![2, 1]));

        let set = token_ids(ferry_spec::ValueRules { allowed: Some(vec![0.0, 1.0]), ..Default::default() });
        let err = set.check_request(&ids(vec![1, 3], vec![0, 1, 2])).unwrap_err();
        assert!(matches!(err.kind, ContractErrorKind::NotAllowed { .. }), "{err}");
        let many = (0..10).map(f64::from).collect();
        let set = token_ids(ferry_spec::ValueRules { allowed: Some(many), ..Default::default() });
        set.check_request(&ids(vec![1, 3], vec![0, 9, 4])).unwrap();
        assert_eq!(set.check_request(&ids(vec![1, 3], vec![0, 10, 4])).unwrap_err().index, Some(vec![0, 1]));
    }

    #[test]
    fn whole_tensor_rules_on_floats_refuse_nan_unless_nullable_and_add_to_features() {
        let spec = |values: ferry_spec::ValueRules| TensorSpec {
            value_type: Default::default(),
            name: "x".into(),
            dtype: DType::Float32,
            shape: vec![Dim::Symbolic("batch".into()), Dim::Fixed(2)],
            features: vec![feature("a", None, Some(10.0), None, true), feature("b", None, None, None, true)],
            values: Some(values),
        };
        let c = Contract::new(&[spec(ferry_spec::ValueRules { min: Some(0.0), ..Default::default() })], &[]);
        let x = |v: Vec<f32>| one("x", f32s(vec![v.len() / 2, 2], v));
        c.check_request(&x(vec![1.0, 2.0, 10.0, 50.0])).unwrap();
        // The feature table allows NaN; the whole-tensor rule does not.
        let err = c.check_request(&x(vec![1.0, f32::NAN])).unwrap_err();
        assert_eq!((err.kind.clone(), err.feature.clone()), (ContractErrorKind::Null, None));
        assert_eq!(
            err.to_string(),
            "input `x` at [0, 1]: value is NaN (missing) but the input's values are not nullable"
        );
        // Both rule sets apply: the feature's maximum and the whole tensor's minimum.
        let err = c.check_request(&x(vec![11.0, 0.0])).unwrap_err();
        assert_eq!(err.feature.as_deref(), Some("a"));
        assert_eq!(c.check_all(&x(vec![11.0, -1.0])).len(), 2);
        let nullable = Contract::new(
            &[spec(ferry_spec::ValueRules { min: Some(0.0), nullable: true, ..Default::default() })],
            &[],
        );
        nullable.check_request(&x(vec![1.0, f32::NAN])).unwrap();
    }

    #[test]
    fn structural_errors() {
        let c = tabular();
        let err = c.check_request(&TensorMap::new()).unwrap_err();
        assert_eq!(err.kind, ContractErrorKind::MissingInput);
        let mut m = one("features", f32s(vec![1, 3], vec![30.0, 1.0, 36.0]));
        m.insert("extra".into(), f32s(vec![1], vec![0.0]));
        let err = c.check_request(&m).unwrap_err();
        assert_eq!(err.input, "extra");
        assert!(matches!(err.kind, ContractErrorKind::UnknownInput { .. }));
        let t = Tensor { shape: vec![1, 3], data: TensorData::F64(vec![30.0, 1.0, 36.0]) };
        let err = c.check_request(&one("features", t)).unwrap_err();
        assert_eq!(err.kind, ContractErrorKind::DType { expected: DType::Float32, found: DType::Float64 });
        let err = c.check_request(&one("features", f32s(vec![3], vec![30.0, 1.0, 36.0]))).unwrap_err();
        assert!(matches!(err.kind, ContractErrorKind::Rank { expected: 2, found: 1, .. }));
        let err = c.check_request(&one("features", f32s(vec![1, 2], vec![30.0, 1.0]))).unwrap_err();
        assert_eq!(err.kind, ContractErrorKind::Dim { axis: 1, expected: 3, found: 2 });
        let err = c.check_request(&one("features", f32s(vec![2, 3], vec![30.0, 1.0, 36.0]))).unwrap_err();
        assert!(matches!(err.kind, ContractErrorKind::DataLength { .. }));
    }

    #[test]
    fn symbolic_dims_must_agree_across_inputs() {
        let c = text();
        let ids = Tensor { shape: vec![2, 4], data: TensorData::I64(vec![1; 8]) };
        let mask = Tensor { shape: vec![2, 5], data: TensorData::I64(vec![1; 10]) };
        let m = TensorMap::from([("input_ids".to_owned(), ids.clone()), ("attention_mask".to_owned(), mask)]);
        let err = c.check_request(&m).unwrap_err();
        // BTreeMap order is irrelevant: inputs are checked in declaration order.
        assert_eq!(err.input, "attention_mask");
        assert_eq!(
            err.kind,
            ContractErrorKind::Symbol {
                symbol: "seq".into(),
                axis: 1,
                found: 5,
                other_input: "input_ids".into(),
                other_axis: 1,
                other_value: 4
            }
        );
        assert!(err.to_string().contains("`seq`"), "{err}");
        let m = TensorMap::from([("input_ids".to_owned(), ids.clone()), ("attention_mask".to_owned(), ids)]);
        c.check_request(&m).unwrap();
    }

    #[test]
    fn output_shapes_follow_input_symbols() {
        let c = tabular();
        let inputs = one("features", f32s(vec![2, 3], vec![30.0, 1.0, 36.0, 30.0, 1.0, 36.0]));
        c.check_output("probability", &f32s(vec![2, 1], vec![0.1, 0.2]), &inputs).unwrap();
        let e = c.check_output("probability", &f32s(vec![3, 1], vec![0.1, 0.2, 0.3]), &inputs).unwrap_err();
        assert_eq!(
            e.to_string(),
            "output `probability`: axis 0 has size 3, but the contract [batch, 1] makes it 2"
        );
        let e = c.check_output("probability", &f32s(vec![2], vec![0.1, 0.2]), &inputs).unwrap_err();
        assert_eq!(e.kind.to_string(), "shape [2] does not have the declared rank of [batch, 1]");
        // An output the contract does not declare is not the hot path's business.
        c.check_output("extra", &f32s(vec![1], vec![0.0]), &inputs).unwrap();
    }

    /// Every violation of a set of outputs, as the verifier reports a golden set's expected outputs.
    #[test]
    fn check_outputs_reports_every_violation() {
        let c = tabular();
        let inputs = one("features", f32s(vec![2, 3], vec![30.0, 1.0, 36.0, 30.0, 1.0, 36.0]));
        let wrong = Tensor { shape: vec![3, 2], data: TensorData::F64(vec![0.0; 6]) };
        let mut outputs = one("probability", wrong);
        outputs.insert("extra".into(), f32s(vec![1], vec![0.0]));
        let found: Vec<String> = c.check_outputs(&outputs, &inputs).iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "output `probability`: dtype is float64, the contract says float32",
                "output `probability`: axis 0 has size 3, but the contract [batch, 1] makes it 2",
                "output `probability`: axis 1 has size 2, but the contract [batch, 1] makes it 1",
                "output `extra`: not a declared output",
            ]
        );
        let missing = c.check_outputs(&TensorMap::new(), &inputs);
        assert_eq!(missing, [OutputError { output: "probability".into(), kind: OutputErrorKind::Missing }]);
        assert!(c.check_outputs(&one("probability", f32s(vec![2, 1], vec![0.1, 0.2])), &inputs).is_empty());
    }

    /// `check_all` goes on where `check_request` stops: every input, every shape rule, and the first
    /// element of each feature.
    #[test]
    fn check_all_reports_every_violation() {
        let c = tabular();
        let bad = f32s(vec![2, 3], vec![12.0, 1.0, 48.0, 30.0, 700.0, 36.0]);
        let mut m = one("features", bad.clone());
        m.insert("extra".into(), f32s(vec![1], vec![0.0]));
        m.insert("more".into(), f32s(vec![1], vec![0.0]));
        let first = c.check_request(&m).unwrap_err();
        let all = c.check_all(&m);
        assert_eq!(all.first(), Some(&*first));
        let described: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(
            described,
            [
                "input `features`, feature `age` at [0, 0]: value 12.0 is below the minimum 18",
                "input `features`, feature `term` at [0, 2]: value 48.0 is not one of the allowed values [36, 60]",
                "input `features`, feature `months` at [1, 1]: value 700.0 is above the maximum 600",
                "input `extra`: is not an input of this model (declared: features)",
                "input `more`: is not an input of this model (declared: features)",
            ]
        );
        // Shape rules go on past the first; features are not checked in a tensor of the wrong shape.
        let t = text();
        let ids = Tensor { shape: vec![2, 4, 1], data: TensorData::F32(vec![0.0; 8]) };
        let kinds: Vec<ContractErrorKind> =
            t.check_all(&one("input_ids", ids)).into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds.len(), 3, "{kinds:?}");
        assert!(matches!(kinds[0], ContractErrorKind::DType { .. }));
        assert!(matches!(kinds[1], ContractErrorKind::Rank { .. }));
        assert_eq!(kinds[2], ContractErrorKind::MissingInput);
        assert!(c.check_all(&one("features", f32s(vec![1, 3], vec![30.0, 1.0, 36.0]))).is_empty());
    }

    #[test]
    fn unravel_multi_axis() {
        assert_eq!(unravel(&[2, 3, 4], 5, 1), vec![1, 2, 1]);
        assert_eq!(unravel(&[4], 0, 3), vec![3]);
        assert_eq!(unravel(&[], 0, 0), Vec::<usize>::new());
    }

    fn any_data(len: usize) -> impl Strategy<Value = TensorData> {
        prop_oneof![
            proptest::collection::vec(
                prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(-1.0f32), any::<f32>(), 0.0f32..700.0],
                len
            )
            .prop_map(TensorData::F32),
            proptest::collection::vec(any::<i64>(), len).prop_map(TensorData::I64),
            proptest::collection::vec(any::<f64>(), len).prop_map(TensorData::F64),
            proptest::collection::vec(any::<bool>(), len).prop_map(TensorData::Bool),
            proptest::collection::vec(".{0,4}", len).prop_map(TensorData::String),
        ]
    }

    fn any_tensor() -> impl Strategy<Value = Tensor> {
        (proptest::collection::vec(0usize..5, 0..4), 0usize..3).prop_flat_map(|(shape, skew)| {
            let n: usize = shape.iter().product();
            // Sometimes the data length disagrees with the shape, as a hostile caller could make it.
            let len = if skew == 0 { n + 1 } else { n };
            any_data(len).prop_map(move |data| Tensor { shape: shape.clone(), data })
        })
    }

    fn bound() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            Just(None),
            any::<f64>().prop_filter("bounds are not NaN", |v| !v.is_nan()).prop_map(Some),
            (-1e6f64..1e6).prop_map(Some),
            any::<f32>().prop_filter("bounds are not NaN", |v| !v.is_nan()).prop_map(|v| Some(f64::from(v))),
            Just(Some(0.1)),
        ]
    }

    proptest! {
        #[test]
        fn float32_fast_path_matches_float64_semantics(
            lo in bound(),
            hi in bound(),
            allowed in proptest::option::of(proptest::collection::vec(prop_oneof![Just(0.1f64), Just(36.0), -3.0f64..3.0, any::<f32>().prop_map(f64::from)], 0..4)),
            nullable in any::<bool>(),
            values in proptest::collection::vec(prop_oneof![any::<f32>(), Just(0.1f32), Just(36.0f32), -3.0f32..3.0, Just(f32::NAN), Just(f32::INFINITY)], 1..32),
        ) {
            let spec = TensorSpec { value_type: Default::default(),
                name: "x".into(),
                dtype: DType::Float32,
                shape: vec![Dim::Symbolic("n".into()), Dim::Fixed(1)],
                features: vec![feature("f", lo, hi, allowed, nullable)],
                values: None,
            };
            let c = Contract::new(&[spec], &[]);
            if let Some(check) = c.inputs.first().and_then(|i| i.rules.first()) {
                for v in values {
                    let by32 = fast_pass(&[v], &check.fast32, |x| x);
                    let by64 = fast_pass(&[v], &check.fast, f64::from);
                    prop_assert_eq!(by32, by64, "value {:?} lo {:?} hi {:?}", v, lo, hi);
                }
            }
        }

        #[test]
        fn fast_pass_agrees_with_the_locating_pass(
            feats in proptest::collection::vec(
                (bound(), bound(), proptest::option::of(proptest::collection::vec(prop_oneof![Just(0.0f64), Just(1.0), Just(36.0), -2.0f64..2.0], 0..7)), any::<bool>()),
                1..6,
            ),
            rows in 0usize..40,
            seed in proptest::collection::vec(prop_oneof![4 => Just(0.0f32), 2 => Just(1.0f32), 1 => Just(36.0f32), 1 => Just(f32::NAN), 2 => -3.0f32..3.0, 1 => any::<f32>()], 1..8),
        ) {
            let width = feats.len();
            let spec = TensorSpec { value_type: Default::default(),
                name: "x".into(),
                dtype: DType::Float32,
                shape: vec![Dim::Symbolic("n".into()), Dim::Fixed(width as u64)],
                features: feats.iter().enumerate().map(|(i, (lo, hi, allowed, nullable))| feature(&format!("f{i}"), *lo, *hi, allowed.clone(), *nullable)).collect(),
                values: None,
            };
            let c = Contract::new(&[spec], &[]);
            let data: Vec<f32> = (0..rows * width).map(|i| seed[(i * 7 + i / 3) % seed.len()]).collect();
            let t = f32s(vec![rows, width], data.clone());
            if let (Some(input), Some(check)) = (c.inputs.first(), c.inputs.first().and_then(|i| i.rules.first())) {
                let located = scan(input, check, &t, &data, false, f64::from, &mut Found::first()).is_ok();
                prop_assert_eq!(fast_pass(&data, &check.fast32, |x| x), located);
                let wide: Vec<f64> = data.iter().map(|&x| f64::from(x)).collect();
                prop_assert_eq!(fast_pass(&wide, &check.fast, |x| x), located);
            }
        }

        #[test]
        fn never_panics(
            a in any_tensor(),
            b in any_tensor(),
            names in proptest::collection::vec(prop_oneof![Just("features"), Just("input_ids"), Just("attention_mask"), Just("x")], 0..3),
        ) {
            let mut m = TensorMap::new();
            for (i, n) in names.iter().enumerate() {
                m.insert((*n).to_owned(), if i % 2 == 0 { a.clone() } else { b.clone() });
            }
            for c in [tabular(), text()] {
                if let Err(e) = c.check_request(&m) {
                    prop_assert!(!e.to_string().is_empty());
                }
                for (name, t) in &m {
                    let _ = c.check_output(name, t, &m);
                }
            }
        }
    }
}
