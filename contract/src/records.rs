//! Raw records and the results made of them: JSON lines, and how a result is compared with the one a
//! golden set expects.

use serde_json::Value;

/// The lines of a JSON-lines text that hold something, with their 1-based line numbers: blank lines
/// are skipped, so that a trailing newline or a spacer is not a record.
///
/// ```
/// let lines: Vec<_> = ferry_contract::records::lines("{\"a\": 1}\n\n{\"a\": 2}\n").collect();
/// assert_eq!(lines, [(1, "{\"a\": 1}"), (3, "{\"a\": 2}")]);
/// ```
pub fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| (i + 1, l))
}

/// The first place where `actual` differs from `expected`, as `(JSON pointer, expected, actual)`:
/// numbers within `atol + rtol × |expected|` are equal, everything else must be equal exactly (object
/// keys in any order, arrays in order).
///
/// ```
/// use serde_json::json;
/// use ferry_contract::records::first_difference;
/// let e = json!({"decision": "approve", "probability": 0.1});
/// assert_eq!(first_difference(&e, &json!({"probability": 0.10000001, "decision": "approve"}), 1e-4, 1e-5), None);
/// assert_eq!(first_difference(&e, &json!({"decision": "review", "probability": 0.1}), 1e-4, 1e-5).unwrap().0, "/decision");
/// ```
pub fn first_difference(
    expected: &Value,
    actual: &Value,
    rtol: f64,
    atol: f64,
) -> Option<(String, String, String)> {
    diff(expected, actual, rtol, atol, &mut String::new())
}

fn diff(e: &Value, a: &Value, rtol: f64, atol: f64, at: &mut String) -> Option<(String, String, String)> {
    let here = |at: &String| Some((at.clone(), e.to_string(), a.to_string()));
    match (e, a) {
        (Value::Number(x), Value::Number(y)) => {
            let (Some(x), Some(y)) = (x.as_f64(), y.as_f64()) else { return here(at) };
            if (x - y).abs() <= atol + rtol * x.abs() { None } else { here(at) }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return here(at);
            }
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                let len = at.len();
                at.push_str(&format!("/{i}"));
                if let Some(d) = diff(x, y, rtol, atol, at) {
                    return Some(d);
                }
                at.truncate(len);
            }
            None
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let len = at.len();
                at.push('/');
                at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                let d = match (x.get(k), y.get(k)) {
                    (Some(x), Some(y)) => diff(x, y, rtol, atol, at),
                    (x, y) => Some((
                        at.clone(),
                        x.map_or_else(|| "(absent)".to_owned(), Value::to_string),
                        y.map_or_else(|| "(absent)".to_owned(), Value::to_string),
                    )),
                };
                if d.is_some() {
                    return d;
                }
                at.truncate(len);
            }
            None
        }
        _ if e == a => None,
        _ => here(at),
    }
}
