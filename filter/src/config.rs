//! The plugin configuration: parsed and validated once per `on_configure`.

use serde::Deserialize;
use signed_headers_keys::{Bundle, BundleError};

use crate::strip::StripRules;

pub const DEFAULT_HEADER: &str = "x-pomerium-jwt-assertion";
pub const DEFAULT_JWKS_PATH: &str = "/.well-known/pomerium/jwks.json";
pub const DEFAULT_TTL_SECONDS: u64 = 300;
pub const DEFAULT_JWKS_MAX_AGE_SECONDS: u64 = 60;
/// Tokens cached per worker: plenty for a burst of distinct users, small
/// enough to never matter for memory (about 1 KiB each).
pub const DEFAULT_TOKEN_CACHE_ENTRIES: usize = 4096;
const MAX_TOKEN_CACHE_ENTRIES: usize = 1_000_000;
pub const DEFAULT_METADATA_NAMESPACE: &str = "envoy.filters.http.jwt_authn";
pub const DEFAULT_PAYLOAD_KEY: &str = "jwt_payload";
/// The environment variable read (through `host_env_keys`) when the
/// configuration holds no key.
pub const SIGNING_KEY_ENV: &str = "SIGNING_KEY";

/// A day: assertions are meant to be short-lived, and a typo like `3000000`
/// should be an error rather than a month-long token.
const MAX_TTL_SECONDS: u64 = 86_400;
const MAX_JWKS_MAX_AGE_SECONDS: u64 = 31_536_000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    signing_key: Option<String>,
    header: Option<String>,
    jwks_path: Option<String>,
    issuer_format: Option<IssuerFormat>,
    issuer: Option<String>,
    audience: Option<String>,
    ttl_seconds: Option<u64>,
    jwks_max_age_seconds: Option<u64>,
    token_cache_entries: Option<usize>,
    #[serde(default)]
    strip: RawStrip,
    #[serde(default)]
    identity: RawIdentity,
    #[serde(default)]
    unauthenticated: UnauthenticatedPolicy,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStrip {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    prefixes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    #[serde(default)]
    source: IdentitySource,
    metadata_namespace: Option<String>,
    payload_key: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum IdentitySource {
    #[default]
    JwtAuthn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssuerFormat {
    /// `iss` is the request host, without port.
    Host,
    /// `iss` is `https://<host>/`.
    Uri,
}

/// How `iss` is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issuer {
    FromHost(IssuerFormat),
    Fixed(String),
}

/// What happens to a request that carries no identity.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnauthenticatedPolicy {
    /// Answer 401; the upstream never sees the request.
    #[default]
    Deny,
    /// Forward with an assertion whose subject is empty.
    Anonymous,
    /// Forward without any assertion.
    Pass,
}

/// Where the verified identity is read from: the payload that Envoy's
/// `jwt_authn` filter stores in dynamic metadata (`payload_in_metadata`),
/// which a client cannot write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuthnSource {
    pub metadata_namespace: String,
    pub payload_key: String,
}

/// Where the signing key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A bundle from `signing_key` or the `SIGNING_KEY` environment variable.
    Bundle(Bundle),
    /// No key configured: one ephemeral key shared by every worker VM.
    Ephemeral,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub key_source: KeySource,
    pub header: String,
    pub jwks_path: String,
    pub issuer: Issuer,
    /// A fixed `aud`; `None` means the request host.
    pub audience: Option<String>,
    pub ttl_seconds: u64,
    pub jwks_max_age_seconds: u64,
    /// Per-worker cache of minted tokens; 0 signs every request.
    pub token_cache_entries: usize,
    pub strip: StripRules,
    pub identity: JwtAuthnSource,
    pub unauthenticated: UnauthenticatedPolicy,
}

impl Settings {
    /// Whether `iss` or `aud` names the request host, which must then be
    /// valid before anything is signed.
    pub fn names_request_host(&self) -> bool {
        !matches!(self.issuer, Issuer::Fixed(_)) || self.audience.is_none()
    }
}

/// A configuration error, phrased to name the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn field_error(field: &str, message: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("{field}: {message}"))
}

