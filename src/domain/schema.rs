//! JSON Schemas (draft 2020-12) for the `data` of an event type: checked
//! and compiled once when a type is written, then run on every publish.

use jsonschema::{PatternOptions, Validator};
use serde_json::Value;

use super::event::depth;

/// The draft every schema is read as; a schema may name it in `$schema`.
pub const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// The largest schema (or example) accepted, serialized.
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024;

/// The deepest schema accepted, in levels of objects and lists.
pub const MAX_DOCUMENT_DEPTH: usize = 32;

/// The most characters of one reason a violation gives: the schema's own
/// words (an `enum`'s values) can be long.
const MAX_REASON: usize = 200;

/// A compiled schema.
///
/// Compiled with: formats asserted (`date-time`, `email`, `uuid`, ...;
/// an unknown format is refused), patterns in the linear-time `regex`
/// engine (no backtracking a publisher could make slow), and no reference
/// outside the schema itself (none is fetched, from the network or a
/// file: a remote `$ref` does not compile).
pub struct Schema(Validator);

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Schema")
    }
}

impl Schema {
    /// Checks `schema` against the draft 2020-12 meta-schema and compiles
    /// it; says why it is not a usable schema otherwise.
    pub fn compile(schema: &Value) -> Result<Schema, String> {
        check_document(schema)?;
        if !schema.is_object() {
            return Err("must be a JSON object".into());
        }
        match schema.get("$schema") {
            None => {}
            Some(Value::String(draft)) if draft == DRAFT_2020_12 => {}
            Some(_) => return Err(format!("$schema must be {DRAFT_2020_12:?} or absent")),
        }
        if let Err(error) = jsonschema::draft202012::meta::validate(schema) {
            return Err(format!(
                "is not a valid draft 2020-12 JSON Schema at {:?}: {}",
                error.instance_path().as_str(),
                cut(&error.masked().to_string())
            ));
        }
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .should_ignore_unknown_formats(false)
            .with_pattern_options(PatternOptions::regex())
            .build(schema)
            .map(Schema)
            .map_err(|error| format!("cannot be compiled: {}", cut(&error.to_string())))
    }

    /// Whether `data` meets the schema: the fast path of a valid publish.
    pub fn accepts(&self, data: &Value) -> bool {
        self.0.is_valid(data)
    }

    /// Every way `data` fails the schema: the JSON pointer into it (`""`
    /// for `data` itself, `/amount`) and what the schema required, without
    /// quoting the value back.
    pub fn errors<'a>(&'a self, data: &'a Value) -> impl Iterator<Item = (String, String)> + 'a {
        self.0.iter_errors(data).map(|error| {
            (
                error.instance_path().as_str().to_owned(),
                cut(&error.masked().to_string()),
            )
        })
    }
}

/// Bounds a schema or an example: small and shallow enough to store,
/// compile and show.
pub fn check_document(document: &Value) -> Result<(), String> {
    let size = serde_json::to_vec(document).map_or(usize::MAX, |b| b.len());
    if size > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "is {size} bytes serialized; at most {MAX_DOCUMENT_BYTES} are accepted"
        ));
    }
    let depth = depth(document);
    if depth > MAX_DOCUMENT_DEPTH {
        return Err(format!(
            "nests objects and lists {depth} levels deep; at most {MAX_DOCUMENT_DEPTH} are accepted"
        ));
    }
    Ok(())
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_REASON) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_schema_that_is_not_one_is_refused_with_the_reason() {
        let err = Schema::compile(&json!({"type": "bogus"})).unwrap_err();
        assert!(
            err.starts_with("is not a valid draft 2020-12 JSON Schema at \"/type\""),
            "{err}"
        );
        let err = Schema::compile(&json!({"$schema": "http://json-schema.org/draft-07/schema#"}));
        assert!(err.unwrap_err().starts_with("$schema must be"));
        let err = Schema::compile(&json!({"type": "string", "format": "colour"})).unwrap_err();
        assert!(err.starts_with("cannot be compiled"), "{err}");
        let err = Schema::compile(&json!({"pattern": "(?<=a)b"})).unwrap_err();
        assert!(err.starts_with("cannot be compiled"), "{err}");
        assert!(Schema::compile(&json!({"$schema": DRAFT_2020_12, "type": "object"})).is_ok());
    }

    #[test]
    fn no_reference_outside_the_schema_is_followed() {
        let remote = json!({"$ref": "https://example.com/schema.json"});
        assert!(Schema::compile(&remote).is_err());
        let file = json!({"$ref": "file:///etc/passwd"});
        assert!(Schema::compile(&file).is_err());
        let local = json!({
            "$defs": {"amount": {"type": "integer"}},
            "properties": {"amount": {"$ref": "#/$defs/amount"}}
        });
        let schema = Schema::compile(&local).unwrap();
        assert!(!schema.accepts(&json!({"amount": "x"})));
    }

    #[test]
    fn formats_are_asserted_and_whole_numbers_are_integers() {
        let schema = Schema::compile(&json!({
            "properties": {
                "at": {"format": "date-time"},
                "email": {"format": "email"},
                "count": {"type": "integer"}
            }
        }))
        .unwrap();
        assert!(schema.accepts(&json!({"at": "2026-12-06T10:00:00Z", "email": "a@b.example"})));
        assert!(!schema.accepts(&json!({"at": "yesterday"})));
        assert!(!schema.accepts(&json!({"email": "nobody"})));
        assert!(schema.accepts(&json!({"count": 3.0})));
        assert!(!schema.accepts(&json!({"count": 3.5})));
    }

    #[test]
    fn errors_name_the_pointer_and_never_quote_the_value() {
        let schema = Schema::compile(&json!({"properties": {"a": {"type": "integer"}}})).unwrap();
        let secret = "s".repeat(1000);
        let errors: Vec<_> = schema.errors(&json!({ "a": secret })).collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, "/a");
        assert!(!errors[0].1.contains("sss"), "{}", errors[0].1);
    }

    #[test]
    fn documents_are_bounded() {
        let big = json!({"description": "x".repeat(MAX_DOCUMENT_BYTES)});
        assert!(
            check_document(&big)
                .unwrap_err()
                .contains("bytes serialized")
        );
        let deep = (0..40).fold(json!({}), |inner, _| json!({ "not": inner }));
        assert!(check_document(&deep).unwrap_err().contains("levels deep"));
    }
}
