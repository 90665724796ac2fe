//! Envoy's dynamic metadata with its real types.
//!
//! The `metadata` property is the request's `envoy.config.core.v3.Metadata`
//! message itself, serialized: every value keeps its `google.protobuf.Value`
//! kind, nulls included. (A path deeper into it is serialized differently:
//! strings as bare bytes, numbers as 8 raw bytes, lists and maps in a pairs
//! encoding a string can imitate, and any `null` below the path fails the
//! whole read. Nothing here reads that way.)
//!
//! Views borrow the bytes and decode lazily, so a request reads only the
//! claims it needs. Protocol Buffers' rules: the last of repeated map keys
//! and of oneof members wins; a value with no kind is `null`; anything
//! malformed reads as absent.

use super::protobuf::{Payload, fields};

/// A `google.protobuf.Value`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Number(f64),
    String(&'a str),
    Bool(bool),
    Struct(Struct<'a>),
    List(List<'a>),
}

/// A `google.protobuf.Struct`: a map of names to [`Value`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Struct<'a>(&'a [u8]);

/// A `google.protobuf.ListValue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct List<'a>(&'a [u8]);

// google.protobuf.Value's oneof `kind`.
const NULL_VALUE: u32 = 1;
const NUMBER_VALUE: u32 = 2;
const STRING_VALUE: u32 = 3;
const BOOL_VALUE: u32 = 4;
const STRUCT_VALUE: u32 = 5;
const LIST_VALUE: u32 = 6;
// Map entries, and google.protobuf.Struct's and ListValue's one field.
const ENTRY_KEY: u32 = 1;
const ENTRY_VALUE: u32 = 2;
const STRUCT_FIELDS: u32 = 1;
const LIST_VALUES: u32 = 1;
// envoy.config.core.v3.Metadata
const FILTER_METADATA: u32 = 1;

impl<'a> Value<'a> {
    /// Decodes a serialized `google.protobuf.Value`; `None` if malformed
    /// (a string that is not UTF-8 included).
    pub fn decode(message: &'a [u8]) -> Option<Self> {
        let mut value = Value::Null;
        for field in fields(message) {
            value = match field.ok()? {
                (NULL_VALUE, Payload::Varint(_)) => Value::Null,
                (NUMBER_VALUE, Payload::Fixed64(bits)) => Value::Number(f64::from_le_bytes(bits)),
                (STRING_VALUE, Payload::Bytes(bytes)) => {
                    Value::String(std::str::from_utf8(bytes).ok()?)
                }
                (BOOL_VALUE, Payload::Varint(flag)) => Value::Bool(flag != 0),
                (STRUCT_VALUE, Payload::Bytes(bytes)) => Value::Struct(Struct(bytes)),
                (LIST_VALUE, Payload::Bytes(bytes)) => Value::List(List(bytes)),
                (NULL_VALUE..=LIST_VALUE, _) => return None,
                _ => value,
            };
        }
        Some(value)
    }
}

/// The key and value of every entry of the map field `number` in `message`,
/// or `None` if the message is malformed.
fn map_entries(message: &[u8], number: u32) -> impl Iterator<Item = Option<(&[u8], &[u8])>> {
    fields(message).filter_map(move |field| match field {
        Ok((field_number, Payload::Bytes(entry))) if field_number == number => {
            Some(map_entry(entry))
        }
        Ok((field_number, _)) if field_number == number => Some(None),
        Ok(_) => None,
        Err(_) => Some(None),
    })
}

/// A map entry's key and (serialized) value; both default to empty.
fn map_entry(entry: &[u8]) -> Option<(&[u8], &[u8])> {
    canonical_map_entry(entry).or_else(|| map_entry_by_fields(entry))
}

/// [`map_entry`] by the general field walk.
fn map_entry_by_fields(entry: &[u8]) -> Option<(&[u8], &[u8])> {
    let (mut key, mut value): (&[u8], &[u8]) = (&[], &[]);
    for field in fields(entry) {
        match field.ok()? {
            (ENTRY_KEY, Payload::Bytes(bytes)) => key = bytes,
            (ENTRY_VALUE, Payload::Bytes(bytes)) => value = bytes,
            (ENTRY_KEY | ENTRY_VALUE, _) => return None,
            _ => {}
        }
    }
    Some((key, value))
}

/// The entry as Envoy writes it, read without the general field walk: the
/// key (under 128 bytes) then the value (under 16 KiB), each once, and
/// nothing else. `None` for any other layout, which [`map_entry`] then
/// reads field by field to the same result.
fn canonical_map_entry(entry: &[u8]) -> Option<(&[u8], &[u8])> {
    const KEY_TAG: u8 = (ENTRY_KEY as u8) << 3 | 2;
    const VALUE_TAG: u8 = (ENTRY_VALUE as u8) << 3 | 2;
    // A key length of 128 or more would take a second byte.
    let [KEY_TAG, key_length @ 0..0x80, rest @ ..] = entry else {
        return None;
    };
    let (key, rest) = rest.split_at_checked(usize::from(*key_length))?;
    let (value_length, value) = match rest {
        [VALUE_TAG, short, value @ ..] if *short < 0x80 => (usize::from(*short), value),
        [VALUE_TAG, low, high, value @ ..] if *low >= 0x80 && *high < 0x80 => {
            (usize::from(low & 0x7f) | usize::from(*high) << 7, value)
        }
        _ => return None,
    };
    (value.len() == value_length).then_some((key, value))
}

/// The value of the last entry named `key`; `None` when there is none or
/// the map is malformed.
fn last_entry<'a>(message: &'a [u8], number: u32, key: &str) -> Option<&'a [u8]> {
    let mut found = None;
    for entry in map_entries(message, number) {
        let (name, value) = entry?;
        if name == key.as_bytes() {
            found = Some(value);
        }
    }
    found
}

