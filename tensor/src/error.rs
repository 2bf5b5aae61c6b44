use std::path::{Path, PathBuf};

use ferry_spec::{DType, GoldenSide};

use crate::Format;

/// Everything that can go wrong reading or writing tensors.
///
/// Errors compose: a leaf variant says what is wrong, and the `In*` variants say where (file, archive
/// member, tensor), so the message reads like
/// `golden/a.npz: member `x.npy`: npy header at byte 10: unsupported descr '<c8' (complex numbers are not supported)`.
/// [`TensorError::root`] strips the context to match on the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TensorError {
    /// An error inside a file.
    #[error("{}: {error}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What went wrong in it.
        error: Box<TensorError>,
    },
    /// An error inside a member of an `.npz` archive.
    #[error("member `{member}`: {error}")]
    InMember {
        /// The member's name in the archive.
        member: String,
        /// What went wrong in it.
        error: Box<TensorError>,
    },
    /// An error inside one side of a golden file (`{"inputs": {...}, "outputs": {...}}`).
    #[error("in `{side}`: {error}")]
    InSide {
        /// The side.
        side: GoldenSide,
        /// What went wrong in it.
        error: Box<TensorError>,
    },
    /// An error about one named tensor.
    #[error("tensor `{tensor}`: {error}")]
    InTensor {
        /// The tensor's name.
        tensor: String,
        /// What went wrong with it.
        error: Box<TensorError>,
    },
    /// An error at a place inside a sequence, map or optional value (`[2]["7"]`).
    #[error("{at}: {error}")]
    InValue {
        /// Where, as indexes and keys from the outside in.
        at: String,
        /// What went wrong there.
        error: Box<TensorError>,
    },
    /// A sequence, map or optional value does not have the structure its type needs.
    #[error("{reason}")]
    ValueStructure {
        /// What is wrong.
        reason: String,
    },
    /// A tensor-only format holds a value declared as a sequence, map or optional.
    #[error("`{name}` is a {ty}: only a .json file can hold it, not .{format}")]
    NotATensor {
        /// The value's name.
        name: String,
        /// Its declared type.
        ty: String,
        /// The format that cannot hold it.
        format: Format,
    },
    /// The file could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The file could not be written.
    #[error("cannot write {}: {error}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The file's extension names no format this crate knows.
    #[error(
        "cannot tell the tensor format of {} from its extension (expected .npy, .npz, .safetensors or .json)",
        path.display()
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The number of elements does not match the shape.
    #[error("shape {shape:?} holds {expected} element{} but the data has {len}", if *expected == 1 { "" } else { "s" })]
    ShapeMismatch {
        /// The declared shape.
        shape: Vec<usize>,
        /// The product of the shape.
        expected: usize,
        /// The number of elements present.
        len: usize,
    },
    /// The product of the shape does not fit in memory addresses.
    #[error("shape {shape:?} has more elements than this machine can address")]
    ShapeOverflow {
        /// The declared shape.
        shape: Vec<usize>,
    },
    /// The input ends before a structure it declares.
    #[error("{what} is truncated: it needs {needed} bytes but the input ends at byte {len}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// The byte offset its end needs.
        needed: u64,
        /// Where the input ends.
        len: u64,
    },
    /// Bytes follow the data a header declares.
    #[error("{count} unexpected trailing bytes at byte {offset}")]
    TrailingBytes {
        /// Where the declared data ends.
        offset: u64,
        /// How many bytes follow.
        count: u64,
    },
    /// A malformed `.npy` header.
    #[error("npy header at byte {offset}: {reason}")]
    NpyHeader {
        /// Byte offset of the problem.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An `.npy` element type this crate does not read.
    #[error("npy header at byte {offset}: unsupported descr '{descr}' ({why})")]
    UnsupportedDescr {
        /// Byte offset of the header.
        offset: u64,
        /// The `descr` as written.
        descr: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// One element has a value its dtype cannot hold.
    #[error("element at flat index {index}: {reason}")]
    Element {
        /// Row-major index of the element.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The zip container of an `.npz` is malformed or uses unsupported features.
    #[error("zip archive: {reason}")]
    Zip {
        /// What the zip reader or writer reported.
        reason: String,
    },
    /// An `.npz` member whose name does not end in `.npy`.
    #[error("member `{member}` is not a .npy file")]
    NotNpyMember {
        /// The member's name.
        member: String,
    },
    /// Two tensors with the same name.
    #[error("duplicate tensor name `{name}`")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// A zip entry's declared size disagrees with its npy header.
    #[error("zip entry declares {zip_size} bytes but its npy header implies {npy_size}")]
    MemberSizeMismatch {
        /// Uncompressed size in the zip directory.
        zip_size: u64,
        /// Preamble, header and data size the npy header implies.
        npy_size: u64,
    },
    /// A compressed member inflates past what its header declares (a zip bomb).
    #[error("decompresses to more than the {declared} bytes its npy header declares")]
    MemberTooLarge {
        /// Preamble, header and data size the npy header implies.
        declared: u64,
    },
    /// The archive as a whole decompresses past the limit.
    #[error("archive decompresses to more than the {limit}-byte limit")]
    ArchiveTooLarge {
        /// The limit, [`crate::MAX_NPZ_TOTAL_BYTES`].
        limit: u64,
    },
    /// A caller's [`HeaderCheck`](crate::HeaderCheck) refused a tensor from what its header declares;
    /// its data was not read.
    #[error("declares {dtype} {shape:?}: {reason}")]
    Refused {
        /// The declared element type.
        dtype: DType,
        /// The declared shape.
        shape: Vec<usize>,
        /// Why the check refused it.
        reason: crate::Refusal,
    },
    /// A malformed `.safetensors` header.
    #[error("safetensors header: {reason}")]
    SafetensorsHeader {
        /// What is wrong.
        reason: String,
    },
    /// A safetensors entry's `data_offsets` are invalid.
    #[error("data_offsets [{begin}, {end}] {reason}")]
    BadOffsets {
        /// Begin offset as written.
        begin: u64,
        /// End offset as written.
        end: u64,
        /// What is wrong.
        reason: String,
    },
    /// A dtype name this crate does not support.
    #[error("unsupported dtype `{dtype}`")]
    UnsupportedDType {
        /// The dtype as written.
        dtype: String,
    },
    /// The format cannot represent this dtype.
    #[error("{format} cannot hold {dtype} tensors{}", instead(*format, *dtype))]
    UnsupportedForFormat {
        /// The target format.
        format: Format,
        /// The tensor's dtype.
        dtype: DType,
    },
    /// The tensor name has a special meaning in the format.
    #[error("the name `{name}` is reserved in {format}")]
    ReservedName {
        /// The name.
        name: String,
        /// The format.
        format: Format,
    },
    /// An `.npy` file holds exactly one tensor.
    #[error("an .npy file holds exactly one tensor, got {count} (.npz, .safetensors and .json hold several)")]
    NpyTensorCount {
        /// How many tensors were given.
        count: usize,
    },
    /// The input is not valid JSON.
    #[error("invalid JSON: {reason}")]
    Json {
        /// The parser's message, with line and column.
        reason: String,
    },
    /// Valid JSON that does not describe tensors.
    #[error("{reason}")]
    JsonStructure {
        /// What is wrong.
        reason: String,
    },
    /// A JSON file laid out as a golden file of both sides (`{"inputs": {...}, "outputs": {...}}`) where
    /// one set of tensors was expected. `hint` (empty, or starting with `: `) says what to write instead.
    #[error(
        "is laid out as a golden file of both sides ({{\"inputs\": {{...}}, \"outputs\": {{...}}}}), not as one \
         set of tensors{hint}"
    )]
    BothSides {
        /// What to write instead, for the caller's context.
        hint: String,
    },
    /// A file read as a golden file of both sides is not laid out as one.
    #[error(
        "not a golden file ({{\"inputs\": {{NAME: TENSOR, ...}}, \"outputs\": {{NAME: TENSOR, ...}}}}): {reason}"
    )]
    GoldenLayout {
        /// What is wrong.
        reason: String,
    },
    /// A lone `.npy` where several tensors are declared: it holds one tensor, so it cannot carry them.
    #[error("{}", npy_for_several(declared, file))]
    NpyForSeveral {
        /// The declared tensors, in order.
        declared: Vec<String>,
        /// The file's name, for the suggested `.npz`.
        file: String,
    },
    /// One name given to two tensors of different files.
    #[error("tensor `{name}` comes from both {} and {}; rename one (`FILE=NAME`)", first.display(), second.display())]
    DuplicateAcross {
        /// The name.
        name: String,
        /// The file it came from first.
        first: PathBuf,
        /// The file it came from again.
        second: PathBuf,
    },
    /// A new name for a file's only tensor, given for a file of several.
    #[error("`=NAME` names a file's only tensor, but this file holds {}: {}", found.len(), found.join(", "))]
    RenameNeedsOne {
        /// The name asked for.
        name: String,
        /// The tensors the file holds.
        found: Vec<String>,
    },
    /// An `.npy` descr that does not say which dtype it holds: NumPy saves `ml_dtypes` arrays (bfloat16,
    /// float8, int4, uint4) as raw bytes (`<V2`, `<V1`; float8e5m2 as `<f1`), so the dtype must come from
    /// the contract.
    #[error("npy header at byte {offset}: descr '{descr}' {}", untyped(descr, *declared))]
    UntypedDescr {
        /// Byte offset of the descr's value.
        offset: u64,
        /// The `descr` as written.
        descr: String,
        /// The dtype the caller declared for the tensor, if any.
        declared: Option<DType>,
    },
    /// A nested JSON array that is not rectangular.
    #[error("ragged nested array: element {} {reason}", index_path(at))]
    Ragged {
        /// Index path of the offending element, outermost first.
        at: Vec<usize>,
        /// What is wrong with it.
        reason: String,
    },
}

