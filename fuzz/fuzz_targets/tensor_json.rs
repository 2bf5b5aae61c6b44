//! `ferry_tensor::read_bytes` for Ferry's tensor JSON (explicit `{dtype, shape, data}` objects or nested arrays, with dtype hints).
//! A tensor map that reads and that the writer accepts must read back unchanged from the writer's bytes.
//! The same bytes as a golden file of both sides (`{"inputs": {...}, "outputs": {...}}`): each side that
//! reads, written back with the golden writer, reads back unchanged.
#![no_main]

use ferry_tensor::{
    DType, Format, GoldenSide, Part, golden_json_bytes, is_golden_json, read_bytes, read_part_checked,
    write_bytes,
};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

const FORMAT: Format = Format::Json;

fuzz_target!(|data: &[u8]| {
    let hints = hints(data);
    golden_sides(data, &hints);
    let Ok(tensors) = read_bytes(data, FORMAT, "x", &hints) else {
        return;
    };
    for t in tensors.values() {
        let _ = t.dtype();
        for i in 0..t.len().min(16) {
            let _ = t.as_f64(i);
        }
    }
    let Ok(bytes) = write_bytes(&tensors, FORMAT) else {
        return;
    };
    let again = read_bytes(&bytes, FORMAT, "x", &hints).expect("the writer's bytes read back");
    assert_eq!(format!("{again:?}"), format!("{tensors:?}"), "tensors changed through the writer");
});

/// The dtype hints the JSON reader takes for bare arrays: a few names, with a dtype chosen by the
/// input's last byte (so the fuzzer steers it). Other formats ignore hints.
fn hints(data: &[u8]) -> BTreeMap<String, DType> {
    let pick = data.last().map_or(0, |b| usize::from(*b)) % DType::ALL.len();
    ["x", "a", "input", "features"].into_iter().map(|n| (n.to_owned(), DType::ALL[pick])).collect()
}

fn golden_sides(data: &[u8], hints: &BTreeMap<String, DType>) {
    let side = |part: Part| read_part_checked(data, FORMAT, "x", hints, part, &mut |_| Ok(()));
    let _ = side(Part::SideOrWhole(GoldenSide::Inputs));
    let (Ok(inputs), Ok(outputs)) =
        (side(Part::Side(GoldenSide::Inputs)), side(Part::Side(GoldenSide::Outputs)))
    else {
        return;
    };
    assert!(is_golden_json(data), "both sides read from a file that is not a golden file");
    let Ok(bytes) = golden_json_bytes(&inputs, &outputs) else {
        return;
    };
    let again = |s| read_part_checked(&bytes, FORMAT, "x", hints, Part::Side(s), &mut |_| Ok(()));
    let (a, b) = (
        again(GoldenSide::Inputs).expect("inputs read back"),
        again(GoldenSide::Outputs).expect("outputs read back"),
    );
    assert_eq!(
        format!("{a:?}{b:?}"),
        format!("{inputs:?}{outputs:?}"),
        "sides changed through the golden writer"
    );
}
