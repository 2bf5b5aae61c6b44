//! The protobuf wire format, read without copying: fields borrow from the input buffer.

use crate::error::OnnxError;

/// How deep messages may nest. Protobuf's own parsers default to 100; ONNX models with control flow nest
/// graphs a handful of levels, so this is generous while keeping the recursion's stack use small.
pub(crate) const MAX_DEPTH: u32 = 100;

pub(crate) const VARINT: u8 = 0;
pub(crate) const I64: u8 = 1;
pub(crate) const LEN: u8 = 2;
const SGROUP: u8 = 3;
pub(crate) const I32: u8 = 5;

/// A slice of the input together with its absolute position, so errors can report file offsets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span<'a> {
    pub bytes: &'a [u8],
    pub base: usize,
}

impl<'a> Span<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Span { bytes, base: 0 }
    }
}

/// The payload of one field.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Payload<'a> {
    Varint(u64),
    I64(u64),
    Len(Span<'a>),
    I32(u32),
}

/// One field of a message, with enough context to produce precise errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    pub message: &'static str,
    pub number: u32,
    /// Absolute offset of the field's key.
    pub offset: usize,
    pub payload: Payload<'a>,
}

/// Reads a varint at `*pos` of `bytes`; `base` turns positions into absolute offsets for errors.
pub(crate) fn read_varint(bytes: &[u8], pos: &mut usize, base: usize) -> Result<u64, OnnxError> {
    let start = *pos;
    let mut value: u64 = 0;
    for i in 0..10u32 {
        let Some(&b) = bytes.get(start + i as usize) else {
            return Err(OnnxError::TruncatedVarint { offset: base + start });
        };
        // Bits beyond 64 in the tenth byte are dropped, as protobuf's parsers do.
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *pos = start + i as usize + 1;
            return Ok(value);
        }
    }
    Err(OnnxError::VarintTooLong { offset: base + start })
}

/// Fails when a message at nesting level `depth` (the top-level message is 0) would be too deep.
pub(crate) fn check_depth(depth: u32, offset: usize) -> Result<(), OnnxError> {
    if depth > MAX_DEPTH { Err(OnnxError::TooDeep { limit: MAX_DEPTH, offset }) } else { Ok(()) }
}

/// Iterates over the fields of one message, skipping groups (which ONNX never uses) as protobuf requires.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    span: Span<'a>,
    pos: usize,
    message: &'static str,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(span: Span<'a>, message: &'static str) -> Self {
        Fields { span, pos: 0, message }
    }

    fn key(&mut self) -> Result<(u32, u8, usize), OnnxError> {
        let offset = self.span.base + self.pos;
        let key = read_varint(self.span.bytes, &mut self.pos, self.span.base)?;
        let wire = (key & 7) as u8;
        let number = key >> 3;
        if number == 0 || number > (1 << 29) - 1 || wire > I32 {
            return Err(OnnxError::InvalidKey { message: self.message, key, offset });
        }
        Ok((number as u32, wire, offset))
    }

    fn take(&mut self, number: u32, offset: usize, needed: u64) -> Result<Span<'a>, OnnxError> {
        let remaining = self.span.bytes.len() - self.pos.min(self.span.bytes.len());
        let truncated =
            || OnnxError::Truncated { message: self.message, field: number, offset, needed, remaining };
        let n = usize::try_from(needed).map_err(|_| truncated())?;
        if n > remaining {
            return Err(truncated());
        }
        let start = self.pos;
        let bytes = self.span.bytes.get(start..start + n).ok_or_else(truncated)?;
        self.pos = start + n;
        Ok(Span { bytes, base: self.span.base + start })
    }

    /// Skips a group whose start key has been read. Iterative, with an explicit bounded stack.
    fn skip_group(&mut self, number: u32, offset: usize) -> Result<(), OnnxError> {
        let mut open = vec![number];
        while let Some(&innermost) = open.last() {
            if self.pos >= self.span.bytes.len() {
                return Err(OnnxError::BadGroup { message: self.message, field: innermost, offset });
            }
            let (n, wire, at) = self.key()?;
            match wire {
                VARINT => {
                    read_varint(self.span.bytes, &mut self.pos, self.span.base)?;
                }
                I64 => {
                    self.take(n, at, 8)?;
                }
                I32 => {
                    self.take(n, at, 4)?;
                }
                LEN => {
                    let len = read_varint(self.span.bytes, &mut self.pos, self.span.base)?;
                    self.take(n, at, len)?;
                }
                SGROUP => {
                    if open.len() >= MAX_DEPTH as usize {
                        return Err(OnnxError::TooDeep { limit: MAX_DEPTH, offset: at });
                    }
                    open.push(n);
                }
                // End-group (4): must close the innermost open group.
                _ => {
                    if n != innermost {
                        return Err(OnnxError::BadGroup { message: self.message, field: n, offset: at });
                    }
                    open.pop();
                }
            }
        }
        Ok(())
    }

    /// The next field, or `None` at the end of the message.
    pub(crate) fn next_field(&mut self) -> Result<Option<Field<'a>>, OnnxError> {
        loop {
            if self.pos >= self.span.bytes.len() {
                return Ok(None);
            }
            let (number, wire, offset) = self.key()?;
            let payload = match wire {
                VARINT => Payload::Varint(read_varint(self.span.bytes, &mut self.pos, self.span.base)?),
                I64 => Payload::I64(le_u64(self.take(number, offset, 8)?.bytes)),
                I32 => Payload::I32(le_u32(self.take(number, offset, 4)?.bytes)),
                LEN => {
                    let len = read_varint(self.span.bytes, &mut self.pos, self.span.base)?;
                    Payload::Len(self.take(number, offset, len)?)
                }
                SGROUP => {
                    self.skip_group(number, offset)?;
                    continue;
                }
                // End-group (4; key() rejects 6 and 7): an end without a start.
                _ => return Err(OnnxError::BadGroup { message: self.message, field: number, offset }),
            };
            return Ok(Some(Field { message: self.message, number, offset, payload }));
        }
    }
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    for (d, s) in a.iter_mut().zip(b) {
        *d = *s;
    }
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    for (d, s) in a.iter_mut().zip(b) {
        *d = *s;
    }
    u32::from_le_bytes(a)
}

