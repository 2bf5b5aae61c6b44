//! The effective runtime configuration: schema defaults, then the bundle's defaults file, then a config
//! file, then `FERRY_CONFIG__<KEY>` environment variables, then API / `--config key=value` overrides, the
//! result validated against the bundle's JSON Schema.

use crate::RuntimeError;
use ferry_spec::config::{ConfigSchema, merge};
use serde_json::{Map, Value};
use std::path::Path;

/// Prefix of the environment variables that set configuration keys; `__` separates nesting levels.
pub const ENV_PREFIX: &str = "FERRY_CONFIG__";

/// Where each layer of the configuration comes from; later layers win.
#[derive(Debug, Default)]
pub(crate) struct Layers<'a> {
    /// The bundle's JSON Schema, if it declares one.
    pub schema: Option<&'a Value>,
    /// The bundle's defaults file.
    pub defaults: Option<&'a Value>,
    /// A host-side config file (JSON, or TOML by extension).
    pub file: Option<&'a Path>,
    /// Environment variables (all of them; only `FERRY_CONFIG__*` are used).
    pub env: Vec<(String, String)>,
    /// `key=value` overrides: a dotted key or a JSON pointer, and a value parsed as JSON if it parses.
    pub overrides: &'a [(String, String)],
}

fn config_err(
    pointer: impl Into<String>,
    rule: impl Into<String>,
    message: impl Into<String>,
) -> RuntimeError {
    RuntimeError::Config { pointer: pointer.into(), rule: rule.into(), message: message.into() }
}

/// Builds and validates the effective configuration.
pub(crate) fn resolve(layers: &Layers<'_>) -> Result<Value, RuntimeError> {
    let compiled = match layers.schema {
        Some(s) => Some(ConfigSchema::compile(s).map_err(|e| {
            config_err("", "schema", format!("the bundle's config schema does not compile: {e}"))
        })?),
        None => None,
    };
    let mut config = match &compiled {
        Some(c) => c.effective_defaults(layers.defaults),
        None => layers
            .defaults
            .map_or(Some(Value::Object(Default::default())), |d| d.is_object().then(|| d.clone())),
    }
    .ok_or_else(|| config_err("", "defaults", "the bundle's config defaults must be a JSON object"))?;
    if let Some(path) = layers.file {
        let file = read_config_file(path)?;
        merge(&mut config, &file);
    }
    for (name, value) in &layers.env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else { continue };
        let tokens: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        if tokens.iter().any(String::is_empty) {
            return Err(config_err(
                "",
                "environment",
                format!(
                    "environment variable `{name}` has an empty key segment; use {ENV_PREFIX}KEY or {ENV_PREFIX}A__B"
                ),
            ));
        }
        set(&mut config, &tokens, parse_value(value))?;
    }
    for (key, value) in layers.overrides {
        let tokens = parse_key(key)?;
        set(&mut config, &tokens, parse_value(value))?;
    }
    if let Some(schema) = &compiled
        && let Err(violations) = schema.validate(&config)
        && let Some(first) = violations.into_iter().next()
    {
        return Err(config_err(first.pointer, first.rule, first.message));
    }
    Ok(config)
}

fn read_config_file(path: &Path) -> Result<Value, RuntimeError> {
    let file_err = |message: String| RuntimeError::ConfigFile { path: path.to_path_buf(), message };
    // A regular file of configuration size: a FIFO or /dev/zero is refused, not read.
    let text = ferry_spec::file::read_to_string(path, ferry_spec::file::SMALL_FILE_LIMIT)
        .map_err(|e| file_err(e.reason()))?;
    let is_toml = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let value: Value = if is_toml {
        toml::from_str(&text).map_err(|e| file_err(format!("not valid TOML: {e}")))?
    } else {
        serde_json::from_str(&text).map_err(|e| file_err(format!("not valid JSON: {e}")))?
    };
    if !value.is_object() {
        return Err(file_err("the configuration must be an object (a table)".into()));
    }
    Ok(value)
}

