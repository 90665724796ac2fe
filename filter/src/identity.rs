//! Who the user is, read only from what a client cannot write: the payload
//! `jwt_authn` verified, the dynamic metadata an `ext_authz` service's
//! response produced, or the TLS client certificate Envoy validated.
//!
//! Claims are taken by their real type (see [`crate::data`]): what a
//! number, boolean, list, object or null becomes in each claim is decided
//! here, by [`claim_text`] and [`groups_of`], and tested natively.

use crate::data::json::Json;
use crate::data::value::with_stack_slice;
use crate::data::{Metadata, Struct, Value};

/// Which field of a source each claim comes from; `None` leaves the claim
/// empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimFields<F> {
    pub sub: F,
    pub user: Option<F>,
    pub email: Option<F>,
    pub groups: Option<F>,
    pub name: Option<F>,
    pub sid: Option<F>,
    /// Further claims the operator names (`claims.extra`), in name order.
    pub extra: Vec<(String, ExtraSource<F>)>,
}

/// Where an extra claim comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtraSource<F> {
    /// A field of the source, as the built-in claims are mapped.
    Field(F),
    /// The same value for every user.
    Fixed(ExtraValue),
}

/// An extra claim's value, with its JSON type kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExtraValue {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
    /// Strings, and whole numbers as their decimal text (as `groups`).
    List(Vec<String>),
}

impl ExtraValue {
    /// From a claim of any type: strings, numbers and booleans as they are
    /// (a whole number below 2^53 as an integer), a list as `groups` takes
    /// one; an object or `null` leaves the claim out.
    pub fn from_value(value: Value<'_>) -> Option<Self> {
        match value {
            Value::String(text) => Some(Self::Text(text.to_owned())),
            Value::Bool(flag) => Some(Self::Bool(flag)),
            Value::Number(number) => {
                let exact = number.fract() == 0.0 && number.abs() < INEXACT_INTEGERS_FROM;
                let json = if exact {
                    serde_json::Number::from(number as i64)
                } else {
                    serde_json::Number::from_f64(number)?
                };
                Some(Self::Number(json))
            }
            list @ Value::List(_) => Some(Self::List(groups_of(list))),
            Value::Struct(_) | Value::Null => None,
        }
    }

    /// A fixed value as written in the configuration: a string, number,
    /// boolean or list of strings.
    pub fn from_json(value: &Json) -> Option<Self> {
        match value {
            Json::String(text) => Some(Self::Text(text.as_str().to_owned())),
            Json::Bool(flag) => Some(Self::Bool(*flag)),
            Json::Number(number) => number.to_claim().map(Self::Number),
            Json::Array(items) => items
                .iter()
                .map(|item| match item {
                    Json::String(text) => Some(text.as_str().to_owned()),
                    _ => None,
                })
                .collect::<Option<Vec<String>>>()
                .map(Self::List),
            Json::Object(_) | Json::Null => None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Text(text) => serde_json::Value::String(text.clone()),
            Self::Number(number) => serde_json::Value::Number(number.clone()),
            Self::Bool(flag) => serde_json::Value::Bool(*flag),
            Self::List(items) => items
                .iter()
                .cloned()
                .map(serde_json::Value::String)
                .collect(),
        }
    }
}

/// A field of the peer certificate, as Envoy's connection attributes expose
/// it (only the first SAN of each kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateField {
    /// The first URI SAN, e.g. a SPIFFE ID.
    UriSan,
    /// The first DNS SAN.
    DnsSan,
    /// The whole subject, RFC 2253 (`CN=carol,OU=Eng,O=Example`).
    Subject,
    /// The subject's common name.
    SubjectCn,
    /// The certificate's SHA-256 fingerprint, lowercase hex.
    Sha256Digest,
}

impl CertificateField {
    fn attribute(self) -> &'static str {
        match self {
            CertificateField::UriSan => "uri_san_peer_certificate",
            CertificateField::DnsSan => "dns_san_peer_certificate",
            CertificateField::Subject | CertificateField::SubjectCn => "subject_peer_certificate",
            CertificateField::Sha256Digest => "sha256_peer_certificate_digest",
        }
    }
}

/// One place an identity can come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The verified JWT payload `jwt_authn` stored with `payload_in_metadata`.
    /// Fields are paths into the payload (one key, or nested keys).
    JwtAuthn {
        metadata_namespace: String,
        payload_key: String,
        claims: ClaimFields<Vec<String>>,
        www_authenticate: String,
    },
    /// The auth service's response headers that `ext_authz` copied into
    /// dynamic metadata (`dynamic_metadata_from_headers`): flat strings,
    /// keyed by lowercase header name; groups as one delimited string.
    ExtAuthz {
        metadata_namespace: String,
        claims: ClaimFields<String>,
        groups_delimiter: String,
        www_authenticate: String,
    },
    /// The client certificate of an mTLS connection.
    ClientCertificate {
        claims: ClaimFields<CertificateField>,
        www_authenticate: String,
    },
}