impl<'a> Struct<'a> {
    /// A serialized `google.protobuf.Struct`.
    pub fn new(serialized: &'a [u8]) -> Self {
        Self(serialized)
    }

    /// Every entry's name and value in wire order, repeats included; `None`
    /// for a malformed one.
    pub fn entries(&self) -> impl Iterator<Item = Option<(&'a [u8], Value<'a>)>> {
        map_entries(self.0, STRUCT_FIELDS).map(|entry| {
            let (name, value) = entry?;
            Some((name, Value::decode(value)?))
        })
    }

    /// The serialized `Value` named `key`, as Envoy sent it: equal bytes
    /// mean an equal value (a nested struct's entry order may differ between
    /// requests, so unequal bytes do not always mean unequal values).
    pub fn get_raw(&self, key: &str) -> Option<&'a [u8]> {
        last_entry(self.0, STRUCT_FIELDS, key)
    }

    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        Value::decode(self.get_raw(key)?)
    }

    /// The serialized value at `path` of nested struct keys (non-empty).
    pub fn path_raw(&self, path: &[impl AsRef<str>]) -> Option<&'a [u8]> {
        let (last, parents) = path.split_last()?;
        let mut current = *self;
        for key in parents {
            match current.get(key.as_ref())? {
                Value::Struct(inner) => current = inner,
                _ => return None,
            }
        }
        current.get_raw(last.as_ref())
    }

    pub fn path(&self, path: &[impl AsRef<str>]) -> Option<Value<'a>> {
        Value::decode(self.path_raw(path)?)
    }

    /// What [`Self::get_raw`] answers for each of `keys`, from one walk of
    /// the map instead of one per key: a request's cache key reads every
    /// mapped claim, and the walk is most of what each lookup costs.
    #[cfg(test)]
    pub fn get_raw_each(&self, keys: &[&str]) -> Vec<Option<&'a [u8]>> {
        let mut found = vec![None; keys.len()];
        self.get_raw_each_into(keys, &mut found);
        found
    }

    /// [`Self::get_raw_each`] into `found`, one slot per key (the caller's
    /// storage: the request path allocates nothing for it).
    pub fn get_raw_each_into(&self, keys: &[&str], found: &mut [Option<&'a [u8]>]) {
        found.fill(None);
        for entry in map_entries(self.0, STRUCT_FIELDS) {
            let Some((name, value)) = entry else {
                // As `get_raw`: a malformed map has no entries.
                found.fill(None);
                return;
            };
            for (slot, key) in found.iter_mut().zip(keys) {
                if name == key.as_bytes() {
                    *slot = Some(value);
                }
            }
        }
    }

    /// What [`Self::path_raw`] answers for each of `paths`, with the top
    /// level walked once ([`Self::get_raw_each`]).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn path_raw_each(&self, paths: &[&[String]]) -> Vec<Option<&'a [u8]>> {
        let mut found = vec![None; paths.len()];
        self.path_raw_each_into(paths, &mut found);
        found
    }

    /// [`Self::path_raw_each`] into `found`, one slot per path.
    pub fn path_raw_each_into(&self, paths: &[&[String]], found: &mut [Option<&'a [u8]>]) {
        let firsts = paths
            .iter()
            .map(|path| path.first().map_or("", String::as_str));
        with_stack_slice(firsts, |firsts| self.get_raw_each_into(firsts, found));
        for (value, path) in found.iter_mut().zip(paths) {
            *value = match path {
                [] => None,
                [_] => *value,
                [_, rest @ ..] => match value.and_then(Value::decode) {
                    Some(Value::Struct(inner)) => inner.path_raw(rest),
                    _ => None,
                },
            };
        }
    }
}

