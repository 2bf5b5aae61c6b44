//! The deterministic subset of POSIX ustar that a `.ferry` file uses, and a reader that refuses
//! everything outside it.
//!
//! Writer: regular files (mode 0644) and directories (0755), uid/gid 0, no owner names, mtime 0, sizes
//! in octal (base-256 above 8 GiB, as GNU tar does). Reader: the same, plus the checks that make
//! extraction safe: no links or special files, no absolute or `..` paths, no duplicate entries, no member
//! running past the end of the file.

use crate::BundleError;
use std::collections::HashMap;

/// Size of a tar block.
pub const BLOCK: u64 = 512;

/// A member type the reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// Builds the 512-byte header of a regular file or directory.
///
/// Only deterministic fields are set: the result depends on `name`, `size` and `kind` alone.
pub fn header(name: &str, size: u64, kind: Kind) -> Result<[u8; 512], BundleError> {
    let mut h = [0u8; 512];
    let bytes = name.as_bytes();
    // Bundle member names are short (`blobs/sha256/<64 hex>` is 77 bytes), so the ustar prefix field is
    // never needed; refusing longer names keeps the reader and writer symmetric.
    if bytes.len() > 100 || bytes.is_empty() {
        return Err(BundleError::Layout(format!("tar member name `{name}` must be 1 to 100 bytes")));
    }
    h[..bytes.len()].copy_from_slice(bytes);
    let (mode, flag) = match kind {
        Kind::File => (b"0000644\0", b'0'),
        Kind::Dir => (b"0000755\0", b'5'),
    };
    h[100..108].copy_from_slice(mode);
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    write_size(&mut h[124..136], size);
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = flag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[329..337].copy_from_slice(b"0000000\0");
    h[337..345].copy_from_slice(b"0000000\0");
    let sum = checksum(&h);
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    Ok(h)
}

/// The header of an executable regular file (mode 0755), otherwise as [`header`]: for the other archive
/// Ferry writes, the release archive (`cargo xtask release`). Bundles never hold one.
pub fn executable_header(name: &str, size: u64) -> Result<[u8; 512], BundleError> {
    let mut h = header(name, size, Kind::File)?;
    h[100..108].copy_from_slice(b"0000755\0");
    h[148..156].copy_from_slice(b"        ");
    let text = format!("{:06o}\0 ", checksum(&h));
    h[148..156].copy_from_slice(text.as_bytes());
    Ok(h)
}

fn write_size(field: &mut [u8], size: u64) {
    if size < 0o777_7777_7777 {
        let text = format!("{size:011o}\0");
        field.copy_from_slice(text.as_bytes());
    } else {
        // GNU base-256: high bit of the first byte set, big-endian value in the rest.
        field.fill(0);
        field[0] = 0x80;
        let be = size.to_be_bytes();
        field[4..12].copy_from_slice(&be);
    }
}

fn checksum(h: &[u8; 512]) -> u32 {
    h.iter()
        .enumerate()
        .map(|(i, &b)| if (148..156).contains(&i) { u32::from(b' ') } else { u32::from(b) })
        .sum()
}

/// Bytes of padding after `size` bytes of data to reach the next block.
pub fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

/// One member of a parsed archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Normalised path, without a trailing `/` for directories.
    pub name: String,
    pub kind: Kind,
    /// Offset of the member's data in the archive.
    pub offset: u64,
    pub size: u64,
}

