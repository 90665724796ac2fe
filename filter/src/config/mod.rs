//! The plugin configuration: parsed and validated once per `on_configure`.

mod read;

use signed_headers_keys::{Bundle, BundleError, KEK_ENV, KeyEncryptionKeys, KidFormat, is_sealed};
use zeroize::Zeroizing;

use crate::claim_headers::{Claim, ClaimHeader};
use crate::data::json::{self, Json, Object};
use crate::groups::GroupsPolicy;
use crate::identity::{CertificateField, ClaimFields, ExtraSource, ExtraValue, Source};
use crate::route_settings::{
    DEFAULT_ROUTE_METADATA_NAMESPACE, MAX_NAME_BYTES as MAX_ROUTE_SETTINGS_NAME,
    MAX_ROUTE_SETTINGS, RouteProfiles, RouteSettings, SigningScope,
};
use crate::strip::StripRules;
pub(crate) use read::{Fields, count, whole_number};
use read::{boolean, invalid_type, object, string, strings, variant};
pub use signed_headers_keys::Audience;

pub const DEFAULT_HEADER: &str = "x-pomerium-jwt-assertion";
pub const DEFAULT_JWKS_PATH: &str = "/.well-known/pomerium/jwks.json";
pub const DEFAULT_TTL_SECONDS: u64 = 300;
pub const DEFAULT_JWKS_MAX_AGE_SECONDS: u64 = 60;
/// Tokens cached per worker: plenty for a burst of distinct users, small
/// enough to never matter for memory (about 1 KiB each).
pub const DEFAULT_TOKEN_CACHE_ENTRIES: usize = 4096;
const MAX_TOKEN_CACHE_ENTRIES: usize = 1_000_000;
pub const DEFAULT_SHARED_TOKEN_CACHE_SLOTS: usize = 8192;
pub const DEFAULT_METADATA_NAMESPACE: &str = "envoy.filters.http.jwt_authn";
pub const DEFAULT_PAYLOAD_KEY: &str = "jwt_payload";
/// Where Envoy's `ext_authz` filter puts `dynamic_metadata_from_headers`,
/// whatever the filter is named.
pub const DEFAULT_EXT_AUTHZ_NAMESPACE: &str = "envoy.filters.http.ext_authz";
/// Most servers refuse a header line over 8 KiB (nginx, Apache's 8190).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 8000;
const MAX_HEADER_BYTES_RANGE: std::ops::RangeInclusive<usize> = 1024..=1_048_576;
/// The environment variable read (through `host_env_keys`) when the
/// configuration holds no key.
pub const SIGNING_KEY_ENV: &str = "SIGNING_KEY";

/// A day: assertions are meant to be short-lived, and a typo like `3000000`
/// should be an error rather than a month-long token.
const MAX_TTL_SECONDS: u64 = 86_400;
const MAX_JWKS_MAX_AGE_SECONDS: u64 = 31_536_000;

/// The configuration as written, before validation.
#[derive(Default)]
struct RawConfig<'a> {
    signing_key: Option<Zeroizing<String>>,
    header: Option<String>,
    jwks_path: Option<String>,
    issuer_format: Option<IssuerFormat>,
    issuer: Option<String>,
    audience: Option<Audience>,
    ttl_seconds: Option<u64>,
    jwks_max_age_seconds: Option<u64>,
    token_cache_entries: Option<usize>,
    shared_token_cache_slots: Option<usize>,
    max_header_bytes: Option<usize>,
    kid_format: Option<String>,
    strip: RawStrip,
    /// One source object or a list of them: parsed by [`parse_sources`].
    identity: Option<&'a Json>,
    /// A list of claims, or an object of claim to header name: parsed by
    /// [`parse_claim_headers`].
    claim_headers: Option<&'a Json>,
    groups: GroupsPolicy,
    unauthenticated: UnauthenticatedPolicy,
    /// Named overrides that routes pick by their metadata, by name.
    route_settings: Vec<(&'a str, RawRouteSettings<'a>)>,
    route_metadata_namespace: Option<String>,
    signing_scope: Option<String>,
    publish_unscoped_keys: Option<bool>,
}

impl<'a> RawConfig<'a> {
    fn read(document: &'a Json) -> Result<Self, ConfigError> {
        let fields = Fields::of(
            document,
            &[
                "signing_key",
                "header",
                "jwks_path",
                "issuer_format",
                "issuer",
                "audience",
                "ttl_seconds",
                "jwks_max_age_seconds",
                "token_cache_entries",
                "shared_token_cache_slots",
                "max_header_bytes",
                "kid_format",
                "strip",
                "identity",
                "claim_headers",
                "groups",
                "unauthenticated",
                "route_settings",
                "route_metadata_namespace",
                "signing_scope",
                "publish_unscoped_keys",
            ],
        )?;
        Ok(Self {
            signing_key: fields.string("signing_key")?.map(Zeroizing::new),
            header: fields.string("header")?,
            jwks_path: fields.string("jwks_path")?,
            issuer_format: fields.read("issuer_format", issuer_format)?,
            issuer: fields.string("issuer")?,
            audience: fields.read("audience", audience)?,
            ttl_seconds: fields.read("ttl_seconds", whole_number)?,
            jwks_max_age_seconds: fields.read("jwks_max_age_seconds", whole_number)?,
            token_cache_entries: fields.read("token_cache_entries", count)?,
            shared_token_cache_slots: fields.read("shared_token_cache_slots", count)?,
            max_header_bytes: fields.read("max_header_bytes", count)?,
            kid_format: fields.string("kid_format")?,
            strip: fields.read("strip", RawStrip::read)?.unwrap_or_default(),
            identity: fields.read("identity", Ok)?,
            claim_headers: fields.read("claim_headers", Ok)?,
            groups: fields.read("groups", groups_policy)?.unwrap_or_default(),
            unauthenticated: fields
                .read("unauthenticated", unauthenticated_policy)?
                .unwrap_or_default(),
            route_settings: fields
                .read("route_settings", RawRouteSettings::read_all)?
                .unwrap_or_default(),
            route_metadata_namespace: fields.string("route_metadata_namespace")?,
            signing_scope: fields.string("signing_scope")?,
            publish_unscoped_keys: fields.read("publish_unscoped_keys", boolean)?,
        })
    }
}

#[derive(Debug, Default)]
struct RawStrip {
    names: Vec<String>,
    prefixes: Vec<String>,
    cookies: Vec<String>,
}

impl RawStrip {
    fn read(value: &Json) -> Result<Self, ConfigError> {
        let fields = Fields::of(value, &["names", "prefixes", "cookies"])?;
        Ok(Self {
            names: fields.strings("names")?,
            prefixes: fields.strings("prefixes")?,
            cookies: fields.strings("cookies")?,
        })
    }
}

/// `groups`, at the top level or in route settings.
fn groups_policy(value: &Json) -> Result<GroupsPolicy, ConfigError> {
    let fields = Fields::of(value, &["allow", "allow_prefixes", "max_count"])?;
    Ok(GroupsPolicy {
        allow: fields.strings("allow")?,
        allow_prefixes: fields.strings("allow_prefixes")?,
        max_count: fields.read("max_count", count)?,
    })
}

/// One set of route overrides as written.
#[derive(Default)]
struct RawRouteSettings<'a> {
    audience: Option<Audience>,
    groups: Option<GroupsPolicy>,
    /// Claim name to `{"value": ...}` (set on this route) or `null`
    /// (left out on this route).
    extra_claims: Option<&'a Object>,
    /// As the top-level `claim_headers`.
    claim_headers: Option<&'a Json>,
    unauthenticated: Option<UnauthenticatedPolicy>,
    signing_scope: Option<String>,
    publish_unscoped_keys: Option<bool>,
}

impl<'a> RawRouteSettings<'a> {
    /// Every named set, ordered by name.
    fn read_all(value: &'a Json) -> Result<Vec<(&'a str, Self)>, ConfigError> {
        let Json::Object(named) = value else {
            return Err(invalid_type(value, "an object of names to settings"));
        };
        named
            .sorted()
            .into_iter()
            .map(|(name, settings)| {
                Self::read(settings)
                    .map(|settings| (name, settings))
                    .map_err(|error| error.within(name))
            })
            .collect()
    }

    fn read(value: &'a Json) -> Result<Self, ConfigError> {
        let fields = Fields::of(
            value,
            &[
                "audience",
                "groups",
                "extra_claims",
                "claim_headers",
                "unauthenticated",
                "signing_scope",
                "publish_unscoped_keys",
            ],
        )?;
        Ok(Self {
            audience: fields.read("audience", audience)?,
            groups: fields.read("groups", groups_policy)?,
            extra_claims: fields.read("extra_claims", object)?,
            claim_headers: fields.read("claim_headers", Ok)?,
            unauthenticated: fields.read("unauthenticated", unauthenticated_policy)?,
            signing_scope: fields.string("signing_scope")?,
            publish_unscoped_keys: fields.read("publish_unscoped_keys", boolean)?,
        })
    }
}

fn issuer_format(value: &Json) -> Result<IssuerFormat, ConfigError> {
    variant(
        value,
        &[("host", IssuerFormat::Host), ("uri", IssuerFormat::Uri)],
    )
}

fn unauthenticated_policy(value: &Json) -> Result<UnauthenticatedPolicy, ConfigError> {
    variant(
        value,
        &[
            ("deny", UnauthenticatedPolicy::Deny),
            ("anonymous", UnauthenticatedPolicy::Anonymous),
            ("pass", UnauthenticatedPolicy::Pass),
        ],
    )
}

