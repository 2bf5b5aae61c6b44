//! Named tensors and the tensor file formats Ferry reads and writes.
//!
//! Golden sets, `ferry run --input/--output` and the verifier exchange tensors as `.npy`, `.npz`,
//! `.safetensors` or `.json` files. Every reader here treats its input as untrusted: malformed, truncated or
//! hostile files (zip bombs, overlapping offsets, absurd shapes) give a [`TensorError`] that names the file,
//! the tensor and the byte offset or element, never a panic or an unbounded allocation. Every writer is
//! deterministic: the same [`TensorMap`] gives the same bytes.
//!
//! A golden set's two sides may share one JSON file, a *golden file*: `{"inputs": {NAME: TENSOR, ...},
//! "outputs": {NAME: TENSOR, ...}}`, each side in the `.json` tensor format ([`Part`],
//! [`golden_json_bytes`], [`write_golden_file`]). [`gather`] merges the tensors of several files into one
//! map, for writing a multi-tensor file.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod error;
pub mod float8;
pub mod int4;
mod json;
mod npy;
mod npz;
mod raw;
mod safetensors;
mod value;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub use error::TensorError;
pub use ferry_spec::{DType, GoldenSide};
pub use float8::{Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ};
pub use npz::MAX_NPZ_TOTAL_BYTES;

/// The NumPy descr (`<f4`, `|b1`...) `.npy` files carry for a dtype, always little-endian: what a host
/// hands NumPy to make an array of Ferry's bytes. `None` for strings; for bfloat16, float8 and 4-bit types
/// it is the raw-bytes descr (`<V2`, `|V1`...) `np.save` writes for `ml_dtypes` arrays.
pub fn numpy_descr(dtype: DType) -> Option<&'static str> {
    npy::descr_for(dtype)
}
pub use value::{
    MapValue, Typed, Value, ValueMap, golden_values_bytes, json_values_bytes, read_json_values,
    read_values_part, tensors_from_values, values_from_tensors, write_values_file,
};

/// A dense, row-major (C order) tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first; empty for a scalar.
    pub shape: Vec<usize>,
    /// The elements in row-major order; `data.len()` is the product of `shape`.
    pub data: TensorData,
}

/// The elements of a tensor, one variant per [`DType`].
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// IEEE 754 half precision.
    F16(Vec<half::f16>),
    /// IEEE 754 single precision.
    F32(Vec<f32>),
    /// IEEE 754 double precision.
    F64(Vec<f64>),
    /// Signed 8-bit integers.
    I8(Vec<i8>),
    /// Signed 16-bit integers.
    I16(Vec<i16>),
    /// Signed 32-bit integers.
    I32(Vec<i32>),
    /// Signed 64-bit integers.
    I64(Vec<i64>),
    /// Unsigned 8-bit integers.
    U8(Vec<u8>),
    /// Unsigned 16-bit integers.
    U16(Vec<u16>),
    /// Unsigned 32-bit integers.
    U32(Vec<u32>),
    /// Unsigned 64-bit integers.
    U64(Vec<u64>),
    /// Booleans.
    Bool(Vec<bool>),
    /// UTF-8 strings (npy stores them as fixed-width UTF-32, safetensors not at all).
    String(Vec<String>),
    /// bfloat16.
    BF16(Vec<half::bf16>),
    /// float8 E4M3FN, as its bits ([`float8`]).
    F8E4M3FN(Vec<Float8E4M3FN>),
    /// float8 E4M3FNUZ, as its bits.
    F8E4M3FNUZ(Vec<Float8E4M3FNUZ>),
    /// float8 E5M2, as its bits.
    F8E5M2(Vec<Float8E5M2>),
    /// float8 E5M2FNUZ, as its bits.
    F8E5M2FNUZ(Vec<Float8E5M2FNUZ>),
    /// Signed 4-bit integers, one per entry, each in -8..=7 (readers refuse anything else; writers
    /// check, since the field is public). Packing two per byte is ONNX Runtime's business ([`int4`]).
    I4(Vec<i8>),
    /// Unsigned 4-bit integers, one per entry, each in 0..=15.
    U4(Vec<u8>),
}

/// Tensors by name, sorted so that writers are deterministic.
pub type TensorMap = BTreeMap<String, Tensor>;