/// How many items [`with_stack_slice`] keeps on the stack: a request key's
/// claims (six built in, a few extra) without a heap allocation.
const STACK_SLICE: usize = 12;

/// Calls `use_them` with `items` as a slice: on the stack when there are
/// few, else on the heap. The request path's small lists, which allocating
/// would make several times dearer than the work done on them.
pub fn with_stack_slice<T: Copy + Default, R>(
    items: impl Iterator<Item = T> + Clone,
    use_them: impl FnOnce(&mut [T]) -> R,
) -> R {
    let count = items.clone().count();
    if count <= STACK_SLICE {
        let mut on_stack = [T::default(); STACK_SLICE];
        for (slot, item) in on_stack.iter_mut().zip(items) {
            *slot = item;
        }
        use_them(on_stack.get_mut(..count).unwrap_or_default())
    } else {
        use_them(&mut items.collect::<Vec<T>>())
    }
}

impl<'a> List<'a> {
    /// Every item, or `None` if any is malformed.
    pub fn values(&self) -> Option<Vec<Value<'a>>> {
        fields(self.0)
            .filter_map(|field| match field {
                Ok((LIST_VALUES, Payload::Bytes(item))) => Some(Value::decode(item)),
                Ok((LIST_VALUES, _)) | Err(_) => Some(None),
                Ok(_) => None,
            })
            .collect()
    }
}

/// The request's dynamic metadata (the serialized `metadata` property).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata<'a>(&'a [u8]);

impl<'a> Metadata<'a> {
    pub fn new(serialized: &'a [u8]) -> Self {
        Self(serialized)
    }

    /// What the filter named `namespace` stored (`filter_metadata`).
    pub fn namespace(&self, namespace: &str) -> Option<Struct<'a>> {
        last_entry(self.0, FILTER_METADATA, namespace).map(Struct)
    }
}

/// Writers of the same wire format, for tests and fuzz targets: Envoy's
/// serialization of JSON values, so a test can state a token's payload as
/// JSON and get the bytes Envoy hands the filter.
#[cfg(any(test, feature = "fuzzing"))]
pub mod encode {
    use serde_json::Value as Json;