/// `aud` as written: one string or a list of them (checked by
/// [`validate_audience`]).
fn audience(value: &Json) -> Result<Audience, ConfigError> {
    match value {
        Json::String(one) => Ok(Audience::One(one.as_str().to_owned())),
        Json::Array(_) => strings(value).map(Audience::Many),
        other => Err(invalid_type(other, "a string or a list of strings")),
    }
}

const SOURCE_KINDS: &str = "jwt_authn, ext_authz or client_certificate";

/// Reads one field of a source (a payload path, a header name, a
/// certificate field).
type FieldReader<F> = fn(&Json) -> Result<F, ConfigError>;

/// A claim mapping as written: an absent claim keeps the source's default,
/// `null` maps it to nothing.
struct RawClaims<'a, F> {
    sub: Option<Option<F>>,
    user: Option<Option<F>>,
    email: Option<Option<F>>,
    groups: Option<Option<F>>,
    name: Option<Option<F>>,
    sid: Option<Option<F>>,
    /// Further claims: name to a field of the source, or `{"value": ...}`.
    extra: Option<&'a Object>,
}

impl<F> Default for RawClaims<'_, F> {
    fn default() -> Self {
        Self {
            sub: None,
            user: None,
            email: None,
            groups: None,
            name: None,
            sid: None,
            extra: None,
        }
    }
}

impl<'a, F> RawClaims<'a, F> {
    fn read(value: &'a Json, field: FieldReader<F>) -> Result<Self, ConfigError> {
        let fields = Fields::of(
            value,
            &["sub", "user", "email", "groups", "name", "sid", "extra"],
        )?;
        let mapped = |name: &str| match fields.written(name) {
            None => Ok(None),
            Some(Json::Null) => Ok(Some(None)),
            Some(written) => field(written)
                .map(|field| Some(Some(field)))
                .map_err(|error| error.within(name)),
        };
        Ok(Self {
            sub: mapped("sub")?,
            user: mapped("user")?,
            email: mapped("email")?,
            groups: mapped("groups")?,
            name: mapped("name")?,
            sid: mapped("sid")?,
            extra: fields.read("extra", object)?,
        })
    }
}

/// Claims the filter sets itself: an extra claim may not take their names.
const RESERVED_CLAIMS: [&str; 14] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "user",
    "email",
    "groups",
    "name",
    "sid",
    "groups_truncated",
    "claims_truncated",
];
/// Extra claims per source at most (each can be left out for size, and the
/// token records which).
pub const MAX_EXTRA_CLAIMS: usize = 16;
const MAX_EXTRA_CLAIM_NAME: usize = 128;

/// An extra claim's name: printable ASCII without quotes or backslashes (an
/// Auth0-style `https://example.com/roles` is one), not the filter's own.
fn validate_extra_name(name: &str) -> Result<(), ConfigError> {
    let field = format!("claims.extra.{name}");
    if RESERVED_CLAIMS.contains(&name) {
        return Err(field_error(
            &field,
            "is a claim the filter sets itself; choose another name",
        ));
    }
    let printable = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\';
    if name.is_empty() || name.len() > MAX_EXTRA_CLAIM_NAME || !name.chars().all(printable) {
        return Err(field_error(
            "claims.extra",
            format!(
                "claim names are 1 to {MAX_EXTRA_CLAIM_NAME} printable ASCII characters without quotes or backslashes"
            ),
        ));
    }
    Ok(())
}

/// The extra claims as written, by name, `F` being the source's kind of
/// field.
fn extra_claims<F>(
    written: Option<&Object>,
    field: FieldReader<F>,
) -> Result<Vec<(String, ExtraSource<F>)>, ConfigError> {
    let Some(written) = written else {
        return Ok(Vec::new());
    };
    if written.len() > MAX_EXTRA_CLAIMS {
        return Err(field_error(
            "claims.extra",
            format!("at most {MAX_EXTRA_CLAIMS} extra claims"),
        ));
    }
    written
        .sorted()
        .into_iter()
        .map(|(name, source)| {
            validate_extra_name(name)?;
            let path = format!("claims.extra.{name}");
            let source = match source {
                Json::Object(fixed) if fixed.get("value").is_some() => {
                    ExtraSource::Fixed(fixed_extra_value(&path, fixed)?)
                }
                written => ExtraSource::Field(field(written).map_err(|error| error.within(&path))?),
            };
            Ok((name.to_owned(), source))
        })
        .collect()
}

/// An extra claim's fixed value, `{"value": ...}`.
fn fixed_extra_value(field: &str, fixed: &Object) -> Result<ExtraValue, ConfigError> {
    if fixed.len() != 1 {
        return Err(field_error(
            field,
            "a fixed value is {\"value\": ...} alone",
        ));
    }
    fixed
        .get("value")
        .and_then(ExtraValue::from_json)
        .ok_or_else(|| {
            field_error(
                &format!("{field}.value"),
                "must be a string, a number, a boolean or a list of strings",
            )
        })
}

/// A claim of the `jwt_authn` payload: a top-level key (which may contain
/// dots, as namespaced claims like `https://example.com/roles` do), or a
/// list of keys into nested objects.
#[derive(Debug)]
struct PayloadPath(Vec<String>);

impl PayloadPath {
    fn read(value: &Json) -> Result<Self, ConfigError> {
        let expected =
            || value_error("a claim name, or a non-empty list of nested claim names, none empty");
        let keys = match value {
            Json::String(key) => vec![key.as_str().to_owned()],
            Json::Array(keys) => keys
                .iter()
                .map(|key| match key {
                    Json::String(key) => Ok(key.as_str().to_owned()),
                    _ => Err(expected()),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(expected()),
        };
        if keys.is_empty() || keys.iter().any(String::is_empty) {
            return Err(expected());
        }
        Ok(Self(keys))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum UnauthenticatedPolicy {
    /// Answer 401; the upstream never sees the request.
    #[default]
    Deny,
    /// Forward with an assertion whose subject is empty.
    Anonymous,
    /// Forward without any assertion.
    Pass,
}

/// What the VM's environment (`vm_config.environment_variables`) holds for
/// the filter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Environment<'a> {
    /// `SIGNING_KEY`: the bundle, when the configuration holds none.
    pub signing_key: Option<&'a str>,
    /// `SIGNED_HEADERS_KEK`: the key-encryption keys a sealed bundle opens
    /// with.
    pub kek: Option<&'a str>,
}

/// Where the signing key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A bundle from `signing_key` (plain or sealed) or the `SIGNING_KEY`
    /// environment variable.
    Bundle {
        bundle: Bundle,
        /// The id of the key-encryption key a sealed bundle opened with.
        sealed_under: Option<String>,
    },
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
    pub audience: Option<Audience>,
    pub ttl_seconds: u64,
    pub jwks_max_age_seconds: u64,
    /// Per-worker cache of minted tokens; 0 signs every request.
    pub token_cache_entries: usize,
    /// Slots of the cache every worker VM shares (proxy-wasm shared data);
    /// 0: none.
    pub shared_token_cache_slots: usize,
    /// The assertion header line (name, `: `, token) is kept within this
    /// many bytes by dropping groups.
    pub max_header_bytes: usize,
    /// How kids are written in the JWKS and in token headers.
    pub kid_format: KidFormat,
    pub strip: StripRules,
    /// Cookies removed from the request's `Cookie` header.
    pub strip_cookies: Vec<String>,
    /// Tried in order; the first that yields a subject wins.
    pub identity: Vec<Source>,
    /// The `www-authenticate` values of a `deny` answer: one per distinct
    /// challenge of the sources, in their order.
    pub challenges: Vec<String>,
    pub claim_headers: Vec<ClaimHeader>,
    pub groups: GroupsPolicy,
    pub unauthenticated: UnauthenticatedPolicy,
    /// Named overrides that routes pick by their metadata.
    pub routes: RouteProfiles,
    /// The bundle keys that sign and are published where no route settings
    /// name a scope.
    pub signing_scope: SigningScope,
}

/// A configuration error, phrased to name the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where in the configuration, e.g. `identity[1].claims.sub`; empty
    /// when the message says it all.
    field: String,
    message: String,
}

impl ConfigError {
    /// The same error, one level down from `parent`.
    pub(crate) fn within(self, parent: &str) -> Self {
        let field = if self.field.is_empty() {
            redact(parent)
        } else if self.field.starts_with('[') {
            format!("{}{}", redact(parent), self.field)
        } else {
            format!("{}.{}", redact(parent), self.field)
        };
        Self { field, ..self }
    }