impl TensorData {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F16(_) => DType::Float16,
            TensorData::F32(_) => DType::Float32,
            TensorData::F64(_) => DType::Float64,
            TensorData::I8(_) => DType::Int8,
            TensorData::I16(_) => DType::Int16,
            TensorData::I32(_) => DType::Int32,
            TensorData::I64(_) => DType::Int64,
            TensorData::U8(_) => DType::Uint8,
            TensorData::U16(_) => DType::Uint16,
            TensorData::U32(_) => DType::Uint32,
            TensorData::U64(_) => DType::Uint64,
            TensorData::Bool(_) => DType::Bool,
            TensorData::String(_) => DType::String,
            TensorData::BF16(_) => DType::BFloat16,
            TensorData::F8E4M3FN(_) => DType::Float8E4M3FN,
            TensorData::F8E4M3FNUZ(_) => DType::Float8E4M3FNUZ,
            TensorData::F8E5M2(_) => DType::Float8E5M2,
            TensorData::F8E5M2FNUZ(_) => DType::Float8E5M2FNUZ,
            TensorData::I4(_) => DType::Int4,
            TensorData::U4(_) => DType::Uint4,
        }
    }

    /// The first `n` elements.
    fn head(&self, n: usize) -> Option<TensorData> {
        fn head<T: Clone>(v: &[T], n: usize) -> Option<Vec<T>> {
            v.get(..n).map(<[T]>::to_vec)
        }
        Some(match self {
            TensorData::F16(v) => TensorData::F16(head(v, n)?),
            TensorData::F32(v) => TensorData::F32(head(v, n)?),
            TensorData::F64(v) => TensorData::F64(head(v, n)?),
            TensorData::I8(v) => TensorData::I8(head(v, n)?),
            TensorData::I16(v) => TensorData::I16(head(v, n)?),
            TensorData::I32(v) => TensorData::I32(head(v, n)?),
            TensorData::I64(v) => TensorData::I64(head(v, n)?),
            TensorData::U8(v) => TensorData::U8(head(v, n)?),
            TensorData::U16(v) => TensorData::U16(head(v, n)?),
            TensorData::U32(v) => TensorData::U32(head(v, n)?),
            TensorData::U64(v) => TensorData::U64(head(v, n)?),
            TensorData::Bool(v) => TensorData::Bool(head(v, n)?),
            TensorData::String(v) => TensorData::String(head(v, n)?),
            TensorData::BF16(v) => TensorData::BF16(head(v, n)?),
            TensorData::F8E4M3FN(v) => TensorData::F8E4M3FN(head(v, n)?),
            TensorData::F8E4M3FNUZ(v) => TensorData::F8E4M3FNUZ(head(v, n)?),
            TensorData::F8E5M2(v) => TensorData::F8E5M2(head(v, n)?),
            TensorData::F8E5M2FNUZ(v) => TensorData::F8E5M2FNUZ(head(v, n)?),
            TensorData::I4(v) => TensorData::I4(head(v, n)?),
            TensorData::U4(v) => TensorData::U4(head(v, n)?),
        })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F16(v) => v.len(),
            TensorData::F32(v) => v.len(),
            TensorData::F64(v) => v.len(),
            TensorData::I8(v) => v.len(),
            TensorData::I16(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::U16(v) => v.len(),
            TensorData::U32(v) => v.len(),
            TensorData::U64(v) => v.len(),
            TensorData::Bool(v) => v.len(),
            TensorData::String(v) => v.len(),
            TensorData::BF16(v) => v.len(),
            TensorData::F8E4M3FN(v) => v.len(),
            TensorData::F8E4M3FNUZ(v) => v.len(),
            TensorData::F8E5M2(v) => v.len(),
            TensorData::F8E5M2FNUZ(v) => v.len(),
            TensorData::I4(v) => v.len(),
            TensorData::U4(v) => v.len(),
        }
    }

    /// The first int4/uint4 entry outside its range (-8..=7, 0..=15), as an [`TensorError::Element`]:
    /// the fields are public, so a caller can build one that no file may hold.
    pub fn check_range(&self) -> Result<(), TensorError> {
        let bad = match self {
            TensorData::I4(v) => v
                .iter()
                .enumerate()
                .find(|(_, x)| !int4::I4_RANGE.contains(x))
                .map(|(i, &x)| (i, i64::from(x))),
            TensorData::U4(v) => v
                .iter()
                .enumerate()
                .find(|(_, x)| !int4::U4_RANGE.contains(x))
                .map(|(i, &x)| (i, i64::from(x))),
            _ => None,
        };
        match bad {
            Some((index, value)) => Err(TensorError::Element {
                index,
                reason: format!("{value} is out of range for {}", self.dtype()),
            }),
            None => Ok(()),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements at `order`, in that order (indexes past the end are skipped).
    pub fn select(&self, order: &[usize]) -> TensorData {
        fn pick<T: Clone>(v: &[T], order: &[usize]) -> Vec<T> {
            order.iter().filter_map(|&i| v.get(i).cloned()).collect()
        }
        match self {
            TensorData::F16(v) => TensorData::F16(pick(v, order)),
            TensorData::F32(v) => TensorData::F32(pick(v, order)),
            TensorData::F64(v) => TensorData::F64(pick(v, order)),
            TensorData::I8(v) => TensorData::I8(pick(v, order)),
            TensorData::I16(v) => TensorData::I16(pick(v, order)),
            TensorData::I32(v) => TensorData::I32(pick(v, order)),
            TensorData::I64(v) => TensorData::I64(pick(v, order)),
            TensorData::U8(v) => TensorData::U8(pick(v, order)),
            TensorData::U16(v) => TensorData::U16(pick(v, order)),
            TensorData::U32(v) => TensorData::U32(pick(v, order)),
            TensorData::U64(v) => TensorData::U64(pick(v, order)),
            TensorData::Bool(v) => TensorData::Bool(pick(v, order)),
            TensorData::String(v) => TensorData::String(pick(v, order)),
            TensorData::BF16(v) => TensorData::BF16(pick(v, order)),
            TensorData::F8E4M3FN(v) => TensorData::F8E4M3FN(pick(v, order)),
            TensorData::F8E4M3FNUZ(v) => TensorData::F8E4M3FNUZ(pick(v, order)),
            TensorData::F8E5M2(v) => TensorData::F8E5M2(pick(v, order)),
            TensorData::F8E5M2FNUZ(v) => TensorData::F8E5M2FNUZ(pick(v, order)),
            TensorData::I4(v) => TensorData::I4(pick(v, order)),
            TensorData::U4(v) => TensorData::U4(pick(v, order)),
        }
    }

    /// Element `i` alone, `None` past the end.
    pub fn select_one(&self, i: usize) -> Option<TensorData> {
        (i < self.len()).then(|| self.select(&[i]))
    }

    /// Numbers as elements of `dtype` (Rust's `as` casts: integers truncate and saturate; booleans are
    /// `x != 0`); `None` for strings, the float8 types and the 4-bit integers. For tables of numbers (a
    /// data sample's feature columns) becoming a batch.
    ///
    /// ```
    /// use ferry_spec::DType;
    /// use ferry_tensor::TensorData;
    /// assert_eq!(TensorData::from_f64s(DType::Int64, &[1.0, 2.0]), Some(TensorData::I64(vec![1, 2])));
    /// ```
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub fn from_f64s(dtype: DType, values: &[f64]) -> Option<TensorData> {
        let v = values.iter().copied();
        Some(match dtype {
            DType::Float16 => TensorData::F16(v.map(half::f16::from_f64).collect()),
            DType::BFloat16 => TensorData::BF16(v.map(half::bf16::from_f64).collect()),
            DType::Float32 => TensorData::F32(v.map(|x| x as f32).collect()),
            DType::Float64 => TensorData::F64(v.collect()),
            DType::Int8 => TensorData::I8(v.map(|x| x as i8).collect()),
            DType::Int16 => TensorData::I16(v.map(|x| x as i16).collect()),
            DType::Int32 => TensorData::I32(v.map(|x| x as i32).collect()),
            DType::Int64 => TensorData::I64(v.map(|x| x as i64).collect()),
            DType::Uint8 => TensorData::U8(v.map(|x| x as u8).collect()),
            DType::Uint16 => TensorData::U16(v.map(|x| x as u16).collect()),
            DType::Uint32 => TensorData::U32(v.map(|x| x as u32).collect()),
            DType::Uint64 => TensorData::U64(v.map(|x| x as u64).collect()),
            DType::Bool => TensorData::Bool(v.map(|x| x != 0.0).collect()),
            _ => return None,
        })
    }
}

impl Tensor {
    /// A tensor, checking that the data holds exactly the product of `shape` elements.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor, TensorError> {
        let expected = numel(&shape).ok_or_else(|| TensorError::ShapeOverflow { shape: shape.clone() })?;
        if expected != data.len() {
            return Err(TensorError::ShapeMismatch { shape, expected, len: data.len() });
        }
        Ok(Tensor { shape, data })
    }

    /// The first `rows` entries along axis 0 (all of them when there are fewer); `None` for a scalar, or
    /// a tensor whose data does not hold its shape.
    ///
    /// ```
    /// use ferry_tensor::{Tensor, TensorData};
    /// let t = Tensor::new(vec![3, 2], TensorData::I64(vec![1, 2, 3, 4, 5, 6])).unwrap();
    /// assert_eq!(t.first_rows(2).unwrap().data, TensorData::I64(vec![1, 2, 3, 4]));
    /// ```
    pub fn first_rows(&self, rows: usize) -> Option<Tensor> {
        let (&batch, rest) = self.shape.split_first()?;
        let rows = rows.min(batch);
        let data = self.data.head(rows.checked_mul(numel(rest)?)?)?;
        let shape = std::iter::once(rows).chain(rest.iter().copied()).collect();
        Some(Tensor { shape, data })
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no elements (some dimension is 0).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Element `i` (row-major) as `f64`: booleans are 0 or 1, 64-bit integers beyond 2^53 are rounded.
    /// `None` for strings or an index out of range.
    pub fn as_f64(&self, i: usize) -> Option<f64> {
        // 64-bit integers above 2^53 round; callers compare with tolerances, which is what they want.
        #[allow(clippy::cast_precision_loss)]
        match &self.data {
            TensorData::F16(v) => v.get(i).map(|x| x.to_f64()),
            TensorData::F32(v) => v.get(i).map(|&x| f64::from(x)),
            TensorData::F64(v) => v.get(i).copied(),
            TensorData::I8(v) => v.get(i).map(|&x| f64::from(x)),
            TensorData::I16(v) => v.get(i).map(|&x| f64::from(x)),
            TensorData::I32(v) => v.get(i).map(|&x| f64::from(x)),
            TensorData::I64(v) => v.get(i).map(|&x| x as f64),
            TensorData::U8(v) => v.get(i).map(|&x| f64::from(x)),
            TensorData::U16(v) => v.get(i).map(|&x| f64::from(x)),
            TensorData::U32(v) => v.get(i).map(|&x| f64::from(x)),
            TensorData::U64(v) => v.get(i).map(|&x| x as f64),
            TensorData::Bool(v) => v.get(i).map(|&b| if b { 1.0 } else { 0.0 }),
            TensorData::String(_) => None,
            TensorData::BF16(v) => v.get(i).map(|x| x.to_f64()),
            TensorData::F8E4M3FN(v) => v.get(i).map(|x| x.to_f64()),
            TensorData::F8E4M3FNUZ(v) => v.get(i).map(|x| x.to_f64()),
            TensorData::F8E5M2(v) => v.get(i).map(|x| x.to_f64()),
            TensorData::F8E5M2FNUZ(v) => v.get(i).map(|x| x.to_f64()),
            TensorData::I4(v) => v.get(i).map(|&x| f64::from(x)),
            TensorData::U4(v) => v.get(i).map(|&x| f64::from(x)),
        }
    }
}

/// Bytes one element of `dtype` takes as little-endian raw data ([`to_le_bytes`]); `None` for strings.
pub fn element_size(dtype: DType) -> Option<usize> {
    raw::stored_size(dtype)
}

/// Decodes little-endian raw elements of a fixed-size `dtype` (a wire format such as KServe's binary
/// tensor data): the length must be a multiple of [`element_size`]; booleans must be 0 or 1.
///
/// ```
/// use ferry_tensor::{DType, TensorData, from_le_bytes};
/// let data = from_le_bytes(DType::Float32, &1.5f32.to_le_bytes()).unwrap();
/// assert_eq!(data, TensorData::F32(vec![1.5]));
/// ```
pub fn from_le_bytes(dtype: DType, bytes: &[u8]) -> Result<TensorData, TensorError> {
    let size = raw::stored_size(dtype).ok_or_else(|| TensorError::Element {
        index: 0,
        reason: format!("{dtype} has no fixed-size raw encoding"),
    })?;
    if !bytes.len().is_multiple_of(size) {
        return Err(TensorError::Element {
            index: bytes.len() / size,
            reason: format!("{} bytes is not a whole number of {size}-byte {dtype} elements", bytes.len()),
        });
    }
    raw::decode(dtype, bytes, raw::Endian::Little)
}

/// The little-endian raw bytes of fixed-size data; `None` for strings.
pub fn to_le_bytes(data: &TensorData) -> Option<Vec<u8>> {
    raw::encode_le(data)
}

impl Tensor {
    /// Stacks tensors along axis 0 (a batch of requests into one call): every part must have the same
    /// dtype and the same dims after the first. `None` when they differ or a part is a scalar.
    ///
    /// ```
    /// use ferry_tensor::{Tensor, TensorData};
    /// let a = Tensor::new(vec![1, 2], TensorData::I64(vec![1, 2])).unwrap();
    /// let b = Tensor::new(vec![2, 2], TensorData::I64(vec![3, 4, 5, 6])).unwrap();
    /// let ab = Tensor::concat_rows(&[&a, &b]).unwrap();
    /// assert_eq!(ab.shape, vec![3, 2]);
    /// assert_eq!(ab.split_rows(&[1, 2]).unwrap(), vec![a, b]);
    /// ```
    pub fn concat_rows(parts: &[&Tensor]) -> Option<Tensor> {
        let first = parts.first()?;
        let (_, tail) = first.shape.split_first()?;
        let mut rows = 0usize;
        for p in parts {
            let (&r, t) = p.shape.split_first()?;
            if t != tail || p.dtype() != first.dtype() {
                return None;
            }
            rows = rows.checked_add(r)?;
        }
        macro_rules! cat {
            ($($v:ident),*) => {
                match &first.data {
                    $(TensorData::$v(_) => {
                        let mut out = Vec::new();
                        for p in parts {
                            match &p.data {
                                TensorData::$v(x) => out.extend_from_slice(x),
                                _ => return None,
                            }
                        }
                        TensorData::$v(out)
                    })*
                }
            };
        }
        let data = cat!(
            F16, F32, F64, I8, I16, I32, I64, U8, U16, U32, U64, Bool, String, BF16, F8E4M3FN, F8E4M3FNUZ,
            F8E5M2, F8E5M2FNUZ, I4, U4
        );
        let shape = std::iter::once(rows).chain(tail.iter().copied()).collect();
        Tensor::new(shape, data).ok()
    }

    /// Splits along axis 0 into parts of `rows[i]` rows each, the inverse of [`Tensor::concat_rows`];
    /// `None` unless the counts add up to the first dim.
    pub fn split_rows(&self, rows: &[usize]) -> Option<Vec<Tensor>> {
        let (&total, tail) = self.shape.split_first()?;
        if rows.iter().try_fold(0usize, |a, &r| a.checked_add(r))? != total {
            return None;
        }
        let per_row = numel(tail)?;
        let mut out = Vec::with_capacity(rows.len());
        let mut start = 0usize;
        for &r in rows {
            let n = r.checked_mul(per_row)?;
            let order: Vec<usize> = (start..start + n).collect();
            let shape = std::iter::once(r).chain(tail.iter().copied()).collect();
            out.push(Tensor { shape, data: self.data.select(&order) });
            start += n;
        }
        Some(out)
    }
}

/// The product of a shape (the number of elements), `None` on overflow.
pub fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// A [`HeaderCheck`] that refuses the tensor that takes the elements declared so far, over every file it
/// is given, beyond `limit`: so that a small compressed file cannot make a reader allocate gigabytes.
pub fn element_budget(limit: usize) -> impl FnMut(&Declared<'_>) -> Result<(), Refusal> {
    let mut total = 0usize;
    move |d| {
        total = numel(d.shape).and_then(|n| total.checked_add(n)).unwrap_or(usize::MAX);
        if total > limit {
            return Err(format!("more than {limit} elements in all").into());
        }
        Ok(())
    }
}

/// A tensor file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// NumPy `.npy`: one tensor.
    Npy,
    /// NumPy `.npz`: a zip of `.npy` members, `name.npy` holding tensor `name`.
    Npz,
    /// Hugging Face `.safetensors`.
    Safetensors,
    /// JSON: an object mapping names to `{"dtype", "shape", "data"}` objects or nested arrays.
    Json,
}

