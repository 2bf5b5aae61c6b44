//! Structured logs: one JSON object per line on stderr, with the request id where there is one.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes one log line: `{"ts": seconds since the epoch, "level", "msg", ...fields}`.
pub fn event(level: &str, msg: &str, fields: &[(&str, &str)]) {
    let ts = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let mut line = serde_json::Map::new();
    line.insert("ts".into(), serde_json::json!((ts * 1000.0).round() / 1000.0));
    line.insert("level".into(), level.into());
    line.insert("msg".into(), msg.into());
    for (k, v) in fields {
        line.insert((*k).to_owned(), (*v).into());
    }
    let mut text = serde_json::Value::Object(line).to_string();
    text.push('\n');
    // A log line that cannot be written (stderr closed) must not take a request down with it.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