/// Parses an archive held in memory, refusing anything a `.ferry` writer would not produce.
///
/// Returns the members in archive order. Errors carry the byte offset of the offending header.
pub fn parse(data: &[u8]) -> Result<Vec<Entry>, BundleError> {
    let mut entries = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut pos: u64 = 0;
    let len = data.len() as u64;
    loop {
        let Some(block) = slice(data, pos, BLOCK) else {
            return Err(BundleError::Truncated {
                offset: pos,
                what: "a tar header or end-of-archive marker".into(),
            });
        };
        if block.iter().all(|&b| b == 0) {
            // End of archive: two zero blocks (the writer emits exactly two). Only zero bytes may follow
            // (tar tools pad an archive to a 10240-byte record): a reader that stops at the marker and
            // one that does not would otherwise disagree on the content.
            if slice(data, pos + BLOCK, BLOCK).is_none() {
                return Err(BundleError::Truncated {
                    offset: len,
                    what: format!("the second end-of-archive block at byte {}", pos + BLOCK),
                });
            }
            let after = (pos + BLOCK) as usize;
            if let Some(i) = data[after..].iter().position(|&b| b != 0) {
                let at = (after + i) as u64;
                return Err(BundleError::TrailingData { offset: at, marker: pos });
            }
            break;
        }
        let mut h = [0u8; 512];
        h.copy_from_slice(block);
        let stored = parse_octal(&h[148..156]).ok_or_else(|| tar_err(pos, "unreadable header checksum"))?;
        if stored != u64::from(checksum(&h)) {
            return Err(tar_err(pos, "header checksum mismatch (corrupt or not a tar file)"));
        }
        if &h[257..262] != b"ustar" {
            return Err(tar_err(pos, "not a ustar header"));
        }
        let kind = match h[156] {
            b'0' | 0 => Kind::File,
            b'5' => Kind::Dir,
            b'1' => return Err(tar_err(pos, "hard links are not allowed in a bundle")),
            b'2' => return Err(tar_err(pos, "symbolic links are not allowed in a bundle")),
            b'x' | b'g' => return Err(tar_err(pos, "pax extended headers are not allowed in a bundle")),
            b'L' | b'K' => return Err(tar_err(pos, "GNU long names are not allowed in a bundle")),
            other => {
                return Err(tar_err(
                    pos,
                    &format!("member type `{}` is not allowed in a bundle", other.escape_ascii()),
                ));
            }
        };
        let name = read_name(&h).map_err(|m| tar_err(pos, &m))?;
        let size = read_size(&h[124..136]).ok_or_else(|| tar_err(pos, "unreadable member size"))?;
        if kind == Kind::Dir && size != 0 {
            return Err(tar_err(pos, &format!("directory `{name}` has a size")));
        }
        // Only the canonical header the writer emits is accepted, so no byte of a bundle can change
        // without the change being detected (ownership, mtime, mode and padding carry no content).
        let canonical_name = if kind == Kind::Dir { format!("{name}/") } else { name.clone() };
        if header(&canonical_name, size, kind).ok().as_ref() != Some(&h) {
            return Err(tar_err(
                pos,
                &format!(
                    "member `{name}` has a non-canonical header (Ferry writes mode, owner and mtime fixed)"
                ),
            ));
        }
        let offset = pos + BLOCK;
        let end = offset.checked_add(size).ok_or_else(|| tar_err(pos, "member size overflows"))?;
        if end > len {
            return Err(BundleError::Truncated {
                offset: len,
                what: format!("member `{name}` declares {size} bytes from byte {offset}"),
            });
        }
        if let Some(first) = seen.insert(name.clone(), pos) {
            return Err(tar_err(pos, &format!("duplicate member `{name}` (first at byte {first})")));
        }
        let pad_end = end + padding(size);
        match slice(data, end, padding(size)) {
            Some(pad) if pad.iter().all(|&b| b == 0) => {}
            Some(_) => return Err(tar_err(end, &format!("non-zero padding after member `{name}`"))),
            None => {
                return Err(BundleError::Truncated {
                    offset: len,
                    what: format!("padding after member `{name}`"),
                });
            }
        }
        entries.push(Entry { name, kind, offset, size });
        pos = pad_end;
    }
    Ok(entries)
}

fn tar_err(offset: u64, message: &str) -> BundleError {
    BundleError::Tar { offset, message: message.to_owned() }
}

