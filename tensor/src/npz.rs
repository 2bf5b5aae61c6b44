//! NumPy `.npz`: a zip archive of `.npy` members, member `name.npy` holding tensor `name`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::npy;
use crate::{DType, HeaderCheck, Tensor, TensorError, TensorMap, check_header};

/// The most bytes an `.npz` may decompress to in total. Deflate inflates up to ~1000×, so the declared
/// sizes alone would let a small file demand any amount of memory.
pub const MAX_NPZ_TOTAL_BYTES: u64 = 4 << 30;

fn zip_err(e: impl std::fmt::Display) -> TensorError {
    TensorError::Zip { reason: e.to_string() }
}

/// Reads every member. Each member is read only as far as its npy header declares (plus one byte to detect
/// overrun), so a member that inflates past its header is refused without inflating the rest of it.
/// `check` sees each member's header before its data is inflated. `hints` give the dtype of members
/// whose descr does not ([`npy::parse_header`]).
pub(crate) fn read(
    bytes: &[u8],
    hints: &BTreeMap<String, DType>,
    check: &mut HeaderCheck<'_>,
) -> Result<TensorMap, TensorError> {
    read_with_limit(bytes, MAX_NPZ_TOTAL_BYTES, hints, check)
}

pub(crate) fn read_with_limit(
    bytes: &[u8],
    limit: u64,
    hints: &BTreeMap<String, DType>,
    check: &mut HeaderCheck<'_>,
) -> Result<TensorMap, TensorError> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(zip_err)?;
    // The archive indexes members by name and silently keeps one of two equal names; a verifier must not
    // read a different tensor than another tool would.
    if archive.has_duplicate_names() {
        let start = archive.offset().saturating_add(archive.central_directory_start());
        return Err(match duplicate_member(bytes, start) {
            Some(member) => {
                TensorError::DuplicateName { name: member.strip_suffix(".npy").unwrap_or(&member).to_owned() }
            }
            None => TensorError::Zip { reason: "the central directory lists a member name twice".to_owned() },
        });
    }
    // Local headers that disagree with the central directory, overlapping entries and unlisted local
    // headers are how zip smuggling hides content from one reader and shows it to another.
    archive.validate_header_consistency().map_err(zip_err)?;
    let mut out = TensorMap::new();
    let mut budget = limit;
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).map_err(zip_err)?;
        let member = file.name().map_err(zip_err)?.into_owned();
        let Some(name) = member.strip_suffix(".npy") else {
            return Err(TensorError::NotNpyMember { member });
        };
        if out.contains_key(name) {
            return Err(TensorError::DuplicateName { name: name.to_owned() });
        }
        let zip_size = file.size();
        let declared = hints.get(name).copied();
        let tensor = read_member(&mut file, zip_size, &mut budget, limit, name, declared, check)
            .map_err(|e| e.in_member(&member))?;
        out.insert(name.to_owned(), tensor);
    }
    Ok(out)
}

