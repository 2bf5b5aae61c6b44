use serde::Serialize;
use serde_json::Value;
use std::io::Write;

/// Serialises `value` as canonical JSON: object keys sorted by their UTF-8 bytes, no insignificant
/// whitespace, numbers as `serde_json` prints them (shortest round-trip form), strings with the minimal
/// escapes. Two equal values always give the same bytes, whatever the order their fields were built in.
///
/// ```
/// let a = serde_json::json!({"b": 1, "a": [true, null]});
/// assert_eq!(ferry_spec::to_canonical_json(&a).unwrap(), br#"{"a":[true,null],"b":1}"#);
/// ```
pub fn to_canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let value = serde_json::to_value(value)?;
    let mut out = Vec::with_capacity(256);
    canonical_json(&value, &mut out)?;
    Ok(out)
}

/// Writes an already-built [`Value`] as canonical JSON (see [`to_canonical_json`]).
pub fn canonical_json(value: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k)?;
                out.push(b':');
                canonical_json(v, out)?;
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(v, out)?;
            }
            out.push(b']');
        }
        scalar => {
            serde_json::to_writer(&mut *out, scalar)?;
        }
    }
    // `Vec<u8>` never fails to write; keep the signature honest for callers that pass other sinks later.
    out.flush().map_err(serde_json::Error::io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e9f64..1e9).prop_map(Value::from),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::vec((".{0,6}", inner), 0..8)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn canonical_is_stable_and_round_trips(v in arb_json()) {
            let a = to_canonical_json(&v).unwrap();
            let back: Value = serde_json::from_slice(&a).unwrap();
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(to_canonical_json(&back).unwrap(), a);
        }
    }

    #[test]
    fn keys_sorted_by_bytes() {
        let v = serde_json::json!({"é": 1, "z": 2, "A": 3, "a": {"y": 1, "x": 2}});
        assert_eq!(
            String::from_utf8(to_canonical_json(&v).unwrap()).unwrap(),
            r#"{"A":3,"a":{"x":2,"y":1},"z":2,"é":1}"#
        );
    }
}
