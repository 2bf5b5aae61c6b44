//! A [`HeaderCheck`](ferry_tensor::HeaderCheck) sees every tensor's declared dtype and shape before its
//! data is decoded or inflated, in every format, and its refusal stops the read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_tensor::{DType, Declared, Format, Tensor, TensorData, TensorError, TensorMap};
use std::collections::BTreeMap;
use std::io::Write as _;

fn sample() -> TensorMap {
    TensorMap::from([
        ("a".to_owned(), Tensor::new(vec![2, 3], TensorData::F32(vec![0.5; 6])).unwrap()),
        ("b".to_owned(), Tensor::new(vec![4], TensorData::I64(vec![1, 2, 3, 4])).unwrap()),
    ])
}

type Seen = Vec<(String, DType, Vec<usize>, Option<u64>)>;

fn read_seeing(bytes: &[u8], format: Format, refuse: Option<&str>) -> (Result<TensorMap, TensorError>, Seen) {
    let mut seen = Seen::new();
    let result =
        ferry_tensor::read_bytes_checked(bytes, format, "a", &BTreeMap::new(), &mut |d: &Declared<'_>| {
            seen.push((d.name.to_owned(), d.dtype, d.shape.to_vec(), d.data_bytes));
            if Some(d.name) == refuse { Err("too big for this test".into()) } else { Ok(()) }
        });
    (result, seen)
}

#[test]
fn every_format_shows_each_header_before_its_data() {
    for format in [Format::Npz, Format::Safetensors, Format::Json] {
        let bytes = ferry_tensor::write_bytes(&sample(), format).unwrap();
        let (result, seen) = read_seeing(&bytes, format, None);
        assert_eq!(result.unwrap(), sample(), "{format}");
        let json = format == Format::Json;
        let expected: Seen = vec![
            ("a".into(), DType::Float32, vec![2, 3], (!json).then_some(24)),
            ("b".into(), DType::Int64, vec![4], (!json).then_some(32)),
        ];
        assert_eq!(seen, expected, "{format}");

        let (result, seen) = read_seeing(&bytes, format, Some("b"));
        let e = result.unwrap_err();
        assert!(matches!(e.root(), TensorError::Refused { dtype: DType::Int64, .. }), "{format}: {e}");
        assert!(e.to_string().contains("declares int64 [4]: too big for this test"), "{format}: {e}");
        assert!(e.to_string().contains('b'), "{format}: {e}");
        assert_eq!(seen.last().map(|s| s.0.as_str()), Some("b"));
    }
    let one = TensorMap::from([("x".to_owned(), sample()["a"].clone())]);
    let npy = ferry_tensor::write_bytes(&one, Format::Npy).unwrap();
    let (result, seen) = read_seeing(&npy, Format::Npy, Some("a"));
    assert_eq!(result.unwrap_err().to_string(), "tensor `a`: declares float32 [2, 3]: too big for this test");
    assert_eq!(seen, vec![("a".to_owned(), DType::Float32, vec![2, 3], Some(24))]);
}

/// Peak resident memory of this process so far, in KiB (Linux).
#[cfg(target_os = "linux")]
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A deflated member of 256 MiB of zeros (a ~250 KB file) refused from its header costs no memory: the
/// reader never inflates it. (The other test of this binary allocates next to nothing.)
#[cfg(target_os = "linux")]
#[test]
fn a_refused_npz_member_is_never_inflated() {
    let shape = [1usize << 26];
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}", shape[0]);
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9));
    zip.start_file("x.npy", options).unwrap();
    zip.write_all(b"\x93NUMPY\x01\x00").unwrap();
    zip.write_all(&u16::try_from(header.len()).unwrap().to_le_bytes()).unwrap();
    zip.write_all(header.as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(shape[0] * 4) / zeros.len() {
        zip.write_all(&zeros).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    assert!(bytes.len() < 2 << 20, "{}", bytes.len());

    let before = peak_rss_kib();
    let (result, seen) = read_seeing(&bytes, Format::Npz, Some("x"));
    let e = result.unwrap_err();
    assert_eq!(e.to_string(), "member `x.npy`: declares float32 [67108864]: too big for this test");
    assert_eq!(seen, vec![("x".to_owned(), DType::Float32, shape.to_vec(), Some(1 << 28))]);
    let grew = peak_rss_kib().saturating_sub(before);
    assert!(grew < 32 << 10, "reading a refused member raised the peak by {grew} KiB");

    // Accepted, the same member is read in full (and allocates its 256 MiB).
    let (result, _) = read_seeing(&bytes, Format::Npz, None);
    assert_eq!(result.unwrap()["x"].len(), shape[0]);
}