impl Format {
    /// The format a file's extension names (case-insensitive), if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "npy" => Some(Format::Npy),
            "npz" => Some(Format::Npz),
            "safetensors" => Some(Format::Safetensors),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Npy => "npy",
            Format::Npz => "npz",
            Format::Safetensors => "safetensors",
            Format::Json => "json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// What a tensor file declares about one tensor: known from its header, before its data is decoded or
/// (in an `.npz`) inflated. A [`HeaderCheck`] sees it first and may refuse the tensor, so a small file that
/// honestly declares gigabytes (a deflated `.npz` member, a huge shape) costs no memory.
#[derive(Debug, Clone, Copy)]
pub struct Declared<'a> {
    /// The tensor's name (for an `.npy`, the name the caller gives the file's single tensor).
    pub name: &'a str,
    /// The element type.
    pub dtype: DType,
    /// The shape.
    pub shape: &'a [usize],
    /// Bytes of element data the header declares (for npy strings, their fixed width times the count);
    /// `None` where the format does not say (JSON, whose text is already in memory).
    pub data_bytes: Option<u64>,
}

/// Why a [`HeaderCheck`] refused a tensor.
pub type Refusal = Box<dyn std::error::Error + Send + Sync>;

/// A check run on each tensor's [`Declared`] header before its data is read; `Err` refuses the tensor
/// ([`TensorError::Refused`]).
pub type HeaderCheck<'c> = dyn FnMut(&Declared<'_>) -> Result<(), Refusal> + 'c;

