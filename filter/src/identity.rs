//! Who the user is, read only from what a client cannot write: the payload
//! `jwt_authn` verified, the dynamic metadata an `ext_authz` service's
//! response produced, or the TLS client certificate Envoy validated.
//!
//! Every read goes through `property` (the host's `get_property`), so the
//! decisions here are tested natively.

use crate::metadata;

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
}

/// A field of the peer certificate, as Envoy's connection attributes expose
/// it (only the first SAN of each kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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
}

impl Identity {
    /// The identity of a request that has none (`unauthenticated: anonymous`).
    pub fn anonymous() -> Self {
        Self::default()
    }
}

/// The identity from the first source that yields a subject, or `None`.
#[cfg(any(test, feature = "fuzzing"))]
pub fn read(sources: &[Source], property: impl Fn(&[&str]) -> Option<Vec<u8>>) -> Option<Identity> {
    read_indexed(sources, property).map(|(_, identity)| identity)
}

/// [`read`], with the index of the source the identity came from.
pub fn read_indexed(
    sources: &[Source],
    property: impl Fn(&[&str]) -> Option<Vec<u8>>,
) -> Option<(usize, Identity)> {
    sources
        .iter()
        .enumerate()
        .find_map(|(index, source)| Some((index, read_source(source, &property)?)))
}

impl Source {
    /// The property holding everything this source reads, when there is one
    /// (`jwt_authn`'s whole payload).
    pub fn whole_input(&self) -> Option<[&str; 4]> {
        match self {
            Source::JwtAuthn {
                metadata_namespace,
                payload_key,
                ..
            } => Some([
                "metadata",
                "filter_metadata",
                metadata_namespace,
                payload_key,
            ]),
            Source::ExtAuthz { .. } | Source::ClientCertificate { .. } => None,
        }
    }

    /// Bytes that are equal exactly when [`Self::whole_input`] holds the same
    /// values for every top-level claim this source's mapping reads: the
    /// identity read from it is then the same. Envoy serializes the payload
    /// in a different key order on each request, so the claims are taken by
    /// name, in sorted order; values are kept as Envoy sent them (a nested
    /// object's order varies too, so a mapping into one only gives distinct
    /// keys, never a wrong match). `None` for other sources.
    pub fn input_key(&self, payload: &Payload<'_>, key: &mut Vec<u8>) -> Option<()> {
        let Source::JwtAuthn { claims, .. } = self else {
            return None;
        };
        let mut read: Vec<&str> = [
            Some(&claims.sub),
            claims.user.as_ref(),
            claims.email.as_ref(),
            claims.groups.as_ref(),
            claims.name.as_ref(),
            claims.sid.as_ref(),
        ]
        .into_iter()
        .flatten()
        .filter_map(|path| path.first().map(String::as_str))
        .collect();
        read.sort_unstable();
        read.dedup();
        for name in read {
            crate::push_field(key, name.as_bytes());
            match payload.claim(name) {
                Some(value) => crate::push_field(key, value),
                // No length is u64::MAX: absent differs from every value.
                None => key.extend_from_slice(&u64::MAX.to_be_bytes()),
            }
        }
        Some(())
    }
}

/// A `jwt_authn` payload already read whole: answers the properties that
/// name one of its top-level claims, as the host would (an empty value is
/// absent, as Envoy reports it), so reading the identity costs no further
/// host call. Deeper paths are left to the host: only the top level is known
/// to be a map, and a string claim whose bytes happened to parse as one must
/// not be walked into.
pub struct Payload<'a> {
    path: [&'a str; 4],
    claims: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> Payload<'a> {
    /// `None` unless `bytes` is a map (Envoy's pairs encoding).
    pub fn new(path: [&'a str; 4], bytes: &'a [u8]) -> Option<Self> {
        Some(Self {
            path,
            claims: crate::metadata::decode_pairs(bytes)?,
        })
    }

    /// A top-level claim's value as Envoy encoded it (empty ones included).
    pub fn claim(&self, name: &str) -> Option<&'a [u8]> {
        self.claims
            .iter()
            .find(|(claim, _)| *claim == name.as_bytes())
            .map(|(_, value)| *value)
    }

    /// `Some(answer)` for a top-level claim's path, `None` for any other.
    pub fn property(&self, path: &[&str]) -> Option<Option<Vec<u8>>> {
        let (claim, parent) = path.split_last()?;
        if parent != self.path {
            return None;
        }
        Some(
            self.claim(claim)
                .filter(|value| !value.is_empty())
                .map(<[u8]>::to_vec),
        )
    }
}