impl Source {
    /// The `www-authenticate` challenge a `deny` answer names for this source.
    pub fn www_authenticate(&self) -> &str {
        match self {
            Source::JwtAuthn {
                www_authenticate, ..
            }
            | Source::ExtAuthz {
                www_authenticate, ..
            }
            | Source::ClientCertificate {
                www_authenticate, ..
            } => www_authenticate,
        }
    }
}

/// The verified identity of the request's user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Identity {
    pub sub: String,
    pub user: String,
    pub email: String,
    pub groups: Vec<String>,
    pub name: String,
    pub sid: String,
    /// The user's groups were dropped by the groups policy.
    pub groups_truncated: bool,
    /// The extra claims the source mapping names, those the request has.
    pub extra: Vec<(String, ExtraValue)>,
}

impl Identity {
    /// The identity of a request that has none (`unauthenticated: anonymous`).
    pub fn anonymous() -> Self {
        Self::default()
    }
}

/// What a request offers to read an identity from: its dynamic metadata
/// (read once, whole, with its types) and the connection's attributes.
pub struct Inputs<'a, C> {
    pub metadata: Metadata<'a>,
    /// `connection.<attribute>` as the host answers it.
    pub connection: C,
}

/// The identity from the first source that yields a subject, or `None`.
#[cfg(any(test, feature = "fuzzing"))]
pub fn read<C: Fn(&str) -> Option<Vec<u8>>>(
    sources: &[Source],
    inputs: &Inputs<'_, C>,
) -> Option<Identity> {
    read_indexed(sources, inputs).map(|(_, identity)| identity)
}

/// [`read`], with the index of the source the identity came from.
pub fn read_indexed<C: Fn(&str) -> Option<Vec<u8>>>(
    sources: &[Source],
    inputs: &Inputs<'_, C>,
) -> Option<(usize, Identity)> {
    sources
        .iter()
        .enumerate()
        .find_map(|(index, source)| Some((index, read_source(source, inputs)?)))
}

impl Source {
    /// The names of the extra claims this source maps.
    pub fn extra_names(&self) -> Vec<&str> {
        fn names<F>(claims: &ClaimFields<F>) -> Vec<&str> {
            claims.extra.iter().map(|(name, _)| name.as_str()).collect()
        }
        match self {
            Source::JwtAuthn { claims, .. } => names(claims),
            Source::ExtAuthz { claims, .. } => names(claims),
            Source::ClientCertificate { claims, .. } => names(claims),
        }
    }

    /// Whether this source reads the request's dynamic metadata.
    pub fn reads_metadata(&self) -> bool {
        !matches!(self, Source::ClientCertificate { .. })
    }

    /// The struct this source's claims are read from, if the request has it.
    fn claims_struct<'a>(&self, metadata: Metadata<'a>) -> Option<Struct<'a>> {
        match self {
            Source::JwtAuthn {
                metadata_namespace,
                payload_key,
                ..
            } => match metadata.namespace(metadata_namespace)?.get(payload_key)? {
                Value::Struct(payload) => Some(payload),
                _ => None,
            },
            Source::ExtAuthz {
                metadata_namespace, ..
            } => metadata.namespace(metadata_namespace),
            Source::ClientCertificate { .. } => None,
        }
    }

    /// Bytes that are equal only when `metadata` holds the same value for
    /// every claim this source's mapping reads, so the identity read from it
    /// is the same. Values are kept as Envoy serialized them (a nested
    /// object's order may vary between requests, which only gives distinct
    /// keys, never a wrong match). `None` for the certificate, and when the
    /// request has nothing for this source.
    pub fn input_key(&self, metadata: Metadata<'_>, key: &mut Vec<u8>) -> Option<()> {
        let from = self.claims_struct(metadata)?;
        let push = |value: Option<&[u8]>| match value {
            Some(value) => crate::push_field(key, value),
            // No length is u64::MAX: absent differs from every value.
            None => key.extend_from_slice(&u64::MAX.to_be_bytes()),
        };
        // Each claim's bytes as `path_raw` / `get_raw` read them, with the
        // claims' struct walked once for all of them; the lists live on the
        // stack for the usual number of claims.
        let no_values = |count| std::iter::repeat_n(None, count);
        match self {
            Source::JwtAuthn { claims, .. } => {
                with_stack_slice(claims.iter().map(Vec::as_slice), |paths| {
                    with_stack_slice(no_values(paths.len()), |found| {
                        from.path_raw_each_into(paths, found);
                        found.iter().copied().for_each(push);
                    });
                });
            }
            Source::ExtAuthz { claims, .. } => {
                with_stack_slice(claims.iter().map(String::as_str), |names| {
                    with_stack_slice(no_values(names.len()), |found| {
                        from.get_raw_each_into(names, found);
                        found.iter().copied().for_each(push);
                    });
                });
            }
            Source::ClientCertificate { .. } => return None,
        }
        Some(())
    }
}

