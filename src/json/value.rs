//! The JSON tree the component reads and writes, with its parser and its (compact) writer.
//!
//! A small dedicated type rather than `serde_json::Value`: the component only needs a tree of values,
//! not serde's generic machinery, and that keeps tens of kilobytes out of it. It writes documents
//! byte for byte as `serde_json` does: objects keep their keys sorted (as its default map does), texts
//! are escaped the same way, and numbers keep their JSON text, so nothing is rounded or reformatted.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

/// How deeply arrays and objects may nest in a parsed document (as in `serde_json`): deeper input is
/// refused instead of exhausting the stack.
const MAX_DEPTH: usize = 127;

/// A JSON value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A text.
    String(String),
    /// A list.
    Array(Vec<Value>),
    /// An object.
    Object(Map),
}

impl Value {
    /// The member `key` when this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?.get(key)
    }

    /// The member `key`, mutably, when this is an object that has it.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        match self {
            Value::Object(map) => map.get_mut(key),
            _ => None,
        }
    }

    /// The text, when this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, when this is a non-negative integer that fits in a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// The boolean, when this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The items, when this is a list.
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The members, when this is an object.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether this is an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }
}

/// A JSON number, kept as its (valid) JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(String);

impl Number {
    /// The number, when it is a non-negative integer that fits in a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }

    /// Whether it is a non-negative integer that fits in a `u64`.
    pub fn is_u64(&self) -> bool {
        self.as_u64().is_some()
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A JSON object: its members sorted by key, each key once (a repeated key keeps its last value).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map(Vec<(String, Value)>);

impl Map {
    /// An empty object.
    pub fn new() -> Self {
        Map(Vec::new())
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The member `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    /// The member `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.position(key).ok().map(|i| &mut self.0[i].1)
    }

    /// Sets the member `key`, replacing its value when it has one.
    pub fn insert(&mut self, key: String, value: Value) {
        match self.position(&key) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    /// Removes the member `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.position(key).ok().map(|i| self.0.remove(i).1)
    }

    /// Whether the object has no member.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The members, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    /// The values, in key order.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Number(Number(n.to_string()))
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Value {
        Value::Number(Number(n.to_string()))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<Map> for Value {
    fn from(map: Map) -> Value {
        Value::Object(map)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(items: Vec<T>) -> Value {
        Value::Array(items.into_iter().map(Into::into).collect())
    }
}

/// Writes the value as compact JSON (`value.to_string()` is the document's text).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => f.write_str(if *b { "true" } else { "false" }),
            Value::Number(n) => f.write_str(&n.0),
            Value::String(s) => write_text(f, s),
            Value::Array(items) => {
                f.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    fmt::Display::fmt(item, f)?;
                }
                f.write_char(']')
            }
            Value::Object(map) => {
                f.write_char('{')?;
                for (i, (key, value)) in map.0.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write_text(f, key)?;
                    f.write_char(':')?;
                    fmt::Display::fmt(value, f)?;
                }
                f.write_char('}')
            }
        }
    }
}

/// Writes a JSON string: quotes, backslashes and control characters escaped, the rest as is.
fn write_text(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    f.write_char('"')?;
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let short = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..0x20 => "",
            _ => continue,
        };
        f.write_str(&text[start..i])?;
        if short.is_empty() {
            f.write_str("\\u00")?;
            f.write_char(char::from(HEX[usize::from(byte >> 4)]))?;
            f.write_char(char::from(HEX[usize::from(byte & 0xf)]))?;
        } else {
            f.write_str(short)?;
        }
        start = i + 1;
    }
    f.write_str(&text[start..])?;
    f.write_char('"')
}

/// Why a document is not JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong.
    pub reason: &'static str,
    /// The byte offset at which it was found.
    pub offset: usize,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl core::error::Error for SyntaxError {}

/// Parses a whole JSON document.
pub fn parse(bytes: &[u8]) -> Result<Value, SyntaxError> {
    let text = core::str::from_utf8(bytes).map_err(|e| SyntaxError {
        reason: "invalid UTF-8",
        offset: e.valid_up_to(),
    })?;
    let mut parser = Parser { text, at: 0 };
    let value = parser.value(0)?;
    parser.skip_space();
    if parser.at < text.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(value)
}

