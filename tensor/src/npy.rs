//! NumPy `.npy`: format versions 1.0, 2.0 and 3.0.
//!
//! The header is a Python dict literal; it is parsed here by a small grammar (strings, `True`/`False`,
//! tuples of integers), never evaluated.

use ferry_spec::DType;

use crate::raw::{self, Endian};
use crate::{Declared, HeaderCheck, Tensor, TensorData, TensorError, check_header, numel};

pub(crate) const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// NumPy itself refuses headers over 10 000 bytes from untrusted files; this leaves room for high ranks
/// while keeping a hostile v2 header (u32 length) from costing memory.
pub(crate) const MAX_HEADER_LEN: usize = 1 << 20;

/// Alignment of the data start that NumPy writes (and that memory-mapping readers expect).
const ALIGN: usize = 64;

/// NumPy leaves this many characters for the growth axis so a header can be rewritten in place; matching it
/// makes our files byte-identical to `numpy.save`.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// The element type an npy header declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Fixed(DType),
    /// `<U{n}`: `n` UTF-32 code units per element, NUL-padded.
    Unicode(usize),
}

impl Kind {
    fn itemsize(self) -> Option<usize> {
        match self {
            Kind::Fixed(d) => raw::stored_size(d),
            Kind::Unicode(n) => n.checked_mul(4),
        }
    }
}

/// A parsed npy header.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub kind: Kind,
    pub endian: Endian,
    pub shape: Vec<usize>,
    /// Where the data starts: preamble plus header.
    pub data_offset: usize,
    /// Bytes of data the shape and dtype imply.
    pub data_len: usize,
}

impl Header {
    /// What the header declares about the tensor `name`.
    pub(crate) fn declared<'a>(&'a self, name: &'a str) -> Declared<'a> {
        let dtype = match self.kind {
            Kind::Fixed(d) => d,
            Kind::Unicode(_) => DType::String,
        };
        Declared { name, dtype, shape: &self.shape, data_bytes: Some(self.data_len as u64) }
    }
}

/// The fixed-size start of an npy file: magic, version and header length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Preamble {
    pub header_start: usize,
    pub header_len: usize,
    pub major: u8,
}

/// Bytes needed to know the preamble of any version.
pub(crate) const PREAMBLE_PROBE: usize = 10;

/// Parses the preamble from the first bytes of a file; needs 10 bytes for v1 and 12 for v2/v3.
pub(crate) fn preamble(b: &[u8]) -> Result<Preamble, TensorError> {
    let probe = b.get(..MAGIC.len()).unwrap_or(b);
    if !MAGIC.starts_with(probe) {
        return Err(TensorError::NpyHeader {
            offset: 0,
            reason: "not an npy file: bad magic (expected \\x93NUMPY)".to_owned(),
        });
    }
    let truncated = |needed: usize| TensorError::Truncated {
        what: "npy preamble",
        needed: needed as u64,
        len: b.len() as u64,
    };
    let (major, minor) = match (b.get(6), b.get(7)) {
        (Some(&major), Some(&minor)) => (major, minor),
        _ => return Err(truncated(8)),
    };
    let (header_start, header_len) = match (major, minor) {
        (1, 0) => match b.get(8..10) {
            Some(&[lo, hi]) => (10, usize::from(u16::from_le_bytes([lo, hi]))),
            _ => return Err(truncated(10)),
        },
        (2 | 3, 0) => match b.get(8..12) {
            Some(&[a, b1, c, d]) => {
                let len = u32::from_le_bytes([a, b1, c, d]);
                (12, usize::try_from(len).unwrap_or(usize::MAX))
            }
            _ => return Err(truncated(12)),
        },
        _ => {
            return Err(TensorError::NpyHeader {
                offset: 6,
                reason: format!("unsupported npy format version {major}.{minor} (expected 1.0, 2.0 or 3.0)"),
            });
        }
    };
    if header_len > MAX_HEADER_LEN {
        return Err(TensorError::NpyHeader {
            offset: 8,
            reason: format!("header length {header_len} exceeds the {MAX_HEADER_LEN}-byte limit"),
        });
    }
    Ok(Preamble { header_start, header_len, major })
}