fn text(bytes: Option<Vec<u8>>) -> Option<String> {
    bytes.and_then(|bytes| String::from_utf8(bytes).ok())
}

/// Reads every claim with `field` (a claim's raw value) and `groups` (the
/// groups decoding of the source); `None` without a non-empty subject.
fn read_claims<F>(
    claims: &ClaimFields<F>,
    field: impl Fn(&F) -> Option<String>,
    groups: impl Fn(&F) -> Vec<String>,
) -> Option<Identity> {
    let sub = field(&claims.sub).filter(|sub| !sub.is_empty())?;
    let optional = |mapped: &Option<F>| mapped.as_ref().and_then(&field).unwrap_or_default();
    Some(Identity {
        user: match &claims.user {
            Some(user) => field(user).unwrap_or_default(),
            None => sub.clone(),
        },
        sub,
        email: optional(&claims.email),
        groups: claims.groups.as_ref().map(groups).unwrap_or_default(),
        name: optional(&claims.name),
        sid: optional(&claims.sid),
        groups_truncated: false,
    })
}

fn read_source(
    source: &Source,
    property: &impl Fn(&[&str]) -> Option<Vec<u8>>,
) -> Option<Identity> {
    match source {
        Source::JwtAuthn {
            metadata_namespace,
            payload_key,
            claims,
            ..
        } => {
            let claim = |path: &Vec<String>| {
                let mut full: Vec<&str> = vec![
                    "metadata",
                    "filter_metadata",
                    metadata_namespace,
                    payload_key,
                ];
                full.extend(path.iter().map(String::as_str));
                property(&full)
            };
            read_claims(
                claims,
                |path| text(claim(path)),
                |path| {
                    claim(path)
                        .map(|bytes| metadata::groups(&bytes))
                        .unwrap_or_default()
                },
            )
        }
        Source::ExtAuthz {
            metadata_namespace,
            claims,
            groups_delimiter,
            ..
        } => {
            let value = |key: &String| {
                text(property(&[
                    "metadata",
                    "filter_metadata",
                    metadata_namespace,
                    key,
                ]))
            };
            read_claims(claims, value, |key| {
                value(key)
                    .map(|joined| split_groups(&joined, groups_delimiter))
                    .unwrap_or_default()
            })
        }
        Source::ClientCertificate { claims, .. } => {
            // Absent without a presented certificate; a presented one was
            // validated at the handshake (see SECURITY.md on ACCEPT_UNTRUSTED).
            if property(&["connection", "mtls"]).as_deref() != Some(&[1]) {
                return None;
            }
            let value = |field: &CertificateField| {
                let raw = text(property(&["connection", field.attribute()]))?;
                match field {
                    CertificateField::SubjectCn => common_name(&raw),
                    _ => Some(raw),
                }
            };
            read_claims(claims, value, |field| value(field).into_iter().collect())
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
    use std::collections::HashMap;

    /// A source as the configuration builds it with its defaults.
    fn configured(source: &str) -> Source {
        let json = format!(r#"{{"identity":{{"source":"{source}"}}}}"#);
        crate::config::Settings::parse(json.as_bytes(), None)
            .unwrap()
            .identity
            .remove(0)
    }

    fn jwt_authn() -> Source {
        configured("jwt_authn")
    }

    fn ext_authz() -> Source {
        configured("ext_authz")
    }

    fn certificate() -> Source {
        configured("client_certificate")
    }

    /// A host whose properties are the given paths (joined with '/').
    fn host(properties: &[(&str, &[u8])]) -> impl Fn(&[&str]) -> Option<Vec<u8>> + use<> {
        let properties: HashMap<String, Vec<u8>> = properties
            .iter()
            .map(|(path, value)| ((*path).to_owned(), value.to_vec()))
            .collect();
        move |path: &[&str]| properties.get(&path.join("/")).cloned()
    }

    const JWT: &str = "metadata/filter_metadata/envoy.filters.http.jwt_authn/jwt_payload";
    const EXT: &str = "metadata/filter_metadata/envoy.filters.http.ext_authz";

    #[test]
    fn jwt_authn_reads_mapped_and_nested_claims() {
        let Source::JwtAuthn {
            metadata_namespace,
            payload_key,
            mut claims,
            www_authenticate,
        } = jwt_authn()
        else {
            unreachable!()
        };
        claims.user = Some(vec!["preferred_username".into()]);
        claims.groups = Some(vec!["realm_access".into(), "roles".into()]);
        let source = Source::JwtAuthn {
            metadata_namespace,
            payload_key,
            claims,
            www_authenticate,
        };
        let identity = read(
            &[source],
            host(&[
                (&format!("{JWT}/sub"), b"u-1"),
                (&format!("{JWT}/preferred_username"), b"alice"),
                (&format!("{JWT}/email"), b"alice@example.com"),
                (&format!("{JWT}/realm_access/roles"), b"admins"),
            ]),
        )
        .unwrap();
        assert_eq!(identity.sub, "u-1");
        assert_eq!(identity.user, "alice");
        assert_eq!(identity.email, "alice@example.com");
        assert_eq!(identity.groups, vec!["admins"]);
        assert_eq!((identity.name.as_str(), identity.sid.as_str()), ("", ""));
    }

    #[test]
    fn user_defaults_to_the_subject() {
        let identity = read(&[jwt_authn()], host(&[(&format!("{JWT}/sub"), b"bob")])).unwrap();
        assert_eq!(identity.user, "bob");
    }

    #[test]
    fn ext_authz_splits_delimited_groups() {
        let identity = read(
            &[ext_authz()],
            host(&[
                (&format!("{EXT}/x-auth-request-user"), b"carol"),
                (&format!("{EXT}/x-auth-request-email"), b"carol@example.com"),
                (
                    &format!("{EXT}/x-auth-request-groups"),
                    b"admins, dev,,ops ",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(identity.sub, "carol");
        assert_eq!(identity.email, "carol@example.com");
        assert_eq!(identity.groups, vec!["admins", "dev", "ops"]);
    }

    #[test]
    fn client_certificate_needs_mtls_and_reads_the_san_and_common_name() {
        let uri = "connection/uri_san_peer_certificate";
        let subject = "connection/subject_peer_certificate";
        let properties = [
            (uri, b"spiffe://example.org/ns/prod/sa/api".as_slice()),
            (subject, br"CN=Carol\, Jr.,OU=Eng,O=Example".as_slice()),
        ];
        assert_eq!(read(&[certificate()], host(&properties)), None);
        let mut with_mtls = properties.to_vec();
        with_mtls.push(("connection/mtls", &[1]));
        let identity = read(&[certificate()], host(&with_mtls)).unwrap();
        assert_eq!(identity.sub, "spiffe://example.org/ns/prod/sa/api");
        assert_eq!(identity.name, "Carol, Jr.");
        let no_san = [("connection/mtls", [1].as_slice()), (subject, b"CN=x")];
        assert_eq!(read(&[certificate()], host(&no_san)), None);
    }

    #[test]
    fn the_first_source_with_a_subject_wins() {
        let sources = [jwt_authn(), ext_authz()];
        let both = host(&[
            (&format!("{JWT}/sub"), b"from-jwt"),
            (&format!("{EXT}/x-auth-request-user"), b"from-ext"),
        ]);
        assert_eq!(read(&sources, both).unwrap().sub, "from-jwt");
        let empty_jwt_sub = host(&[
            (&format!("{JWT}/sub"), b""),
            (&format!("{EXT}/x-auth-request-user"), b"from-ext"),
        ]);
        assert_eq!(read(&sources, empty_jwt_sub).unwrap().sub, "from-ext");
        assert_eq!(read(&sources, host(&[])), None);
    }

    #[test]
    fn binary_values_are_absent() {
        let binary = host(&[(&format!("{JWT}/sub"), &[0xff, 0xfe])]);
        assert_eq!(read(&[jwt_authn()], binary), None);
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

    /// Envoy's pairs encoding of a map, in the given order.
    fn encode_pairs(pairs: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
        for (key, value) in pairs {
            out.extend((key.len() as u32).to_le_bytes());
            out.extend((value.len() as u32).to_le_bytes());
        }
        for (key, value) in pairs {
            out.extend(key.as_bytes());
            out.push(0);
            out.extend(*value);
            out.push(0);
        }
        out
    }

    fn input_key(source: &Source, payload: &[u8]) -> Option<Vec<u8>> {
        let jwt_authn = jwt_authn();
        let payload = Payload::new(jwt_authn.whole_input()?, payload)?;
        let mut key = Vec::new();
        source.input_key(&payload, &mut key).map(|()| key)
    }

    #[test]
    fn the_input_key_ignores_key_order_and_unmapped_claims() {
        let source = jwt_authn();
        let claims: [(&str, &[u8]); 5] = [
            ("sub", b"alice"),
            ("email", b"alice@example.com"),
            (
                "groups",
                b"\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00a\x00\x00",
            ),
            ("iat", &[0, 0, 0, 0, 0, 0, 0, 1]),
            ("exp", &[0, 0, 0, 0, 0, 0, 0, 2]),
        ];
        let key = input_key(&source, &encode_pairs(&claims)).unwrap();
        let mut reversed = claims;
        reversed.reverse();
        assert_eq!(
            input_key(&source, &encode_pairs(&reversed)),
            Some(key.clone())
        );
        // A new IdP token for the same claims (other iat, exp): same key.
        let mut renewed = claims;
        renewed[3].1 = &[9; 8];
        renewed[4].1 = &[8; 8];
        assert_eq!(
            input_key(&source, &encode_pairs(&renewed)),
            Some(key.clone())
        );
        // Any mapped claim changed, added or removed: another key.
        let mut other = claims;
        other[0].1 = b"alicf";
        assert_ne!(input_key(&source, &encode_pairs(&other)), Some(key.clone()));
        let with_name = [claims.as_slice(), &[("name", b"Alice".as_slice())]].concat();
        assert_ne!(
            input_key(&source, &encode_pairs(&with_name)),
            Some(key.clone())
        );
        let empty_email = [
            ("sub", b"alice".as_slice()),
            ("email", b""),
            ("groups", claims[2].1),
        ];
        let no_email = [("sub", b"alice".as_slice()), ("groups", claims[2].1)];
        assert_ne!(
            input_key(&source, &encode_pairs(&empty_email)),
            input_key(&source, &encode_pairs(&no_email))
        );
        // Not a map: no key (the request reads its identity the long way).
        assert_eq!(input_key(&source, b"alice"), None);
        assert_eq!(input_key(&ext_authz(), &encode_pairs(&claims)), None);
        assert_eq!(input_key(&certificate(), &encode_pairs(&claims)), None);
    }

    #[test]
    fn equal_input_keys_mean_equal_identities() {
        // Random payloads over a few claims and values, each in two orders:
        // whenever the keys match, so do the identities read from them.
        let source = jwt_authn();
        let mut next = crate::test_rng::xorshift(0x2545_f491_4f6c_dd1d);
        let names = ["sub", "email", "groups", "name", "sid", "iat", "user", "x"];
        let values: [&[u8]; 4] = [b"a", b"b", b"", b"\x00\x00\x00\x00"];
        let mut seen: HashMap<Vec<u8>, Option<Identity>> = HashMap::new();
        for _ in 0..5_000 {
            let mut pairs: Vec<(&str, &[u8])> = Vec::new();
            for name in names {
                if !next().is_multiple_of(3) {
                    pairs.push((name, values[(next() % 4) as usize]));
                }
            }
            if next().is_multiple_of(2) {
                pairs.reverse();
            }
            let payload = encode_pairs(&pairs);
            let Some(key) = input_key(&source, &payload) else {
                panic!("a map always has a key");
            };
            let by_claims = read_claims_of(&source, &pairs);
            if let Some(earlier) = seen.insert(key, by_claims.clone()) {
                assert_eq!(earlier, by_claims, "{pairs:?}");
            }
        }
    }

    /// The identity `jwt_authn` would give for a payload of these top-level claims.
    fn read_claims_of(source: &Source, pairs: &[(&str, &[u8])]) -> Option<Identity> {
        let Source::JwtAuthn {
            metadata_namespace,
            payload_key,
            ..
        } = source
        else {
            return None;
        };
        let properties: Vec<(String, Vec<u8>)> = pairs
            .iter()
            .map(|(name, value)| {
                (
                    format!("metadata/filter_metadata/{metadata_namespace}/{payload_key}/{name}"),
                    value.to_vec(),
                )
            })
            .collect();
        let borrowed: Vec<(&str, &[u8])> = properties
            .iter()
            .map(|(path, value)| (path.as_str(), value.as_slice()))
            .collect();
        read(std::slice::from_ref(source), host(&borrowed))
    }

    #[test]
    fn a_payload_read_whole_answers_top_level_claims_as_the_host_does() {
        let source = jwt_authn();
        let path = source.whole_input().unwrap();
        let groups = b"\x02\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00a\x00\x00b\x00\x00";
        let claims: [(&str, &[u8]); 5] = [
            ("sub", b"alice"),
            ("email", b""),
            ("groups", groups),
            ("name", b"Alice"),
            ("iat", &[0, 0, 0, 0, 0, 0, 0, 1]),
        ];
        let payload_bytes = encode_pairs(&claims);
        let payload = Payload::new(path, &payload_bytes).unwrap();
        // The host: one property per claim, an empty value absent.
        let per_claim: Vec<(String, Vec<u8>)> = claims
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| (format!("{}/{name}", path.join("/")), value.to_vec()))
            .collect();
        let borrowed: Vec<(&str, &[u8])> = per_claim
            .iter()
            .map(|(path, value)| (path.as_str(), value.as_slice()))
            .collect();
        let host = host(&borrowed);
        let asked = std::cell::Cell::new(0);
        let from_payload = read(std::slice::from_ref(&source), |path| {
            match payload.property(path) {
                Some(answer) => answer,
                None => {
                    asked.set(asked.get() + 1);
                    host(path)
                }
            }
        });
        let from_host = read(std::slice::from_ref(&source), &host);
        assert_eq!(from_payload, from_host);
        assert_eq!(from_payload.unwrap().groups, ["a", "b"]);
        assert_eq!(asked.get(), 0, "every default claim is top-level");
        // Deeper paths and other properties are the host's to answer.
        let mut deeper = path.to_vec();
        deeper.extend(["realm_access", "roles"]);
        assert_eq!(payload.property(&deeper), None);
        assert_eq!(payload.property(&["connection", "mtls"]), None);
        assert_eq!(payload.property(&[]), None);
        assert!(Payload::new(path, b"not a map").is_none());
    }
}
