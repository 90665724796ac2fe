//! The plugin configuration's JSON, parsed into a tree that keeps each
//! object's fields in written order; or, for a configuration written as a
//! `google.protobuf.Struct`, that message's bytes read into the same tree.
//!
//! Why not serde: the configuration is read once per `on_configure`, yet
//! serde's generated deserializers (one per struct, twice over with field
//! paths) were a seventh of the module, and Envoy compiles every function
//! of it before the first request (BENCHMARKS.md, "The configuration
//! without serde"). Reading a small tree by hand costs far less. Two things this parser does that serde_json did not: a name
//! written twice in one object is refused (serde took the last of a map's),
//! and every string is wiped when the tree is dropped (the key text is one).

use std::fmt;
use zeroize::Zeroizing;

use super::value::{Struct, Value};

/// Nesting deeper than this is refused (serde_json's limit too): the parser
/// recurses, and the VM's stack is small.
const MAX_DEPTH: usize = 128;
/// Fields in one object at most (`route_settings`, the largest, holds up
/// to 1,024): each name is compared with those before it, which stays
/// cheap only for objects of a sane size.
const MAX_FIELDS: usize = 2048;

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(Zeroizing<String>),
    Array(Vec<Json>),
    Object(Object),
}

impl Json {
    /// What the value is, for an error message (a string is quoted; the
    /// caller redacts key material).
    pub fn describe(&self) -> String {
        match self {
            Self::Null => "null".to_owned(),
            Self::Bool(flag) => format!("boolean `{flag}`"),
            Self::Number(number) => format!("number `{}`", number.as_str()),
            Self::String(text) => format!("string {:?}", text.as_str()),
            Self::Array(_) => "a list".to_owned(),
            Self::Object(_) => "an object".to_owned(),
        }
    }
}

/// A number as written (checked against JSON's grammar), read as whatever
/// type its field takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(String);