impl<F> ClaimFields<F> {
    /// Every mapped field, extra claims' included, in a fixed order.
    fn iter(&self) -> impl Iterator<Item = &F> + Clone {
        let built_in = [&self.user, &self.email, &self.groups, &self.name, &self.sid];
        std::iter::once(&self.sub)
            .chain(built_in.into_iter().flatten())
            .chain(self.extra.iter().filter_map(|(_, source)| match source {
                ExtraSource::Field(field) => Some(field),
                ExtraSource::Fixed(_) => None,
            }))
    }
}

/// The two kinds of string claim, which take numbers differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextClaim {
    /// `sub`, `user`, `sid`: a whole number is an id (GitHub's numeric user
    /// ids), so it becomes its decimal text.
    Identifier,
    /// `email`, `name`: only strings.
    Text,
}

/// 2^53: JSON numbers reach the filter as IEEE doubles (Envoy's Struct), in
/// which every integer below this is exact; from it on, a value may be the
/// rounding of another id (2^53 + 1 arrives as 2^53), so it is not taken.
const INEXACT_INTEGERS_FROM: f64 = 9_007_199_254_740_992.0;

/// A whole number as decimal text, if it is certainly the one the IdP sent.
fn integer_text(number: f64) -> Option<String> {
    (number.fract() == 0.0 && number.abs() < INEXACT_INTEGERS_FROM)
        .then(|| format!("{}", number as i64))
}

/// A string claim from a value of any type: a string as it is, a whole
/// number as its decimal text where `kind` takes one; any other type
/// (boolean, fractional number, list, object, null) leaves the claim out.
pub fn claim_text(value: Value<'_>, kind: TextClaim) -> Option<String> {
    match value {
        Value::String(text) => Some(text.to_owned()),
        Value::Number(number) if kind == TextClaim::Identifier => integer_text(number),
        _ => None,
    }
}

/// The `groups` claim from a value of any type: a list keeps its strings
/// and its whole numbers (as decimal text) and drops every other item; a
/// single string or whole number is one group; anything else is no groups.
/// A string is never read as a list.
pub fn groups_of(value: Value<'_>) -> Vec<String> {
    let group = |item: Value<'_>| match item {
        Value::String(text) => Some(text.to_owned()),
        Value::Number(number) => integer_text(number),
        _ => None,
    };
    match value {
        Value::List(list) => list
            .values()
            .unwrap_or_default()
            .into_iter()
            .filter_map(group)
            .collect(),
        single => group(single).into_iter().collect(),
    }
}

/// Reads every claim with `text` (a string claim of the given kind),
/// `groups` and `extra`; `None` without a non-empty subject. A built-in
/// claim left out (absent, or of a type it does not take) is signed empty;
/// an extra one is left out of the token.
fn read_claims<F>(
    claims: &ClaimFields<F>,
    text: impl Fn(&F, TextClaim) -> Option<String>,
    groups: impl Fn(&F) -> Vec<String>,
    extra: impl Fn(&F) -> Option<ExtraValue>,
) -> Option<Identity> {
    use TextClaim::{Identifier, Text};
    let sub = text(&claims.sub, Identifier).filter(|sub| !sub.is_empty())?;
    let optional = |mapped: &Option<F>, kind| {
        mapped
            .as_ref()
            .and_then(|field| text(field, kind))
            .unwrap_or_default()
    };
    Some(Identity {
        user: match &claims.user {
            Some(user) => text(user, Identifier).unwrap_or_default(),
            None => sub.clone(),
        },
        sub,
        email: optional(&claims.email, Text),
        groups: claims.groups.as_ref().map(groups).unwrap_or_default(),
        name: optional(&claims.name, Text),
        sid: optional(&claims.sid, Identifier),
        groups_truncated: false,
        extra: claims
            .extra
            .iter()
            .filter_map(|(name, source)| {
                let value = match source {
                    ExtraSource::Field(field) => extra(field)?,
                    ExtraSource::Fixed(value) => value.clone(),
                };
                Some((name.clone(), value))
            })
            .collect(),
    })
}

