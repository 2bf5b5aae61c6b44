use ferry_spec::DType;
use thiserror::Error;

/// Everything that can go wrong while reading ONNX protobuf bytes.
///
/// Offsets are absolute byte positions in the buffer handed to the public function, so a message can be
/// matched against a hex dump of the file. Tensor names are shown as `<unnamed>` when the tensor has none.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OnnxError {
    /// The input ends in the middle of a varint.
    #[error("truncated varint at byte {offset}")]
    TruncatedVarint {
        /// Where the varint starts.
        offset: usize,
    },
    /// A varint runs past the 10 bytes a 64-bit value can take.
    #[error("varint longer than 10 bytes at byte {offset}")]
    VarintTooLong {
        /// Where the varint starts.
        offset: usize,
    },
    /// A field key with field number 0, a number above 2^29-1 or wire type 6 or 7.
    #[error("{message}: invalid field key {key} at byte {offset}")]
    InvalidKey {
        /// The message being read.
        message: &'static str,
        /// The raw key varint.
        key: u64,
        /// Where the key starts.
        offset: usize,
    },
    /// A length-delimited or fixed-width field needs more bytes than are left in its message.
    #[error("field {field} of {message} at byte {offset}: needs {needed} bytes, only {remaining} left")]
    Truncated {
        /// The message being read.
        message: &'static str,
        /// The field number.
        field: u32,
        /// Where the field's key starts.
        offset: usize,
        /// Bytes the field declares or needs.
        needed: u64,
        /// Bytes left in the enclosing message.
        remaining: usize,
    },
    /// A known field is encoded with a wire type its declaration does not allow.
    #[error("field {field} of {message} at byte {offset}: wire type {found}, expected {expected}")]
    WireType {
        /// The message being read.
        message: &'static str,
        /// The field number.
        field: u32,
        /// Where the field's key starts.
        offset: usize,
        /// The wire type found.
        found: u8,
        /// The wire type the field allows.
        expected: u8,
    },
    /// A (deprecated) group is not closed by a matching end-group key.
    #[error("field {field} of {message} at byte {offset}: unterminated or mismatched group")]
    BadGroup {
        /// The message being read.
        message: &'static str,
        /// The field number of the group.
        field: u32,
        /// Where the offending key starts.
        offset: usize,
    },
    /// A `string` field holds bytes that are not UTF-8.
    #[error("field {field} of {message} at byte {offset}: invalid UTF-8")]
    InvalidUtf8 {
        /// The message being read.
        message: &'static str,
        /// The field number.
        field: u32,
        /// Where the field's key starts.
        offset: usize,
    },
    /// A packed repeated fixed-width field whose byte length is not a multiple of the element width.
    #[error("field {field} of {message} at byte {offset}: packed length {len} is not a multiple of {width}")]
    PackedLength {
        /// The message being read.
        message: &'static str,
        /// The field number.
        field: u32,
        /// Where the field's key starts.
        offset: usize,
        /// The payload length.
        len: usize,
        /// The element width in bytes.
        width: usize,
    },
    /// Messages nest deeper than the reader allows; protects the stack from hostile input.
    #[error("messages nested deeper than {limit} levels at byte {offset}")]
    TooDeep {
        /// The nesting limit.
        limit: u32,
        /// Where the too-deep message starts.
        offset: usize,
    },
    /// The `ModelProto` has no `graph` (field 7).
    #[error("model has no graph (ModelProto field 7)")]
    MissingGraph,
    /// `opset_import` names one domain twice with different versions.
    #[error("opset_import lists domain `{domain}` with versions {first} and {second}")]
    ConflictingOpset {
        /// The domain (`""` for the default ONNX domain).
        domain: String,
        /// The first version seen.
        first: i64,
        /// The conflicting version.
        second: i64,
    },
    /// A tensor says its data is external but gives no `location`.
    #[error(
        "tensor `{tensor}` at byte {offset}: data_location is EXTERNAL but external_data has no `location`"
    )]
    MissingExternalLocation {
        /// The tensor's name.
        tensor: String,
        /// Where the tensor message starts.
        offset: usize,
    },
    /// An external-data `offset` or `length` that is not a byte count (a non-negative decimal integer).
    #[error("tensor `{tensor}`: external_data `{key}` is `{value}`, not a byte count")]
    BadExternalData {
        /// The tensor's name.
        tensor: String,
        /// `offset` or `length`.
        key: &'static str,
        /// The value as written.
        value: String,
    },
    /// A tensor's data type is not one Ferry supports (bfloat16, complex, float8, int4, ...).
    #[error("tensor `{tensor}`: unsupported data type {code} ({type_name})")]
    UnsupportedDataType {
        /// The tensor's name.
        tensor: String,
        /// The `TensorProto.DataType` code.
        code: i32,
        /// The ONNX name of the code, or `unknown`.
        type_name: &'static str,
    },
    /// A tensor dimension is negative.
    #[error("tensor `{tensor}`: negative dimension in dims {dims:?}")]
    NegativeDim {
        /// The tensor's name.
        tensor: String,
        /// The declared dims.
        dims: Vec<i64>,
    },
    /// The product of a tensor's dims does not fit in 64 bits.
    #[error("tensor `{tensor}`: element count of dims {dims:?} overflows")]
    DimsOverflow {
        /// The tensor's name.
        tensor: String,
        /// The declared dims.
        dims: Vec<i64>,
    },
    /// The number of stored elements differs from the product of the dims.
    #[error("tensor `{tensor}`: {actual} elements stored, but dims {dims:?} need {expected}")]
    ElementCount {
        /// The tensor's name.
        tensor: String,
        /// The declared dims.
        dims: Vec<i64>,
        /// The product of the dims.
        expected: u64,
        /// The number of elements found.
        actual: u64,
    },
    /// `raw_data` is not a whole number of elements.
    #[error("tensor `{tensor}`: raw_data has {len} bytes, not a multiple of {size} ({dtype})")]
    RawDataLength {
        /// The tensor's name.
        tensor: String,
        /// The `raw_data` length.
        len: usize,
        /// The element size.
        size: usize,
        /// The element type.
        dtype: DType,
    },
    /// Data is stored in a typed field that does not belong to the tensor's data type.
    #[error("tensor `{tensor}`: {dtype} data found in {found}, expected {expected}")]
    WrongDataField {
        /// The tensor's name.
        tensor: String,
        /// The element type.
        dtype: DType,
        /// The field that holds data.
        found: &'static str,
        /// The field the data type uses.
        expected: &'static str,
    },
    /// Data is stored both in `raw_data` and in a typed field.
    #[error("tensor `{tensor}`: data is stored both in raw_data and in {field}")]
    ConflictingData {
        /// The tensor's name.
        tensor: String,
        /// The typed field that is also set.
        field: &'static str,
    },
    /// A value in a widened typed field (e.g. `int32_data` for int8) does not fit the element type.
    #[error("tensor `{tensor}`: element {index} ({value}) is out of range for {dtype}")]
    OutOfRange {
        /// The tensor's name.
        tensor: String,
        /// The element index.
        index: usize,
        /// The stored value.
        value: i128,
        /// The element type.
        dtype: DType,
    },
    /// The tensor's data lives in an external file, which a byte-buffer reader cannot resolve.
    #[error(
        "tensor `{tensor}`: data is stored in external file `{location}`; only self-contained tensors can be read"
    )]
    ExternalData {
        /// The tensor's name.
        tensor: String,
        /// The external file, or empty when none is named.
        location: String,
    },
    /// A chunked tensor, or bytes that are not a `TensorProto` at all.
    #[error(
        "tensor `{tensor}`: has a segment (TensorProto field 3); chunked tensors are not supported, \
         or these bytes are a SequenceProto/OptionalProto (read them with read_value)"
    )]
    Segmented {
        /// The tensor's name.
        tensor: String,
    },
    /// A value kind Ferry does not read (map, sparse tensor, opaque, ...).
    #[error("{what}: {kind} values are not supported")]
    UnsupportedValue {
        /// What was being read, e.g. `SequenceProto `seq``.
        what: String,
        /// The unsupported kind.
        kind: &'static str,
    },
    /// A `SequenceProto`/`OptionalProto` whose values do not match its declared `elem_type`.
    #[error("{what}: elem_type {elem_type} does not match values stored in field {field}")]
    ElemTypeMismatch {
        /// What was being read.
        what: String,
        /// The declared elem_type code.
        elem_type: i32,
        /// The field that holds values.
        field: u32,
    },
}

/// Names a tensor for error messages.
pub(crate) fn display_name(name: &str) -> String {
    if name.is_empty() { "<unnamed>".to_owned() } else { name.to_owned() }
}
