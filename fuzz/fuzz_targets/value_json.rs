//! `ferry_tensor::read_json_values`: sequences, maps and optionals in JSON, typed by a contract. The
//! types come from the input's last bytes (so the fuzzer steers them). Values that read must satisfy
//! their declared type, and read back unchanged from the writer's bytes, whole and as golden sides.
#![no_main]

use ferry_tensor::{DType, Part, Typed, golden_values_bytes, json_values_bytes, read_json_values};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

const TYPES: [&str; 7] = [
    "tensor",
    "sequence<tensor>",
    "sequence<map<int64, tensor>>",
    "sequence<map<string, tensor>>",
    "map<int32, tensor>",
    "optional<tensor>",
    "optional<sequence<tensor>>",
];

/// The most elements a read may hold: small, so a large declared container is refused quickly.
const MAX_ELEMENTS: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let types = types(data);
    let read = |bytes: &[u8], part| read_json_values(bytes, &types, part, &mut |_| Ok(()), MAX_ELEMENTS);
    if let Ok(values) = read(data, Part::Whole) {
        for (name, v) in &values {
            if let Some(t) = types.get(name) {
                assert_eq!(v.mismatch(&t.ty, t.dtype), None, "`{name}` read as another type");
            }
            let _ = (v.elements(), v.compared_elements(), v.kind());
        }
        let bytes = json_values_bytes(&values);
        let again = read(&bytes, Part::Whole).expect("the writer's bytes read back");
        assert_eq!(format!("{again:?}"), format!("{values:?}"), "values changed through the writer");
    }
    let side = |s| read(data, Part::Side(s));
    if let (Ok(inputs), Ok(outputs)) =
        (side(ferry_tensor::GoldenSide::Inputs), side(ferry_tensor::GoldenSide::Outputs))
    {
        let bytes = golden_values_bytes(&inputs, &outputs);
        let again = |s| read(&bytes, Part::Side(s)).expect("a side reads back");
        let (a, b) = (again(ferry_tensor::GoldenSide::Inputs), again(ferry_tensor::GoldenSide::Outputs));
        assert_eq!(
            format!("{a:?}{b:?}"),
            format!("{inputs:?}{outputs:?}"),
            "sides changed through the writer"
        );
    }
});

fn types(data: &[u8]) -> BTreeMap<String, Typed> {
    let pick =
        |i: usize| data.len().checked_sub(i + 1).and_then(|j| data.get(j)).map_or(0, |b| usize::from(*b));
    ["x", "p", "s"]
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            let ty = TYPES[pick(2 * i) % TYPES.len()].parse().expect("a valid type");
            let dtype = DType::ALL[pick(2 * i + 1) % DType::ALL.len()];
            (n.to_owned(), Typed { ty, dtype })
        })
        .collect()
}