/// Parses preamble and header from the start of `b`, which must hold at least the whole header.
/// `declared` is the dtype the caller expects, if it knows: the only way to read the raw-byte descrs
/// NumPy writes for `ml_dtypes` arrays ([`TensorError::UntypedDescr`]).
pub(crate) fn parse_header(b: &[u8], declared: Option<DType>) -> Result<Header, TensorError> {
    let pre = preamble(b)?;
    let header_end = pre.header_start + pre.header_len;
    let text = b.get(pre.header_start..header_end).ok_or(TensorError::Truncated {
        what: "npy header",
        needed: header_end as u64,
        len: b.len() as u64,
    })?;
    if pre.major >= 3 && std::str::from_utf8(text).is_err() {
        return Err(TensorError::NpyHeader {
            offset: pre.header_start as u64,
            reason: "a version 3.0 header must be UTF-8".to_owned(),
        });
    }
    let fields = Parser { s: text, pos: 0, base: pre.header_start }.dict()?;
    let at_header = |reason: String| TensorError::NpyHeader { offset: pre.header_start as u64, reason };
    let (descr, descr_offset) =
        fields.descr.ok_or_else(|| at_header("the header dict has no 'descr'".into()))?;
    let (fortran, fortran_offset) =
        fields.fortran_order.ok_or_else(|| at_header("the header dict has no 'fortran_order'".into()))?;
    // The format takes C order only (spec/FORMAT.md §3.5); numpy writes `True` only for an array that is
    // not C-contiguous, so `numpy.ascontiguousarray` before saving gives a file Ferry reads.
    if fortran {
        return Err(TensorError::NpyHeader {
            offset: fortran_offset as u64,
            reason: "'fortran_order': True is not supported: Ferry reads C-order arrays only (save \
                     numpy.ascontiguousarray(a) instead)"
                .to_owned(),
        });
    }
    let shape = fields.shape.ok_or_else(|| at_header("the header dict has no 'shape'".into()))?;
    let (kind, endian) = match parse_descr(&descr) {
        Ok(found) => found,
        Err(Refused::Why(why)) => {
            return Err(TensorError::UnsupportedDescr { offset: descr_offset as u64, descr, why });
        }
        Err(Refused::Untyped(fits)) => match declared.filter(|d| fits(*d)) {
            Some(d) => (Kind::Fixed(d), endian_of(&descr)),
            None => return Err(TensorError::UntypedDescr { offset: descr_offset as u64, descr, declared }),
        },
    };
    let data_len = numel(&shape)
        .and_then(|n| n.checked_mul(kind.itemsize()?))
        .ok_or_else(|| at_header(format!("shape {shape:?} of '{descr}' overflows the address space")))?;
    Ok(Header { kind, endian, shape, data_offset: header_end, data_len })
}

/// Reads a whole `.npy` file whose tensor is `name`, of the `declared` dtype if the caller knows it;
/// `check` sees its header before the data is decoded.
pub(crate) fn read(
    b: &[u8],
    name: &str,
    declared: Option<DType>,
    check: &mut HeaderCheck<'_>,
) -> Result<Tensor, TensorError> {
    let h = parse_header(b, declared)?;
    check_header(check, &h.declared(name)).map_err(|e| e.in_tensor(name))?;
    let data = b.get(h.data_offset..).unwrap_or_default();
    let end = h.data_offset as u64 + h.data_len as u64;
    if data.len() < h.data_len {
        return Err(TensorError::Truncated { what: "npy data", needed: end, len: b.len() as u64 });
    }
    if data.len() > h.data_len {
        return Err(TensorError::TrailingBytes { offset: end, count: (data.len() - h.data_len) as u64 });
    }
    decode_data(&h, data)
}