/// The first repeated name in the central directory at `start`, if it can be walked.
fn duplicate_member(bytes: &[u8], start: u64) -> Option<String> {
    const CENTRAL_HEADER: &[u8] = b"PK\x01\x02";
    let mut pos = usize::try_from(start).ok()?;
    let mut seen = BTreeSet::new();
    while bytes.get(pos..pos.checked_add(4)?)? == CENTRAL_HEADER {
        let u16_at = |at: usize| match bytes.get(pos + at..pos + at + 2) {
            Some(&[lo, hi]) => Some(usize::from(u16::from_le_bytes([lo, hi]))),
            _ => None,
        };
        let (name_len, extra_len, comment_len) = (u16_at(28)?, u16_at(30)?, u16_at(32)?);
        let name = bytes.get(pos + 46..pos + 46 + name_len)?;
        if !seen.insert(name) {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
        pos += 46 + name_len + extra_len + comment_len;
    }
    None
}

/// Reads exactly `len` bytes, or fewer if the stream ends first.
fn read_up_to(r: &mut impl Read, len: usize, buf: &mut Vec<u8>) -> Result<(), TensorError> {
    r.take(len as u64).read_to_end(buf).map_err(zip_err)?;
    Ok(())
}

fn read_member(
    r: &mut impl Read,
    zip_size: u64,
    budget: &mut u64,
    limit: u64,
    name: &str,
    declared: Option<DType>,
    check: &mut HeaderCheck<'_>,
) -> Result<Tensor, TensorError> {
    let mut buf = Vec::new();
    read_up_to(r, npy::PREAMBLE_PROBE, &mut buf)?;
    if buf.get(6) >= Some(&2) {
        read_up_to(r, 2, &mut buf)?;
    }
    let pre = npy::preamble(&buf)?;
    read_up_to(r, pre.header_len, &mut buf)?;
    let header = npy::parse_header(&buf, declared)?;
    // The caller's limits (a data contract) apply to what the header declares, before anything is inflated.
    check_header(check, &header.declared(name))?;
    let npy_size = header.data_offset as u64 + header.data_len as u64;
    if zip_size != npy_size {
        return Err(TensorError::MemberSizeMismatch { zip_size, npy_size });
    }
    if npy_size > *budget {
        return Err(TensorError::ArchiveTooLarge { limit });
    }
    *budget -= npy_size;
    // Growing with the bytes actually inflated (rather than reserving the declared size) keeps a lying
    // header from allocating memory the archive never delivers; the extra byte detects overrun.
    let mut data = Vec::new();
    read_up_to(r, header.data_len.saturating_add(1), &mut data)?;
    if data.len() > header.data_len {
        return Err(TensorError::MemberTooLarge { declared: npy_size });
    }
    if data.len() < header.data_len {
        return Err(TensorError::Truncated {
            what: "npy data",
            needed: npy_size,
            len: (header.data_offset + data.len()) as u64,
        });
    }
    npy::decode_data(&header, &data)
}

/// Writes members sorted by name, stored uncompressed, with the zip epoch (1980-01-01) as their time and
/// fixed permissions, so the bytes depend only on the tensors.
pub(crate) fn write(tensors: &TensorMap) -> Result<Vec<u8>, TensorError> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, tensor) in tensors {
        let bytes = npy::write(tensor).map_err(|e| e.in_tensor(name))?;
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .last_modified_time(DateTime::default())
            .system(zip::System::Unix)
            .unix_permissions(0o644)
            .large_file(bytes.len() as u64 >= u64::from(u32::MAX));
        zip.start_file(format!("{name}.npy"), options).map_err(|e| zip_err(e).in_tensor(name))?;
        zip.write_all(&bytes).map_err(|e| zip_err(e).in_tensor(name))?;
    }
    Ok(zip.finish().map_err(zip_err)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TensorData, TensorMap};

    fn npy_of(tensor: Tensor) -> Vec<u8> {
        npy::write(&tensor).unwrap()
    }

    /// A member stream that runs past its npy header is cut off after one extra byte, whatever the zip
    /// directory claims.
    #[test]
    fn member_overrun_is_refused_after_one_byte() {
        let mut member = npy_of(Tensor::new(vec![2], TensorData::U8(vec![1, 2])).unwrap());
        let declared = member.len() as u64;
        member.extend(std::iter::repeat_n(0u8, 1 << 20));
        let mut reader = Cursor::new(member);
        let mut budget = MAX_NPZ_TOTAL_BYTES;
        let err =
            read_member(&mut reader, declared, &mut budget, MAX_NPZ_TOTAL_BYTES, "x", None, &mut |_| Ok(()))
                .unwrap_err();
        assert!(matches!(err, TensorError::MemberTooLarge { declared: d } if d == declared), "{err}");
        assert_eq!(reader.position(), declared + 1);
    }

    #[test]
    fn total_size_is_capped() {
        let t = Tensor::new(vec![100], TensorData::F32(vec![0.5; 100])).unwrap();
        let m: TensorMap = [("a".to_owned(), t.clone()), ("b".to_owned(), t)].into();
        let bytes = write(&m).unwrap();
        let one = npy_of(m["a"].clone()).len() as u64;
        assert_eq!(read_with_limit(&bytes, 2 * one, &BTreeMap::new(), &mut |_| Ok(())).unwrap().len(), 2);
        let err = read_with_limit(&bytes, 2 * one - 1, &BTreeMap::new(), &mut |_| Ok(())).unwrap_err();
        assert!(matches!(err.root(), TensorError::ArchiveTooLarge { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!("member `b.npy`: archive decompresses to more than the {}-byte limit", 2 * one - 1)
        );
    }
}
