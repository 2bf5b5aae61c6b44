//! bfloat16, float8 (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ), int4 and uint4: conversions bit-exact with
//! `ml_dtypes`, every format's encoding of them, and hostile files.
//!
//! The expected values come from `ml_dtypes` itself: `tests/data/gen_float8_vectors.py` writes the
//! conversion table, `tests/data/gen_low_precision.py` the files NumPy and safetensors write.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry_tensor::int4::{pack_i4, pack_u4, unpack_i4, unpack_u4};
use ferry_tensor::{
    DType, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Format, Tensor, TensorData, TensorError,
    TensorMap, read_bytes, read_file, write_bytes,
};
use half::bf16;
use proptest::prelude::*;
use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn vectors() -> Value {
    let text = std::fs::read_to_string(data_dir().join("float8_vectors.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ints(v: &Value) -> Vec<u64> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect()
}

/// Each float8 variant's name in the table, with its decode and encode.
type Codec = (&'static str, fn(u8) -> f32, fn(f64) -> u8);

const CODECS: [Codec; 4] = [
    ("float8e4m3fn", |b| Float8E4M3FN::from_bits(b).to_f32(), |x| Float8E4M3FN::from_f64(x).to_bits()),
    ("float8e4m3fnuz", |b| Float8E4M3FNUZ::from_bits(b).to_f32(), |x| Float8E4M3FNUZ::from_f64(x).to_bits()),
    ("float8e5m2", |b| Float8E5M2::from_bits(b).to_f32(), |x| Float8E5M2::from_f64(x).to_bits()),
    ("float8e5m2fnuz", |b| Float8E5M2FNUZ::from_bits(b).to_f32(), |x| Float8E5M2FNUZ::from_f64(x).to_bits()),
];

// ---------------------------------------------------------------------------------------------------------
// Conversions, against ml_dtypes.

#[test]
fn float8_decodes_every_code_as_ml_dtypes_does() {
    let v = vectors();
    for (name, decode, _) in CODECS {
        let table = ints(&v["decode"][name]);
        assert_eq!(table.len(), 256);
        for (code, &want) in table.iter().enumerate() {
            let got = decode(code as u8).to_bits();
            assert_eq!(u64::from(got), want, "{name} code 0x{code:02x}: {got:#010x}, ml_dtypes {want:#010x}");
        }
    }
}

#[test]
fn float8_and_bfloat16_encode_as_ml_dtypes_astype() {
    let v = vectors();
    let inputs: Vec<f64> = v["encode"]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| f64::from_bits(u64::from_str_radix(h.as_str().unwrap(), 16).unwrap()))
        .collect();
    assert!(inputs.len() > 10_000, "{}", inputs.len());
    for (name, _, encode) in CODECS {
        let want = ints(&v["encode"][name]);
        for (x, &w) in inputs.iter().zip(&want) {
            assert_eq!(u64::from(encode(*x)), w, "{name} of {x:e} ({:#018x})", x.to_bits());
        }
    }
    let want = ints(&v["encode"]["bfloat16"]);
    for (x, &w) in inputs.iter().zip(&want) {
        let got = ferry_tensor::float8::bf16_from_f64(*x).to_bits();
        assert_eq!(u64::from(got), w, "bfloat16 of {x:e} ({:#018x})", x.to_bits());
    }
}

#[test]
fn float8_encode_of_decode_is_the_identity_on_every_non_nan_code() {
    for (name, decode, encode) in CODECS {
        for code in 0..=255u8 {
            let x = decode(code);
            if !x.is_nan() {
                assert_eq!(encode(f64::from(x)), code, "{name} 0x{code:02x} = {x}");
            }
        }
    }
}

proptest! {
    #[test]
    fn int4_packing_round_trips_any_length(v in prop::collection::vec(-8i8..=7, 0..65)) {
        let packed = pack_i4(&v);
        prop_assert_eq!(packed.len(), v.len().div_ceil(2));
        prop_assert_eq!(unpack_i4(&packed, v.len()), Some(v.clone()));
        let u: Vec<u8> = v.iter().map(|&x| (x + 8) as u8).collect();
        prop_assert_eq!(unpack_u4(&pack_u4(&u), u.len()), Some(u));
        if v.len() % 2 == 1 {
            prop_assert_eq!(packed.last().unwrap() >> 4, 0, "the unused high nibble is zero");
        }
    }

    /// Random bytes as the data of an int4, uint4 or float8 `.npy`: an answer, never a panic.
    #[test]
    fn random_low_precision_npy_data_never_panics(
        data in prop::collection::vec(any::<u8>(), 0..16),
        dtype in prop::sample::select(vec![DType::Int4, DType::Uint4, DType::Float8E5M2, DType::BFloat16]),
        n in 0usize..10,
    ) {
        let descr = if dtype == DType::BFloat16 { "<V2" } else { "<V1" };
        let b = npy(descr, &format!("({n},)"), &data);
        let _ = read_bytes(&b, Format::Npy, "x", &declared("x", dtype));
    }
}

// ---------------------------------------------------------------------------------------------------------
// Files NumPy (with ml_dtypes) and safetensors wrote.

fn declared(name: &str, dtype: DType) -> BTreeMap<String, DType> {
    BTreeMap::from([(name.to_owned(), dtype)])
}

fn bits_of(data: &TensorData) -> Vec<i64> {
    match data {
        TensorData::BF16(v) => v.iter().map(|x| i64::from(x.to_bits())).collect(),
        TensorData::F8E4M3FN(v) => v.iter().map(|x| i64::from(x.to_bits())).collect(),
        TensorData::F8E4M3FNUZ(v) => v.iter().map(|x| i64::from(x.to_bits())).collect(),
        TensorData::F8E5M2(v) => v.iter().map(|x| i64::from(x.to_bits())).collect(),
        TensorData::F8E5M2FNUZ(v) => v.iter().map(|x| i64::from(x.to_bits())).collect(),
        TensorData::I4(v) => v.iter().map(|&x| i64::from(x)).collect(),
        TensorData::U4(v) => v.iter().map(|&x| i64::from(x)).collect(),
        other => panic!("not a low-precision tensor: {other:?}"),
    }
}

struct Reference {
    dtype: DType,
    shape: Vec<usize>,
    bits: Vec<i64>,
}

fn references() -> BTreeMap<String, Reference> {
    let dir = data_dir().join("reference/low_precision");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .map(|(name, r)| {
            let reference = Reference {
                dtype: DType::from_name(r["dtype"].as_str().unwrap()).unwrap(),
                shape: r["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect(),
                bits: r["bits"].as_array().unwrap().iter().map(|b| b.as_i64().unwrap()).collect(),
            };
            (name.clone(), reference)
        })
        .collect()
}

fn check_reference(file: &str, name: &str, got: &Tensor, want: &Reference) {
    assert_eq!(got.dtype(), want.dtype, "{file}: {name}");
    assert_eq!(got.shape, want.shape, "{file}: {name}");
    assert_eq!(bits_of(&got.data), want.bits, "{file}: {name}");
}

#[test]
fn reads_what_numpy_with_ml_dtypes_and_safetensors_write() {
    let dir = data_dir().join("reference/low_precision");
    let refs = references();
    assert_eq!(refs.len(), 7);
    let hints: BTreeMap<String, DType> = refs.iter().map(|(k, r)| (k.clone(), r.dtype)).collect();
    for (name, want) in &refs {
        let file = format!("{name}.npy");
        let got = read_file(&dir.join(&file), &declared(name, want.dtype)).unwrap_or_else(|e| panic!("{e}"));
        check_reference(&file, name, &got[name.as_str()], want);
        // A lone .npy stands for the one declared tensor, whatever its file is called.
        let lone = read_file(&dir.join(&file), &declared("other", want.dtype)).unwrap();
        check_reference(&file, name, &lone[name.as_str()], want);
    }
    let npz = read_file(&dir.join("all.npz"), &hints).unwrap();
    assert_eq!(npz.len(), 7);
    for (name, want) in &refs {
        check_reference("all.npz", name, &npz[name.as_str()], want);
    }
    // safetensors names its dtypes: no hints needed.
    let st = read_file(&dir.join("all.safetensors"), &BTreeMap::new()).unwrap();
    assert_eq!(st.keys().collect::<Vec<_>>(), ["bf16", "e4m3fn", "e4m3fnuz", "e5m2", "e5m2fnuz"]);
    for (name, t) in &st {
        check_reference("all.safetensors", name, t, &refs[name]);
    }
}

/// What `np.save` writes for these arrays, Ferry writes byte for byte, except float8e5m2: NumPy writes
/// it as `<f1`, which `np.load` refuses, so Ferry writes `<V1` as for the other float8 types.
#[test]
fn npy_writes_are_byte_identical_to_numpy_with_ml_dtypes() {
    let dir = data_dir().join("reference/low_precision");
    for (name, r) in references() {
        let path = dir.join(format!("{name}.npy"));
        let mut original = std::fs::read(&path).unwrap();
        let m = read_file(&path, &declared(&name, r.dtype)).unwrap();
        if name == "e5m2" {
            let at = original.windows(3).position(|w| w == b"<f1").unwrap();
            original[at + 1] = b'V';
        }
        assert_eq!(write_bytes(&m, Format::Npy).unwrap(), original, "{name}.npy");
    }
}

#[test]
fn every_format_round_trips_every_code() {
    let codes: Vec<u8> = (0..=255).collect();
    let m: TensorMap = [
        ("bf16", TensorData::BF16((0..=u16::MAX).step_by(7).map(bf16::from_bits).collect())),
        ("e4m3fn", TensorData::F8E4M3FN(codes.iter().map(|&b| Float8E4M3FN::from_bits(b)).collect())),
        ("e4m3fnuz", TensorData::F8E4M3FNUZ(codes.iter().map(|&b| Float8E4M3FNUZ::from_bits(b)).collect())),
        ("e5m2", TensorData::F8E5M2(codes.iter().map(|&b| Float8E5M2::from_bits(b)).collect())),
        ("e5m2fnuz", TensorData::F8E5M2FNUZ(codes.iter().map(|&b| Float8E5M2FNUZ::from_bits(b)).collect())),
        ("int4", TensorData::I4((-8..=7).collect())),
        ("uint4", TensorData::U4((0..=15).rev().collect())),
    ]
    .into_iter()
    .map(|(k, d)| (k.to_owned(), Tensor::new(vec![d.len()], d).unwrap()))
    .collect();
    let hints: BTreeMap<String, DType> = m.iter().map(|(k, t)| (k.clone(), t.dtype())).collect();
    for format in [Format::Npz, Format::Json] {
        let bytes = write_bytes(&m, format).unwrap();
        let back = read_bytes(&bytes, format, "x", &hints).unwrap();
        for (name, t) in &m {
            if format == Format::Json {
                // JSON keeps values: NaN's sign and payload are not numbers.
                for i in 0..t.len() {
                    let (a, b) = (t.as_f64(i).unwrap(), back[name].as_f64(i).unwrap());
                    assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{format} {name}[{i}]");
                }
                assert_eq!(back[name].dtype(), t.dtype());
            } else {
                assert_eq!(bits_of(&back[name].data), bits_of(&t.data), "{format} {name}");
            }
        }
        // And a second write is the same bytes.
        assert_eq!(write_bytes(&back, format).unwrap(), bytes, "{format}");
    }
    let floats: TensorMap = m.into_iter().filter(|(k, _)| !k.contains("int4")).collect();
    let bytes = write_bytes(&floats, Format::Safetensors).unwrap();
    let back = read_bytes(&bytes, Format::Safetensors, "x", &BTreeMap::new()).unwrap();
    for (name, t) in &floats {
        assert_eq!(bits_of(&back[name].data), bits_of(&t.data), "safetensors {name}");
    }
}

#[test]
fn json_writes_float8_values_exactly() {
    let m: TensorMap = [(
        "x".to_owned(),
        Tensor::new(
            vec![4],
            TensorData::F8E4M3FN(vec![
                Float8E4M3FN::from_f64(0.1),
                Float8E4M3FN::from_f64(448.0),
                Float8E4M3FN::from_bits(0x7f),
                Float8E4M3FN::from_bits(0x80),
            ]),
        )
        .unwrap(),
    )]
    .into();
    let text = String::from_utf8(write_bytes(&m, Format::Json).unwrap()).unwrap();
    assert!(
        text.contains(r#""dtype": "float8e4m3fn", "shape": [4], "data": [0.1015625, 448.0, null, -0.0]"#),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Hostile input.

fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

/// ml_dtypes keeps one int4 in the low four bits of a byte (-8 is 0x08) and leaves the high four zero.
#[test]
fn an_int4_byte_out_of_range_is_refused_naming_file_and_element() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.npy");
    std::fs::write(&path, npy("<V1", "(3,)", &[0x07, 0x08, 0x7f])).unwrap();
    let e = read_file(&path, &declared("ids", DType::Int4)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: element at flat index 2: int4 stored as byte 0x7f: one int4 is the low four bits of its byte, \
             the high four zero",
            path.display()
        )
    );
    let ok =
        read_bytes(&npy("<V1", "(3,)", &[0x07, 0x08, 0x0f]), Format::Npy, "x", &declared("x", DType::Int4));
    assert_eq!(ok.unwrap()["x"].data, TensorData::I4(vec![7, -8, -1]));
    let e = read_bytes(&npy("<V1", "(2,)", &[15, 16]), Format::Npy, "u", &declared("u", DType::Uint4));
    assert!(e.unwrap_err().to_string().starts_with("element at flat index 1: uint4 stored as byte 0x10: "));
    // In an .npz, the member names the tensor.
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("q.npy", zip::write::SimpleFileOptions::default()).unwrap();
    std::io::Write::write_all(&mut zip, &npy("<V1", "(2,)", &[0x01, 0xf8])).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    let e = read_bytes(&bytes, Format::Npz, "x", &declared("q", DType::Int4)).unwrap_err();
    assert!(
        e.to_string().starts_with("member `q.npy`: element at flat index 1: int4 stored as byte 0xf8: "),
        "{e}"
    );
}

#[test]
fn an_untyped_npy_needs_its_dtype_declared() {
    let b = npy("<V1", "(2,)", &[1, 2]);
    let e = read_bytes(&b, Format::Npy, "x", &BTreeMap::new()).unwrap_err();
    assert!(matches!(e, TensorError::UntypedDescr { declared: None, .. }), "{e}");
    assert!(e.to_string().contains("declare the tensor's dtype in the contract"), "{e}");
    let e = read_bytes(&b, Format::Npy, "x", &declared("x", DType::Uint8)).unwrap_err();
    assert!(e.to_string().ends_with("but the tensor is declared uint8"), "{e}");
}

#[test]
fn truncated_bfloat16_safetensors_is_refused_naming_the_tensor() {
    let m: TensorMap = [(
        "w".to_owned(),
        Tensor::new(vec![3], TensorData::BF16(vec![bf16::ONE, bf16::NAN, bf16::MAX])).unwrap(),
    )]
    .into();
    let bytes = write_bytes(&m, Format::Safetensors).unwrap();
    let e = read_bytes(&bytes[..bytes.len() - 1], Format::Safetensors, "x", &BTreeMap::new()).unwrap_err();
    assert_eq!(e.tensor(), Some("w"), "{e}");
    assert!(e.to_string().contains("are out of range: the data section is 5 bytes"), "{e}");
    // A whole number of elements short is still short of the shape.
    let header = r#"{"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,4]}}"#;
    let mut short = (header.len() as u64).to_le_bytes().to_vec();
    short.extend_from_slice(header.as_bytes());
    short.extend_from_slice(&[0; 4]);
    let e = read_bytes(&short, Format::Safetensors, "x", &BTreeMap::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tensor `w`: data_offsets [0, 4] span 4 bytes but shape [3] of bfloat16 needs 6"
    );
}

#[test]
fn safetensors_refuses_4_bit_integers_naming_the_tensor_and_what_to_write() {
    let m: TensorMap = [("q".to_owned(), Tensor::new(vec![1], TensorData::U4(vec![3])).unwrap())].into();
    let e = write_bytes(&m, Format::Safetensors).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tensor `q`: safetensors cannot hold uint4 tensors (write .npz, .npy or .json instead)"
    );
    // Nor does it read a dtype it does not define as one Ferry has.
    let header = r#"{"q":{"dtype":"I4","shape":[2],"data_offsets":[0,1]}}"#;
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.push(0);
    let e = read_bytes(&b, Format::Safetensors, "x", &BTreeMap::new()).unwrap_err();
    assert_eq!(e.to_string(), "tensor `q`: unsupported dtype `I4`");
}

#[test]
fn writers_refuse_int4_entries_out_of_range() {
    let m: TensorMap = [("q".to_owned(), Tensor { shape: vec![2], data: TensorData::I4(vec![7, 8]) })].into();
    for format in [Format::Npy, Format::Npz, Format::Json] {
        let e = write_bytes(&m, format).unwrap_err();
        assert_eq!(
            e.to_string(),
            "tensor `q`: element at flat index 1: 8 is out of range for int4",
            "{format}"
        );
    }
}

fn json(dtype: &str, data: &str) -> Result<TensorMap, TensorError> {
    let text = format!(r#"{{"x": {{"dtype": "{dtype}", "shape": [2], "data": {data}}}}}"#);
    read_bytes(text.as_bytes(), Format::Json, "x", &BTreeMap::new())
}

/// JSON float8: the nearest code, ties to even; past the largest finite value (after rounding), or an
/// infinity the type lacks, is refused, not made NaN.
#[test]
fn json_float8_values_out_of_range_are_refused() {
    let ok = json("float8e4m3fn", "[464, -0.3]").unwrap();
    assert_eq!(bits_of(&ok["x"].data), [0x7e, 0xaa]);
    let e = json("float8e4m3fn", "[1, 465]").unwrap_err();
    assert_eq!(
        e.to_string(),
        "tensor `x`: element at flat index 1: 465.0 is out of range for float8e4m3fn (largest finite 448)"
    );
    let e = json("float8e4m3fnuz", r#"[1, "-Infinity"]"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tensor `x`: element at flat index 1: float8e4m3fnuz has no infinity (its largest finite value is 240)"
    );
    let e = json("float8e5m2fnuz", "[57344, 61440]").unwrap_err();
    assert!(
        e.to_string().ends_with("61440.0 is out of range for float8e5m2fnuz (largest finite 57344)"),
        "{e}"
    );
    let inf = json("float8e5m2", r#"["Infinity", null]"#).unwrap();
    assert_eq!(bits_of(&inf["x"].data), [0x7c, 0x7e]);
    let e = json("float8e5m2", "[61440, 0]").unwrap_err();
    assert!(e.to_string().contains("61440.0 is out of range for float8e5m2"), "{e}");
    let e = json("bfloat16", "[1e39, 0]").unwrap_err();
    assert!(e.to_string().ends_with("1e39 is out of range for bfloat16"), "{e}");
    let e = json("int4", "[-8, 8]").unwrap_err();
    assert_eq!(e.to_string(), "tensor `x`: element at flat index 1: 8 is out of range for int4");
    let e = json("uint4", "[-1, 0]").unwrap_err();
    assert_eq!(e.to_string(), "tensor `x`: element at flat index 0: -1 is out of range for uint4");
}