impl<'a> Field<'a> {
    fn wire_type(&self) -> u8 {
        match self.payload {
            Payload::Varint(_) => VARINT,
            Payload::I64(_) => I64,
            Payload::Len(_) => LEN,
            Payload::I32(_) => I32,
        }
    }

    pub(crate) fn wire_error(&self, expected: u8) -> OnnxError {
        OnnxError::WireType {
            message: self.message,
            field: self.number,
            offset: self.offset,
            found: self.wire_type(),
            expected,
        }
    }

    pub(crate) fn varint(&self) -> Result<u64, OnnxError> {
        match self.payload {
            Payload::Varint(v) => Ok(v),
            _ => Err(self.wire_error(VARINT)),
        }
    }

    /// An `int64` (or enum widened to it): two's complement of the varint.
    pub(crate) fn int64(&self) -> Result<i64, OnnxError> {
        self.varint().map(|v| v as i64)
    }

    /// An `int32` or enum: protobuf keeps the low 32 bits.
    pub(crate) fn int32(&self) -> Result<i32, OnnxError> {
        self.varint().map(|v| v as i32)
    }

    pub(crate) fn bytes(&self) -> Result<Span<'a>, OnnxError> {
        match self.payload {
            Payload::Len(s) => Ok(s),
            _ => Err(self.wire_error(LEN)),
        }
    }

    pub(crate) fn string(&self) -> Result<String, OnnxError> {
        let span = self.bytes()?;
        std::str::from_utf8(span.bytes).map(str::to_owned).map_err(|_| OnnxError::InvalidUtf8 {
            message: self.message,
            field: self.number,
            offset: self.offset,
        })
    }

    /// A nested message, checking the nesting depth of the message about to be read (`depth`).
    pub(crate) fn message(&self, depth: u32, name: &'static str) -> Result<Fields<'a>, OnnxError> {
        let span = self.bytes()?;
        check_depth(depth, self.offset)?;
        Ok(Fields::new(span, name))
    }

    /// Calls `f` on each element of a repeated varint field, packed or not.
    pub(crate) fn for_each_varint(
        &self,
        mut f: impl FnMut(u64) -> Result<(), OnnxError>,
    ) -> Result<(), OnnxError> {
        match self.payload {
            Payload::Varint(v) => f(v),
            Payload::Len(span) => {
                let mut pos = 0;
                while pos < span.bytes.len() {
                    f(read_varint(span.bytes, &mut pos, span.base)?)?;
                }
                Ok(())
            }
            _ => Err(self.wire_error(LEN)),
        }
    }

    /// An upper bound on the elements of a repeated varint field (exact for well-formed input).
    pub(crate) fn varint_count(&self) -> usize {
        match self.payload {
            Payload::Len(span) => span.bytes.iter().filter(|b| **b & 0x80 == 0).count(),
            _ => 1,
        }
    }

    /// Calls `f` on each element of a repeated fixed32 field, packed or not.
    pub(crate) fn for_each_fixed32(&self, mut f: impl FnMut(u32)) -> Result<(), OnnxError> {
        match self.payload {
            Payload::I32(v) => {
                f(v);
                Ok(())
            }
            Payload::Len(span) => {
                let chunks = self.packed_chunks(span, 4)?;
                chunks.for_each(|c| f(le_u32(c)));
                Ok(())
            }
            _ => Err(self.wire_error(LEN)),
        }
    }

    /// Calls `f` on each element of a repeated fixed64 field, packed or not.
    pub(crate) fn for_each_fixed64(&self, mut f: impl FnMut(u64)) -> Result<(), OnnxError> {
        match self.payload {
            Payload::I64(v) => {
                f(v);
                Ok(())
            }
            Payload::Len(span) => {
                let chunks = self.packed_chunks(span, 8)?;
                chunks.for_each(|c| f(le_u64(c)));
                Ok(())
            }
            _ => Err(self.wire_error(LEN)),
        }
    }

    /// The number of elements of a repeated fixed-width field.
    pub(crate) fn fixed_count(&self, width: usize) -> usize {
        match self.payload {
            Payload::Len(span) => span.bytes.len() / width,
            _ => 1,
        }
    }

    fn packed_chunks(
        &self,
        span: Span<'a>,
        width: usize,
    ) -> Result<std::slice::ChunksExact<'a, u8>, OnnxError> {
        if !span.bytes.len().is_multiple_of(width) {
            return Err(OnnxError::PackedLength {
                message: self.message,
                field: self.number,
                offset: self.offset,
                len: span.bytes.len(),
                width,
            });
        }
        Ok(span.bytes.chunks_exact(width))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fields(bytes: &[u8]) -> Result<Vec<(u32, String)>, OnnxError> {
        let mut f = Fields::new(Span::new(bytes), "Test");
        let mut out = Vec::new();
        while let Some(field) = f.next_field()? {
            out.push((field.number, format!("{:?}", field.payload)));
        }
        Ok(out)
    }

    #[test]
    fn varints() {
        let mut pos = 0;
        assert_eq!(read_varint(&[0x96, 0x01], &mut pos, 0).unwrap(), 150);
        assert_eq!(pos, 2);
        let mut pos = 0;
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read_varint(&max, &mut pos, 0).unwrap(), u64::MAX);
        let mut pos = 0;
        assert_eq!(
            read_varint(&[0x80, 0x80], &mut pos, 7).unwrap_err(),
            OnnxError::TruncatedVarint { offset: 7 }
        );
        let mut pos = 0;
        assert_eq!(
            read_varint(&[0x80; 11], &mut pos, 0).unwrap_err(),
            OnnxError::VarintTooLong { offset: 0 }
        );
    }

    #[test]
    fn invalid_keys() {
        // field number 0
        assert!(matches!(fields(&[0x00]), Err(OnnxError::InvalidKey { .. })));
        // wire type 7
        assert!(matches!(fields(&[0x0f]), Err(OnnxError::InvalidKey { .. })));
        // lone end-group
        assert!(matches!(fields(&[0x0c]), Err(OnnxError::BadGroup { .. })));
    }

    #[test]
    fn truncated_len_reports_offset() {
        // field 2 (LEN) at byte 2 declares 5 bytes, only 1 follows
        let err = fields(&[0x08, 0x01, 0x12, 0x05, 0xaa]).unwrap_err();
        assert_eq!(
            err,
            OnnxError::Truncated { message: "Test", field: 2, offset: 2, needed: 5, remaining: 1 }
        );
        assert_eq!(err.to_string(), "field 2 of Test at byte 2: needs 5 bytes, only 1 left");
        // a length that does not even fit usize on 32-bit targets
        assert!(matches!(
            fields(&[0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(OnnxError::Truncated { .. })
        ));
        assert!(matches!(fields(&[0x09, 1, 2, 3]), Err(OnnxError::Truncated { .. })));
        assert!(matches!(fields(&[0x0d, 1, 2, 3]), Err(OnnxError::Truncated { .. })));
    }

    #[test]
    fn groups_are_skipped() {
        // field 1 group { field 2 varint 5, field 3 group {} }, then field 4 varint 1
        let bytes = [0x0b, 0x10, 0x05, 0x1b, 0x1c, 0x0c, 0x20, 0x01];
        let got = fields(&bytes).unwrap();
        assert_eq!(got, vec![(4, "Varint(1)".to_owned())]);
        // mismatched end
        assert!(matches!(fields(&[0x0b, 0x14]), Err(OnnxError::BadGroup { .. })));
        // unterminated
        assert!(matches!(fields(&[0x0b, 0x10, 0x05]), Err(OnnxError::BadGroup { .. })));
        // nesting bomb
        let bomb = vec![0x0b; 10_000];
        assert!(matches!(fields(&bomb), Err(OnnxError::TooDeep { .. })));
    }

    #[test]
    fn packed_and_unpacked() {
        let f =
            Field { message: "T", number: 1, offset: 0, payload: Payload::Len(Span::new(&[1, 0x96, 0x01])) };
        let mut v = Vec::new();
        f.for_each_varint(|x| {
            v.push(x);
            Ok(())
        })
        .unwrap();
        assert_eq!(v, vec![1, 150]);
        assert_eq!(f.varint_count(), 2);
        let f = Field { message: "T", number: 1, offset: 0, payload: Payload::Len(Span::new(&[0, 0, 0])) };
        assert!(matches!(f.for_each_fixed32(|_| ()), Err(OnnxError::PackedLength { width: 4, .. })));
        let f = Field { message: "T", number: 1, offset: 0, payload: Payload::I32(7) };
        assert!(matches!(f.for_each_fixed64(|_| ()), Err(OnnxError::WireType { found: 5, expected: 2, .. })));
    }
}