fn bundle_error(field: &str, error: BundleError) -> ConfigError {
    field_error(field, error)
}

impl Settings {
    /// Parses the plugin configuration (empty means all defaults).
    /// `environment_key` is the value of `SIGNING_KEY`, if the host passed one.
    pub fn parse(json: &[u8], environment_key: Option<&str>) -> Result<Self, ConfigError> {
        let raw: RawConfig = if json.iter().all(u8::is_ascii_whitespace) {
            RawConfig::default()
        } else if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            // serde would read a JSON array as the struct's fields in order.
            return Err(field_error("configuration", "must be a JSON object"));
        } else {
            let mut deserializer = serde_json::Deserializer::from_slice(json);
            let raw = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
                let path = error.path().to_string();
                // Errors about the document itself have no field path.
                let field = if path.is_empty() || path == "." || path == "?" {
                    "configuration"
                } else {
                    &path
                };
                field_error(field, error.inner())
            })?;
            deserializer
                .end()
                .map_err(|error| field_error("configuration", error))?;
            raw
        };
        Self::validate(raw, environment_key)
    }

    fn validate(raw: RawConfig, environment_key: Option<&str>) -> Result<Self, ConfigError> {
        let key_source = match (raw.signing_key.as_deref(), environment_key) {
            (Some(configured), _) => KeySource::Bundle(
                Bundle::parse_signing(configured).map_err(|e| bundle_error("signing_key", e))?,
            ),
            (None, Some(from_env)) if !from_env.trim().is_empty() => KeySource::Bundle(
                Bundle::parse_signing(from_env)
                    .map_err(|e| bundle_error("SIGNING_KEY (environment)", e))?,
            ),
            (None, _) => KeySource::Ephemeral,
        };

        let header = raw.header.unwrap_or_else(|| DEFAULT_HEADER.to_owned());
        let header = validate_header_name("header", &header)?;

        let jwks_path = raw
            .jwks_path
            .unwrap_or_else(|| DEFAULT_JWKS_PATH.to_owned());
        if !jwks_path.starts_with('/') || jwks_path.contains(['?', '#']) || jwks_path.len() > 1024 {
            return Err(field_error(
                "jwks_path",
                format!("\"{jwks_path}\" must be an absolute path without query or fragment"),
            ));
        }

        let issuer = match (raw.issuer, raw.issuer_format) {
            (Some(_), Some(_)) => {
                return Err(field_error(
                    "issuer",
                    "set either issuer (a fixed value) or issuer_format, not both",
                ));
            }
            (Some(fixed), None) if fixed.trim().is_empty() => {
                return Err(field_error("issuer", "must not be empty"));
            }
            (Some(fixed), None) => Issuer::Fixed(fixed),
            (None, format) => Issuer::FromHost(format.unwrap_or(IssuerFormat::Host)),
        };
        let audience = match raw.audience {
            Some(fixed) if fixed.trim().is_empty() => {
                return Err(field_error("audience", "must not be empty"));
            }
            fixed => fixed,
        };

        let ttl_seconds = in_range(
            "ttl_seconds",
            raw.ttl_seconds,
            DEFAULT_TTL_SECONDS,
            1..=MAX_TTL_SECONDS,
        )?;
        let jwks_max_age_seconds = in_range(
            "jwks_max_age_seconds",
            raw.jwks_max_age_seconds,
            DEFAULT_JWKS_MAX_AGE_SECONDS,
            0..=MAX_JWKS_MAX_AGE_SECONDS,
        )?;
        let token_cache_entries = in_range(
            "token_cache_entries",
            raw.token_cache_entries,
            DEFAULT_TOKEN_CACHE_ENTRIES,
            0..=MAX_TOKEN_CACHE_ENTRIES,
        )?;

        let strip_names = validate_header_names("strip.names", &raw.strip.names)?;
        let strip_prefixes = validate_header_names("strip.prefixes", &raw.strip.prefixes)?;
        let strip = StripRules::new(&header, strip_names, strip_prefixes);

        let IdentitySource::JwtAuthn = raw.identity.source;
        let identity = JwtAuthnSource {
            metadata_namespace: non_empty(
                "identity.metadata_namespace",
                raw.identity.metadata_namespace,
                DEFAULT_METADATA_NAMESPACE,
            )?,
            payload_key: non_empty(
                "identity.payload_key",
                raw.identity.payload_key,
                DEFAULT_PAYLOAD_KEY,
            )?,
        };

        Ok(Self {
            key_source,
            header,
            jwks_path,
            issuer,
            audience,
            ttl_seconds,
            jwks_max_age_seconds,
            token_cache_entries,
            strip,
            identity,
            unauthenticated: raw.unauthenticated,
        })
    }
}