/// Decodes exactly `h.data_len` bytes of data into a C-order tensor.
pub(crate) fn decode_data(h: &Header, data: &[u8]) -> Result<Tensor, TensorError> {
    let data = match h.kind {
        Kind::Fixed(dtype) => raw::decode(dtype, data, h.endian)?,
        Kind::Unicode(n) => TensorData::String(decode_unicode(data, n, h.endian)?),
    };
    Ok(Tensor { shape: h.shape.clone(), data })
}

fn decode_unicode(data: &[u8], chars: usize, endian: Endian) -> Result<Vec<String>, TensorError> {
    data.chunks_exact(chars.max(1) * 4)
        .enumerate()
        .map(|(index, item)| {
            let mut s = String::with_capacity(chars);
            for unit in item.chunks_exact(4) {
                // chunks_exact(4) yields exactly four bytes, so the default is never used.
                let bytes = <[u8; 4]>::try_from(unit).unwrap_or_default();
                let code = match endian {
                    Endian::Little => u32::from_le_bytes(bytes),
                    Endian::Big => u32::from_be_bytes(bytes),
                };
                let c = char::from_u32(code).ok_or_else(|| TensorError::Element {
                    index,
                    reason: format!("invalid unicode code point 0x{code:X}"),
                })?;
                s.push(c);
            }
            // NumPy pads with NUL and strips trailing NULs on access; do the same.
            s.truncate(s.trim_end_matches('\0').len());
            Ok(s)
        })
        .collect()
}

/// Why a descr does not give an element kind by itself.
enum Refused {
    /// Never read, for this reason.
    Why(&'static str),
    /// Raw bytes of an `ml_dtypes` type NumPy does not name (`<V2`, `<V1`, `<f1`): read as the
    /// declared dtype when this accepts it.
    Untyped(fn(DType) -> bool),
}

impl From<&'static str> for Refused {
    fn from(why: &'static str) -> Refused {
        Refused::Why(why)
    }
}

fn is_float8(d: DType) -> bool {
    matches!(d, DType::Float8E4M3FN | DType::Float8E4M3FNUZ | DType::Float8E5M2 | DType::Float8E5M2FNUZ)
}

fn endian_of(descr: &str) -> Endian {
    match descr.as_bytes().first() {
        Some(b'<') => Endian::Little,
        Some(b'>') => Endian::Big,
        _ => Endian::NATIVE,
    }
}

/// Maps a descr such as `<f4` to an element kind and byte order; `Err` says why it is refused, or which
/// declared dtypes its raw bytes may be read as.
fn parse_descr(descr: &str) -> Result<(Kind, Endian), Refused> {
    let endian = endian_of(descr);
    let rest = match descr.as_bytes().first() {
        Some(b'<' | b'>' | b'|' | b'=') => &descr[1..],
        _ => descr,
    };
    // `ml_dtypes` types are numpy "void" (or, for float8e5m2, a 1-byte "float") to NumPy: `np.save`
    // writes their raw bytes under a descr that does not say which type they are.
    match rest {
        "V2" => return Err(Refused::Untyped(|d| d == DType::BFloat16)),
        "V1" => return Err(Refused::Untyped(|d| is_float8(d) || matches!(d, DType::Int4 | DType::Uint4))),
        "f1" => return Err(Refused::Untyped(is_float8)),
        _ => {}
    }
    let mut chars = rest.chars();
    let kind = chars.next().ok_or(Refused::Why("empty type"))?;
    let size_text = chars.as_str();
    match kind {
        'c' => return Err("complex numbers are not supported".into()),
        'O' => return Err("object arrays hold pickled Python objects, which are never loaded".into()),
        'S' | 'a' => return Err("byte strings are not supported; use a unicode ('<U') array".into()),
        'M' | 'm' => return Err("datetimes and timedeltas are not supported".into()),
        'V' => return Err("void and structured dtypes are not supported".into()),
        _ => {}
    }
    let size: usize = size_text.parse().map_err(|_| Refused::Why("unknown type"))?;
    let dtype = match (kind, size) {
        // Zero-width elements take no bytes, so the data could not bound the element count.
        ('U', 0) => return Err("zero-width strings are not supported".into()),
        ('U', n) => return Ok((Kind::Unicode(n), endian)),
        ('f', 2) => DType::Float16,
        ('f', 4) => DType::Float32,
        ('f', 8) => DType::Float64,
        ('f', _) => return Err("only 2-, 4- and 8-byte floats are supported".into()),
        ('i', 1) => DType::Int8,
        ('i', 2) => DType::Int16,
        ('i', 4) => DType::Int32,
        ('i', 8) => DType::Int64,
        ('u', 1) => DType::Uint8,
        ('u', 2) => DType::Uint16,
        ('u', 4) => DType::Uint32,
        ('u', 8) => DType::Uint64,
        ('b', 1) => DType::Bool,
        ('i' | 'u' | 'b', _) => return Err("unsupported integer size".into()),
        _ => return Err("unknown type".into()),
    };
    Ok((Kind::Fixed(dtype), endian))
}