/// Runs `check` on a header; a refusal becomes [`TensorError::Refused`] (the caller adds the tensor's name
/// as each format does for its other errors).
pub(crate) fn check_header(check: &mut HeaderCheck<'_>, declared: &Declared<'_>) -> Result<(), TensorError> {
    check(declared).map_err(|reason| TensorError::Refused {
        dtype: declared.dtype,
        shape: declared.shape.to_vec(),
        reason,
    })
}

/// Which tensors of a file a reader wants: all of them, or one side of a golden file
/// (`{"inputs": {...}, "outputs": {...}}`, JSON only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The whole file is one set of tensors. A JSON file laid out as a golden file of both sides is
    /// refused ([`TensorError::BothSides`]), not read as two tensors named `inputs` and `outputs`.
    Whole,
    /// One side of a golden file; a file of another layout or format is refused
    /// ([`TensorError::GoldenLayout`]).
    Side(GoldenSide),
    /// One side of a golden file when the file is laid out as one, else the whole file (a request file
    /// may be a golden file, of which it is the inputs).
    SideOrWhole(GoldenSide),
}

/// Reads a tensor file, choosing the format by extension. A `.npy` file's single tensor is named by the
/// file stem. `hints` give the dtype of bare JSON arrays by tensor name, and of `.npy`/`.npz` tensors
/// whose descr does not name it (NumPy saves bfloat16, float8, int4 and uint4 as raw bytes; a lone
/// `.npy` takes the hint of its stem, or the only hint given); other formats carry their dtypes.
/// The file must be a regular file ([`ferry_spec::file`]): a FIFO or a device is refused, not read.
pub fn read_file(path: &Path, hints: &BTreeMap<String, DType>) -> Result<TensorMap, TensorError> {
    read_file_checked(path, hints, &mut |_| Ok(()))
}