fn read_source<C: Fn(&str) -> Option<Vec<u8>>>(
    source: &Source,
    inputs: &Inputs<'_, C>,
) -> Option<Identity> {
    match source {
        Source::JwtAuthn { claims, .. } => {
            let payload = source.claims_struct(inputs.metadata)?;
            read_claims(
                claims,
                |path, kind| claim_text(payload.path(path)?, kind),
                |path| payload.path(path).map(groups_of).unwrap_or_default(),
                |path| ExtraValue::from_value(payload.path(path)?),
            )
        }
        Source::ExtAuthz {
            claims,
            groups_delimiter,
            ..
        } => {
            let headers = source.claims_struct(inputs.metadata)?;
            read_claims(
                claims,
                |name, kind| claim_text(headers.get(name)?, kind),
                // A header's values arrive joined into one string.
                |name| match headers.get(name) {
                    Some(Value::String(joined)) => split_groups(joined, groups_delimiter),
                    Some(other) => groups_of(other),
                    None => Vec::new(),
                },
                |name| ExtraValue::from_value(headers.get(name)?),
            )
        }
        Source::ClientCertificate { claims, .. } => {
            // Absent without a presented certificate; a presented one was
            // validated at the handshake (see SECURITY.md on ACCEPT_UNTRUSTED).
            if (inputs.connection)("mtls").as_deref() != Some(&[1]) {
                return None;
            }
            let value = |field: &CertificateField| {
                let raw = String::from_utf8((inputs.connection)(field.attribute())?).ok()?;
                match field {
                    CertificateField::SubjectCn => common_name(&raw),
                    _ => Some(raw),
                }
            };
            read_claims(
                claims,
                |field, _| value(field),
                |field| value(field).into_iter().collect(),
                |field| value(field).map(ExtraValue::Text),
            )
        }
    }
}