    fn varint(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    fn bytes_field(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
        varint(out, u64::from(number) << 3 | 2);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    fn entry(key: &str, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        bytes_field(&mut out, super::ENTRY_KEY, key.as_bytes());
        bytes_field(&mut out, super::ENTRY_VALUE, value);
        out
    }

    /// A serialized `google.protobuf.Value`.
    pub fn value(json: &Json) -> Vec<u8> {
        let mut out = Vec::new();
        match json {
            Json::Null => {
                varint(&mut out, u64::from(super::NULL_VALUE) << 3);
                varint(&mut out, 0);
            }
            Json::Bool(flag) => {
                varint(&mut out, u64::from(super::BOOL_VALUE) << 3);
                varint(&mut out, u64::from(*flag));
            }
            Json::Number(number) => {
                varint(&mut out, u64::from(super::NUMBER_VALUE) << 3 | 1);
                out.extend_from_slice(&number.as_f64().unwrap_or(f64::NAN).to_le_bytes());
            }
            Json::String(text) => bytes_field(&mut out, super::STRING_VALUE, text.as_bytes()),
            Json::Array(items) => {
                let mut list = Vec::new();
                for item in items {
                    bytes_field(&mut list, super::LIST_VALUES, &value(item));
                }
                bytes_field(&mut out, super::LIST_VALUE, &list);
            }
            Json::Object(object) => {
                bytes_field(&mut out, super::STRUCT_VALUE, &structure(object));
            }
        }
        out
    }

    /// A serialized `google.protobuf.Struct`.
    pub fn structure(object: &serde_json::Map<String, Json>) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, item) in object {
            bytes_field(&mut out, super::STRUCT_FIELDS, &entry(key, &value(item)));
        }
        out
    }