    /// The same error, in item `index` of a list.
    fn at_index(self, index: usize) -> Self {
        self.within(&format!("[{index}]"))
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

pub(crate) fn field_error(field: &str, message: impl std::fmt::Display) -> ConfigError {
    ConfigError {
        field: redact(field),
        message: redact(&message.to_string()),
    }
}

/// Shortest run of base64 characters taken for key material.
const KEY_MATERIAL_RUN: usize = 40;

/// `text` with anything that may be key material cut out: a PEM block (from
/// `-----BEGIN` on) and long base64 runs. Error messages echo values (a wrongly
/// typed string is quoted, so a key pasted into the wrong field would be),
/// and they go to Envoy's log.
fn redact(text: &str) -> String {
    let text = match text.find("-----BEGIN") {
        Some(at) => format!(
            "{}<redacted key material>",
            text.get(..at).unwrap_or_default()
        ),
        None => text.to_owned(),
    };
    let is_base64 = |c: char| c.is_ascii_alphanumeric() || "+/=_-".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if is_base64(c) {
            run.push(c);
            continue;
        }
        if run.len() >= KEY_MATERIAL_RUN {
            out.push_str("<redacted>");
        } else {
            out.push_str(&run);
        }
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

/// An error about the value itself, placed by the caller with `within`.
fn value_error(message: impl std::fmt::Display) -> ConfigError {
    field_error("", message)
}

fn bundle_error(field: &str, error: BundleError) -> ConfigError {
    field_error(field, error)
}

/// `signing_key`: a bundle, or a bundle sealed under one of the KEKs in the
/// environment.
fn configured_bundle(text: &str, kek: Option<&str>) -> Result<KeySource, ConfigError> {
    const FIELD: &str = "signing_key";
    if !is_sealed(text) {
        let bundle = Bundle::parse_signing(text).map_err(|e| bundle_error(FIELD, e))?;
        return Ok(KeySource::Bundle {
            bundle,
            sealed_under: None,
        });
    }
    let kek = kek.filter(|kek| !kek.trim().is_empty()).ok_or_else(|| {
        field_error(
            FIELD,
            format!(
                "sealed, but the VM's environment has no {KEK_ENV}: set it in Envoy's environment and list it in vm_config.environment_variables.host_env_keys"
            ),
        )
    })?;
    let keks = KeyEncryptionKeys::parse(kek).map_err(|e| field_error(FIELD, e))?;
    let opened = keks.open(text).map_err(|e| field_error(FIELD, e))?;
    let bundle = Bundle::parse_signing(&opened.text)
        .map_err(|e| field_error(FIELD, format!("the sealed bundle: {e}")))?;
    Ok(KeySource::Bundle {
        bundle,
        sealed_under: Some(opened.kek.id().to_owned()),
    })
}

/// The plugin configuration as Envoy hands it over: JSON text (a
/// `google.protobuf.StringValue`'s), or, for a configuration written as a
/// `google.protobuf.Struct`, that message's bytes, read into the same tree.
pub(crate) fn document(bytes: &[u8]) -> Result<Json, ConfigError> {
    let syntax_error = match json::parse(bytes) {
        Ok(document) => return Ok(document),
        Err(error) => error,
    };
    // JSON text holds no control bytes but whitespace, while every entry of
    // a Struct has one (a map entry's value tag is 0x12).
    let binary = bytes
        .iter()
        .any(|&byte| byte < b' ' && !matches!(byte, b'\t' | b'\n' | b'\r'));
    if !binary {
        return Err(field_error("configuration", syntax_error));
    }
    json::from_struct(bytes).map_err(|error| {
        field_error(
            "configuration",
            format!(
                "neither JSON text nor a google.protobuf.Struct ({error}): write it as a google.protobuf.StringValue holding the JSON, or as a Struct"
            ),
        )
    })
}

impl Settings {
    /// Parses the plugin configuration (empty means all defaults), with what
    /// the host passed in the VM's environment.
    pub fn parse(json: &[u8], environment: Environment<'_>) -> Result<Self, ConfigError> {
        if json.iter().all(u8::is_ascii_whitespace) {
            return Self::validate(RawConfig::default(), environment);
        }
        // The document's strings, the key text among them, are wiped when
        // it is dropped (the parsed key wipes itself).
        let document = document(json)?;
        if !matches!(document, Json::Object(_)) {
            return Err(field_error("configuration", "must be a JSON object"));
        }
        Self::validate(RawConfig::read(&document)?, environment)
    }

    fn validate(mut raw: RawConfig<'_>, environment: Environment<'_>) -> Result<Self, ConfigError> {
        let signing_key = raw.signing_key.take();
        let key_source = match (
            signing_key.as_deref().map(String::as_str),
            environment.signing_key,
        ) {
            (Some(configured), _) => configured_bundle(configured, environment.kek)?,
            (None, Some(from_env)) if !from_env.trim().is_empty() => KeySource::Bundle {
                bundle: Bundle::parse_signing(from_env)
                    .map_err(|e| bundle_error("SIGNING_KEY (environment)", e))?,
                sealed_under: None,
            },
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
        let audience = validate_audience(raw.audience)?;

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
        // Without a per-worker cache nothing is reused (every request signs,
        // as `token_cache_entries: 0` has always meant) unless the shared
        // slots are asked for explicitly.
        let shared_default = if token_cache_entries == 0 {
            0
        } else {
            DEFAULT_SHARED_TOKEN_CACHE_SLOTS
        };
        let shared_token_cache_slots = in_range(
            "shared_token_cache_slots",
            raw.shared_token_cache_slots,
            shared_default,
            0..=MAX_TOKEN_CACHE_ENTRIES,
        )?;

        let max_header_bytes = in_range(
            "max_header_bytes",
            raw.max_header_bytes,
            DEFAULT_MAX_HEADER_BYTES,
            MAX_HEADER_BYTES_RANGE,
        )?;

        let kid_format = match raw.kid_format.as_deref() {
            None => KidFormat::default(),
            Some(name) => KidFormat::from_name(name).ok_or_else(|| {
                field_error(
                    "kid_format",
                    format!(
                        "unknown format \"{name}\" (one of {})",
                        KidFormat::NAMES.join(", ")
                    ),
                )
            })?,
        };
        let identity = parse_sources(raw.identity)?;
        let extra_names: Vec<&str> = identity.iter().flat_map(Source::extra_names).collect();
        let claim_headers = parse_claim_headers(raw.claim_headers, &header, &extra_names)?;
        let routes = parse_route_settings(
            raw.route_metadata_namespace,
            raw.route_settings,
            &header,
            &extra_names,
        )?;
        let signing_scope = signing_scope(
            "signing_scope",
            raw.signing_scope,
            raw.publish_unscoped_keys,
        )?
        .unwrap_or_default();
        check_signing_scopes(&key_source, &signing_scope, &routes)?;
        let mut strip_names = validate_header_names("strip.names", &raw.strip.names)?;
        let strip_prefixes = validate_header_names("strip.prefixes", &raw.strip.prefixes)?;
        // A client copy of every header the filter sets, on any route, is
        // removed first.
        strip_names.extend(claim_headers.iter().map(|claim| claim.header.clone()));
        strip_names.extend(routes.claim_header_names().map(str::to_owned));
        let strip = StripRules::new(&header, strip_names, strip_prefixes);
        let strip_cookies = raw
            .strip
            .cookies
            .iter()
            .enumerate()
            .map(|(index, name)| validate_cookie_name(&format!("strip.cookies[{index}]"), name))
            .collect::<Result<Vec<_>, _>>()?;

        let mut challenges: Vec<String> = Vec::new();
        for source in &identity {
            if !challenges
                .iter()
                .any(|known| known == source.www_authenticate())
            {
                challenges.push(source.www_authenticate().to_owned());
            }
        }
        Ok(Self {
            key_source,
            header,
            jwks_path,
            issuer,
            audience,
            ttl_seconds,
            jwks_max_age_seconds,
            token_cache_entries,
            shared_token_cache_slots,
            max_header_bytes,
            kid_format,
            strip,
            strip_cookies,
            identity,
            challenges,
            claim_headers,
            groups: raw.groups,
            unauthenticated: raw.unauthenticated,
            routes,
            signing_scope,
        })
    }
}

/// A fixed `aud`: a non-empty string, or a non-empty list of them.
fn validate_audience(audience: Option<Audience>) -> Result<Option<Audience>, ConfigError> {
    match audience {
        Some(Audience::One(fixed)) if fixed.trim().is_empty() => {
            Err(field_error("audience", "must not be empty"))
        }
        Some(Audience::Many(list))
            if list.is_empty() || list.iter().any(|aud| aud.trim().is_empty()) =>
        {
            Err(field_error(
                "audience",
                "a list must hold at least one audience, none empty",
            ))
        }
        fixed => Ok(fixed),
    }
}

/// A `signing_scope` (and `publish_unscoped_keys`) as written; `None` when
/// neither is.
fn signing_scope(
    field: &str,
    name: Option<String>,
    publish_unscoped_keys: Option<bool>,
) -> Result<Option<SigningScope>, ConfigError> {
    if name.is_none() && publish_unscoped_keys.is_none() {
        return Ok(None);
    }
    if let Some(name) = &name
        && !signed_headers_keys::is_scope_name(name)
    {
        return Err(field_error(
            field,
            format!(
                "\"{name}\": a scope is 1 to {} letters, digits, '.', '_' or '-' (as its keys' `# scope:` lines say)",
                signed_headers_keys::MAX_SCOPE_NAME_BYTES
            ),
        ));
    }
    Ok(Some(SigningScope {
        name,
        publish_unscoped_keys: publish_unscoped_keys.unwrap_or(false),
    }))
}

/// Every scope that signs somewhere has a private key in the bundle.
fn check_signing_scopes(
    key_source: &KeySource,
    top_level: &SigningScope,
    routes: &RouteProfiles,
) -> Result<(), ConfigError> {
    let named: Vec<(String, &SigningScope)> =
        std::iter::once(("signing_scope".to_owned(), top_level))
            .chain(routes.all().iter().filter_map(|route| {
                route.signing_scope.as_ref().map(|scope| {
                    (
                        format!("route_settings.{}.signing_scope", route.name),
                        scope,
                    )
                })
            }))
            .collect();
    let bundle = match key_source {
        KeySource::Bundle { bundle, .. } => bundle,
        KeySource::Ephemeral => {
            return match named.iter().find(|(_, scope)| scope.name.is_some()) {
                Some((field, _)) => Err(field_error(
                    field,
                    "scopes are keys of a signing_key bundle, and none is configured",
                )),
                None => Ok(()),
            };
        }
    };
    for (field, scope) in named {
        if bundle.signing_key_in_scope(scope.name.as_deref()).is_some() {
            continue;
        }
        return Err(match &scope.name {
            Some(name) => field_error(
                &field,
                format!("no private key in signing_key has `# scope: {name}`"),
            ),
            None => field_error(
                "signing_key",
                "every private key has a scope, so nothing signs for the routes without one: set signing_scope, or add an unscoped key",
            ),
        });
    }
    Ok(())
}

/// `route_settings`: each named set checked as the top-level settings are.
fn parse_route_settings(
    namespace: Option<String>,
    written: Vec<(&str, RawRouteSettings<'_>)>,
    assertion_header: &str,
    source_extra_names: &[&str],
) -> Result<RouteProfiles, ConfigError> {
    let namespace = namespace.unwrap_or_else(|| DEFAULT_ROUTE_METADATA_NAMESPACE.to_owned());
    if namespace.is_empty() || namespace.len() > 256 {
        return Err(field_error(
            "route_metadata_namespace",
            "must be 1 to 256 characters",
        ));
    }
    if written.len() > MAX_ROUTE_SETTINGS {
        return Err(field_error(
            "route_settings",
            format!("at most {MAX_ROUTE_SETTINGS} named settings"),
        ));
    }
    let valid_name = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    let mut profiles = Vec::with_capacity(written.len());
    for (name, raw) in written {
        if name.is_empty() || name.len() > MAX_ROUTE_SETTINGS_NAME || !name.chars().all(valid_name)
        {
            return Err(field_error(
                "route_settings",
                format!(
                    "\"{name}\": a name is 1 to {MAX_ROUTE_SETTINGS_NAME} letters, digits, '.', '_' or '-'"
                ),
            ));
        }
        let field = format!("route_settings.{name}");
        let written_extra = raw.extra_claims.map(Object::sorted).unwrap_or_default();
        if written_extra.len() > MAX_EXTRA_CLAIMS {
            return Err(field_error(
                &format!("{field}.extra_claims"),
                format!("at most {MAX_EXTRA_CLAIMS} extra claims"),
            ));
        }
        let mut extra_claims = Vec::with_capacity(written_extra.len());
        for (claim, value) in written_extra {
            let claim_field = format!("{field}.extra_claims.{claim}");
            validate_extra_name(claim).map_err(|error| field_error(&claim_field, error.message))?;
            let value = match value {
                Json::Null if source_extra_names.contains(&claim) => None,
                Json::Null => {
                    return Err(field_error(
                        &claim_field,
                        "null leaves out a claim an identity source maps, and none maps this one",
                    ));
                }
                Json::Object(fixed) => Some(fixed_extra_value(&claim_field, fixed)?),
                _ => {
                    return Err(field_error(
                        &claim_field,
                        "must be {\"value\": ...} (set on these routes) or null (left out on them)",
                    ));
                }
            };
            extra_claims.push((claim.to_owned(), value));
        }
        // The claims a claim header of these routes can name: the sources'
        // and these routes' own, less those left out here.
        let mut extra_names: Vec<&str> = source_extra_names
            .iter()
            .copied()
            .filter(|known| !extra_claims.iter().any(|(name, _)| name == known))
            .collect();
        extra_names.extend(
            extra_claims
                .iter()
                .filter(|(_, value)| value.is_some())
                .map(|(name, _)| name.as_str()),
        );
        let claim_headers = raw
            .claim_headers
            .map(|written| parse_claim_headers(Some(written), assertion_header, &extra_names))
            .transpose()
            .map_err(|error| error.within(&field))?;
        let signing_scope = signing_scope(
            &format!("{field}.signing_scope"),
            raw.signing_scope,
            raw.publish_unscoped_keys,
        )?;
        profiles.push(RouteSettings {
            signing_scope,
            audience: validate_audience(raw.audience).map_err(|error| error.within(&field))?,
            groups: raw.groups,
            extra_claims,
            claim_headers,
            unauthenticated: raw.unauthenticated,
            name: name.to_owned(),
        });
    }
    Ok(RouteProfiles::new(namespace, profiles))
}

pub(crate) fn in_range<T>(
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

/// The source list as written: one object, or a non-empty list of them;
/// absent means `jwt_authn` with its defaults.
fn parse_sources(value: Option<&Json>) -> Result<Vec<Source>, ConfigError> {
    let written = match value {
        None => {
            return Ok(vec![jwt_authn_source(
                None,
                None,
                RawClaims::default(),
                None,
            )?]);
        }
        Some(Json::Array(list)) if list.is_empty() => {
            return Err(field_error("identity", "the list of sources is empty"));
        }
        Some(Json::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(index, item)| (format!("identity[{index}]"), item))
            .collect::<Vec<_>>(),
        Some(object @ Json::Object(_)) => vec![("identity".to_owned(), object)],
        Some(_) => {
            return Err(field_error(
                "identity",
                "must be a source object or a list of them",
            ));
        }
    };
    written
        .into_iter()
        .map(|(field, item)| source(item).map_err(|error| error.within(&field)))
        .collect()
}

/// One source, its kind named by `"source"`; errors are relative to it.
fn source(item: &Json) -> Result<Source, ConfigError> {
    let Json::Object(object) = item else {
        return Err(value_error(format!(
            "must be an object with a \"source\" ({SOURCE_KINDS})"
        )));
    };
    let kind = match object.get("source") {
        Some(Json::String(kind)) => kind.as_str(),
        Some(_) => return Err(field_error("source", "must be a string")),
        None => {
            return Err(value_error(format!(
                "missing field `source` ({SOURCE_KINDS})"
            )));
        }
    };
    match kind {
        "jwt_authn" => {
            let fields = Fields::of_object(
                object,
                &[
                    "source",
                    "metadata_namespace",
                    "payload_key",
                    "claims",
                    "www_authenticate",
                ],
            )?;
            jwt_authn_source(
                fields.string("metadata_namespace")?,
                fields.string("payload_key")?,
                claims(fields, PayloadPath::read)?,
                fields.string("www_authenticate")?,
            )
        }
        "ext_authz" => {
            let fields = Fields::of_object(
                object,
                &[
                    "source",
                    "metadata_namespace",
                    "claims",
                    "groups_delimiter",
                    "www_authenticate",
                ],
            )?;
            ext_authz_source(
                fields.string("metadata_namespace")?,
                claims(fields, string)?,
                fields.string("groups_delimiter")?,
                fields.string("www_authenticate")?,
            )
        }
        "client_certificate" => {
            let fields = Fields::of_object(object, &["source", "claims", "www_authenticate"])?;
            let defaults = ClaimFields {
                sub: CertificateField::UriSan,
                user: None,
                email: None,
                groups: None,
                name: Some(CertificateField::SubjectCn),
                sid: None,
                extra: Vec::new(),
            };
            Ok(Source::ClientCertificate {
                claims: claim_fields(
                    claims(fields, certificate_field)?,
                    defaults,
                    certificate_field,
                )?,
                www_authenticate: challenge_or(fields.string("www_authenticate")?, "mTLS")?,
            })
        }
        other => Err(field_error(
            "source",
            format!("unknown source `{other}`, expected {SOURCE_KINDS}"),
        )),
    }
}

/// A source's `claims`; absent keeps every default.
fn claims<'a, F>(
    fields: Fields<'a>,
    field: FieldReader<F>,
) -> Result<RawClaims<'a, F>, ConfigError> {
    Ok(fields
        .read("claims", |claims| RawClaims::read(claims, field))?
        .unwrap_or_default())
}

fn certificate_field(value: &Json) -> Result<CertificateField, ConfigError> {
    variant(
        value,
        &[
            ("uri_san", CertificateField::UriSan),
            ("dns_san", CertificateField::DnsSan),
            ("subject", CertificateField::Subject),
            ("subject_cn", CertificateField::SubjectCn),
            ("sha256_digest", CertificateField::Sha256Digest),
        ],
    )
}

fn ext_authz_source(
    metadata_namespace: Option<String>,
    claims: RawClaims<'_, String>,
    groups_delimiter: Option<String>,
    www_authenticate: Option<String>,
) -> Result<Source, ConfigError> {
    let header = |name: &str| Some(name.to_owned());
    let defaults = ClaimFields {
        sub: "x-auth-request-user".to_owned(),
        user: None,
        email: header("x-auth-request-email"),
        groups: header("x-auth-request-groups"),
        name: header("x-auth-request-preferred-username"),
        sid: None,
        extra: Vec::new(),
    };
    let claims = claim_fields(claims, defaults, string)?;
    // Envoy keys the metadata by the lowercase header name.
    let lowercase =
        |field: &str, name: String| validate_header_name(&format!("claims.{field}"), &name);
    let optional =
        |field: &str, name: Option<String>| name.map(|name| lowercase(field, name)).transpose();
    Ok(Source::ExtAuthz {
        metadata_namespace: non_empty(
            "metadata_namespace",
            metadata_namespace,
            DEFAULT_EXT_AUTHZ_NAMESPACE,
        )?,
        claims: ClaimFields {
            sub: lowercase("sub", claims.sub)?,
            user: optional("user", claims.user)?,
            email: optional("email", claims.email)?,
            groups: optional("groups", claims.groups)?,
            name: optional("name", claims.name)?,
            sid: optional("sid", claims.sid)?,
            extra: claims
                .extra
                .into_iter()
                .map(|(name, source)| {
                    let source = match source {
                        ExtraSource::Field(header) => {
                            ExtraSource::Field(lowercase(&format!("extra.{name}"), header)?)
                        }
                        fixed => fixed,
                    };
                    Ok((name, source))
                })
                .collect::<Result<_, ConfigError>>()?,
        },
        groups_delimiter: non_empty("groups_delimiter", groups_delimiter, ",")?,
        www_authenticate: challenge(www_authenticate)?,
    })
}

fn jwt_authn_source(
    metadata_namespace: Option<String>,
    payload_key: Option<String>,
    claims: RawClaims<'_, PayloadPath>,
    www_authenticate: Option<String>,
) -> Result<Source, ConfigError> {
    let key = |name: &str| Some(PayloadPath(vec![name.to_owned()]));
    let defaults = ClaimFields {
        sub: PayloadPath(vec!["sub".to_owned()]),
        user: None,
        email: key("email"),
        groups: key("groups"),
        name: key("name"),
        sid: key("sid"),
        extra: Vec::new(),
    };
    let claims = claim_fields(claims, defaults, PayloadPath::read)?;
    let path = |path: PayloadPath| path.0;
    Ok(Source::JwtAuthn {
        metadata_namespace: non_empty(
            "metadata_namespace",
            metadata_namespace,
            DEFAULT_METADATA_NAMESPACE,
        )?,
        payload_key: non_empty("payload_key", payload_key, DEFAULT_PAYLOAD_KEY)?,
        claims: ClaimFields {
            sub: path(claims.sub),
            user: claims.user.map(path),
            email: claims.email.map(path),
            groups: claims.groups.map(path),
            name: claims.name.map(path),
            sid: claims.sid.map(path),
            extra: claims
                .extra
                .into_iter()
                .map(|(name, source)| {
                    let source = match source {
                        ExtraSource::Field(field) => ExtraSource::Field(path(field)),
                        ExtraSource::Fixed(value) => ExtraSource::Fixed(value),
                    };
                    (name, source)
                })
                .collect(),
        },
        www_authenticate: challenge(www_authenticate)?,
    })
}

/// The written mapping over the source's defaults; `sub` must map to a field.
fn claim_fields<F>(
    raw: RawClaims<'_, F>,
    defaults: ClaimFields<F>,
    field: FieldReader<F>,
) -> Result<ClaimFields<F>, ConfigError> {
    let sub = match raw.sub {
        None => defaults.sub,
        Some(Some(sub)) => sub,
        Some(None) => {
            return Err(field_error(
                "claims.sub",
                "must name a field: the subject is what identifies the user",
            ));
        }
    };
    Ok(ClaimFields {
        sub,
        user: raw.user.unwrap_or(defaults.user),
        email: raw.email.unwrap_or(defaults.email),
        groups: raw.groups.unwrap_or(defaults.groups),
        name: raw.name.unwrap_or(defaults.name),
        sid: raw.sid.unwrap_or(defaults.sid),
        extra: extra_claims(raw.extra, field)?,
    })
}

fn challenge(written: Option<String>) -> Result<String, ConfigError> {
    challenge_or(written, "Bearer")
}

/// A `www-authenticate` value: printable ASCII, starting with a scheme.
fn challenge_or(written: Option<String>, default: &str) -> Result<String, ConfigError> {
    let value = written.unwrap_or_else(|| default.to_owned());
    let printable = |c: char| c == ' ' || c.is_ascii_graphic();
    if value.trim().is_empty() || !value.chars().all(printable) {
        return Err(field_error(
            "www_authenticate",
            format!("{value:?} is not a challenge (printable ASCII, starting with a scheme)"),
        ));
    }
    Ok(value)
}

/// `["email", ...]` for the default names (`x-pomerium-claim-<claim>`), or
/// `{"email": "x-user-email", ...}` for names of the operator's choosing.
fn parse_claim_headers(
    value: Option<&Json>,
    assertion_header: &str,
    extra_names: &[&str],
) -> Result<Vec<ClaimHeader>, ConfigError> {
    let written: Vec<(String, &str, Option<&Json>)> = match value {
        None => Vec::new(),
        Some(Json::Array(claims)) => claims
            .iter()
            .enumerate()
            .map(|(index, claim)| (format!("claim_headers[{index}]"), claim))
            .map(|(field, claim)| match claim {
                Json::String(claim) => Ok((field, claim.as_str(), None)),
                _ => Err(field_error(&field, "must be a claim name")),
            })
            .collect::<Result<_, _>>()?,
        // By claim name, as the headers are set.
        Some(Json::Object(headers)) => headers
            .sorted()
            .into_iter()
            .map(|(claim, header)| (format!("claim_headers.{claim}"), claim, Some(header)))
            .collect(),
        Some(_) => {
            return Err(field_error(
                "claim_headers",
                "must be a list of claims or an object of claim to header name",
            ));
        }
    };
    let mut headers: Vec<ClaimHeader> = Vec::with_capacity(written.len());
    for (field, claim_name, header) in written {
        let claim = Claim::from_name(claim_name)
            .or_else(|| {
                extra_names
                    .contains(&claim_name)
                    .then(|| Claim::Extra(claim_name.to_owned()))
            })
            .ok_or_else(|| {
                field_error(
                    &field,
                    format!(
                        "unknown claim \"{claim_name}\" (one of {}, or an extra claim a source maps)",
                        Claim::NAMES.join(", ")
                    ),
                )
            })?;
        let header = match header {
            None => validate_header_name(&field, &format!("x-pomerium-claim-{claim_name}"))
                .map_err(|_| {
                    field_error(
                        &field,
                        format!("\"x-pomerium-claim-{claim_name}\" is not a header name: name one"),
                    )
                })?,
            Some(Json::String(header)) => validate_header_name(&field, header)?,
            Some(_) => return Err(field_error(&field, "must be a header name")),
        };
        if header == assertion_header || headers.iter().any(|other| other.header == header) {
            return Err(field_error(
                &field,
                format!("header \"{header}\" is already set by the filter"),
            ));
        }
        headers.push(ClaimHeader { claim, header });
    }
    Ok(headers)
}

/// Whether `name` is an HTTP token (RFC 9110), what header and cookie
/// names are.
fn is_token(name: &str) -> bool {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    !name.is_empty() && name.chars().all(is_token_char)
}

/// A cookie name is an HTTP token, matched exactly (RFC 6265).
fn validate_cookie_name(field: &str, name: &str) -> Result<String, ConfigError> {
    if !is_token(name) {
        return Err(field_error(
            field,
            format!("\"{name}\" is not a valid cookie name"),
        ));
    }
    Ok(name.to_owned())
}

/// Header names are matched lowercase (Envoy lowercases them); anything that
/// is not an HTTP token would never match and is surely a mistake.
fn validate_header_name(field: &str, name: &str) -> Result<String, ConfigError> {
    if !is_token(name) {
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
        Settings::parse(json.as_bytes(), Default::default())
    }

    fn error(json: &str) -> String {
        parse(json).unwrap_err().to_string()
    }

    #[test]
    fn route_settings_are_checked_with_the_rest_of_the_configuration() {
        let settings = parse(
            r#"{"identity": {"source": "jwt_authn", "claims": {"extra": {"roles": "roles"}}},
                "route_settings": {
                  "zeta": {"unauthenticated": "pass"},
                  "billing": {
                    "audience": ["billing", "payments"],
                    "groups": {"allow_prefixes": ["billing-"], "max_count": 3},
                    "extra_claims": {"service": {"value": "billing"}, "roles": null},
                    "claim_headers": {"service": "x-service", "email": "x-user"}
                  }
                }}"#,
        )
        .unwrap();
        let billing = settings.routes.get(0).unwrap();
        assert_eq!(billing.name, "billing", "sorted by name");
        assert_eq!(
            billing.audience,
            Some(Audience::Many(vec!["billing".into(), "payments".into()]))
        );
        assert_eq!(billing.groups.as_ref().unwrap().max_count, Some(3));
        assert_eq!(
            billing.extra_claims,
            vec![
                ("roles".to_owned(), None),
                (
                    "service".to_owned(),
                    Some(ExtraValue::Text("billing".into()))
                )
            ]
        );
        // A client's copy of a header any route sets is stripped everywhere.
        let stripped = settings.strip.select(["x-service", "x-user", "x-other"]);
        assert_eq!(stripped, ["x-service", "x-user"]);
        assert_eq!(
            settings.routes.get(1).unwrap().unauthenticated,
            Some(UnauthenticatedPolicy::Pass)
        );

        for (json, expected) in [
            (
                r#"{"route_settings": {"a": {"audience": []}}}"#,
                "route_settings.a.audience: a list must hold",
            ),
            (
                r#"{"route_settings": {"a b": {}}}"#,
                "route_settings: \"a b\": a name is 1 to 128",
            ),
            (
                r#"{"route_settings": {"a": {"extra_claims": {"tenant": null}}}}"#,
                "route_settings.a.extra_claims.tenant: null leaves out",
            ),
            (
                r#"{"route_settings": {"a": {"extra_claims": {"exp": {"value": 1}}}}}"#,
                "route_settings.a.extra_claims.exp: is a claim the filter sets itself",
            ),
            (
                r#"{"route_settings": {"a": {"extra_claims": {"tenant": "tenant_id"}}}}"#,
                "route_settings.a.extra_claims.tenant: must be {\"value\": ...}",
            ),
            (
                r#"{"route_settings": {"a": {"extra_claims": {"tenant": {"value": {}}}}}}"#,
                "route_settings.a.extra_claims.tenant.value: must be a string",
            ),
            (
                r#"{"route_settings": {"a": {"claim_headers": ["tenant"]}}}"#,
                "route_settings.a.claim_headers[0]: unknown claim",
            ),
            (
                r#"{"route_settings": {"a": {"groups": {"allow": "x"}}}}"#,
                "route_settings.a.groups.allow",
            ),
            (
                r#"{"route_settings": {"a": {"issuer": "x"}}}"#,
                "unknown field `issuer`",
            ),
            (
                r#"{"route_metadata_namespace": ""}"#,
                "route_metadata_namespace",
            ),
        ] {
            let refused = error(json);
            assert!(refused.contains(expected), "{json}: {refused}");
        }
        // A claim a route leaves out cannot be rendered there.
        let refused = error(
            r#"{"identity": {"source": "jwt_authn", "claims": {"extra": {"roles": "roles"}}},
                "route_settings": {"a": {"extra_claims": {"roles": null}, "claim_headers": ["roles"]}}}"#,
        );
        assert!(refused.contains("unknown claim \"roles\""), "{refused}");
    }

    #[test]
    fn every_signing_scope_needs_a_private_key_in_the_bundle() {
        let scoped = |scope: &str| {
            BundleKey::generate(KeyFormat::Sec1)
                .unwrap()
                .in_scope(Some(scope))
        };
        let unscoped = BundleKey::generate(KeyFormat::Sec1).unwrap();
        let bundle = |keys: Vec<BundleKey>| Bundle::from_keys(keys).unwrap().to_pem();
        let with = |pem: String, rest: serde_json::Value| {
            let mut config = rest;
            config["signing_key"] = serde_json::json!(pem);
            config.to_string()
        };
        let both = bundle(vec![unscoped.clone(), scoped("tenant-a")]);
        let settings = parse(&with(
            both.clone(),
            serde_json::json!({"route_settings": {"a": {"signing_scope": "tenant-a",
                                                        "publish_unscoped_keys": true}}}),
        ))
        .unwrap();
        assert_eq!(settings.signing_scope, SigningScope::default());
        assert_eq!(
            settings.routes.get(0).unwrap().signing_scope,
            Some(SigningScope {
                name: Some("tenant-a".into()),
                publish_unscoped_keys: true
            })
        );
        for (config, expected) in [
            (
                with(
                    both.clone(),
                    serde_json::json!({"route_settings": {"a": {"signing_scope": "tenant-b"}}}),
                ),
                "route_settings.a.signing_scope: no private key in signing_key has `# scope: tenant-b`",
            ),
            (
                with(both.clone(), serde_json::json!({"signing_scope": "a b"})),
                "signing_scope: \"a b\": a scope is 1 to 64",
            ),
            (
                with(bundle(vec![scoped("tenant-a")]), serde_json::json!({})),
                "signing_key: every private key has a scope",
            ),
            (
                serde_json::json!({"signing_scope": "tenant-a"}).to_string(),
                "signing_scope: scopes are keys of a signing_key bundle",
            ),
        ] {
            let refused = error(&config);
            assert!(refused.contains(expected), "{refused}");
        }
        // An all-scoped bundle serves routes without settings from the
        // scope the top level names.
        let settings = parse(&with(
            bundle(vec![scoped("tenant-a")]),
            serde_json::json!({"signing_scope": "tenant-a"}),
        ))
        .unwrap();
        assert_eq!(settings.signing_scope.name.as_deref(), Some("tenant-a"));
    }

    #[test]
    fn no_per_worker_cache_means_no_shared_one_unless_asked() {
        let uncached = parse(r#"{"token_cache_entries":0}"#).unwrap();
        assert_eq!(uncached.shared_token_cache_slots, 0);
        let shared_only =
            parse(r#"{"token_cache_entries":0,"shared_token_cache_slots":16}"#).unwrap();
        assert_eq!(shared_only.shared_token_cache_slots, 16);
        let local_only = parse(r#"{"shared_token_cache_slots":0}"#).unwrap();
        assert_eq!(
            (
                local_only.token_cache_entries,
                local_only.shared_token_cache_slots
            ),
            (DEFAULT_TOKEN_CACHE_ENTRIES, 0)
        );
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
            assert!(
                crate::route_settings::Effective::new(&settings, None)
                    .names_request_host(&settings.issuer)
            );
            assert_eq!(settings.ttl_seconds, 300);
            assert_eq!(settings.jwks_max_age_seconds, 60);
            assert_eq!(settings.token_cache_entries, 4096);
            assert_eq!(settings.shared_token_cache_slots, 8192);
            assert_eq!(settings.unauthenticated, UnauthenticatedPolicy::Deny);
            assert_eq!(settings.max_header_bytes, 8000);
            assert!(settings.claim_headers.is_empty());
            assert!(settings.strip_cookies.is_empty());
            assert_eq!(settings.groups, GroupsPolicy::default());
            let key = |name: &str| Some(vec![name.to_owned()]);
            assert_eq!(
                settings.identity,
                vec![Source::JwtAuthn {
                    metadata_namespace: "envoy.filters.http.jwt_authn".into(),
                    payload_key: "jwt_payload".into(),
                    claims: ClaimFields {
                        sub: vec!["sub".to_owned()],
                        user: None,
                        email: key("email"),
                        groups: key("groups"),
                        name: key("name"),
                        sid: key("sid"),
                        extra: Vec::new(),
                    },
                    www_authenticate: "Bearer".into(),
                }]
            );
        }
    }

    #[test]
    fn identity_is_one_source_or_a_list_with_defaults_per_kind() {
        let one = parse(r#"{"identity":{"source":"ext_authz"}}"#).unwrap();
        let list = parse(r#"{"identity":[{"source":"ext_authz"}]}"#).unwrap();
        assert_eq!(one.identity, list.identity);
        let header = |name: &str| Some(name.to_owned());
        assert_eq!(
            one.identity,
            vec![Source::ExtAuthz {
                metadata_namespace: "envoy.filters.http.ext_authz".into(),
                claims: ClaimFields {
                    sub: "x-auth-request-user".into(),
                    user: None,
                    email: header("x-auth-request-email"),
                    groups: header("x-auth-request-groups"),
                    name: header("x-auth-request-preferred-username"),
                    sid: None,
                    extra: Vec::new(),
                },
                groups_delimiter: ",".into(),
                www_authenticate: "Bearer".into(),
            }]
        );
        let certificate = parse(
            r#"{"identity":[{"source":"client_certificate","claims":{"sub":"dns_san","email":"subject_cn","name":null}},{"source":"jwt_authn"}]}"#,
        )
        .unwrap();
        assert_eq!(
            certificate.identity[0],
            Source::ClientCertificate {
                claims: ClaimFields {
                    sub: CertificateField::DnsSan,
                    user: None,
                    email: Some(CertificateField::SubjectCn),
                    groups: None,
                    name: None,
                    sid: None,
                    extra: Vec::new(),
                },
                www_authenticate: "mTLS".into(),
            }
        );
        assert!(matches!(certificate.identity[1], Source::JwtAuthn { .. }));
        assert_eq!(certificate.challenges, ["mTLS", "Bearer"]);
        let twice =
            parse(r#"{"identity":[{"source":"jwt_authn"},{"source":"ext_authz"}]}"#).unwrap();
        assert_eq!(twice.challenges, ["Bearer"], "each challenge once");
    }

    #[test]
    fn claim_mappings_name_fields_paths_and_headers() {
        let settings = parse(
            r#"{"identity":[
                {"source":"jwt_authn","claims":{"user":"preferred_username","groups":["realm_access","roles"],"sid":null}},
                {"source":"ext_authz","claims":{"sub":"X-User","groups":"X-Groups"},"groups_delimiter":"|","www_authenticate":"Basic realm=\"app\""}
            ]}"#,
        )
        .unwrap();
        let Source::JwtAuthn { claims, .. } = &settings.identity[0] else {
            panic!("jwt_authn first");
        };
        assert_eq!(claims.user, Some(vec!["preferred_username".to_owned()]));
        assert_eq!(
            claims.groups,
            Some(vec!["realm_access".to_owned(), "roles".to_owned()])
        );
        assert_eq!(claims.sid, None);
        assert_eq!(claims.email, Some(vec!["email".to_owned()]));
        let Source::ExtAuthz {
            claims,
            groups_delimiter,
            www_authenticate,
            ..
        } = &settings.identity[1]
        else {
            panic!("ext_authz second");
        };
        assert_eq!(claims.sub, "x-user");
        assert_eq!(claims.groups.as_deref(), Some("x-groups"));
        assert_eq!(groups_delimiter, "|");
        assert_eq!(www_authenticate, "Basic realm=\"app\"");
    }

    #[test]
    fn identity_errors_name_the_source_and_field() {
        assert_eq!(
            error(r#"{"identity":[]}"#),
            "identity: the list of sources is empty"
        );
        assert_eq!(
            error(r#"{"identity":"jwt_authn"}"#),
            "identity: must be a source object or a list of them"
        );
        assert!(
            error(r#"{"identity":{"source":"mtls"}}"#)
                .starts_with("identity.source: unknown source `mtls`")
        );
        assert_eq!(
            error(r#"{"identity":{}}"#),
            "identity: missing field `source` (jwt_authn, ext_authz or client_certificate)"
        );
        assert!(error(r#"{"identity":[1]}"#).starts_with("identity[0]: must be an object"));
        assert!(
            error(r#"{"identity":{"source":"jwt_authn","claims":{"email":{}}}}"#)
                .starts_with("identity.claims.email: a claim name")
        );
        assert!(
            error(r#"{"identity":[{"source":"jwt_authn"},{"source":"ext_authz","bogus":1}]}"#)
                .starts_with("identity[1].bogus: unknown field `bogus`")
        );
        assert!(
            error(r#"{"identity":{"source":"ext_authz","claims":{"email":1}}}"#)
                .starts_with("identity.claims.email: invalid type")
        );
        assert!(
            error(r#"{"identity":{"source":"ext_authz","claims":{"phone":"x"}}}"#)
                .starts_with("identity.claims.phone: unknown field `phone`")
        );
        assert_eq!(
            error(r#"{"identity":{"source":"jwt_authn","claims":{"sub":null}}}"#),
            "identity.claims.sub: must name a field: the subject is what identifies the user"
        );
        assert!(
            error(r#"{"identity":{"source":"jwt_authn","claims":{"email":[]}}}"#)
                .starts_with("identity.claims.email: a claim name")
        );
        assert!(
            error(r#"{"identity":{"source":"ext_authz","claims":{"sub":"bad header"}}}"#)
                .starts_with("identity.claims.sub:")
        );
        assert!(
            error(r#"{"identity":{"source":"client_certificate","claims":{"sub":"email_san"}}}"#)
                .starts_with("identity.claims.sub: unknown variant `email_san`")
        );
        assert!(
            error(r#"{"identity":{"source":"ext_authz","groups_delimiter":""}}"#)
                .starts_with("identity.groups_delimiter: must not be empty")
        );
        assert!(
            error(r#"{"identity":{"source":"jwt_authn","www_authenticate":"Bearer\n"}}"#)
                .starts_with("identity.www_authenticate:")
        );
    }

    #[test]
    fn audience_is_one_string_or_a_list() {
        assert_eq!(
            parse(r#"{"audience":["a","b"]}"#).unwrap().audience,
            Some(Audience::Many(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            parse(r#"{"audience":"a"}"#).unwrap().audience,
            Some(Audience::One("a".into()))
        );
        assert!(error(r#"{"audience":[]}"#).starts_with("audience: a list must hold"));
        assert!(error(r#"{"audience":["a",""]}"#).starts_with("audience: a list must hold"));
        assert!(error(r#"{"audience":1}"#).starts_with("audience:"));
    }

    #[test]
    fn claim_headers_by_default_name_or_chosen_name_are_stripped_first() {
        let listed = parse(r#"{"claim_headers":["email","groups"]}"#).unwrap();
        assert_eq!(
            listed.claim_headers,
            vec![
                ClaimHeader {
                    claim: Claim::Email,
                    header: "x-pomerium-claim-email".into()
                },
                ClaimHeader {
                    claim: Claim::Groups,
                    header: "x-pomerium-claim-groups".into()
                },
            ]
        );
        let named = parse(r#"{"claim_headers":{"email":"X-User-Email"}}"#).unwrap();
        assert_eq!(named.claim_headers[0].header, "x-user-email");
        assert!(named.strip.should_strip("x_user_email"));
        assert!(
            error(r#"{"claim_headers":["phone"]}"#)
                .starts_with("claim_headers[0]: unknown claim \"phone\"")
        );
        assert!(
            error(r#"{"claim_headers":{"email":"bad name"}}"#).starts_with("claim_headers.email:")
        );
        assert!(error(r#"{"claim_headers":{"email":1}}"#).starts_with("claim_headers.email:"));
        assert!(
            error(r#"{"claim_headers":{"email":"x-pomerium-jwt-assertion"}}"#)
                .contains("already set by the filter")
        );
        assert!(
            error(r#"{"claim_headers":{"email":"x-a","name":"x-a"}}"#)
                .contains("already set by the filter")
        );
        assert!(error(r#"{"claim_headers":"email"}"#).starts_with("claim_headers: must be"));
    }

    #[test]
    fn groups_cookies_and_header_size() {
        let settings = parse(
            r#"{"groups":{"allow":["admins"],"allow_prefixes":["team-"],"max_count":50},"strip":{"cookies":["IdToken","BearerToken"]},"max_header_bytes":4096}"#,
        )
        .unwrap();
        assert_eq!(
            settings.groups,
            GroupsPolicy {
                allow: vec!["admins".into()],
                allow_prefixes: vec!["team-".into()],
                max_count: Some(50),
            }
        );
        assert_eq!(settings.strip_cookies, vec!["IdToken", "BearerToken"]);
        assert_eq!(settings.max_header_bytes, 4096);
        assert!(error(r#"{"strip":{"cookies":["a b"]}}"#).starts_with("strip.cookies[0]:"));
        assert!(
            error(r#"{"max_header_bytes":100}"#)
                .starts_with("max_header_bytes: 100 is out of range")
        );
        assert!(
            error(r#"{"groups":{"deny":[]}}"#).starts_with("groups.deny: unknown field `deny`")
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            error("{\"header\": \"x-a\",\n \"ttl_seconds\": 60 \"issuer\": \"x\"}"),
            "configuration: expected `,` or `}` at line 2 column 20"
        );
        // A name written twice is refused at any depth: which one would
        // count is anyone's guess.
        assert_eq!(
            error(r#"{"unauthenticated": "deny", "unauthenticated": "pass"}"#),
            "configuration: duplicate field `unauthenticated` at line 1 column 29"
        );
        assert_eq!(
            error(r#"{"route_settings": {"a": {}, "a": {"unauthenticated": "pass"}}}"#),
            "configuration: duplicate field `a` at line 1 column 30"
        );
        // `null` is the same as leaving the field out.
        let nulls = parse(r#"{"ttl_seconds": null, "strip": null, "identity": null}"#).unwrap();
        assert_eq!(nulls.ttl_seconds, DEFAULT_TTL_SECONDS);
        assert_eq!(nulls.identity, parse("{}").unwrap().identity);
        assert!(
            error(r#"{"ttl_seconds": 1.5}"#)
                .starts_with("ttl_seconds: invalid value: 1.5, expected a whole number")
        );
        assert!(error(r#"{"ttl_seconds":"x"}"#).starts_with("ttl_seconds: invalid type"));
        assert!(error(r#"{"bogus":1}"#).contains("unknown field `bogus`"));
        assert!(error(r#"{"strip":{"names":[1]}}"#).starts_with("strip.names[0]: invalid type"));
        assert!(error(r#"{"strip":{"names":["bad name"]}}"#).starts_with("strip.names[0]:"));
        assert!(
            error(r#"{"unauthenticated":"maybe"}"#).starts_with("unauthenticated: unknown variant")
        );
        assert!(error(r#"{"ttl_seconds":0}"#).starts_with("ttl_seconds: 0 is out of range"));
        assert!(error(r#"{"token_cache_entries":-1}"#).starts_with("token_cache_entries: invalid"));
        assert!(
            error(r#"{"shared_token_cache_slots":-1}"#)
                .starts_with("shared_token_cache_slots: invalid")
        );
        assert!(error(r#"{"jwks_path":"relative"}"#).starts_with("jwks_path:"));
        assert!(error(r#"{"issuer":"x","issuer_format":"uri"}"#).starts_with("issuer:"));
        assert_eq!(error(r#"{"audience":" "}"#), "audience: must not be empty");
        assert!(error(r#"{"signing_key":"garbage"}"#).starts_with("signing_key: not a PEM"));
        assert_eq!(error("[1]"), "configuration: must be a JSON object");
        // {"unauthenticated": 1.5} as Envoy hands over a Struct, then cut
        // short.
        let as_struct =
            b"\x0a\x1c\x0a\x0funauthenticated\x12\x09\x11\x00\x00\x00\x00\x00\x00\xf8\x3f";
        assert_eq!(
            Settings::parse(as_struct, Default::default())
                .unwrap_err()
                .to_string(),
            "unauthenticated: invalid type: number `1.5`, expected a string"
        );
        assert_eq!(
            Settings::parse(&as_struct[..as_struct.len() - 1], Default::default())
                .unwrap_err()
                .to_string(),
            "configuration: neither JSON text nor a google.protobuf.Struct (a malformed field): write it as a google.protobuf.StringValue holding the JSON, or as a Struct"
        );
        assert_eq!(error("\"x\""), "configuration: must be a JSON object");
        assert!(error("{} trailing").starts_with("configuration: trailing characters"));
    }

    #[test]
    fn a_configuration_written_as_a_struct_reads_as_its_json() {
        let configuration = serde_json::json!({
            "header": "x-assertion",
            "ttl_seconds": 120,
            "audience": ["a", "b"],
            "strip": {"names": ["x-user"], "prefixes": null},
            "claim_headers": {"email": "x-email", "tier": "x-tier"},
            "identity": [
                {"source": "client_certificate"},
                {"source": "jwt_authn", "claims": {"groups": ["realm_access", "roles"],
                    "extra": {"tier": {"value": 3}, "beta": {"value": true}}}},
            ],
            "route_settings": {"admin": {"audience": "admin-app", "unauthenticated": "deny"}},
        });
        let from_struct = Settings::parse(
            &crate::data::value::encode::structure(configuration.as_object().unwrap()),
            Default::default(),
        )
        .unwrap();
        let from_json = parse(&configuration.to_string()).unwrap();
        assert_eq!(format!("{from_struct:?}"), format!("{from_json:?}"));
        assert_eq!(from_struct.ttl_seconds, 120);
        // A Struct's numbers are doubles: a fraction is still refused where
        // a whole number belongs, and named as the double it is.
        let fractional = serde_json::json!({"ttl_seconds": 1.5});
        assert_eq!(
            Settings::parse(
                &crate::data::value::encode::structure(fractional.as_object().unwrap()),
                Default::default()
            )
            .unwrap_err()
            .to_string(),
            "ttl_seconds: invalid value: 1.5, expected a whole number from 0 to 18446744073709551615"
        );
    }

    #[test]
    fn errors_never_echo_key_material() {
        let key = BundleKey::generate(KeyFormat::Sec1).unwrap();
        let pem = key.to_pem();
        let encoded = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&pem)
        };
        // Body lines of the PEM, and slices of its base64: none may appear.
        let fragments: Vec<String> = pem
            .lines()
            .filter(|line| !line.starts_with("-----") && line.len() > 20)
            .map(|line| line[..20].to_owned())
            .chain(
                (0..encoded.len() - 20)
                    .step_by(16)
                    .map(|at| encoded[at..at + 20].to_owned()),
            )
            .collect();
        for misplaced in [pem.as_str(), encoded.as_str()] {
            for json in [
                serde_json::json!({"header": misplaced}),
                serde_json::json!({"jwks_path": misplaced}),
                serde_json::json!({"ttl_seconds": misplaced}),
                serde_json::json!({"unauthenticated": misplaced}),
                serde_json::json!({"strip": {"names": [misplaced]}}),
                serde_json::json!({"strip": {"cookies": [misplaced]}}),
                serde_json::json!({"claim_headers": [misplaced]}),
                serde_json::json!({"identity": {"source": misplaced}}),
                serde_json::json!({"identity": {"source": "client_certificate", "claims": {"sub": misplaced}}}),
                serde_json::json!({"identity": {"source": "jwt_authn", "www_authenticate": format!("{misplaced}\n")}}),
                serde_json::json!({misplaced: 1}),
                serde_json::json!({"route_settings": {misplaced: {}}}),
                serde_json::json!({"identity": {"source": "jwt_authn", "claims": {"extra": {misplaced: "x"}}}}),
            ] {
                let message = error(&json.to_string());
                for fragment in &fragments {
                    assert!(!message.contains(fragment.as_str()), "{message}");
                }
            }
        }
        // A key written as a name twice: the syntax error quotes it.
        let twice = serde_json::to_string(&pem).unwrap();
        let message = error(&format!("{{{twice}: 1, {twice}: 2}}"));
        assert!(
            message.starts_with("configuration: duplicate field"),
            "{message}"
        );
        for fragment in &fragments {
            assert!(!message.contains(fragment.as_str()), "{message}");
        }
        assert_eq!(redact("short words stay"), "short words stay");
        assert_eq!(
            redact("x-pomerium-jwt-assertion-for"),
            "x-pomerium-jwt-assertion-for"
        );
    }

    #[test]
    fn only_a_fixed_issuer_and_audience_free_the_request_host() {
        let names_host = |json: &str| {
            let settings = parse(json).unwrap();
            crate::route_settings::Effective::new(&settings, None)
                .names_request_host(&settings.issuer)
        };
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

    fn env_key(signing_key: &str) -> Environment<'_> {
        Environment {
            signing_key: Some(signing_key),
            kek: None,
        }
    }

    fn bundle_of(settings: Settings) -> (Bundle, Option<String>) {
        match settings.key_source {
            KeySource::Bundle {
                bundle,
                sealed_under,
            } => (bundle, sealed_under),
            KeySource::Ephemeral => panic!("expected a bundle"),
        }
    }

    #[test]
    fn configured_key_wins_over_environment_and_environment_over_ephemeral() {
        let configured = BundleKey::generate(KeyFormat::Sec1).unwrap();
        let from_env = BundleKey::generate(KeyFormat::Pkcs8).unwrap();
        let env_pem = from_env.to_pem();
        let json = serde_json::json!({ "signing_key": configured.to_pem() }).to_string();
        let (bundle, _) = bundle_of(Settings::parse(json.as_bytes(), env_key(&env_pem)).unwrap());
        assert_eq!(bundle.keys()[0].kid(), configured.kid());

        let (bundle, _) = bundle_of(Settings::parse(b"{}", env_key(&env_pem)).unwrap());
        assert_eq!(bundle.keys()[0].kid(), from_env.kid());

        let bad_env = Settings::parse(b"{}", env_key("nonsense")).unwrap_err();
        assert!(
            bad_env
                .to_string()
                .starts_with("SIGNING_KEY (environment):")
        );
    }

    #[test]
    fn a_sealed_signing_key_opens_with_a_kek_from_the_environment() {
        let key = BundleKey::generate(KeyFormat::Sec1).unwrap();
        let kek = signed_headers_keys::KeyEncryptionKey::generate().unwrap();
        let sealed = kek.seal(&key.to_pem()).unwrap();
        let json = serde_json::json!({ "signing_key": sealed }).to_string();
        let kek_text = kek.to_text();
        let with_kek = |kek: &str| {
            Settings::parse(
                json.as_bytes(),
                Environment {
                    signing_key: None,
                    kek: Some(kek),
                },
            )
        };
        let (bundle, sealed_under) = bundle_of(with_kek(&kek_text).unwrap());
        assert_eq!(bundle.keys()[0].kid(), key.kid());
        assert_eq!(sealed_under.as_deref(), Some(kek.id()));

        // Without the KEK, with another one, with a broken one: refused with
        // a reason, never with key material.
        let other = signed_headers_keys::KeyEncryptionKey::generate().unwrap();
        let refusals = [
            (Settings::parse(json.as_bytes(), Environment::default()).unwrap_err(), "signing_key: sealed, but the VM's environment has no SIGNED_HEADERS_KEK: set it in Envoy's environment and list it in vm_config.environment_variables.host_env_keys".to_owned()),
            (with_kek(&other.to_text()).unwrap_err(), format!("signing_key: sealed under key-encryption key {}, but SIGNED_HEADERS_KEK holds {}", kek.id(), other.id())),
            (with_kek("short").unwrap_err(), "signing_key: SIGNED_HEADERS_KEK: key 1 of 1 is not base64 of 32 bytes (`signing-key generate-kek` writes one)".to_owned()),
        ];
        for (error, expected) in refusals {
            assert_eq!(error.to_string(), expected);
        }
        let altered = sealed.replace(&sealed[sealed.len() - 8..], "AAAAAAAA");
        let altered = serde_json::json!({ "signing_key": altered }).to_string();
        let error = Settings::parse(
            altered.as_bytes(),
            Environment {
                signing_key: None,
                kek: Some(&kek_text),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("the sealed text was altered or cut"),
            "{error}"
        );

        // A sealed bundle whose inside is refused says so.
        let public_only = kek.seal(&key.to_public_only().unwrap().to_pem()).unwrap();
        let json = serde_json::json!({ "signing_key": public_only }).to_string();
        let error = Settings::parse(
            json.as_bytes(),
            Environment {
                signing_key: None,
                kek: Some(&kek_text),
            },
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "signing_key: the sealed bundle: no private key: nothing in the bundle can sign"
        );
    }

    #[test]
    fn extra_claims_are_named_typed_and_checked() {
        let settings = parse(
            r#"{"identity": {"source": "ext_authz", "claims": {"extra": {"team": "X-Team", "env": {"value": ["a", "b"]}}}},
                "claim_headers": {"team": "x-team-header"}}"#,
        )
        .unwrap();
        let Source::ExtAuthz { claims, .. } = &settings.identity[0] else {
            panic!("ext_authz");
        };
        assert_eq!(
            claims.extra,
            [
                (
                    "env".to_owned(),
                    ExtraSource::Fixed(ExtraValue::List(vec!["a".into(), "b".into()]))
                ),
                ("team".to_owned(), ExtraSource::Field("x-team".to_owned())),
            ]
        );
        assert_eq!(
            settings.claim_headers[0].claim,
            Claim::Extra("team".to_owned())
        );
        for (json, message) in [
            (
                r#"{"identity": {"source": "jwt_authn", "claims": {"extra": {"iss": "x"}}}}"#,
                "identity.claims.extra.iss: is a claim the filter sets itself; choose another name",
            ),
            (
                r#"{"identity": {"source": "jwt_authn", "claims": {"extra": {"a b": "x"}}}}"#,
                "identity.claims.extra: claim names are 1 to 128 printable ASCII characters without quotes or backslashes",
            ),
            (
                r#"{"identity": {"source": "jwt_authn", "claims": {"extra": {"env": {"value": {"x": 1}}}}}}"#,
                "identity.claims.extra.env.value: must be a string, a number, a boolean or a list of strings",
            ),
            (
                r#"{"identity": {"source": "jwt_authn", "claims": {"extra": {"env": {"value": 1, "other": 2}}}}}"#,
                "identity.claims.extra.env: a fixed value is {\"value\": ...} alone",
            ),
            (
                r#"{"identity": {"source": "client_certificate", "claims": {"extra": {"x": "serial"}}}}"#,
                "identity.claims.extra.x: unknown variant `serial`",
            ),
            (
                r#"{"claim_headers": ["department"]}"#,
                "claim_headers[0]: unknown claim \"department\" (one of sub, user, email, groups, name, sid, or an extra claim a source maps)",
            ),
            (
                r#"{"identity": {"source": "jwt_authn", "claims": {"extra": {"https://example.com/roles": "roles"}}}, "claim_headers": ["https://example.com/roles"]}"#,
                "claim_headers[0]: \"x-pomerium-claim-https://example.com/roles\" is not a header name: name one",
            ),
        ] {
            let error = error(json);
            assert!(error.starts_with(message), "{error}\nexpected: {message}");
        }
        let many: serde_json::Map<String, serde_json::Value> = (0..=MAX_EXTRA_CLAIMS)
            .map(|index| (format!("c{index}"), serde_json::json!("x")))
            .collect();
        let json =
            serde_json::json!({"identity": {"source": "jwt_authn", "claims": {"extra": many}}});
        assert_eq!(
            error(&json.to_string()),
            "identity.claims.extra: at most 16 extra claims"
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
        let valid = br#"{"header":"x-a","jwks_path":"/j","issuer_format":"uri","ttl_seconds":60,"jwks_max_age_seconds":5,"strip":{"names":["x-b"],"prefixes":["x-c-"]},"identity":[{"source":"jwt_authn","payload_key":"p","claims":{"groups":["a","b"]}},{"source":"ext_authz","groups_delimiter":";"},{"source":"client_certificate","claims":{"sub":"subject"}}],"claim_headers":{"email":"x-e"},"groups":{"allow":["g"],"max_count":3},"unauthenticated":"pass"}"#;
        assert!(Settings::parse(valid, Default::default()).is_ok());
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
            let _ = Settings::parse(&bytes, Default::default());
        }
    }
}