/// A value given as text: JSON if it parses (`0.7`, `true`, `{"a":1}`, `"quoted"`), else the text itself.
pub(crate) fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// `a.b.c` or a JSON pointer `/a/b/c` (with `~0`/`~1` escapes) to path tokens.
pub(crate) fn parse_key(key: &str) -> Result<Vec<String>, RuntimeError> {
    let tokens: Vec<String> = if let Some(rest) = key.strip_prefix('/') {
        rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect()
    } else {
        key.split('.').map(str::to_owned).collect()
    };
    if key.is_empty() || key == "/" || tokens.iter().any(String::is_empty) {
        return Err(config_err(
            "",
            "key",
            format!(
                "`{key}` is not a config key; write `name`, `section.name` or a JSON pointer `/section/name`"
            ),
        ));
    }
    Ok(tokens)
}

/// The JSON pointer for path tokens.
pub(crate) fn pointer(tokens: &[String]) -> String {
    tokens.iter().map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1"))).collect()
}

/// Sets the value at `tokens`, creating intermediate objects; an index into an existing array is allowed.
fn set(config: &mut Value, tokens: &[String], value: Value) -> Result<(), RuntimeError> {
    let Some((last, parents)) = tokens.split_last() else {
        return Err(config_err("", "key", "empty config key"));
    };
    let mut node = config;
    for (depth, token) in parents.iter().enumerate() {
        let here = pointer(&tokens[..=depth]);
        node = match node {
            Value::Object(map) => map.entry(token.clone()).or_insert_with(|| Value::Object(Map::new())),
            Value::Array(items) => {
                let len = items.len();
                token.parse::<usize>().ok().and_then(|i| items.get_mut(i)).ok_or_else(|| {
                    config_err(
                        here,
                        "structure",
                        format!("`{token}` is not an index of this {len}-element array"),
                    )
                })?
            }
            other => {
                return Err(config_err(
                    pointer(&tokens[..depth]),
                    "structure",
                    format!("cannot set `{token}` inside a {}", kind(other)),
                ));
            }
        };
    }
    match node {
        Value::Object(map) => {
            map.insert(last.clone(), value);
        }
        Value::Array(items) => {
            let len = items.len();
            let slot = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)).ok_or_else(|| {
                config_err(
                    pointer(tokens),
                    "structure",
                    format!("`{last}` is not an index of this {len}-element array"),
                )
            })?;
            *slot = value;
        }
        other => {
            return Err(config_err(
                pointer(&tokens[..tokens.len() - 1]),
                "structure",
                format!("cannot set `{last}` inside a {}", kind(other)),
            ));
        }
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The process environment, as UTF-8 pairs (others cannot name a config key and are skipped).
pub(crate) fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            if !k.starts_with(ENV_PREFIX) {
                return None;
            }
            Some((k, v.into_string().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "decision_threshold": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
                "intra_op_threads": {"type": "integer", "minimum": 0, "default": 0},
                "currency": {"type": "string", "enum": ["USD", "EUR", "GBP"], "default": "USD"},
                "nested": {"type": "object", "properties": {"depth": {"type": "integer"}}}
            },
            "additionalProperties": false
        })
    }

    #[test]
    fn layers_apply_in_order() {
        let schema = schema();
        let defaults = json!({"decision_threshold": 0.4, "currency": "EUR"});
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "decision_threshold = 0.3\n[nested]\ndepth = 1\n").unwrap();
        let overrides = vec![("nested.depth".to_owned(), "3".to_owned())];
        let layers = Layers {
            schema: Some(&schema),
            defaults: Some(&defaults),
            file: Some(&file),
            env: vec![
                ("FERRY_CONFIG__DECISION_THRESHOLD".into(), "0.2".into()),
                ("FERRY_CONFIG__NESTED__DEPTH".into(), "2".into()),
                ("UNRELATED".into(), "x".into()),
            ],
            overrides: &overrides,
        };
        let c = resolve(&layers).unwrap();
        assert_eq!(
            c,
            json!({"decision_threshold": 0.2, "intra_op_threads": 0, "currency": "EUR", "nested": {"depth": 3}})
        );
    }

    #[test]
    fn violation_names_pointer_and_rule() {
        let schema = schema();
        let overrides = vec![("/decision_threshold".to_owned(), "1.5".to_owned())];
        let err = resolve(&Layers { schema: Some(&schema), overrides: &overrides, ..Layers::default() })
            .unwrap_err();
        match err {
            RuntimeError::Config { pointer, rule, .. } => {
                assert_eq!(pointer, "/decision_threshold");
                assert!(rule.starts_with("maximum"), "{rule}");
            }
            other => panic!("{other}"),
        }
        let overrides = vec![("currency".to_owned(), "JPY".to_owned())];
        let err = resolve(&Layers { schema: Some(&schema), overrides: &overrides, ..Layers::default() })
            .unwrap_err();
        assert!(
            matches!(&err, RuntimeError::Config { pointer, rule, .. } if pointer == "/currency" && rule.starts_with("enum")),
            "{err}"
        );
        let overrides = vec![("typo".to_owned(), "1".to_owned())];
        let err = resolve(&Layers { schema: Some(&schema), overrides: &overrides, ..Layers::default() })
            .unwrap_err();
        assert!(
            matches!(&err, RuntimeError::Config { rule, .. } if rule.starts_with("additionalProperties")),
            "{err}"
        );
    }

    #[test]
    fn values_parse_as_json_or_text() {
        assert_eq!(parse_value("0.7"), json!(0.7));
        assert_eq!(parse_value("true"), json!(true));
        assert_eq!(parse_value("USD"), json!("USD"));
        assert_eq!(parse_value("\"123\""), json!("123"));
        assert_eq!(parse_value(""), json!(""));
    }

    #[test]
    fn keys_and_pointers() {
        assert_eq!(parse_key("a.b").unwrap(), vec!["a", "b"]);
        assert_eq!(parse_key("/a~1x/b~0").unwrap(), vec!["a/x", "b~"]);
        for bad in ["", "/", "a..b", ".a", "/a//b"] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
        assert_eq!(pointer(&["a/x".into(), "b~".into()]), "/a~1x/b~0");
    }

    #[test]
    fn structural_conflicts_are_errors() {
        let overrides = vec![("a.b".to_owned(), "1".to_owned())];
        let defaults = json!({"a": 5});
        let err = resolve(&Layers { defaults: Some(&defaults), overrides: &overrides, ..Layers::default() })
            .unwrap_err();
        assert!(matches!(&err, RuntimeError::Config { pointer, .. } if pointer == "/a"), "{err}");
        let defaults = json!({"a": [1, 2]});
        let overrides = vec![("/a/1".to_owned(), "7".to_owned())];
        let c = resolve(&Layers { defaults: Some(&defaults), overrides: &overrides, ..Layers::default() })
            .unwrap();
        assert_eq!(c, json!({"a": [1, 7]}));
        let overrides = vec![("/a/9".to_owned(), "7".to_owned())];
        assert!(
            resolve(&Layers { defaults: Some(&defaults), overrides: &overrides, ..Layers::default() })
                .is_err()
        );
        let env = vec![("FERRY_CONFIG__A____B".to_owned(), "1".to_owned())];
        assert!(resolve(&Layers { env, ..Layers::default() }).is_err());
    }

    #[test]
    fn bad_config_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.json");
        std::fs::write(&file, "{nope").unwrap();
        let err = resolve(&Layers { file: Some(&file), ..Layers::default() }).unwrap_err();
        assert!(matches!(&err, RuntimeError::ConfigFile { path, .. } if path == &file), "{err}");
        std::fs::write(&file, "[1]").unwrap();
        assert!(resolve(&Layers { file: Some(&file), ..Layers::default() }).is_err());
        let missing = dir.path().join("missing.json");
        assert!(resolve(&Layers { file: Some(&missing), ..Layers::default() }).is_err());
    }
}
