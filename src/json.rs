//! Reading and writing the JSON documents the component handles (state records, HubSpot's answers,
//! webhook bodies, request bodies) through [`Value`] and small field helpers.
//!
//! Every document is parsed into a `Value` and its fields are picked by hand, instead of deriving a
//! decoder per type: one copy of the JSON machinery serves every type, which keeps the component
//! small. The helpers follow serde's rules for the fields they read: a required field must be there
//! with the right type, an optional one may be missing or `null`, and a field with a default may be
//! missing (not `null`).

mod value;

use alloc::{borrow::ToOwned, string::String};
use core::fmt;

pub use value::{Map, Number, SyntaxError, Value, parse};

/// A type read from a JSON document.
pub trait FromJson: Sized {
    /// Reads the value; names the first field that is missing or of the wrong type.
    fn from_json(value: &Value) -> Result<Self, FieldError>;
}

/// A type written as a JSON document.
pub trait ToJson {
    /// The value as JSON.
    fn to_json(&self) -> Value;
}

/// A field that is missing or of the wrong type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name (or the key of a map entry).
    pub field: String,
    /// What it should be (`"a text"`, `"a number"`, ...).
    pub expected: &'static str,
}

impl FieldError {
    /// `field` is missing or is not `expected`.
    pub fn new(field: &str, expected: &'static str) -> Self {
        FieldError {
            field: field.to_owned(),
            expected,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "field `{}` is missing or is not {}",
            self.field, self.expected
        )
    }
}

impl core::error::Error for FieldError {}

const TEXT: &str = "a text";
const NUMBER: &str = "a non-negative integer";
const BOOLEAN: &str = "true or false";

/// A field that may be missing or `null`; `None` then.
pub fn optional<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.get(key).filter(|v| !v.is_null())
}

/// A required text field.
pub fn string(value: &Value, key: &str) -> Result<String, FieldError> {
    opt_string(value, key)?.ok_or_else(|| FieldError::new(key, TEXT))
}

/// An optional text field.
pub fn opt_string(value: &Value, key: &str) -> Result<Option<String>, FieldError> {
    match optional(value, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(FieldError::new(key, TEXT)),
    }
}

/// A text field that is empty when missing.
pub fn string_or_empty(value: &Value, key: &str) -> Result<String, FieldError> {
    match value.get(key) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(FieldError::new(key, TEXT)),
    }
}

/// A required non-negative integer field.
pub fn number(value: &Value, key: &str) -> Result<u64, FieldError> {
    opt_number(value, key)?.ok_or_else(|| FieldError::new(key, NUMBER))
}

/// An optional non-negative integer field.
pub fn opt_number(value: &Value, key: &str) -> Result<Option<u64>, FieldError> {
    match optional(value, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| FieldError::new(key, NUMBER)),
    }
}

/// A non-negative integer field that is 0 when missing.
pub fn number_or_zero(value: &Value, key: &str) -> Result<u64, FieldError> {
    match value.get(key) {
        None => Ok(0),
        Some(v) => v.as_u64().ok_or_else(|| FieldError::new(key, NUMBER)),
    }
}

/// A boolean field that is false when missing.
pub fn flag(value: &Value, key: &str) -> Result<bool, FieldError> {
    match value.get(key) {
        None => Ok(false),
        Some(v) => v.as_bool().ok_or_else(|| FieldError::new(key, BOOLEAN)),
    }
}

/// Builds a JSON object field by field.
#[derive(Debug, Default)]
pub struct Object(Map);

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a field when it has a value.
    pub fn with_some(self, key: &str, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }
}

impl From<Object> for Value {
    fn from(object: Object) -> Value {
        Value::Object(object.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_serdes_rules() -> Result<(), Box<dyn core::error::Error>> {
        let v = parse(br#"{"s": "x", "n": 7, "null": null, "b": true, "neg": -1}"#)?;
        assert_eq!(string(&v, "s"), Ok("x".into()));
        assert_eq!(string(&v, "n"), Err(FieldError::new("n", TEXT)));
        assert!(string(&v, "null").is_err());
        assert!(string(&v, "gone").is_err());
        assert_eq!(opt_string(&v, "null"), Ok(None));
        assert_eq!(opt_string(&v, "gone"), Ok(None));
        assert!(opt_string(&v, "n").is_err());
        assert_eq!(string_or_empty(&v, "gone"), Ok(String::new()));
        assert!(string_or_empty(&v, "null").is_err());
        assert_eq!(number(&v, "n"), Ok(7));
        assert!(number(&v, "neg").is_err());
        assert_eq!(opt_number(&v, "null"), Ok(None));
        assert_eq!(number_or_zero(&v, "gone"), Ok(0));
        assert_eq!(flag(&v, "b"), Ok(true));
        assert_eq!(flag(&v, "gone"), Ok(false));
        assert!(flag(&v, "null").is_err());
        Ok(())
    }

    #[test]
    fn objects_leave_out_missing_values() {
        let v: Value = Object::new()
            .with("a", "x")
            .with_some("b", None::<u64>)
            .with_some("c", Some(2u64))
            .into();
        assert_eq!(v.to_string(), r#"{"a":"x","c":2}"#);
    }
}