/// Groups sent as one delimited string: items trimmed, empty ones dropped.
fn split_groups(joined: &str, delimiter: &str) -> Vec<String> {
    joined
        .split(delimiter)
        .map(str::trim)
        .filter(|group| !group.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The first `CN` of an RFC 2253 subject, unescaped (`\,` and friends, and
/// `\XX` hex pairs). `None` without one or when it is hex-encoded (`#...`).
fn common_name(subject: &str) -> Option<String> {
    let mut attributes = Vec::new();
    let mut current = String::new();
    let mut chars = subject.chars();
    // Split on unescaped ',' and '+' (multi-valued RDNs), keeping escapes.
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push('\\');
                if let Some(escaped) = chars.next() {
                    current.push(escaped);
                }
            }
            ',' | '+' => attributes.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    attributes.push(current);
    let value = attributes.iter().find_map(|attribute| {
        let (kind, value) = attribute.split_once('=')?;
        kind.trim().eq_ignore_ascii_case("CN").then_some(value)
    })?;
    if value.starts_with('#') {
        return None;
    }
    unescape_dn_value(value)
}

fn unescape_dn_value(value: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        if byte != b'\\' {
            bytes.push(byte);
            continue;
        }
        let hex = |b: u8| (b as char).to_digit(16);
        match rest {
            [high, low, tail @ ..] if hex(*high).is_some() && hex(*low).is_some() => {
                let (high, low) = (hex(*high)?, hex(*low)?);
                bytes.push(u8::try_from(high * 16 + low).ok()?);
                rest = tail;
            }
            [escaped, tail @ ..] => {
                bytes.push(*escaped);
                rest = tail;
            }
            [] => return None,
        }
    }
    String::from_utf8(bytes).ok().filter(|cn| !cn.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::value::encode;
    use serde_json::{Value as Json, json};
    use std::collections::HashMap;

    /// A source as the configuration builds it, from its JSON.
    fn configured(source: Json) -> Source {
        crate::config::Settings::parse(
            json!({"identity": source}).to_string().as_bytes(),
            Default::default(),
        )
        .unwrap()
        .identity
        .remove(0)
    }

    fn jwt_authn() -> Source {
        configured(json!({"source": "jwt_authn"}))
    }

    fn ext_authz() -> Source {
        configured(json!({"source": "ext_authz"}))
    }

    fn certificate() -> Source {
        configured(json!({"source": "client_certificate"}))
    }

    const JWT: &str = "envoy.filters.http.jwt_authn";
    const EXT: &str = "envoy.filters.http.ext_authz";

    /// The metadata `jwt_authn` leaves for a verified token with `payload`.
    fn jwt_metadata(payload: &Json) -> Vec<u8> {
        encode::metadata(&[(JWT, &json!({"jwt_payload": payload}))])
    }

    fn no_connection(_: &str) -> Option<Vec<u8>> {
        None
    }

    fn read_from(sources: &[Source], metadata: &[u8]) -> Option<Identity> {
        read(
            sources,
            &Inputs {
                metadata: Metadata::new(metadata),
                connection: no_connection,
            },
        )
    }

    fn from_payload(source: &Source, payload: Json) -> Option<Identity> {
        read_from(std::slice::from_ref(source), &jwt_metadata(&payload))
    }

    #[test]
    fn jwt_authn_reads_mapped_and_nested_claims() {
        let source = configured(json!({"source": "jwt_authn", "claims": {
            "user": "preferred_username",
            "groups": ["realm_access", "roles"],
        }}));
        let identity = from_payload(
            &source,
            json!({
                "sub": "u-1",
                "preferred_username": "alice",
                "email": "alice@example.com",
                "realm_access": {"roles": ["admins"]},
                "groups": ["not-mapped"],
            }),
        )
        .unwrap();
        assert_eq!(identity.sub, "u-1");
        assert_eq!(identity.user, "alice");
        assert_eq!(identity.email, "alice@example.com");
        assert_eq!(identity.groups, vec!["admins"]);
        assert_eq!((identity.name.as_str(), identity.sid.as_str()), ("", ""));
    }

    #[test]
    fn extra_claims_keep_their_json_types_from_every_source() {
        let source = configured(json!({"source": "jwt_authn", "claims": {"extra": {
            "department": "department",
            "tenant": ["org", "tenant_id"],
            "level": "level",
            "big": "big",
            "ratio": "ratio",
            "admin": "admin",
            "roles": ["realm_access", "roles"],
            "address": "address",
            "nothing": "nothing",
            "absent": "absent",
            "env": {"value": "production"},
        }}}));
        let identity = from_payload(
            &source,
            json!({
                "sub": "u-1",
                "department": "R&D",
                "org": {"tenant_id": "t-9"},
                "level": 3,
                "big": 9_007_199_254_740_993_u64,
                "ratio": 0.5,
                "admin": true,
                "realm_access": {"roles": ["a", 2, null, {"x": 1}]},
                "address": {"street": "x"},
                "nothing": null,
            }),
        )
        .unwrap();
        let extra: Vec<(&str, Json)> = identity
            .extra
            .iter()
            .map(|(name, value)| (name.as_str(), value.to_json()))
            .collect();
        assert_eq!(
            extra,
            [
                ("admin", json!(true)),
                ("big", json!(9_007_199_254_740_992.0)),
                ("department", json!("R&D")),
                ("env", json!("production")),
                ("level", json!(3)),
                ("ratio", json!(0.5)),
                ("roles", json!(["a", "2"])),
                ("tenant", json!("t-9")),
            ],
            "objects, nulls and absent claims are left out; names in order"
        );

        let ext = configured(json!({"source": "ext_authz", "claims": {"extra": {
            "team": "X-Auth-Request-Team",
        }}}));
        let metadata = encode::metadata(&[(
            EXT,
            &json!({"x-auth-request-user": "carol", "x-auth-request-team": "a, b"}),
        )]);
        let identity = read_from(&[ext], &metadata).unwrap();
        assert_eq!(
            identity.extra,
            [("team".to_owned(), ExtraValue::Text("a, b".into()))]
        );

        let cert = configured(json!({"source": "client_certificate", "claims": {"extra": {
            "fingerprint": "sha256_digest",
        }}}));
        let identity = read(
            &[cert],
            &Inputs {
                metadata: Metadata::new(&[]),
                connection: connection(&[
                    ("mtls", &[1]),
                    ("uri_san_peer_certificate", b"spiffe://x/y"),
                    ("sha256_peer_certificate_digest", b"ab12"),
                ]),
            },
        )
        .unwrap();
        assert_eq!(
            identity.extra,
            [("fingerprint".to_owned(), ExtraValue::Text("ab12".into()))]
        );
    }

    #[test]
    fn the_input_key_covers_extra_claims() {
        let source = configured(json!({"source": "jwt_authn", "claims": {"extra": {
            "tenant": ["org", "tenant_id"],
        }}}));
        let key_of = |tenant: Json| {
            input_key(
                &source,
                &jwt_metadata(&json!({"sub": "alice", "org": {"tenant_id": tenant}})),
            )
        };
        assert_ne!(key_of(json!("t-1")), key_of(json!("t-2")));
        assert_ne!(key_of(json!("1")), key_of(json!(1)));
        assert_eq!(key_of(json!("t-1")), key_of(json!("t-1")));
    }

    /// More mapped claims than the key keeps on the stack: every one still
    /// counts, the last as much as the first.
    #[test]
    fn the_input_key_covers_more_claims_than_the_stack_holds() {
        let extra: serde_json::Map<String, Json> = (0..16)
            .map(|index| (format!("extra_{index}"), json!(format!("claim_{index}"))))
            .collect();
        let jwt_source = configured(json!({"source": "jwt_authn", "claims": {"extra": extra}}));
        let ext_source = configured(json!({"source": "ext_authz", "claims": {"extra": extra}}));
        for source in [jwt_source, ext_source] {
            let payload = |last: &str| {
                let mut payload = json!({"sub": "alice", "x-auth-request-user": "alice"});
                for index in 0..16 {
                    payload[format!("claim_{index}")] = json!(format!("value {index}"));
                }
                payload["claim_15"] = json!(last);
                payload
            };
            let key_of = |payload: &Json| match &source {
                Source::ExtAuthz { .. } => input_key(&source, &encode::metadata(&[(EXT, payload)])),
                _ => input_key(&source, &jwt_metadata(payload)),
            };
            let key = key_of(&payload("a")).unwrap();
            assert_eq!(key_of(&payload("a")), Some(key.clone()));
            assert_ne!(key_of(&payload("b")), Some(key.clone()));
            let mut first_changed = payload("a");
            first_changed["claim_0"] = json!("other");
            assert_ne!(key_of(&first_changed), Some(key));
        }
    }

    #[test]
    fn user_defaults_to_the_subject() {
        let identity = from_payload(&jwt_authn(), json!({"sub": "bob"})).unwrap();
        assert_eq!(identity.user, "bob");
    }

    #[test]
    fn nulls_anywhere_in_the_token_cost_nothing() {
        let identity = from_payload(
            &jwt_authn(),
            json!({
                "sub": "alice",
                "middle_name": null,
                "address": {"street": null},
                "groups": [null, "dev"],
                "email": null,
            }),
        )
        .unwrap();
        assert_eq!(identity.sub, "alice");
        assert_eq!(identity.groups, ["dev"]);
        assert_eq!(identity.email, "");
    }

    #[test]
    fn each_claim_by_the_type_of_its_value() {
        let source = configured(json!({"source": "jwt_authn", "claims": {"user": "uid"}}));
        let read = |claim: &str, value: Json| {
            let mut payload = json!({"sub": "s", "uid": "u"});
            payload[claim] = value;
            from_payload(&source, payload)
        };
        let id_claims = [("sub", "sub"), ("uid", "user"), ("sid", "sid")];
        for (claim, field) in id_claims {
            let text = |value: Json| {
                read(claim, value).map(|identity| match field {
                    "sub" => identity.sub,
                    "user" => identity.user,
                    _ => identity.sid,
                })
            };
            assert_eq!(text(json!("x")).as_deref(), Some("x"));
            assert_eq!(text(json!(583231)).as_deref(), Some("583231"));
            assert_eq!(text(json!(-7)).as_deref(), Some("-7"));
            assert_eq!(
                text(json!(9007199254740991u64)).as_deref(),
                Some("9007199254740991")
            );
            for other in [
                json!(9007199254740992u64),
                json!(9007199254740993u64),
                json!(1.5),
                json!(1e300),
                json!(true),
                json!(["x"]),
                json!({"x": 1}),
                json!(null),
            ] {
                match field {
                    // Without a subject there is no identity.
                    "sub" => assert_eq!(text(other.clone()), None, "{other}"),
                    _ => assert_eq!(text(other.clone()).as_deref(), Some(""), "{other}"),
                }
            }
        }
        for (claim, value, email, name) in [
            ("email", json!("a@b"), "a@b", ""),
            ("email", json!(5), "", ""),
            ("name", json!(5), "", ""),
            ("name", json!(false), "", ""),
            ("name", json!(["Alice"]), "", ""),
            ("name", json!("Alice"), "", "Alice"),
        ] {
            let identity = read(claim, value.clone()).unwrap();
            assert_eq!(
                (identity.email.as_str(), identity.name.as_str()),
                (email, name),
                "{claim}: {value}"
            );
        }
    }

    #[test]
    fn groups_keep_strings_and_whole_numbers_and_never_split_a_string() {
        let groups = |value: Json| {
            from_payload(&jwt_authn(), json!({"sub": "s", "groups": value}))
                .unwrap()
                .groups
        };
        assert_eq!(
            groups(json!(["admins", 42, null, true, 1.5, ["x"], {"y": 1}, "dev"])),
            ["admins", "42", "dev"]
        );
        assert_eq!(groups(json!("admins")), ["admins"]);
        assert_eq!(groups(json!("a,b")), ["a,b"]);
        assert_eq!(groups(json!(7)), ["7"]);
        for none in [
            json!(null),
            json!(true),
            json!({"a": 1}),
            json!([]),
            json!(2.5),
        ] {
            assert!(groups(none.clone()).is_empty(), "{none}");
        }
        // A string whose bytes are Envoy's pairs encoding of ["admins"].
        let imitation =
            "\u{1}\u{0}\u{0}\u{0}\u{6}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}admins\u{0}\u{0}";
        assert_eq!(groups(json!(imitation)), [imitation]);
    }

    #[test]
    fn a_payload_that_is_not_an_object_or_absent_is_no_identity() {
        for metadata in [
            encode::metadata(&[(JWT, &json!({"jwt_payload": "alice"}))]),
            encode::metadata(&[(JWT, &json!({"other_key": {"sub": "alice"}}))]),
            encode::metadata(&[(EXT, &json!({"jwt_payload": {"sub": "alice"}}))]),
            Vec::new(),
            b"\xff\xff".to_vec(),
        ] {
            assert_eq!(read_from(&[jwt_authn()], &metadata), None);
        }
    }

    #[test]
    fn ext_authz_splits_delimited_groups() {
        let metadata = encode::metadata(&[(
            EXT,
            &json!({
                "x-auth-request-user": "carol",
                "x-auth-request-email": "carol@example.com",
                "x-auth-request-groups": "admins, dev,,ops ",
            }),
        )]);
        let identity = read_from(&[ext_authz()], &metadata).unwrap();
        assert_eq!(identity.sub, "carol");
        assert_eq!(identity.email, "carol@example.com");
        assert_eq!(identity.groups, vec!["admins", "dev", "ops"]);
        // A gRPC auth service may store a real list, read as one.
        let listed = encode::metadata(&[(
            EXT,
            &json!({"x-auth-request-user": 12, "x-auth-request-groups": ["a,b", "c"]}),
        )]);
        let identity = read_from(&[ext_authz()], &listed).unwrap();
        assert_eq!(identity.sub, "12");
        assert_eq!(identity.groups, vec!["a,b", "c"]);
    }

    /// A connection whose attributes are these (name, value) pairs.
    fn connection(attributes: &[(&str, &[u8])]) -> impl Fn(&str) -> Option<Vec<u8>> + use<> {
        let attributes: HashMap<String, Vec<u8>> = attributes
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.to_vec()))
            .collect();
        move |name: &str| attributes.get(name).cloned()
    }

    fn read_certificate(attributes: &[(&str, &[u8])]) -> Option<Identity> {
        read(
            &[certificate()],
            &Inputs {
                metadata: Metadata::new(&[]),
                connection: connection(attributes),
            },
        )
    }

    #[test]
    fn client_certificate_needs_mtls_and_reads_the_san_and_common_name() {
        let uri = "uri_san_peer_certificate";
        let subject = "subject_peer_certificate";
        let attributes = [
            (uri, b"spiffe://example.org/ns/prod/sa/api".as_slice()),
            (subject, br"CN=Carol\, Jr.,OU=Eng,O=Example".as_slice()),
        ];
        assert_eq!(read_certificate(&attributes), None);
        let mut with_mtls = attributes.to_vec();
        with_mtls.push(("mtls", &[1]));
        let identity = read_certificate(&with_mtls).unwrap();
        assert_eq!(identity.sub, "spiffe://example.org/ns/prod/sa/api");
        assert_eq!(identity.name, "Carol, Jr.");
        assert_eq!(
            read_certificate(&[("mtls", &[1]), (subject, b"CN=x")]),
            None
        );
        assert_eq!(
            read_certificate(&[("mtls", &[1]), (uri, &[0xff, 0xfe])]),
            None
        );
    }

    #[test]
    fn the_first_source_with_a_subject_wins() {
        let sources = [jwt_authn(), ext_authz()];
        let metadata = |jwt_sub: Json| {
            encode::metadata(&[
                (JWT, &json!({"jwt_payload": {"sub": jwt_sub}})),
                (EXT, &json!({"x-auth-request-user": "from-ext"})),
            ])
        };
        assert_eq!(
            read_from(&sources, &metadata(json!("from-jwt")))
                .unwrap()
                .sub,
            "from-jwt"
        );
        for no_subject in [json!(""), json!(null), json!(true)] {
            assert_eq!(
                read_from(&sources, &metadata(no_subject)).unwrap().sub,
                "from-ext"
            );
        }
        assert_eq!(read_from(&sources, &[]), None);
    }

    #[test]
    fn common_names() {
        assert_eq!(common_name("CN=carol,O=x").as_deref(), Some("carol"));
        assert_eq!(common_name("O=x,cn=dave").as_deref(), Some("dave"));
        assert_eq!(common_name(r"CN=a\2Cb").as_deref(), Some("a,b"));
        assert_eq!(common_name("CN=a+UID=7").as_deref(), Some("a"));
        assert_eq!(common_name(r"CN=caf\C3\A9").as_deref(), Some("café"));
        assert_eq!(common_name("CN=#0403616263"), None);
        assert_eq!(common_name("O=x"), None);
        assert_eq!(common_name("CN="), None);
        assert_eq!(common_name(r"CN=a\"), None);
        assert_eq!(common_name(r"CN=\FF"), None);
    }

    #[test]
    fn random_subjects_never_panic() {
        let mut next = crate::test_rng::xorshift(0x1234_5678_9abc_def1);
        let alphabet = b"CN=\\,+#0aF\xc3\xa9 ";
        for _ in 0..20_000 {
            let bytes: Vec<u8> = (0..next() % 24)
                .map(|_| alphabet[(next() as usize) % alphabet.len()])
                .collect();
            let _ = common_name(&String::from_utf8_lossy(&bytes));
        }
    }

    fn input_key(source: &Source, metadata: &[u8]) -> Option<Vec<u8>> {
        let mut key = Vec::new();
        source
            .input_key(Metadata::new(metadata), &mut key)
            .map(|()| key)
    }

    #[test]
    fn the_input_key_ignores_unmapped_claims_and_tells_types_apart() {
        let source = configured(json!({"source": "jwt_authn", "claims": {
            "groups": ["realm_access", "roles"],
        }}));
        let payload = json!({
            "sub": "alice",
            "email": "alice@example.com",
            "realm_access": {"roles": ["a"], "other": 1},
            "iat": 1,
            "exp": 2,
        });
        let key_of = |payload: &Json| input_key(&source, &jwt_metadata(payload));
        let key = key_of(&payload).unwrap();
        // A new IdP token for the same claims (other iat, exp): same key,
        // and a nested object's unmapped members do not count either.
        let mut renewed = payload.clone();
        renewed["iat"] = json!(9);
        renewed["exp"] = json!(10);
        renewed["realm_access"]["other"] = json!(2);
        assert_eq!(key_of(&renewed), Some(key.clone()));
        // Any mapped claim changed, added, removed, or of another type:
        // another key.
        for (claim, value) in [
            ("sub", json!("alicf")),
            ("name", json!("Alice")),
            ("email", json!("")),
            ("email", json!(null)),
            ("sub", json!(["alice"])),
        ] {
            let mut other = payload.clone();
            other[claim] = value.clone();
            assert_ne!(key_of(&other), Some(key.clone()), "{claim}: {value}");
        }
        let mut no_email = payload.clone();
        no_email.as_object_mut().unwrap().remove("email");
        assert_ne!(key_of(&no_email), Some(key.clone()));
        let mut other_roles = payload.clone();
        other_roles["realm_access"]["roles"] = json!(["b"]);
        assert_ne!(key_of(&other_roles), Some(key.clone()));
        // Nothing for the source: no key (the request reads no identity).
        assert_eq!(input_key(&source, &[]), None);
        assert_eq!(input_key(&certificate(), &jwt_metadata(&payload)), None);
    }

    #[test]
    fn equal_input_keys_mean_equal_identities() {
        // Random payloads over a few claims and values of every type:
        // whenever the keys match, so do the identities read from them.
        let sources = [
            configured(json!({"source": "jwt_authn", "claims": {
                "user": "preferred_username", "groups": ["realm_access", "roles"]
            }})),
            ext_authz(),
        ];
        let mut next = crate::test_rng::xorshift(0x2545_f491_4f6c_dd1d);
        let names = [
            "sub",
            "email",
            "groups",
            "name",
            "sid",
            "iat",
            "preferred_username",
            "realm_access",
            "x-auth-request-user",
            "x-auth-request-groups",
        ];
        let values = [
            json!("a"),
            json!("b"),
            json!(""),
            json!(null),
            json!(1),
            json!(1.5),
            json!(true),
            json!(["a", null]),
            json!({"roles": ["a"]}),
            json!({"roles": "a"}),
        ];
        for source in &sources {
            let mut seen: HashMap<Vec<u8>, Option<Identity>> = HashMap::new();
            for _ in 0..5_000 {
                let mut claims = serde_json::Map::new();
                for name in names {
                    if !next().is_multiple_of(3) {
                        let value = values[(next() as usize) % values.len()].clone();
                        claims.insert(name.to_owned(), value);
                    }
                }
                let metadata = match source {
                    Source::JwtAuthn { .. } => jwt_metadata(&Json::Object(claims)),
                    _ => encode::metadata(&[(EXT, &Json::Object(claims))]),
                };
                let Some(key) = input_key(source, &metadata) else {
                    panic!("metadata for the source always has a key");
                };
                let identity = read_from(std::slice::from_ref(source), &metadata);
                if let Some(earlier) = seen.insert(key, identity.clone()) {
                    assert_eq!(earlier, identity);
                }
            }
            assert!(seen.len() > 100, "the keys tell inputs apart");
        }
    }
}