/// A recursive-descent parser over a document's text.
struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> SyntaxError {
        SyntaxError {
            reason,
            offset: self.at,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Consumes `byte` (after any whitespace) or fails with `reason`.
    fn require(&mut self, byte: u8, reason: &'static str) -> Result<(), SyntaxError> {
        self.skip_space();
        if self.peek() != Some(byte) {
            return Err(self.error(reason));
        }
        self.at += 1;
        Ok(())
    }

    /// Consumes `,` and returns true, or consumes `close` and returns false.
    fn next_item(&mut self, close: u8) -> Result<bool, SyntaxError> {
        self.skip_space();
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                Ok(true)
            }
            Some(b) if b == close => {
                self.at += 1;
                Ok(false)
            }
            _ => Err(self.error("expected `,` or the end of the list or object")),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        self.skip_space();
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => {
                for (word, value) in [
                    ("null", Value::Null),
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                ] {
                    if self.text[self.at..].starts_with(word) {
                        self.at += word.len();
                        return Ok(value);
                    }
                }
                Err(self.error("expected a value"))
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.at += 1;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            if !self.next_item(b']')? {
                return Ok(Value::Array(items));
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.at += 1;
        let mut members: Vec<(String, Value)> = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(Map(members)));
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key"));
            }
            let key = self.string()?;
            self.require(b':', "expected `:`")?;
            members.push((key, self.value(depth)?));
            if !self.next_item(b'}')? {
                return Ok(Value::Object(sorted(members)));
            }
        }
    }

    /// A string, the opening quote next.
    fn string(&mut self) -> Result<String, SyntaxError> {
        self.at += 1;
        let mut out = String::new();
        let mut start = self.at;
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated text")),
                Some(b'"') => {
                    out.push_str(&self.text[start..self.at]);
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(&self.text[start..self.at]);
                    self.at += 1;
                    self.escape(&mut out)?;
                    start = self.at;
                }
                Some(0..0x20) => return Err(self.error("control character in a text")),
                Some(_) => self.at += 1,
            }
        }
    }

    /// An escape sequence, the backslash consumed.
    fn escape(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        let Some(byte) = self.peek() else {
            return Err(self.error("unterminated text"));
        };
        self.at += 1;
        let c = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                let code = if (0xd800..0xdc00).contains(&unit) {
                    // A high surrogate: a low one must follow, escaped.
                    if !self.text[self.at..].starts_with("\\u") {
                        return Err(self.error("lone surrogate in a text"));
                    }
                    self.at += 2;
                    let low = self.hex4()?;
                    if !(0xdc00..0xe000).contains(&low) {
                        return Err(self.error("lone surrogate in a text"));
                    }
                    0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                } else {
                    unit
                };
                char::from_u32(code).ok_or_else(|| self.error("lone surrogate in a text"))?
            }
            _ => return Err(self.error("invalid escape")),
        };
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let digits = self
            .text
            .get(self.at..self.at + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("invalid \\u escape"))?;
        self.at += 4;
        u32::from_str_radix(digits, 16).map_err(|_| self.error("invalid \\u escape"))
    }

    /// A number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, kept as text.
    fn number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.required_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.required_digits()?;
        }
        Ok(Value::Number(Number(self.text[start..self.at].into())))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    fn required_digits(&mut self) -> Result<(), SyntaxError> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.error("invalid number"));
        }
        self.digits();
        Ok(())
    }
}

/// An object's members in key order, each key once with its last value. Members usually come
/// sorted already (the component writes them so, which keeps its records cheap to read); others are
/// put in order with a stable merge sort, so even a huge object costs O(n log n).
fn sorted(members: Vec<(String, Value)>) -> Map {
    if members.windows(2).all(|w| w[0].0 < w[1].0) {
        return Map(members);
    }
    let order = key_order(&members);
    let mut slots: Vec<Option<(String, Value)>> = members.into_iter().map(Some).collect();
    let mut out: Vec<(String, Value)> = Vec::with_capacity(slots.len());
    for index in order {
        if let Some(member) = slots[index].take() {
            match out.last_mut() {
                // Equal keys come in arrival order: the later one replaces the earlier.
                Some(last) if last.0 == member.0 => *last = member,
                _ => out.push(member),
            }
        }
    }
    Map(out)
}