impl Number {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A double as JSON would write it: a whole number within 2^53 (which a
    /// double holds exactly) in digits alone, any other the shortest text
    /// that reads back as the same double; `None` if it is not finite.
    pub fn from_f64(value: f64) -> Option<Self> {
        const EXACT: f64 = 9_007_199_254_740_992.0;
        if value.fract() == 0.0 && value.abs() <= EXACT {
            #[allow(clippy::cast_possible_truncation)]
            return Some(Self((value as i64).to_string()));
        }
        Some(Self(serde_json::Number::from_f64(value)?.to_string()))
    }

    /// A whole number written without sign, fraction or exponent that fits.
    pub fn as_u64(&self) -> Option<u64> {
        if self.0.bytes().all(|byte| byte.is_ascii_digit()) {
            self.0.parse().ok()
        } else {
            None
        }
    }

    /// As a claim value: an integer when written as one and within 64 bits
    /// (as serde_json reads it), otherwise the nearest double; `None` when
    /// that is infinite.
    pub fn to_claim(&self) -> Option<serde_json::Number> {
        let integer = !self.0.contains(['.', 'e', 'E']);
        if integer {
            if let Ok(unsigned) = self.0.parse::<u64>() {
                return Some(unsigned.into());
            }
            // serde_json reads `-0` as a double.
            if let Ok(signed) = self.0.parse::<i64>()
                && signed != 0
            {
                return Some(signed.into());
            }
        }
        serde_json::Number::from_f64(self.0.parse().ok()?)
    }
}

/// An object's fields in written order, no name twice.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object(Vec<(Zeroizing<String>, Json)>);

impl Object {
    pub fn get(&self, name: &str) -> Option<&Json> {
        self.0
            .iter()
            .find(|(field, _)| field.as_str() == name)
            .map(|(_, value)| value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.0.iter().map(|(name, value)| (name.as_str(), value))
    }

    /// The fields ordered by name.
    pub fn sorted(&self) -> Vec<(&str, &Json)> {
        let mut fields: Vec<(&str, &Json)> = self.iter().collect();
        crate::sort::sort_unstable_by(&mut fields, |(a, _), (b, _)| a.cmp(b));
        fields
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// Whether an object holding `fields` may take one more named `name`: not
/// past [`MAX_FIELDS`], and no name twice.
fn admit(fields: &[(Zeroizing<String>, Json)], name: &str) -> Result<(), String> {
    if fields.len() == MAX_FIELDS {
        return Err(format!("more than {MAX_FIELDS} fields in one object"));
    }
    if fields.iter().any(|(known, _)| known.as_str() == name) {
        return Err(format!("duplicate field `{name}`"));
    }
    Ok(())
}

/// Where the text stops being JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    message: String,
    line: usize,
    column: usize,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )
    }
}

/// One JSON value (RFC 8259), with nothing but whitespace after it.
pub fn parse(text: &[u8]) -> Result<Json, SyntaxError> {
    let mut parser = Parser { text, at: 0 };
    parser.skip_whitespace();
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.at < text.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(value)
}

/// A `google.protobuf.Struct`'s bytes (Envoy hands a configuration written
/// as one over serialized, not as JSON) read into the tree its JSON would
/// give, under the same rules: no name twice in one object, at most
/// [`MAX_FIELDS`] fields and [`MAX_DEPTH`] levels. Every number is a double
/// there; a whole one a double holds exactly is written without a fraction,
/// as `300` in the YAML it came from was.
pub fn from_struct(message: &[u8]) -> Result<Json, String> {
    struct_object(Struct::new(message), 1).map(Json::Object)
}

fn struct_object(fields: Struct<'_>, depth: usize) -> Result<Object, String> {
    let mut object: Vec<(Zeroizing<String>, Json)> = Vec::new();
    for entry in fields.entries() {
        let (name, value) = entry.ok_or("a malformed field")?;
        let name = std::str::from_utf8(name).map_err(|_| "a field name that is not UTF-8")?;
        admit(&object, name)?;
        let value = struct_value(value, depth)?;
        object.push((Zeroizing::new(name.to_owned()), value));
    }
    Ok(Object(object))
}

fn struct_value(value: Value<'_>, depth: usize) -> Result<Json, String> {
    Ok(match value {
        Value::Null => Json::Null,
        Value::Bool(flag) => Json::Bool(flag),
        Value::Number(number) => {
            Json::Number(Number::from_f64(number).ok_or("a number that is not finite")?)
        }
        Value::String(text) => Json::String(Zeroizing::new(text.to_owned())),
        Value::Struct(_) | Value::List(_) if depth >= MAX_DEPTH => {
            return Err("recursion limit exceeded".to_owned());
        }
        Value::Struct(inner) => Json::Object(struct_object(inner, depth + 1)?),
        Value::List(list) => Json::Array(
            list.values()
                .ok_or("a malformed list")?
                .into_iter()
                .map(|item| struct_value(item, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
    })
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn error(&self, message: impl Into<String>) -> SyntaxError {
        self.error_at(self.at, message)
    }

    fn error_at(&self, at: usize, message: impl Into<String>) -> SyntaxError {
        let before = self.text.get(..at).unwrap_or(self.text);
        let line_start = before
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(0, |newline| newline + 1);
        SyntaxError {
            message: message.into(),
            line: before.iter().filter(|&&byte| byte == b'\n').count() + 1,
            column: at - line_start + 1,
        }
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, SyntaxError> {
        match self.peek() {
            None => Err(self.error("EOF while parsing a value")),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Json::Number),
            Some(b'[' | b'{') if depth >= MAX_DEPTH => Err(self.error("recursion limit exceeded")),
            Some(b'[') => self.array(depth + 1).map(Json::Array),
            Some(b'{') => self.object(depth + 1).map(Json::Object),
            Some(_) => Err(self.error("expected value")),
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, SyntaxError> {
        if self.text.get(self.at..self.at + word.len()) == Some(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("expected value"))
        }
    }

    fn array(&mut self, depth: usize) -> Result<Vec<Json>, SyntaxError> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(items);
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(items);
                }
                None => return Err(self.error("EOF while parsing a list")),
                Some(_) => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Object, SyntaxError> {
        self.at += 1;
        let mut fields: Vec<(Zeroizing<String>, Json)> = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Object(fields));
        }
        loop {
            self.skip_whitespace();
            let name_at = self.at;
            match self.peek() {
                Some(b'"') => {}
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error("expected a field name in quotes")),
            }
            let name = self.string()?;
            admit(&fields, &name).map_err(|message| self.error_at(name_at, message))?;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error("expected `:`"));
            }
            self.at += 1;
            self.skip_whitespace();
            fields.push((name, self.value(depth)?));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Object(fields));
                }
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    /// A string: its bytes go into a buffer sized up front (an escape is
    /// never shorter than what it stands for), so no copy of the text is
    /// left behind by a reallocation before the buffer is wiped.
    fn string(&mut self) -> Result<Zeroizing<String>, SyntaxError> {
        let start = self.at;
        self.at += 1;
        let mut end = self.at;
        while let Some(&byte) = self.text.get(end) {
            match byte {
                b'"' => break,
                b'\\' => end += 2,
                _ => end += 1,
            }
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(end - self.at));
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.error("EOF while parsing a string"));
            };
            match byte {
                b'"' => {
                    self.at += 1;
                    break;
                }
                b'\\' => {
                    self.at += 1;
                    self.escape(&mut bytes)?;
                }
                0x00..=0x1f => {
                    return Err(self.error(
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    ));
                }
                _ => {
                    bytes.push(byte);
                    self.at += 1;
                }
            }
        }
        match String::from_utf8(std::mem::take(&mut *bytes)) {
            Ok(text) => Ok(Zeroizing::new(text)),
            Err(error) => {
                drop(Zeroizing::new(error.into_bytes()));
                Err(self.error_at(start, "invalid unicode in a string"))
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), SyntaxError> {
        let simple = match self.peek() {
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'/') => b'/',
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'u') => {
                self.at += 1;
                let code = self.hex4()?;
                let scalar = match code {
                    0xd800..=0xdbff => {
                        if self.text.get(self.at..self.at + 2) != Some(b"\\u") {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00)
                    }
                    0xdc00..=0xdfff => {
                        return Err(self.error("lone trailing surrogate in hex escape"));
                    }
                    other => other,
                };
                let character = char::from_u32(scalar)
                    .ok_or_else(|| self.error("invalid unicode code point"))?;
                let mut encoded = [0; 4];
                out.extend_from_slice(character.encode_utf8(&mut encoded).as_bytes());
                return Ok(());
            }
            None => return Err(self.error("EOF while parsing a string")),
            Some(_) => return Err(self.error("invalid escape")),
        };
        out.push(simple);
        self.at += 1;
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|byte| char::from(byte).to_digit(16))
                .ok_or_else(|| self.error("invalid escape"))?;
            code = code * 16 + digit;
            self.at += 1;
        }
        Ok(code)
    }

    fn number(&mut self) -> Result<Number, SyntaxError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.at += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.error("invalid number"));
                }
            }
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.digits()?;
        }
        let written = self.text.get(start..self.at).unwrap_or_default();
        // Only ASCII digits, signs, '.', 'e' and 'E' were taken.
        Ok(Number(String::from_utf8_lossy(written).into_owned()))
    }

    /// At least one digit.
    fn digits(&mut self) -> Result<(), SyntaxError> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.error("invalid number"));
        }
        self.skip_digits();
        Ok(())
    }

    fn skip_digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Json {
        parse(text.as_bytes()).unwrap()
    }

    fn refused(text: &str) -> String {
        parse(text.as_bytes()).unwrap_err().to_string()
    }

    /// What serde_json makes of the same text, for comparison.
    fn as_serde(value: &Json) -> serde_json::Value {
        match value {
            Json::Null => serde_json::Value::Null,
            Json::Bool(flag) => (*flag).into(),
            Json::Number(number) => serde_json::Value::Number(number.to_claim().unwrap()),
            Json::String(text) => text.as_str().into(),
            Json::Array(items) => items.iter().map(as_serde).collect(),
            Json::Object(object) => object
                .iter()
                .map(|(name, value)| (name.to_owned(), as_serde(value)))
                .collect(),
        }
    }

    #[test]
    fn reads_what_serde_json_reads() {
        for text in [
            r#"{"a": [1, -2, 3.5, -0.25e-3, 1E+2, 18446744073709551615, -9223372036854775808, 1e30], "b": {"c": null, "d": true, "e": false}}"#,
            r#"  "\"\\\/\b\f\n\r\t\u00e9\u20AC\ud83d\ude00 é€😀"  "#,
            "[]",
            "{}",
            "[[[[]]], {\"\": \"\"}]",
            "0",
            "-0",
            "\"-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEE\\n-----END EC PRIVATE KEY-----\\n\"",
        ] {
            let ours = as_serde(&parsed(text));
            let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(ours, theirs, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_json_and_says_where() {
        for (text, message) in [
            ("", "EOF while parsing a value at line 1 column 1"),
            ("{} x", "trailing characters at line 1 column 4"),
            (
                "{\n  \"a\": 1,\n  \"a\": 2\n}",
                "duplicate field `a` at line 3 column 3",
            ),
            ("{\"a\" 1}", "expected `:` at line 1 column 6"),
            (
                "{\"a\": 1 \"b\": 2}",
                "expected `,` or `}` at line 1 column 9",
            ),
            ("[1 2]", "expected `,` or `]` at line 1 column 4"),
            (
                "{a: 1}",
                "expected a field name in quotes at line 1 column 2",
            ),
            (
                "{\"a\": 1,}",
                "expected a field name in quotes at line 1 column 9",
            ),
            ("[1,]", "expected value at line 1 column 4"),
            ("[01]", "invalid number at line 1 column 3"),
            ("1.", "invalid number at line 1 column 3"),
            ("-", "invalid number at line 1 column 2"),
            ("1e", "invalid number at line 1 column 3"),
            ("tru", "expected value at line 1 column 1"),
            ("\"a", "EOF while parsing a string at line 1 column 3"),
            ("\"\\x\"", "invalid escape at line 1 column 3"),
            ("\"\\u12\"", "invalid escape at line 1 column 6"),
            (
                "\"\\ud800\"",
                "lone leading surrogate in hex escape at line 1 column 8",
            ),
            (
                "\"\\ud800\\u0041\"",
                "lone leading surrogate in hex escape at line 1 column 14",
            ),
            (
                "\"\\udc00\"",
                "lone trailing surrogate in hex escape at line 1 column 8",
            ),
            (
                "\"a\nb\"",
                "control character (\\u0000-\\u001F) found while parsing a string at line 1 column 3",
            ),
            ("[", "EOF while parsing a value at line 1 column 2"),
            ("[1", "EOF while parsing a list at line 1 column 3"),
            ("{\"a\":1", "EOF while parsing an object at line 1 column 7"),
            ("NaN", "expected value at line 1 column 1"),
        ] {
            assert_eq!(refused(text), message, "{text:?}");
        }
        assert_eq!(
            parse(b"\"\xff\"").unwrap_err().to_string(),
            "invalid unicode in a string at line 1 column 1"
        );
        // Whatever serde_json refuses, so do we.
        for text in [
            "{} x",
            "[1,]",
            "[01]",
            "\"\\ud800\"",
            "{\"a\" 1}",
            "\"a\nb\"",
        ] {
            assert!(serde_json::from_str::<serde_json::Value>(text).is_err());
        }
    }

    #[test]
    fn objects_are_limited_in_size() {
        let object = |fields: usize| {
            let fields: Vec<String> = (0..fields)
                .map(|index| format!("\"k{index}\": 0"))
                .collect();
            format!("{{{}}}", fields.join(",\n"))
        };
        assert!(parse(object(MAX_FIELDS).as_bytes()).is_ok());
        assert_eq!(
            refused(&object(MAX_FIELDS + 1)),
            format!(
                "more than {MAX_FIELDS} fields in one object at line {} column 1",
                MAX_FIELDS + 1
            )
        );
        // A repetition is found among many, at its place.
        let repeated = object(MAX_FIELDS).replacen("\"k2000\"", "\"k7\"", 1);
        assert_eq!(
            refused(&repeated),
            "duplicate field `k7` at line 2001 column 1"
        );
    }

    #[test]
    fn nesting_is_limited() {
        let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(parse(deep(128).as_bytes()).is_ok());
        assert_eq!(
            refused(&deep(129)),
            "recursion limit exceeded at line 1 column 129"
        );
        assert!(parse(deep(100_000).as_bytes()).is_err());
    }

    #[test]
    fn fields_keep_their_written_order_and_sort_on_request() {
        let Json::Object(object) = parsed(r#"{"b": 1, "a": 2, "c": 3}"#) else {
            panic!("an object");
        };
        let written: Vec<&str> = object.iter().map(|(name, _)| name).collect();
        assert_eq!(written, ["b", "a", "c"]);
        let sorted: Vec<&str> = object.sorted().into_iter().map(|(name, _)| name).collect();
        assert_eq!(sorted, ["a", "b", "c"]);
        assert_eq!(object.get("a"), Some(&parsed("2")));
        assert_eq!(object.get("d"), None);
    }

    #[test]
    fn numbers_read_as_their_fields_need() {
        let number = |text: &str| match parsed(text) {
            Json::Number(number) => number,
            other => panic!("{other:?}"),
        };
        assert_eq!(number("300").as_u64(), Some(300));
        assert_eq!(number("18446744073709551615").as_u64(), Some(u64::MAX));
        for not_whole in ["-1", "1.0", "1e3", "18446744073709551616", "-0"] {
            assert_eq!(number(not_whole).as_u64(), None, "{not_whole}");
        }
        assert_eq!(number("1e400").to_claim(), None);
        assert_eq!(number("1.0").to_claim().unwrap().to_string(), "1.0");
        assert_eq!(number("-7").to_claim().unwrap().to_string(), "-7");
    }

    /// A JSON object as Envoy serializes the `google.protobuf.Struct` it
    /// would make of it.
    fn as_struct(value: &serde_json::Value) -> Vec<u8> {
        crate::data::value::encode::structure(value.as_object().expect("an object"))
    }

    #[test]
    fn a_struct_reads_as_the_json_it_was_written_as() {
        let text = r#"{"s": "text \u00e9\n", "t": true, "f": false, "z": null,
            "whole": 300, "negative": -2, "fraction": 1.5, "tiny": 1e-7, "huge": 1e+300,
            "list": [1, "a", [], {}, [null]], "nested": {"b": {"c": [{"d": 0}]}}, "empty": {}}"#;
        let read = from_struct(&as_struct(&serde_json::from_str(text).unwrap())).unwrap();
        let Json::Object(object) = &read else {
            panic!("an object");
        };
        // Envoy's map order is its own: fields are compared by name.
        let Json::Object(expected) = parsed(text) else {
            panic!("an object");
        };
        assert_eq!(object.sorted(), expected.sorted());
        assert_eq!(from_struct(&[]), Ok(Json::Object(Object::default())));
    }

    #[test]
    fn a_struct_number_is_written_as_json_would_write_the_double() {
        let written = |value: f64| Number::from_f64(value).map(|number| number.0);
        assert_eq!(written(300.0).as_deref(), Some("300"));
        assert_eq!(written(-0.0).as_deref(), Some("0"));
        assert_eq!(
            written(9_007_199_254_740_992.0).as_deref(),
            Some("9007199254740992")
        );
        // Beyond 2^53 a double is no longer every whole number: not read as
        // one, since the written digits may have been others.
        let beyond = written(18_014_398_509_481_988.0).unwrap();
        assert!(beyond.contains(['.', 'e']), "{beyond}");
        assert_eq!(Number(beyond).as_u64(), None);
        assert_eq!(written(0.1).as_deref(), Some("0.1"));
        assert_eq!(written(1e300).as_deref(), Some("1e+300"));
        for not_finite in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(written(not_finite), None);
        }
        // {"a": inf}: no JSON can say it.
        let infinite = [
            b"\x0a\x0e\x0a\x01a\x12\x09\x11".as_slice(),
            &f64::INFINITY.to_le_bytes(),
        ]
        .concat();
        assert_eq!(
            from_struct(&infinite).unwrap_err(),
            "a number that is not finite"
        );
    }

    #[test]
    fn a_struct_is_held_to_the_rules_json_text_is() {
        let twice = [
            as_struct(&serde_json::json!({"a": 1})),
            as_struct(&serde_json::json!({"a": 2})),
        ]
        .concat();
        assert_eq!(from_struct(&twice).unwrap_err(), "duplicate field `a`");
        let fields = |count: usize| {
            serde_json::Value::Object(
                (0..count)
                    .map(|index| (format!("k{index}"), 0.into()))
                    .collect(),
            )
        };
        assert!(from_struct(&as_struct(&fields(MAX_FIELDS))).is_ok());
        assert_eq!(
            from_struct(&as_struct(&fields(MAX_FIELDS + 1))).unwrap_err(),
            format!("more than {MAX_FIELDS} fields in one object")
        );
        // The same depth as `nesting_is_limited`'s: the object counts.
        let deep = |depth: usize| {
            (1..depth).fold(
                serde_json::json!({}),
                |inner, _| serde_json::json!({ "a": [inner] }),
            )
        };
        assert!(from_struct(&as_struct(&deep(64))).is_ok());
        assert!(parse(deep(64).to_string().as_bytes()).is_ok());
        assert_eq!(
            from_struct(&as_struct(&deep(65))).unwrap_err(),
            "recursion limit exceeded"
        );
        assert!(parse(deep(65).to_string().as_bytes()).is_err());
        let valid = as_struct(&serde_json::json!({"name": "value"}));
        assert_eq!(
            from_struct(&valid[..valid.len() - 1]).unwrap_err(),
            "a malformed field"
        );
        let not_utf8 = b"\x0a\x07\x0a\x01\xff\x12\x02\x20\x01";
        assert_eq!(
            from_struct(not_utf8).unwrap_err(),
            "a field name that is not UTF-8"
        );
    }
}