#[derive(Debug, Default)]
struct Fields {
    /// The descr and the byte offset of its value.
    descr: Option<(String, usize)>,
    /// `fortran_order` and the byte offset of its value.
    fortran_order: Option<(bool, usize)>,
    shape: Option<Vec<usize>>,
}

/// A parser for the Python dict literal NumPy writes.
struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    /// Offset of `s` in the file, for error messages.
    base: usize,
}

impl Parser<'_> {
    fn err(&self, reason: impl Into<String>) -> TensorError {
        TensorError::NpyHeader { offset: (self.base + self.pos) as u64, reason: reason.into() }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), TensorError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected '{}'", char::from(c))))
        }
    }

    fn dict(mut self) -> Result<Fields, TensorError> {
        let mut f = Fields::default();
        self.ws();
        self.expect(b'{')?;
        loop {
            self.ws();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                break;
            }
            let key_pos = self.pos;
            let key = self.string()?;
            self.ws();
            self.expect(b':')?;
            self.ws();
            let value_pos = self.pos;
            let duplicate = match key.as_str() {
                "descr" => {
                    if self.peek() == Some(b'[') {
                        return Err(TensorError::UnsupportedDescr {
                            offset: (self.base + value_pos) as u64,
                            descr: "[...]".to_owned(),
                            why: "structured dtypes are not supported",
                        });
                    }
                    f.descr.replace((self.string()?, self.base + value_pos)).is_some()
                }
                "fortran_order" => {
                    let v = self.boolean()?;
                    f.fortran_order.replace((v, self.base + value_pos)).is_some()
                }
                "shape" => {
                    let v = self.tuple()?;
                    f.shape.replace(v).is_some()
                }
                other => {
                    self.pos = key_pos;
                    return Err(
                        self.err(format!("unexpected key '{other}' (expected descr, fortran_order, shape)"))
                    );
                }
            };
            if duplicate {
                self.pos = key_pos;
                return Err(self.err(format!("key '{key}' appears twice")));
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
        // NumPy pads the header with spaces and ends it with a newline; anything else is not a header.
        self.ws();
        if self.pos < self.s.len() {
            return Err(self.err("unexpected bytes after the header dict"));
        }
        Ok(f)
    }

    fn string(&mut self) -> Result<String, TensorError> {
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(self.err("expected a quoted string")),
        };
        let start = self.pos + 1;
        let rest = self.s.get(start..).unwrap_or_default();
        let len = rest.iter().position(|&c| c == quote).ok_or_else(|| self.err("unterminated string"))?;
        let body = &rest[..len];
        if body.contains(&b'\\') {
            return Err(self.err("escape sequences in header strings are not supported"));
        }
        let text = std::str::from_utf8(body).map_err(|_| self.err("header string is not valid text"))?;
        self.pos = start + len + 1;
        Ok(text.to_owned())
    }

    fn boolean(&mut self) -> Result<bool, TensorError> {
        let rest = self.s.get(self.pos..).unwrap_or_default();
        if rest.starts_with(b"True") {
            self.pos += 4;
            Ok(true)
        } else if rest.starts_with(b"False") {
            self.pos += 5;
            Ok(false)
        } else {
            Err(self.err("expected True or False"))
        }
    }

    fn tuple(&mut self) -> Result<Vec<usize>, TensorError> {
        let close = match self.peek() {
            Some(b'(') => b')',
            Some(b'[') => b']',
            _ => return Err(self.err("expected a tuple of integers")),
        };
        self.pos += 1;
        let mut dims = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok(dims);
            }
            dims.push(self.integer()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {}
                _ => return Err(self.err(format!("expected ',' or '{}'", char::from(close)))),
            }
        }
    }

    fn integer(&mut self) -> Result<usize, TensorError> {
        let start = self.pos;
        let mut value: usize = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(usize::from(c - b'0')))
                .ok_or_else(|| self.err("dimension overflows the address space"))?;
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err("expected a non-negative integer"));
        }
        // Python 2 era NumPy wrote longs as `3L`.
        if self.peek() == Some(b'L') {
            self.pos += 1;
        }
        Ok(value)
    }
}