/// [`read_file`], with `check` run on each tensor's header before its data is read.
pub fn read_file_checked(
    path: &Path,
    hints: &BTreeMap<String, DType>,
    check: &mut HeaderCheck<'_>,
) -> Result<TensorMap, TensorError> {
    read_file_part(path, hints, Part::Whole, check)
}

/// [`read_file_checked`], reading the `part` of the file a caller wants.
pub fn read_file_part(
    path: &Path,
    hints: &BTreeMap<String, DType>,
    part: Part,
    check: &mut HeaderCheck<'_>,
) -> Result<TensorMap, TensorError> {
    let format =
        Format::from_path(path).ok_or_else(|| TensorError::UnknownFormat { path: path.to_owned() })?;
    let bytes = read_file_bytes(path)?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    read_part_checked(&bytes, format, &stem, hints, part, check).map_err(|e| e.in_file(path))
}

/// A file's bytes, through [`ferry_spec::file`] (a FIFO or a device is refused, not read).
pub(crate) fn read_file_bytes(path: &Path) -> Result<Vec<u8>, TensorError> {
    ferry_spec::file::read(path, ferry_spec::file::NO_LIMIT).map_err(|e| TensorError::Read {
        path: path.to_owned(),
        error: match e {
            ferry_spec::file::FileError::Io { source, .. } => source,
            other => std::io::Error::other(other.reason()),
        },
    })
}

