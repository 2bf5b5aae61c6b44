//! Runtime configuration: the bundle's JSON Schema, its defaults, and validation that names the key and
//! the rule that failed. Shared by the packager (defaults must pass), the runtime (the effective config
//! must pass) and the verifier (`contract.config-schema`).

use serde_json::{Map, Value};

/// A compiled configuration schema.
#[derive(Debug)]
pub struct ConfigSchema {
    validator: jsonschema::Validator,
    schema: Value,
}

/// One way a configuration breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer of the offending value (`/decision_threshold`; empty for the whole document).
    pub pointer: String,
    /// The schema keyword that failed and where it sits in the schema (`maximum at /properties/x/maximum`).
    pub rule: String,
    /// What the validator said.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pointer = if self.pointer.is_empty() { "/" } else { &self.pointer };
        write!(f, "{pointer}: {} (rule {})", self.message, self.rule)
    }
}

impl ConfigSchema {
    /// Compiles a schema (draft 2020-12 unless it declares another with `$schema`). Schemas that refer to
    /// remote documents are refused: a bundle must be checkable offline.
    pub fn compile(schema: &Value) -> Result<ConfigSchema, String> {
        if !schema.is_object() && !schema.is_boolean() {
            return Err("a JSON Schema must be an object or a boolean".into());
        }
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(schema)
            .map_err(|e| e.to_string())?;
        Ok(ConfigSchema { validator, schema: schema.clone() })
    }

    /// Checks `config`; every violation is returned, in the validator's order.
    pub fn validate(&self, config: &Value) -> Result<(), Vec<Violation>> {
        // The valid case is the hot one (every record and result a runtime checks): the validator's
        // boolean walk stops at nothing and allocates no error.
        if self.validator.is_valid(config) {
            return Ok(());
        }
        let errors: Vec<Violation> = self
            .validator
            .iter_errors(config)
            .map(|e| Violation {
                pointer: e.instance_path().to_string(),
                rule: format!("{} at {}", e.kind().keyword(), e.schema_path()),
                message: e.to_string(),
            })
            .collect();
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// The `default` of each top-level property the schema declares, as an object.
    pub fn schema_defaults(&self) -> Map<String, Value> {
        let mut out = Map::new();
        if let Some(props) = self.schema.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                if let Some(d) = v.get("default") {
                    out.insert(k.clone(), d.clone());
                }
            }
        }
        out
    }
}

impl ConfigSchema {
    /// The one effective-defaults rule, shared by `pack`, `verify` and the runtime: the schema's own
    /// top-level defaults with the bundle's defaults file merged over them. `None` when the defaults
    /// file is not a JSON object.
    pub fn effective_defaults(&self, defaults: Option<&Value>) -> Option<Value> {
        let mut out = Value::Object(self.schema_defaults());
        if let Some(d) = defaults {
            if !d.is_object() {
                return None;
            }
            merge(&mut out, d);
        }
        Some(out)
    }
}

/// Merges `overlay` into `base`: objects merge key by key, anything else replaces.
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn violation_names_pointer_and_rule() {
        let s = ConfigSchema::compile(&json!({
            "type": "object",
            "properties": {"t": {"type": "number", "maximum": 1, "default": 0.5}},
            "additionalProperties": false
        }))
        .unwrap();
        assert!(s.validate(&json!({"t": 0.3})).is_ok());
        let v = s.validate(&json!({"t": 3})).unwrap_err();
        assert_eq!(v[0].pointer, "/t");
        assert!(v[0].rule.starts_with("maximum"), "{}", v[0].rule);
        assert_eq!(s.schema_defaults().get("t"), Some(&json!(0.5)));
        assert_eq!(s.effective_defaults(None).unwrap()["t"], json!(0.5));
        assert_eq!(s.effective_defaults(Some(&json!({"t": 0.7}))).unwrap()["t"], json!(0.7));
        assert!(s.effective_defaults(Some(&json!([1]))).is_none());
        let extra = s.validate(&json!({"u": 1})).unwrap_err();
        assert!(extra[0].rule.starts_with("additionalProperties"));
    }

    #[test]
    fn merge_is_deep() {
        let mut a = json!({"a": {"x": 1, "y": 2}, "b": 1});
        merge(&mut a, &json!({"a": {"y": 3}, "c": 4}));
        assert_eq!(a, json!({"a": {"x": 1, "y": 3}, "b": 1, "c": 4}));
    }
}