/// The indices of `members` in key order, equal keys in arrival order: a bottom-up merge sort over
/// indices (the standard library's sorts would cost the component some 6 KB).
fn key_order(members: &[(String, Value)]) -> Vec<usize> {
    let n = members.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut merged: Vec<usize> = alloc::vec![0; n];
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let middle = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut left, mut right) = (start, middle);
            for slot in &mut merged[start..end] {
                let take_left = right >= end
                    || (left < middle && members[order[left]].0 <= members[order[right]].0);
                if take_left {
                    *slot = order[left];
                    left += 1;
                } else {
                    *slot = order[right];
                    right += 1;
                }
            }
            start = end;
        }
        core::mem::swap(&mut order, &mut merged);
        width *= 2;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents that exercise every part of the grammar.
    const DOCUMENTS: &[&str] = &[
        r#"{"b":2,"a":[1,-5,0,18446744073709551615,-9223372036854775808]}"#,
        r#"{"f":[0.5,-12.5e-3,1E+2,1.0]}"#,
        r#" { "z" : null , "y" : true, "x" : false, "w" : "", "v" : {}, "u" : [] } "#,
        r#"["\"\\\/\b\f\n\r\t\u0000\u001f\u007f\u00e9\ud83d\ude00","é😀",[[[]]]]"#,
        r#"{"a":1,"a":2,"c":{"k":"v","b":[{"y":1,"x":2}]}}"#,
        r#""text""#,
        "123",
    ];

    #[test]
    fn writes_documents_as_serde_json_does() -> Result<(), Box<dyn core::error::Error>> {
        for doc in DOCUMENTS {
            let written = parse(doc.as_bytes())?.to_string();
            let theirs: serde_json::Value = serde_json::from_str(doc)?;
            let reparsed: serde_json::Value = serde_json::from_str(&written)?;
            assert_eq!(reparsed, theirs, "{doc}");
            // Numbers keep their text, so only documents without fractions or exponents come out
            // byte for byte as serde_json writes them (its floats have a form of their own).
            if !doc.contains("\"f\"") {
                assert_eq!(written, theirs.to_string(), "{doc}");
            }
        }
        Ok(())
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        let deep_ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let too_deep = format!("[{deep_ok}]");
        let mut cases: Vec<&[u8]> = vec![
            b"",
            b" ",
            b"[1,]",
            br#"{"a":1,}"#,
            br#"{"a" 1}"#,
            b"{1:2}",
            b"01",
            b"1.",
            b".5",
            b"-",
            b"1e",
            b"+1",
            b"nul",
            b"truex",
            b"[1] 2",
            br#""a"#,
            br#""\x""#,
            br#""\u12""#,
            br#""\ud800""#,
            br#""\udc00""#,
            br#""\ud800\u0041""#,
            b"\"\x01\"",
            b"\"\xff\"",
            br#"["a" "b"]"#,
            br#"{"a":{"b":[1,{"c":null}]}}"#,
        ];
        cases.push(deep_ok.as_bytes());
        cases.push(too_deep.as_bytes());
        for case in cases {
            let theirs = serde_json::from_slice::<serde_json::Value>(case).is_ok();
            let text = String::from_utf8_lossy(case);
            assert_eq!(parse(case).is_ok(), theirs, "{text}");
        }
    }

    #[test]
    fn keeps_keys_sorted_and_the_last_of_repeated_keys() -> Result<(), Box<dyn core::error::Error>>
    {
        let v = parse(br#"{"b":1,"a":2,"b":3}"#)?;
        assert_eq!(v.to_string(), r#"{"a":2,"b":3}"#);
        let mut map = Map::new();
        map.insert("y".into(), Value::from(1u64));
        map.insert("x".into(), Value::from("s"));
        assert_eq!(map.get("x"), Some(&Value::from("s")));
        assert_eq!(map.remove("y"), Some(Value::from(1u64)));
        assert_eq!(Value::from(map).to_string(), r#"{"x":"s"}"#);
        Ok(())
    }

    #[test]
    fn sorts_large_unordered_objects_keeping_the_last_repeated_key()
    -> Result<(), Box<dyn core::error::Error>> {
        let mut doc = String::from("{");
        for i in (0..20_000u32).rev() {
            doc.push_str(&alloc::format!("\"k{i:05}\":{i},"));
        }
        doc.push_str("\"k00007\":\"last\"}");
        let parsed = parse(doc.as_bytes())?;
        let map = parsed.as_object().ok_or("not an object")?;
        let keys: Vec<&String> = map.keys().collect();
        assert_eq!(keys.len(), 20_000);
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert_eq!(map.get("k00007"), Some(&Value::from("last")));
        assert_eq!(map.get("k19999").and_then(Value::as_u64), Some(19_999));
        Ok(())
    }

    #[test]
    fn reads_integers_as_serde_json_does() -> Result<(), Box<dyn core::error::Error>> {
        for (text, expected) in [
            ("7", Some(7)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("-1", None),
            ("1.0", None),
            ("1e2", None),
        ] {
            assert_eq!(parse(text.as_bytes())?.as_u64(), expected, "{text}");
        }
        Ok(())
    }
}
