//! Checks on a JSON body before it is read into its type, driven by the OpenAPI document the
//! code generates (so the rule and the contract cannot drift apart):
//!
//! - no text anywhere may hold a NUL character (PostgreSQL refuses it, SQLite would store it);
//! - where the spec says object, an array is refused: serde's derived structs would otherwise
//!   take `[1, "pre_job", …]` field by field, by position.
//!
//! Each broken rule names its field as [`super::common::parse_json`] does: plainly at the top
//! level (`purpose`), as a JSON pointer below it (`/sites/3/name`).

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::domain::Violation;

/// The spec's component schemas, generated once.
fn schemas() -> &'static Map<String, Value> {
    static SCHEMAS: OnceLock<Map<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        serde_json::to_value(crate::startup::document())
            .ok()
            .and_then(|spec| spec.pointer("/components/schemas").cloned())
            .and_then(|s| match s {
                Value::Object(map) => Some(map),
                _ => None,
            })
            .unwrap_or_default()
    })
}

/// The schema a Rust type is published under: its name without module path or generics.
fn schema_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let plain = full.split('<').next().unwrap_or(full);
    plain.rsplit("::").next().unwrap_or(plain)
}

/// Every broken rule of `value` as a body of type `T`, added to `broken`.
pub fn check<T>(value: &Value, broken: &mut Vec<Violation>) {
    let schema = schemas()
        .get(schema_name::<T>())
        .cloned()
        .unwrap_or(Value::Null);
    walk(&schema, value, &mut String::new(), broken);
}

fn field_name(pointer: &str) -> String {
    match pointer {
        "" => "/".into(),
        p if p[1..].contains('/') => p.to_string(),
        p => p[1..].to_string(),
    }
}

/// Follows `$ref`s to the schema itself.
fn resolve(schema: &Value) -> &Value {
    let mut current = schema;
    for _ in 0..16 {
        match current
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .and_then(|name| schemas().get(name))
        {
            Some(next) => current = next,
            None => break,
        }
    }
    current
}

/// The alternatives of a `oneOf`/`anyOf` (an `Option<T>` is `oneOf: [null, T]`), or the schema.
fn alternatives(schema: &Value) -> Vec<&Value> {
    let schema = resolve(schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(options)) = schema.get(key) {
            return options.iter().flat_map(alternatives).collect();
        }
    }
    vec![schema]
}

fn is_object_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("object")
        || schema.get("properties").is_some()
}

fn is_array_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("array") || schema.get("items").is_some()
}

fn walk(schema: &Value, value: &Value, pointer: &mut String, broken: &mut Vec<Violation>) {
    let options = alternatives(schema);
    match value {
        Value::String(text) if text.contains('\0') => {
            broken.push(Violation {
                field: field_name(pointer),
                message: "must not contain NUL characters".into(),
            });
        }
        Value::Array(items) => {
            let wants_object = !options.is_empty()
                && options.iter().any(|o| is_object_schema(o))
                && !options.iter().any(|o| is_array_schema(o));
            if wants_object {
                broken.push(Violation {
                    field: field_name(pointer),
                    message: "expected an object, not an array".into(),
                });
                return;
            }
            let item_schema = options
                .iter()
                .find_map(|o| o.get("items"))
                .cloned()
                .unwrap_or(Value::Null);
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                walk(&item_schema, item, pointer, broken);
                pointer.truncate(len);
            }
        }
        Value::Object(fields) => {
            for (name, item) in fields {
                if name.contains('\0') {
                    broken.push(Violation {
                        field: field_name(pointer),
                        message: "field names must not contain NUL characters".into(),
                    });
                    continue;
                }
                let field_schema = options
                    .iter()
                    .find_map(|o| o.get("properties").and_then(|p| p.get(name)))
                    .cloned()
                    .unwrap_or(Value::Null);
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
                walk(&field_schema, item, pointer, broken);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broken(schema: Value, value: Value) -> Vec<String> {
        let mut out = Vec::new();
        walk(&schema, &value, &mut String::new(), &mut out);
        out.into_iter()
            .map(|v| format!("{}: {}", v.field, v.message))
            .collect()
    }

    #[test]
    fn an_array_where_an_object_belongs_is_refused_at_any_depth() {
        let inner = serde_json::json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "one": {"oneOf": [{"type": "null"}, inner]},
                "many": {"type": "array", "items": inner},
            }
        });
        assert_eq!(
            broken(schema.clone(), serde_json::json!([1, 2])),
            ["/: expected an object, not an array"]
        );
        assert_eq!(
            broken(
                schema.clone(),
                serde_json::json!({"one": ["x"], "many": [{"a": "ok"}, ["x"]]})
            ),
            [
                "/many/1: expected an object, not an array",
                "one: expected an object, not an array"
            ]
        );
        assert!(broken(schema, serde_json::json!({"one": null, "many": []})).is_empty());
    }

    #[test]
    fn nul_characters_are_refused_in_any_text() {
        let found = broken(
            Value::Null,
            serde_json::json!({"purpose": "a\u{0}b", "list": [{"name": "\u{0}"}]}),
        );
        assert_eq!(
            found,
            [
                "/list/0/name: must not contain NUL characters",
                "purpose: must not contain NUL characters"
            ]
        );
    }

    #[test]
    fn type_names_become_schema_names() {
        assert_eq!(schema_name::<crate::error::Problem>(), "Problem");
        assert_eq!(schema_name::<Vec<u8>>(), "Vec");
    }
}