/// Reads tensors from bytes in `format`. `name_for_npy` names the single tensor of an `.npy`; `hints` give
/// the dtype of bare JSON arrays by tensor name.
pub fn read_bytes(
    bytes: &[u8],
    format: Format,
    name_for_npy: &str,
    hints: &BTreeMap<String, DType>,
) -> Result<TensorMap, TensorError> {
    read_bytes_checked(bytes, format, name_for_npy, hints, &mut |_| Ok(()))
}

/// [`read_bytes`], with `check` run on each tensor's header before its data is decoded (or inflated).
pub fn read_bytes_checked(
    bytes: &[u8],
    format: Format,
    name_for_npy: &str,
    hints: &BTreeMap<String, DType>,
    check: &mut HeaderCheck<'_>,
) -> Result<TensorMap, TensorError> {
    read_part_checked(bytes, format, name_for_npy, hints, Part::Whole, check)
}

/// [`read_bytes_checked`], reading the `part` of the file a caller wants: one side of a golden file is
/// JSON only.
pub fn read_part_checked(
    bytes: &[u8],
    format: Format,
    name_for_npy: &str,
    hints: &BTreeMap<String, DType>,
    part: Part,
    check: &mut HeaderCheck<'_>,
) -> Result<TensorMap, TensorError> {
    if let (Part::Side(_), Format::Npy | Format::Npz | Format::Safetensors) = (part, format) {
        return Err(TensorError::GoldenLayout {
            reason: format!("a golden file of both sides is .json, not .{format}"),
        });
    }
    match format {
        Format::Npy => {
            // A lone `.npy` stands for the one tensor a caller declares, whatever the file's stem.
            let only = match (hints.len(), hints.values().next()) {
                (1, Some(&d)) => Some(d),
                _ => None,
            };
            let declared = hints.get(name_for_npy).copied().or(only);
            let tensor = npy::read(bytes, name_for_npy, declared, check)?;
            Ok(TensorMap::from([(name_for_npy.to_owned(), tensor)]))
        }
        Format::Npz => npz::read(bytes, hints, check),
        Format::Safetensors => safetensors::read(bytes, check),
        Format::Json => json::read(bytes, hints, part, check),
    }
}