    /// A serialized `envoy.config.core.v3.Metadata` with these namespaces
    /// (each a JSON object).
    pub fn metadata(namespaces: &[(&str, &Json)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (namespace, object) in namespaces {
            let fields = match object {
                Json::Object(object) => structure(object),
                _ => Vec::new(),
            };
            bytes_field(&mut out, super::FILTER_METADATA, &entry(namespace, &fields));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The bytes Envoy 1.40 returned for the `metadata` property after
    /// `set_metadata` stored, under `envoy.filters.http.jwt_authn`,
    /// `{"jwt_payload": {"sub": "alice", "n": null, "e": 5, "s": "",
    /// "b": true, "g": [null, "dev", 3, ["x"]], "o": {"street": null,
    /// "c": "z"}}}` (the probe that found the path reads failing on nulls).
    const FROM_ENVOY: &str = "0abb010a1c656e766f792e66696c746572732e687474702e6a77745f617574686e129a010a97010a0b6a77745f7061796c6f61641287012a84010a260a01671221321f0a0208000a051a036465760a091100000000000008400a0732050a031a01780a070a017312021a000a0e0a0373756212071a05616c6963650a070a0162120220010a1f0a016f121a2a180a080a016312031a017a0a0c0a06737472656574120208000a070a016e120208000a0e0a01651209110000000000001440";

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn envoys_own_bytes_decode_with_every_kind() {
        let bytes = hex(FROM_ENVOY);
        let metadata = Metadata::new(&bytes);
        let payload = match metadata
            .namespace("envoy.filters.http.jwt_authn")
            .unwrap()
            .get("jwt_payload")
        {
            Some(Value::Struct(payload)) => payload,
            other => panic!("{other:?}"),
        };
        assert_eq!(payload.get("sub"), Some(Value::String("alice")));
        assert_eq!(payload.get("n"), Some(Value::Null));
        assert_eq!(payload.get("e"), Some(Value::Number(5.0)));
        assert_eq!(payload.get("s"), Some(Value::String("")));
        assert_eq!(payload.get("b"), Some(Value::Bool(true)));
        assert_eq!(payload.get("absent"), None);
        assert_eq!(payload.path(&["o", "c"]), Some(Value::String("z")));
        assert_eq!(payload.path(&["o", "street"]), Some(Value::Null));
        assert_eq!(payload.path(&["sub", "x"]), None, "a string has no members");
        let Some(Value::List(groups)) = payload.get("g") else {
            panic!("g is a list")
        };
        let items = groups.values().unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(items[0], Value::Null);
        assert_eq!(items[1], Value::String("dev"));
        assert_eq!(items[2], Value::Number(3.0));
        assert!(matches!(items[3], Value::List(_)));
        assert_eq!(metadata.namespace("envoy.filters.http.ext_authz"), None);
    }

    #[test]
    fn the_test_encoder_writes_what_envoy_writes() {
        let payload = json!({"sub": "alice", "e": 5, "g": [null, "dev"], "o": {"c": "z"}});
        let bytes = encode::metadata(&[(
            "envoy.filters.http.jwt_authn",
            &json!({"jwt_payload": payload}),
        )]);
        let metadata = Metadata::new(&bytes);
        let Some(Value::Struct(decoded)) = metadata
            .namespace("envoy.filters.http.jwt_authn")
            .and_then(|ns| ns.get("jwt_payload"))
        else {
            panic!("payload is a struct")
        };
        assert_eq!(decoded.get("sub"), Some(Value::String("alice")));
        assert_eq!(decoded.get("e"), Some(Value::Number(5.0)));
        assert_eq!(decoded.path(&["o", "c"]), Some(Value::String("z")));
    }

    #[test]
    fn protobuf_rules_last_wins_and_unset_is_null() {
        // Two entries named "a": the last counts.
        let mut message = Vec::new();
        for value in [json!("first"), json!("second")] {
            message.extend(encode::structure(json!({"a": value}).as_object().unwrap()));
        }
        assert_eq!(Struct(&message).get("a"), Some(Value::String("second")));
        // A oneof written twice: the last member counts.
        let mut twice = encode::value(&json!("text"));
        twice.extend(encode::value(&json!(true)));
        assert_eq!(Value::decode(&twice), Some(Value::Bool(true)));
        assert_eq!(Value::decode(&[]), Some(Value::Null));
        // Unknown fields are skipped.
        assert_eq!(
            Value::decode(&[0x38, 0x01, 0x1a, 0x01, b'x']),
            Some(Value::String("x"))
        );
    }

    #[test]
    fn malformed_bytes_read_as_absent() {
        // A string that is not UTF-8.
        assert_eq!(Value::decode(&[0x1a, 0x01, 0xff]), None);
        // A kind with the wrong wire type.
        assert_eq!(Value::decode(&[0x1a, 0x01]), None);
        assert_eq!(Value::decode(&[0x10, 0x01]), None);
        // A struct whose second entry is cut short hides its first too.
        let mut message = encode::structure(json!({"a": "x"}).as_object().unwrap());
        message.extend([0x0a, 0x05, 0x0a]);
        assert_eq!(Struct(&message).get("a"), None);
        // A list with one bad item is not a list of the others.
        let mut list = Vec::new();
        list.extend([0x0a, 0x03, 0x1a, 0x01, b'a']);
        list.extend([0x0a, 0x03, 0x1a, 0x01, 0xff]);
        assert_eq!(List(&list).values(), None);
        assert_eq!(Metadata::new(b"\xff").namespace("x"), None);
    }

    /// The one-walk lookups answer what the one-key lookups answer, on
    /// Envoy's bytes, repeated keys, nested paths and mutated bytes.
    #[test]
    fn each_lookup_answers_as_the_single_ones() {
        let keys = ["sub", "email", "g", "", "missing", "sub", "nested"];
        let paths: Vec<Vec<String>> = [
            &["sub"][..],
            &["nested", "inner"],
            &["nested", "inner", "deeper"],
            &["g"],
            &[],
            &["missing", "x"],
            &["email"],
        ]
        .iter()
        .map(|path| path.iter().map(|key| (*key).to_owned()).collect())
        .collect();
        let path_refs: Vec<&[String]> = paths.iter().map(Vec::as_slice).collect();
        let check = |payload: Struct<'_>| {
            let single: Vec<_> = keys.iter().map(|key| payload.get_raw(key)).collect();
            assert_eq!(payload.get_raw_each(&keys), single);
            let single: Vec<_> = paths.iter().map(|path| payload.path_raw(path)).collect();
            assert_eq!(payload.path_raw_each(&path_refs), single);
        };
        let payload = json!({
            "sub": "alice", "email": null, "g": ["a", 1],
            "nested": {"inner": {"deeper": true}},
        });
        let mut valid = encode::structure(payload.as_object().unwrap());
        // A repeated key: the last one wins in both.
        valid.extend(encode::structure(
            json!({"sub": "bob"}).as_object().unwrap(),
        ));
        check(Struct(&valid));
        let mut next = crate::test_rng::xorshift(0x5851_f42d_4c95_7f2d);
        for _ in 0..20_000 {
            let mut bytes = valid.clone();
            let at = (next() as usize) % bytes.len();
            bytes[at] = next() as u8;
            bytes.truncate((next() as usize) % (bytes.len() + 1));
            check(Struct(&bytes));
        }
    }

    /// Whatever the shortcut reads, the field walk reads the same way:
    /// Envoy's entries, long keys and values, and mutated bytes.
    #[test]
    fn the_canonical_entry_shortcut_agrees_with_the_field_walk() {
        let long = "v".repeat(300);
        let mut entries: Vec<Vec<u8>> = [
            ("sub", json!("alice")),
            ("", json!(null)),
            (long.as_str(), json!(long)),
            ("n", json!(1.5)),
        ]
        .iter()
        .map(|(key, value)| {
            let structure = encode::structure(json!({ *key: value }).as_object().unwrap());
            // The struct's one field is the entry.
            let (_, Payload::Bytes(entry)) = fields(&structure).next().unwrap().unwrap() else {
                panic!("an entry")
            };
            entry.to_vec()
        })
        .collect();
        let read = |entry: &[u8]| {
            let shortcut = canonical_map_entry(entry);
            if shortcut.is_some() {
                assert_eq!(shortcut, map_entry_by_fields(entry), "{entry:?}");
            }
            shortcut.is_some()
        };
        let read_by_shortcut = entries.iter().filter(|entry| read(entry)).count();
        // All but the entry with a key of 128 bytes or more.
        assert_eq!(read_by_shortcut, 3);
        // A two-byte key length whose first byte, read alone, would split
        // the entry into another key and value of consistent lengths.
        let mut two_byte_key_length = vec![0x0a, 0x81, 0x01];
        two_byte_key_length.extend([b'k'; 128]);
        two_byte_key_length.extend([0x12, 0x12, 0x11]);
        two_byte_key_length.extend([b'v'; 17]);
        assert!(!read(&two_byte_key_length));
        assert_eq!(
            map_entry(&two_byte_key_length).map(|(key, value)| (key.len(), value.len())),
            Some((129, 17))
        );
        let mut next = crate::test_rng::xorshift(0x2545_f491_4f6c_dd1d);
        for round in 0..50_000 {
            let entry = &mut entries[round % 4];
            let mut bytes = entry.clone();
            let at = (next() as usize) % bytes.len();
            bytes[at] = next() as u8;
            if next().is_multiple_of(4) {
                bytes.truncate((next() as usize) % (bytes.len() + 1));
            } else if next().is_multiple_of(4) {
                bytes.push(next() as u8);
            }
            read(&bytes);
        }
    }

    #[test]
    fn random_and_mutated_bytes_never_panic() {
        let mut next = crate::test_rng::xorshift(0x9e37_79b9_7f4a_7c15);
        let valid = hex(FROM_ENVOY);
        for _ in 0..20_000 {
            let mut bytes = if next().is_multiple_of(2) {
                valid.clone()
            } else {
                (0..next() % 64).map(|_| next() as u8).collect()
            };
            if !bytes.is_empty() {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
                bytes.truncate((next() as usize) % (bytes.len() + 1));
            }
            let metadata = Metadata::new(&bytes);
            if let Some(namespace) = metadata.namespace("envoy.filters.http.jwt_authn") {
                let _ = namespace.path(&["jwt_payload", "g"]);
                if let Some(Value::Struct(payload)) = namespace.get("jwt_payload")
                    && let Some(Value::List(list)) = payload.get("g")
                {
                    let _ = list.values();
                }
            }
        }
    }
}