fn slice(data: &[u8], pos: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(pos).ok()?;
    let end = usize::try_from(pos.checked_add(len)?).ok()?;
    data.get(start..end)
}

fn read_name(h: &[u8; 512]) -> Result<String, String> {
    let field = |r: std::ops::Range<usize>| {
        let f = &h[r];
        let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
        std::str::from_utf8(&f[..end]).map(str::to_owned).map_err(|_| "member name is not UTF-8".to_owned())
    };
    let name = field(0..100)?;
    let prefix = field(345..500)?;
    let full = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
    let trimmed = full.strip_suffix('/').unwrap_or(&full);
    ferry_spec::check_relative_path(trimmed).map_err(|e| format!("unsafe member name: {e}"))?;
    Ok(trimmed.to_owned())
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let text: Vec<u8> = field.iter().copied().filter(|&b| b != 0 && b != b' ').collect();
    if text.is_empty() {
        return Some(0);
    }
    let s = std::str::from_utf8(&text).ok()?;
    u64::from_str_radix(s, 8).ok()
}

fn read_size(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        if field[0] != 0x80 || field[1..4].iter().any(|&b| b != 0) {
            return None;
        }
        let mut be = [0u8; 8];
        be.copy_from_slice(&field[4..12]);
        return Some(u64::from_be_bytes(be));
    }
    parse_octal(field)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn archive(members: &[(&str, &[u8], Kind)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data, kind) in members {
            out.extend_from_slice(&header(name, data.len() as u64, *kind).unwrap());
            out.extend_from_slice(data);
            out.extend(std::iter::repeat_n(0u8, padding(data.len() as u64) as usize));
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    #[test]
    fn round_trip() {
        let a = archive(&[("d/", b"", Kind::Dir), ("d/x", b"hello", Kind::File)]);
        let e = parse(&a).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].name, "d/x");
        assert_eq!(&a[e[1].offset as usize..][..5], b"hello");
    }

    #[test]
    fn base256_size_round_trips() {
        let mut f = [0u8; 12];
        write_size(&mut f, 10 << 30);
        assert_eq!(read_size(&f), Some(10 << 30));
        write_size(&mut f, 12345);
        assert_eq!(read_size(&f), Some(12345));
    }

    #[test]
    fn refuses_duplicates_and_trailing_garbage() {
        let a = archive(&[("x", b"1", Kind::File), ("x", b"2", Kind::File)]);
        assert!(parse(&a).unwrap_err().to_string().contains("duplicate member `x`"));
        let mut b = archive(&[("x", b"1", Kind::File)]);
        b.push(1);
        assert!(parse(&b).is_err());
    }

    #[test]
    fn only_zero_bytes_may_follow_the_end_of_archive_marker() {
        let a = archive(&[("x", b"1", Kind::File)]);
        let marker = a.len() - 1024;
        // Zero padding to a tar record (10240 bytes), or a stray zero byte, is accepted.
        let mut padded = a.clone();
        padded.resize(10240, 0);
        assert_eq!(parse(&padded).unwrap().len(), 1);
        let mut one = a.clone();
        one.push(0);
        assert_eq!(parse(&one).unwrap().len(), 1);
        // Anything else is refused, naming the byte: appended data, a non-zero second marker block.
        let mut appended = padded.clone();
        appended[5000] = b'A';
        let e = parse(&appended).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "non-zero byte at byte 5000, after the end-of-archive marker at byte {marker}: only zero \
                 padding may follow it"
            )
        );
        let mut second = a.clone();
        second[marker + 600] = 7;
        assert!(
            parse(&second)
                .unwrap_err()
                .to_string()
                .contains(&format!("non-zero byte at byte {}", marker + 600))
        );
        // A lone first marker block is a truncated archive.
        let e = parse(&a[..a.len() - 512]).unwrap_err();
        assert!(e.to_string().contains("the second end-of-archive block"), "{e}");
    }
}