/// Whether `bytes` are JSON laid out as a golden file of both sides, `{"inputs": {...}, "outputs":
/// {...}}` (only those keys, each an object of tensors), rather than as one set of tensors.
pub fn is_golden_json(bytes: &[u8]) -> bool {
    json::is_golden(bytes)
}

/// Encodes tensors in `format`, deterministically. An `.npy` takes exactly one tensor (its name is not
/// stored); safetensors cannot hold strings.
pub fn write_bytes(tensors: &TensorMap, format: Format) -> Result<Vec<u8>, TensorError> {
    check_shapes(tensors)?;
    match format {
        Format::Npy => {
            let mut iter = tensors.iter();
            match (iter.next(), iter.next()) {
                (Some((name, tensor)), None) => npy::write(tensor).map_err(|e| e.in_tensor(name)),
                _ => Err(TensorError::NpyTensorCount { count: tensors.len() }),
            }
        }
        Format::Npz => npz::write(tensors),
        Format::Safetensors => safetensors::write(tensors),
        Format::Json => Ok(json::write(tensors)),
    }
}

/// The fields of [`Tensor`] are public, so a caller can build one whose data disagrees with its shape, or
/// an int4 entry out of range; writing it would produce a file no reader accepts.
fn check_shapes(tensors: &TensorMap) -> Result<(), TensorError> {
    for (name, t) in tensors {
        let expected = numel(&t.shape)
            .ok_or_else(|| TensorError::ShapeOverflow { shape: t.shape.clone() }.in_tensor(name))?;
        if expected != t.data.len() {
            return Err(TensorError::ShapeMismatch { shape: t.shape.clone(), expected, len: t.data.len() }
                .in_tensor(name));
        }
        t.data.check_range().map_err(|e| e.in_tensor(name))?;
    }
    Ok(())
}

/// Writes a tensor file, choosing the format by extension. The write is atomic ([`ferry_atomic`]): the
/// bytes go to a temporary file in the same directory (unnamed on Linux), which is flushed to disk and
/// renamed over `path`, so readers see the old file or the new one, never half of one, and an
/// interrupted write leaves nothing behind.
pub fn write_file(path: &Path, tensors: &TensorMap) -> Result<(), TensorError> {
    let format =
        Format::from_path(path).ok_or_else(|| TensorError::UnknownFormat { path: path.to_owned() })?;
    let bytes = write_bytes(tensors, format).map_err(|e| e.in_file(path))?;
    write_atomic(path, &bytes)
}