/// The descr NumPy writes for a dtype (always little-endian), or `None` for strings.
pub(crate) fn descr_for(dtype: DType) -> Option<&'static str> {
    Some(match dtype {
        DType::Float16 => "<f2",
        DType::Float32 => "<f4",
        DType::Float64 => "<f8",
        DType::Int8 => "|i1",
        DType::Int16 => "<i2",
        DType::Int32 => "<i4",
        DType::Int64 => "<i8",
        DType::Uint8 => "|u1",
        DType::Uint16 => "<u2",
        DType::Uint32 => "<u4",
        DType::Uint64 => "<u8",
        DType::Bool => "|b1",
        DType::String => return None,
        // What `np.save` writes for `ml_dtypes` arrays, which `np.load` reads back as raw bytes
        // (`.view(ml_dtypes.float8_e4m3fn)` gives the type back). float8e5m2 too: `np.save` writes it as
        // `<f1`, which `np.load` refuses.
        DType::BFloat16 => "<V2",
        DType::Float8E4M3FN
        | DType::Float8E4M3FNUZ
        | DType::Float8E5M2
        | DType::Float8E5M2FNUZ
        | DType::Int4
        | DType::Uint4 => "<V1",
    })
}

/// Encodes one tensor as npy v1.0 (v2.0 only if the header outgrows 64 KiB), little-endian, C order, with
/// the same header bytes `numpy.save` writes.
pub(crate) fn write(t: &Tensor) -> Result<Vec<u8>, TensorError> {
    let (descr, data) = match &t.data {
        TensorData::String(strings) => {
            let (descr, data) = encode_unicode(strings)?;
            (descr, data)
        }
        other => match (descr_for(other.dtype()), raw::encode_le(other)) {
            (Some(d), Some(bytes)) => (d.to_owned(), bytes),
            _ => {
                return Err(TensorError::UnsupportedForFormat {
                    format: crate::Format::Npy,
                    dtype: other.dtype(),
                });
            }
        },
    };
    let shape = match t.shape.as_slice() {
        [] => "()".to_owned(),
        [d] => format!("({d},)"),
        dims => format!("({})", dims.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    if let Some(first) = t.shape.first() {
        let digits = first.to_string().len();
        header.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    // NumPy pads with at least one space (a full 64 when already aligned), then a newline.
    let padded = |len_bytes: usize| {
        let unpadded = MAGIC.len() + 2 + len_bytes + header.len() + 1;
        header.len() + (ALIGN - unpadded % ALIGN) + 1
    };
    let (version, len_bytes) = if padded(2) <= usize::from(u16::MAX) { (1u8, 2) } else { (2u8, 4) };
    let total = padded(len_bytes);
    header.push_str(&" ".repeat(total - header.len() - 1));
    header.push('\n');
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + len_bytes + header.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        let len = u16::try_from(header.len()).map_err(|_| TensorError::NpyHeader {
            offset: 8,
            reason: "header too long for version 1.0".to_owned(),
        })?;
        out.extend_from_slice(&len.to_le_bytes());
    } else {
        let len = u32::try_from(header.len()).map_err(|_| TensorError::NpyHeader {
            offset: 8,
            reason: "header too long for version 2.0".to_owned(),
        })?;
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    Ok(out)
}

/// UTF-32LE, NUL-padded to the longest string (at least one character, as NumPy does).
fn encode_unicode(strings: &[String]) -> Result<(String, Vec<u8>), TensorError> {
    if let Some(index) = strings.iter().position(|s| s.ends_with('\0')) {
        return Err(TensorError::Element {
            index,
            reason: "string ends with a NUL character, which npy cannot store".to_owned(),
        });
    }
    let width = strings.iter().map(|s| s.chars().count()).max().unwrap_or(0).max(1);
    let mut data = Vec::with_capacity(strings.len().saturating_mul(width * 4));
    for s in strings {
        let n = s.chars().count();
        for c in s.chars() {
            data.extend_from_slice(&u32::from(c).to_le_bytes());
        }
        data.resize(data.len() + (width - n) * 4, 0);
    }
    Ok((format!("<U{width}"), data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parses_numpy_forms() {
        let mut b = MAGIC.to_vec();
        let h = b"{'descr': '>i2', 'fortran_order': False, 'shape': (2L, 3), }   \n";
        b.extend_from_slice(&[1, 0, h.len() as u8, 0]);
        b.extend_from_slice(h);
        let hd = parse_header(&b, None).unwrap();
        assert_eq!(hd.kind, Kind::Fixed(DType::Int16));
        assert_eq!(hd.endian, Endian::Big);
        assert_eq!(hd.shape, vec![2, 3]);
        assert_eq!(hd.data_len, 12);
    }

    #[test]
    fn fortran_order_is_refused_naming_the_byte() {
        let mut b = MAGIC.to_vec();
        let h = b"{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }   \n";
        b.extend_from_slice(&[1, 0, h.len() as u8, 0]);
        b.extend_from_slice(h);
        let at = b.windows(4).position(|w| w == b"True").unwrap();
        let e = parse_header(&b, None).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("npy header at byte {at}: 'fortran_order': True is not supported")),
            "{e}"
        );
    }

    #[test]
    fn descr_refusals_say_why() {
        let why = |d: &str| match parse_descr(d) {
            Err(Refused::Why(why)) => why,
            _ => "",
        };
        assert!(why("<c8").contains("complex"));
        assert!(why("|O").contains("pickled"));
        assert!(why("|S3").contains("byte strings"));
        assert_eq!(parse_descr("<U7").ok().unwrap().0, Kind::Unicode(7));
        assert!(why("<U0").contains("zero-width"));
        assert!(why("<V3").contains("void"));
    }

    #[test]
    fn ml_dtypes_descrs_take_the_declared_dtype() {
        let header = |descr: &str, declared| {
            let mut b = MAGIC.to_vec();
            let h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,), }}   \n");
            b.extend_from_slice(&[1, 0, h.len() as u8, 0]);
            b.extend_from_slice(h.as_bytes());
            parse_header(&b, declared)
        };
        let h = header("<V2", Some(DType::BFloat16)).unwrap();
        assert_eq!((h.kind, h.data_len), (Kind::Fixed(DType::BFloat16), 4));
        let h = header("<V1", Some(DType::Int4)).unwrap();
        assert_eq!((h.kind, h.data_len), (Kind::Fixed(DType::Int4), 2));
        assert_eq!(header("<f1", Some(DType::Float8E5M2)).unwrap().kind, Kind::Fixed(DType::Float8E5M2));
        let e = header("<V1", None).unwrap_err().to_string();
        assert!(e.contains("declare the tensor's dtype"), "{e}");
        let e = header("<f1", Some(DType::Int4)).unwrap_err().to_string();
        assert!(e.ends_with("but the tensor is declared int4"), "{e}");
        let e = header("<V2", Some(DType::Float16)).unwrap_err().to_string();
        assert!(e.contains("(bfloat16), but the tensor is declared float16"), "{e}");
    }
}