fn in_range<T>(
    field: &str,
    value: Option<T>,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: PartialOrd + std::fmt::Display,
{
    let value = value.unwrap_or(default);
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(field_error(
            field,
            format!(
                "{value} is out of range ({} to {})",
                range.start(),
                range.end()
            ),
        ))
    }
}

fn validate_header_names(field: &str, names: &[String]) -> Result<Vec<String>, ConfigError> {
    names
        .iter()
        .enumerate()
        .map(|(index, name)| validate_header_name(&format!("{field}[{index}]"), name))
        .collect()
}

fn non_empty(field: &str, value: Option<String>, default: &str) -> Result<String, ConfigError> {
    match value {
        Some(value) if value.is_empty() => Err(field_error(field, "must not be empty")),
        Some(value) => Ok(value),
        None => Ok(default.to_owned()),
    }
}

/// Header names are matched lowercase (Envoy lowercases them); anything that
/// is not an HTTP token would never match and is surely a mistake.
fn validate_header_name(field: &str, name: &str) -> Result<String, ConfigError> {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(is_token_char) {
        return Err(field_error(
            field,
            format!("\"{name}\" is not a valid HTTP header name"),
        ));
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use signed_headers_keys::{BundleKey, KeyFormat};

    fn parse(json: &str) -> Result<Settings, ConfigError> {
        Settings::parse(json.as_bytes(), None)
    }

    fn error(json: &str) -> String {
        parse(json).unwrap_err().to_string()
    }

    #[test]
    fn empty_configuration_gives_spec_defaults() {
        for json in ["", "  ", "{}"] {
            let settings = parse(json).unwrap();
            assert!(matches!(settings.key_source, KeySource::Ephemeral));
            assert_eq!(settings.header, "x-pomerium-jwt-assertion");
            assert_eq!(settings.jwks_path, "/.well-known/pomerium/jwks.json");
            assert_eq!(settings.issuer, Issuer::FromHost(IssuerFormat::Host));
            assert_eq!(settings.audience, None);
            assert!(settings.names_request_host());
            assert_eq!(settings.ttl_seconds, 300);
            assert_eq!(settings.jwks_max_age_seconds, 60);
            assert_eq!(settings.token_cache_entries, 4096);
            assert_eq!(settings.unauthenticated, UnauthenticatedPolicy::Deny);
            assert_eq!(
                settings.identity,
                JwtAuthnSource {
                    metadata_namespace: "envoy.filters.http.jwt_authn".into(),
                    payload_key: "jwt_payload".into(),
                }
            );
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert!(error(r#"{"ttl_seconds":"x"}"#).starts_with("ttl_seconds: invalid type"));
        assert!(error(r#"{"bogus":1}"#).contains("unknown field `bogus`"));
        assert!(error(r#"{"strip":{"names":[1]}}"#).starts_with("strip.names[0]: invalid type"));
        assert!(error(r#"{"strip":{"names":["bad name"]}}"#).starts_with("strip.names[0]:"));
        assert!(
            error(r#"{"unauthenticated":"maybe"}"#).starts_with("unauthenticated: unknown variant")
        );
        assert!(error(r#"{"ttl_seconds":0}"#).starts_with("ttl_seconds: 0 is out of range"));
        assert!(error(r#"{"token_cache_entries":-1}"#).starts_with("token_cache_entries: invalid"));
        assert!(error(r#"{"jwks_path":"relative"}"#).starts_with("jwks_path:"));
        assert!(error(r#"{"issuer":"x","issuer_format":"uri"}"#).starts_with("issuer:"));
        assert_eq!(error(r#"{"audience":" "}"#), "audience: must not be empty");
        assert!(error(r#"{"audience":["a"]}"#).starts_with("audience: invalid type"));
        assert!(error(r#"{"identity":{"source":"mtls"}}"#).starts_with("identity.source:"));
        assert!(error(r#"{"signing_key":"garbage"}"#).starts_with("signing_key: not a PEM"));
        assert_eq!(error("[1]"), "configuration: must be a JSON object");
        assert_eq!(error("\"x\""), "configuration: must be a JSON object");
        assert!(error("{} trailing").starts_with("configuration: trailing characters"));
    }

    #[test]
    fn only_a_fixed_issuer_and_audience_free_the_request_host() {
        let names_host = |json: &str| parse(json).unwrap().names_request_host();
        assert!(names_host(r#"{"issuer":"https://id.example"}"#));
        assert!(names_host(r#"{"audience":"app"}"#));
        assert!(names_host(r#"{"audience":"app","issuer_format":"uri"}"#));
        assert!(!names_host(
            r#"{"audience":"app","issuer":"https://id.example"}"#
        ));
    }

    #[test]
    fn signing_key_must_contain_a_private_key() {
        let key = BundleKey::generate(KeyFormat::Sec1).unwrap();
        let public_only = key.to_public_only().unwrap().to_pem();
        let json = serde_json::json!({ "signing_key": public_only }).to_string();
        assert_eq!(
            error(&json),
            "signing_key: no private key: nothing in the bundle can sign"
        );
    }

    #[test]
    fn configured_key_wins_over_environment_and_environment_over_ephemeral() {
        let configured = BundleKey::generate(KeyFormat::Sec1).unwrap();
        let from_env = BundleKey::generate(KeyFormat::Pkcs8).unwrap();
        let json = serde_json::json!({ "signing_key": configured.to_pem() }).to_string();
        let settings = Settings::parse(json.as_bytes(), Some(&from_env.to_pem())).unwrap();
        let KeySource::Bundle(bundle) = settings.key_source else {
            panic!("expected a bundle");
        };
        assert_eq!(bundle.keys()[0].kid(), configured.kid());

        let settings = Settings::parse(b"{}", Some(&from_env.to_pem())).unwrap();
        let KeySource::Bundle(bundle) = settings.key_source else {
            panic!("expected a bundle");
        };
        assert_eq!(bundle.keys()[0].kid(), from_env.kid());

        let bad_env = Settings::parse(b"{}", Some("nonsense")).unwrap_err();
        assert!(
            bad_env
                .to_string()
                .starts_with("SIGNING_KEY (environment):")
        );
    }

    #[test]
    fn header_and_strip_names_are_lowercased() {
        let settings =
            parse(r#"{"header":"X-Signed","strip":{"names":["X-A"],"prefixes":["X-Internal-"]}}"#)
                .unwrap();
        assert_eq!(settings.header, "x-signed");
        assert!(settings.strip.should_strip("x-signed"));
        assert!(settings.strip.should_strip("x-a"));
        assert!(settings.strip.should_strip("x-internal-user"));
    }

    #[test]
    fn mutated_configurations_never_panic() {
        let valid = br#"{"header":"x-a","jwks_path":"/j","issuer_format":"uri","ttl_seconds":60,"jwks_max_age_seconds":5,"strip":{"names":["x-b"],"prefixes":["x-c-"]},"identity":{"source":"jwt_authn","payload_key":"p"},"unauthenticated":"pass"}"#;
        assert!(Settings::parse(valid, None).is_ok());
        let mut next = crate::test_rng::xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let mut bytes = valid.to_vec();
            for _ in 0..=next() % 3 {
                let at = (next() as usize) % bytes.len();
                match next() % 3 {
                    0 => bytes[at] = next() as u8,
                    1 => bytes.truncate(at.max(1)),
                    _ => bytes.insert(at, b"{}[]\",:0"[(next() % 8) as usize]),
                }
            }
            let _ = Settings::parse(&bytes, None);
        }
    }
}