/// Encodes a golden file of both sides, deterministically: `{"inputs": {...}, "outputs": {...}}`, each
/// side as the `.json` format writes tensors (explicit form, names sorted, NaN as `null`).
pub fn golden_json_bytes(inputs: &TensorMap, outputs: &TensorMap) -> Result<Vec<u8>, TensorError> {
    for (side, tensors) in [(GoldenSide::Inputs, inputs), (GoldenSide::Outputs, outputs)] {
        check_shapes(tensors).map_err(|e| e.in_side(side))?;
    }
    Ok(json::write_golden(inputs, outputs))
}

/// Writes a golden file of both sides ([`golden_json_bytes`]) atomically, as [`write_file`] does; the
/// path must end in `.json`.
pub fn write_golden_file(path: &Path, inputs: &TensorMap, outputs: &TensorMap) -> Result<(), TensorError> {
    if Format::from_path(path) != Some(Format::Json) {
        return Err(TensorError::GoldenLayout {
            reason: "a golden file of both sides is JSON: name it `*.json` (or write one .npz, .safetensors \
                     or .json file per side)"
                .to_owned(),
        }
        .in_file(path));
    }
    let bytes = golden_json_bytes(inputs, outputs).map_err(|e| e.in_file(path))?;
    write_atomic(path, &bytes)
}

/// A tensor file to [`gather`] tensors from.
#[derive(Debug, Clone, Copy)]
pub struct TensorSource<'a> {
    /// The file (format from its extension).
    pub path: &'a Path,
    /// The name for the file's only tensor; `None` keeps the names the file gives its tensors (an
    /// `.npy`'s is its file stem).
    pub rename: Option<&'a str>,
}

/// The most elements [`gather`] reads, over all its sources (64 Mi: 256 MiB of float32).
pub const MAX_GATHER_ELEMENTS: usize = 1 << 26;

/// Reads each source and merges their tensors into one map, ready to write as one multi-tensor file:
/// each tensor by the name its file gives it (an `.npy`'s is the file's stem), or by the source's
/// `rename`, which names a file's only tensor. A name given twice is refused, naming both files. Bare
/// JSON arrays get the dtype their elements suggest (float32 for numbers), as [`read_file`] without hints.
pub fn gather(sources: &[TensorSource<'_>]) -> Result<TensorMap, TensorError> {
    let mut out = TensorMap::new();
    let mut from: BTreeMap<String, &Path> = BTreeMap::new();
    // Every header is checked before its data is read or inflated: a small compressed file cannot make
    // the merge allocate more than [`MAX_GATHER_ELEMENTS`] elements in all.
    let mut budget = element_budget(MAX_GATHER_ELEMENTS);
    for source in sources {
        let path = source.path;
        let tensors = read_file_checked(path, &BTreeMap::new(), &mut budget).map_err(|e| match e {
            TensorError::InFile { error, .. } if matches!(*error, TensorError::BothSides { .. }) => {
                TensorError::BothSides {
                    hint: ": give the files each side was made from (or name this file with `file =` in a \
                           [[golden]] table)"
                        .to_owned(),
                }
                .in_file(path)
            }
            other => other,
        })?;
        let tensors = match source.rename {
            None => tensors,
            Some(name) => {
                let mut it = tensors.into_iter();
                match (it.next(), it.next()) {
                    (Some((_, t)), None) => TensorMap::from([(name.to_owned(), t)]),
                    (first, second) => {
                        let found = first.into_iter().chain(second).chain(it).map(|(n, _)| n).collect();
                        return Err(
                            TensorError::RenameNeedsOne { name: name.to_owned(), found }.in_file(path)
                        );
                    }
                }
            }
        };
        for (name, tensor) in tensors {
            if let Some(first) = from.get(&name) {
                return Err(TensorError::DuplicateAcross {
                    name,
                    first: first.to_path_buf(),
                    second: path.to_owned(),
                });
            }
            from.insert(name.clone(), path);
            out.insert(name, tensor);
        }
    }
    Ok(out)
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TensorError> {
    let options = ferry_atomic::Options { sync: true, ..ferry_atomic::Options::default() };
    ferry_atomic::write(path, bytes, options)
        .map_err(|error| TensorError::Write { path: path.to_owned(), error })
}
