//! Typed reads from the configuration's JSON. Every error is relative to
//! the value read and is placed in the document by the caller
//! ([`ConfigError::within`]), so a message names its field:
//! `identity[1].claims.email: invalid type: ...`.

use super::{ConfigError, field_error, value_error};
use crate::data::json::{Json, Object};

/// An object's fields, each name checked against those it may have.
#[derive(Clone, Copy)]
pub(crate) struct Fields<'a>(&'a Object);

impl<'a> Fields<'a> {
    /// `value` as an object holding none but the `known` fields.
    pub fn of(value: &'a Json, known: &[&str]) -> Result<Self, ConfigError> {
        Self::of_object(object(value)?, known)
    }

    pub fn of_object(object: &'a Object, known: &[&str]) -> Result<Self, ConfigError> {
        if let Some((name, _)) = object.iter().find(|(name, _)| !known.contains(name)) {
            return Err(field_error(
                name,
                format!("unknown field `{name}`, expected {}", one_of(known)),
            ));
        }
        Ok(Self(object))
    }

    /// The field as written, `null` included.
    pub fn written(&self, name: &str) -> Option<&'a Json> {
        self.0.get(name)
    }

    /// The field, read by `read`; absent and `null` are both `None`.
    pub fn read<T>(
        &self,
        name: &str,
        read: impl FnOnce(&'a Json) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        match self.written(name) {
            None | Some(Json::Null) => Ok(None),
            Some(value) => read(value).map(Some).map_err(|error| error.within(name)),
        }
    }

    /// An optional string field.
    pub fn string(&self, name: &str) -> Result<Option<String>, ConfigError> {
        self.read(name, string)
    }

    /// A list of strings; absent is empty.
    pub fn strings(&self, name: &str) -> Result<Vec<String>, ConfigError> {
        Ok(self.read(name, strings)?.unwrap_or_default())
    }
}

pub(crate) fn invalid_type(value: &Json, expected: &str) -> ConfigError {
    value_error(format!(
        "invalid type: {}, expected {expected}",
        value.describe()
    ))
}

/// "`a`, `b` or `c`", as the names are written.
fn one_of(names: &[&str]) -> String {
    match names {
        [] => "no fields".to_owned(),
        [only] => format!("`{only}`"),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(|name| format!("`{name}`")).collect();
            format!("one of {} or `{last}`", rest.join(", "))
        }
    }
}

pub(crate) fn object(value: &Json) -> Result<&Object, ConfigError> {
    match value {
        Json::Object(object) => Ok(object),
        other => Err(invalid_type(other, "an object")),
    }
}

pub(crate) fn string(value: &Json) -> Result<String, ConfigError> {
    match value {
        Json::String(text) => Ok(text.as_str().to_owned()),
        other => Err(invalid_type(other, "a string")),
    }
}

pub(crate) fn boolean(value: &Json) -> Result<bool, ConfigError> {
    match value {
        Json::Bool(flag) => Ok(*flag),
        other => Err(invalid_type(other, "true or false")),
    }
}

pub(crate) fn whole_number(value: &Json) -> Result<u64, ConfigError> {
    match value {
        Json::Number(number) => number.as_u64().ok_or_else(|| {
            value_error(format!(
                "invalid value: {}, expected a whole number from 0 to {}",
                number.as_str(),
                u64::MAX
            ))
        }),
        other => Err(invalid_type(other, "a whole number")),
    }
}

/// A whole number that fits the VM's `usize` (32 bits in Wasm).
pub(crate) fn count(value: &Json) -> Result<usize, ConfigError> {
    let number = whole_number(value)?;
    usize::try_from(number).map_err(|_| {
        value_error(format!(
            "invalid value: {number}, expected a whole number from 0 to {}",
            usize::MAX
        ))
    })
}

pub(crate) fn strings(value: &Json) -> Result<Vec<String>, ConfigError> {
    match value {
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| string(item).map_err(|error| error.at_index(index)))
            .collect(),
        other => Err(invalid_type(other, "a list of strings")),
    }
}

/// One of a fixed set of names.
pub(crate) fn variant<T: Copy>(value: &Json, variants: &[(&str, T)]) -> Result<T, ConfigError> {
    let name = string(value)?;
    variants
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, variant)| *variant)
        .ok_or_else(|| {
            let names: Vec<&str> = variants.iter().map(|(known, _)| *known).collect();
            value_error(format!(
                "unknown variant `{name}`, expected {}",
                one_of(&names)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::json::parse;

    fn json(text: &str) -> Json {
        parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn errors_name_the_field_and_what_was_expected() {
        let document = json(r#"{"a": "x", "b": [1], "c": null, "d": -1, "e": 4294967296}"#);
        let fields = Fields::of(&document, &["a", "b", "c", "d", "e", "f"]).unwrap();
        assert_eq!(fields.string("a").unwrap().as_deref(), Some("x"));
        assert_eq!(fields.string("c").unwrap(), None, "null is absent");
        assert_eq!(fields.string("f").unwrap(), None);
        assert!(matches!(fields.written("c"), Some(Json::Null)));
        assert_eq!(
            fields.strings("b").unwrap_err().to_string(),
            "b[0]: invalid type: number `1`, expected a string"
        );
        assert_eq!(
            fields.read("a", whole_number).unwrap_err().to_string(),
            "a: invalid type: string \"x\", expected a whole number"
        );
        assert_eq!(
            fields.read("d", whole_number).unwrap_err().to_string(),
            "d: invalid value: -1, expected a whole number from 0 to 18446744073709551615"
        );
        assert_eq!(fields.read("e", whole_number).unwrap(), Some(1 << 32));
        if usize::BITS == 32 {
            assert!(fields.read("e", count).is_err());
        }
        assert_eq!(
            Fields::of(&document, &["a", "b"])
                .err()
                .unwrap()
                .to_string(),
            "c: unknown field `c`, expected one of `a` or `b`"
        );
        assert_eq!(
            Fields::of(&json("[]"), &["a"]).err().unwrap().to_string(),
            "invalid type: a list, expected an object"
        );
        let deny = [("deny", 0), ("pass", 1)];
        assert_eq!(variant(&json("\"pass\""), &deny).unwrap(), 1);
        assert_eq!(
            variant(&json("\"maybe\""), &deny).unwrap_err().to_string(),
            "unknown variant `maybe`, expected one of `deny` or `pass`"
        );
        assert_eq!(
            boolean(&json("1")).unwrap_err().to_string(),
            "invalid type: number `1`, expected true or false"
        );
    }
}