/// What to write instead of one `.npy` for several declared tensors: one `.npz` with a member per tensor,
/// spelled in NumPy and with `ferry golden`.
fn npy_for_several(declared: &[String], file: &str) -> String {
    let path = Path::new(file);
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let npz = path.with_file_name(format!("{stem}.npz")).display().to_string();
    let shown = &declared[..declared.len().min(3)];
    let more = if declared.len() > 3 { ", ..." } else { "" };
    let identifiers = shown.iter().all(|n| {
        n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    let numpy = if identifiers {
        shown.iter().map(|n| format!("{n}=...")).collect::<Vec<_>>().join(", ") + more
    } else {
        let items: Vec<String> = shown.iter().map(|n| format!("{n:?}: ...")).collect();
        format!("**{{{}{more}}}", items.join(", "))
    };
    let ferry: Vec<String> =
        shown.iter().enumerate().map(|(i, n)| format!("FILE{}.npy={n}", i + 1)).collect();
    format!(
        "an .npy file holds one tensor, but {} are declared ({}): put them in one .npz, .safetensors or .json \
         file, e.g. `numpy.savez(\"{npz}\", {numpy})` in Python, or `ferry golden -o {npz} {}{}`",
        declared.len(),
        declared.join(", "),
        ferry.join(" "),
        if more.is_empty() { "" } else { " ..." },
    )
}

/// The formats that can hold what `format` cannot.
fn instead(format: Format, dtype: DType) -> String {
    let others = match (format, dtype) {
        (_, DType::String) | (Format::Safetensors, _) => ".npz, .npy or .json",
        _ => ".json",
    };
    format!(" (write {others} instead)")
}

fn untyped(descr: &str, declared: Option<DType>) -> String {
    let saved = "is how NumPy saves ml_dtypes arrays without saying which type";
    let fits = match descr.get(1..) {
        Some("V2") => "bfloat16",
        Some("f1") => "float8e5m2 (or another float8)",
        _ => "float8e4m3fn, float8e4m3fnuz, float8e5m2fnuz, int4 or uint4",
    };
    match declared {
        None => format!(
            "{saved} ({fits}): declare the tensor's dtype in the contract, or give the tensor as .safetensors or \
             .json, which name it"
        ),
        Some(d) => format!("{saved} ({fits}), but the tensor is declared {d}"),
    }
}

fn index_path(at: &[usize]) -> String {
    if at.is_empty() {
        return "at the top level".to_owned();
    }
    at.iter().map(|i| format!("[{i}]")).collect()
}

impl TensorError {
    /// The cause, with file, member and tensor context stripped.
    pub fn root(&self) -> &TensorError {
        match self {
            TensorError::InFile { error, .. }
            | TensorError::InMember { error, .. }
            | TensorError::InSide { error, .. }
            | TensorError::InTensor { error, .. }
            | TensorError::InValue { error, .. } => error.root(),
            other => other,
        }
    }

    /// The file the error is in, if it came from reading or writing a path.
    pub fn path(&self) -> Option<&Path> {
        match self {
            TensorError::InFile { path, .. }
            | TensorError::Read { path, .. }
            | TensorError::Write { path, .. }
            | TensorError::UnknownFormat { path } => Some(path),
            TensorError::InMember { error, .. }
            | TensorError::InSide { error, .. }
            | TensorError::InTensor { error, .. } => error.path(),
            TensorError::DuplicateAcross { second, .. } => Some(second),
            _ => None,
        }
    }

    /// The tensor the error is about, if known.
    pub fn tensor(&self) -> Option<&str> {
        match self {
            TensorError::InTensor { tensor, .. } => Some(tensor),
            TensorError::InFile { error, .. }
            | TensorError::InMember { error, .. }
            | TensorError::InSide { error, .. } => error.tensor(),
            TensorError::DuplicateName { name } | TensorError::DuplicateAcross { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The error, said to be inside the file at `path` (for callers that read the bytes themselves).
    pub fn in_file(self, path: &Path) -> TensorError {
        TensorError::InFile { path: path.to_owned(), error: Box::new(self) }
    }

    pub(crate) fn in_member(self, member: &str) -> TensorError {
        TensorError::InMember { member: member.to_owned(), error: Box::new(self) }
    }

    pub(crate) fn in_side(self, side: GoldenSide) -> TensorError {
        TensorError::InSide { side, error: Box::new(self) }
    }

    /// The error, said to be at `step` inside a value (an index `[2]` or a key `["7"]`), outside any place
    /// it already names.
    pub(crate) fn at(self, step: String) -> TensorError {
        match self {
            TensorError::InValue { at, error } => TensorError::InValue { at: step + &at, error },
            other => TensorError::InValue { at: step, error: Box::new(other) },
        }
    }

    pub(crate) fn in_tensor(self, tensor: &str) -> TensorError {
        TensorError::InTensor { tensor: tensor.to_owned(), error: Box::new(self) }
    }
}
