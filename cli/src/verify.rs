//! `signing-key verify`: checks an assertion with `jsonwebtoken` (AWS-LC
//! backend), an implementation independent of the signer in
//! `signed-headers-keys`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use signed_headers_verifier::TrustedRoots;

use crate::error::{CliError, Result};
use crate::files::{read_text, write_stdout};

/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub const LEEWAY: u64 = 60;

/// Largest JWKS document accepted over HTTP.
const MAX_JWKS_BYTES: u64 = 1024 * 1024;

const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Options<'a> {
    pub token: &'a str,
    /// Where the keys come from, as named on the command line.
    pub keys: KeySource<'a>,
    pub iss: Option<&'a str>,
    pub aud: Option<&'a str>,
    /// A private CA's certificates (PEM) for an `https` JWKS URL.
    pub cacert: Option<&'a Path>,
}

/// `--jwks FILE|URL` or `--key FILE` (a PEM public key or bundle).
pub enum KeySource<'a> {
    Jwks(&'a str),
    Key(&'a str),
}

impl KeySource<'_> {
    fn name(&self) -> &str {
        match self {
            KeySource::Jwks(name) | KeySource::Key(name) => name,
        }
    }

    /// The JWKS text: fetched, read, or built from the key file.
    fn jwks_text(&self, cacert: Option<&Path>) -> Result<String> {
        match self {
            KeySource::Jwks(source) => load_jwks(source, cacert),
            KeySource::Key(path) => {
                let bundle = crate::files::load_bundle(Path::new(path))?;
                Ok(signed_headers_keys::JwksDocument::new(&bundle.jwks())
                    .body()
                    .to_owned())
            }
        }
    }
}

pub fn run(options: &Options<'_>) -> Result<()> {
    if options.token == "-" && options.keys.name() == "-" {
        return Err(CliError::input(
            "TOKEN and the keys cannot both be read from stdin",
        ));
    }
    let token = if options.token == "-" {
        read_text(Path::new("-"))?.trim().to_owned()
    } else {
        options.token.trim().to_owned()
    };
    if token.is_empty() {
        return Err(CliError::input("the token is empty"));
    }
    let source = options.keys.name();
    let jwks_text = options.keys.jwks_text(options.cacert)?;
    let jwks: Value = serde_json::from_str(&jwks_text)
        .map_err(|err| CliError::input(format!("{source}: not a JWKS (JSON): {err}")))?;
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| CliError::input(format!("{source}: not a JWKS: no \"keys\" array")))?;

    let header = token_part(&token, 0, "header")?;
    if header.get("crit").is_some() {
        // RFC 7515 section 4.1.11: a token naming extensions its verifier
        // must understand is invalid to a verifier that understands none.
        return Err(CliError::verify(
            "token header has \"crit\" (critical extensions): none are understood here, so it is refused (RFC 7515 section 4.1.11)",
        ));
    }
    let token_alg = match header.get("alg").and_then(Value::as_str) {
        Some(alg @ ("ES256" | "RS256")) => alg.to_owned(),
        Some(other) => {
            return Err(CliError::verify(format!(
                "token alg is \"{other}\": only ES256 (and RS256 for RSA keys) is accepted"
            )));
        }
        None => return Err(CliError::verify("token header has no alg")),
    };
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| CliError::verify("token header has no kid: cannot pick a key"))?;
    let jwk_value = keys
        .iter()
        .find(|key| key.get("kid").and_then(Value::as_str) == Some(kid))
        .ok_or_else(|| {
            let known: Vec<&str> = keys
                .iter()
                .filter_map(|key| key.get("kid").and_then(Value::as_str))
                .collect();
            CliError::verify(format!(
                "kid {kid} is not in the JWKS {} (it has {}: {})",
                source,
                plural(known.len(), "key"),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ))
        })?;
    let (key, algorithm) = decoding_key(kid, jwk_value)?;
    let key_alg = if algorithm == Algorithm::RS256 {
        "RS256"
    } else {
        "ES256"
    };
    if token_alg != key_alg {
        return Err(CliError::verify(format!(
            "token alg is {token_alg} but key {kid} is an {key_alg} key"
        )));
    }

    let mut validation = Validation::new(algorithm);
    validation.leeway = LEEWAY;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    let mut required = vec!["exp"];
    if let Some(iss) = options.iss {
        validation.set_issuer(&[iss]);
        required.push("iss");
    }
    match options.aud {
        Some(aud) => {
            validation.set_audience(&[aud]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);

    let claims = match jsonwebtoken::decode::<Value>(&token, &key, &validation) {
        Ok(data) => data.claims,
        Err(err) => return Err(explain(err.into_kind(), &token, kid, options)),
    };

    let now = now();
    let exp = integer_claim(&claims, "exp")?;
    let iat = integer_claim(&claims, "iat")?;
    if iat > now.saturating_add(LEEWAY) {
        return Err(CliError::verify(format!(
            "iat {iat} is {} s in the future (more than the {LEEWAY} s leeway): check the clocks",
            iat - now
        )));
    }

    let pretty = serde_json::to_string_pretty(&claims)
        .map_err(|err| CliError::input(format!("printing the claims: {err}")))?;
    write_stdout(&format!("{pretty}\n"))?;
    let remaining = if exp >= now {
        format!("expires in {} s", exp - now)
    } else {
        format!("expired {} s ago, within the {LEEWAY} s leeway", now - exp)
    };
    eprintln!("verified: {key_alg} signature by kid {kid}, {remaining}");
    Ok(())
}

/// The JWKS text from a file, stdin (`-`) or an http(s) URL (fetched once).
fn load_jwks(source: &str, cacert: Option<&Path>) -> Result<String> {
    let lower = source.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        fetch_jwks(source, cacert).map(|fetched| fetched.body)
    } else {
        read_text(Path::new(source))
    }
}

/// A JWKS as a server answered it.
pub struct FetchedJwks {
    pub body: String,
    /// The filter's `x-signing-kid` header: the key that signs there now.
    pub signing_kid: Option<String>,
    /// `Cache-Control: max-age`: how long verifiers may keep this JWKS.
    pub max_age: Option<Duration>,
}

impl FetchedJwks {
    /// The kids of the document's keys, in order.
    pub fn kids(&self, url: &str) -> Result<Vec<String>> {
        let document: Value = serde_json::from_str(&self.body)
            .map_err(|err| CliError::input(format!("the JWKS at {url} is not JSON: {err}")))?;
        let keys = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| CliError::input(format!("the JWKS at {url} has no \"keys\" list")))?;
        Ok(keys
            .iter()
            .filter_map(|key| key.get("kid").and_then(Value::as_str))
            .map(str::to_owned)
            .collect())
    }
}

/// Fetches a JWKS over http(s), with the filter's signing-kid header,
/// trusting the system's roots (`SSL_CERT_FILE`, `SSL_CERT_DIR`) and the
/// certificates in `cacert`.
pub fn fetch_jwks(url: &str, cacert: Option<&Path>) -> Result<FetchedJwks> {
    let mut roots = TrustedRoots::system();
    if let Some(cacert) = cacert {
        roots = roots
            .with_ca_file(cacert)
            .map_err(|err| CliError::input(format!("--cacert {err}")))?;
    }
    let agent = signed_headers_verifier::jwks_agent(
        concat!("signing-key/", env!("CARGO_PKG_VERSION")),
        FETCH_TIMEOUT,
        &roots,
    );
    let mut response = agent
        .get(url)
        .header("accept", "application/json")
        .call()
        .map_err(|err| {
            let hint = if err.to_string().contains("certificate") {
                " (a certificate from a private CA? pass --cacert FILE, or set SSL_CERT_FILE)"
            } else {
                ""
            };
            CliError::input(format!("fetching the JWKS from {url}: {err}{hint}"))
        })?;
    let status = response.status();
    if status != 200 {
        return Err(CliError::input(format!(
            "fetching the JWKS from {url}: HTTP status {}",
            status.as_u16()
        )));
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let signing_kid = header("x-signing-kid");
    let max_age = header("cache-control").as_deref().and_then(max_age);
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_JWKS_BYTES)
        .read_to_string()
        .map_err(|err| CliError::input(format!("reading the JWKS from {url}: {err}")))?;
    Ok(FetchedJwks {
        body,
        signing_kid,
        max_age,
    })
}

/// The `max-age` directive of a `Cache-Control` value.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|directive| {
        let (name, value) = directive.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| value.trim().trim_matches('"').parse().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

/// One dot-separated part of the token, decoded as JSON (for messages and
/// key selection only: nothing is trusted before the signature checks).
fn token_part(token: &str, index: usize, what: &str) -> Result<Value> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(CliError::verify(format!(
            "malformed token: {} dot-separated parts, a compact JWS has 3",
            parts.len()
        )));
    }
    let part = parts.get(index).copied().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|err| CliError::verify(format!("malformed token {what}: {err}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|err| CliError::verify(format!("malformed token {what}: {err}")))
}

/// A usable verification key from the JWKS entry for `kid`, and the one
/// algorithm it implies: ES256 for a P-256 key, RS256 for an RSA key.
fn decoding_key(kid: &str, value: &Value) -> Result<(DecodingKey, Algorithm)> {
    let unusable = |why: String| CliError::verify(format!("JWK {kid} is unusable: {why}"));
    let jwk: Jwk =
        serde_json::from_value(value.clone()).map_err(|err| unusable(err.to_string()))?;
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            return Err(unusable(format!("curve {:?}, not P-256", ec.curve)));
        }
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        _ => return Err(unusable("neither a P-256 nor an RSA key".to_owned())),
    };
    let expected = if algorithm == Algorithm::RS256 {
        KeyAlgorithm::RS256
    } else {
        KeyAlgorithm::ES256
    };
    if let Some(alg) = jwk.common.key_algorithm
        && alg != expected
    {
        return Err(unusable(format!("its alg is {alg:?}, not {expected:?}")));
    }
    DecodingKey::from_jwk(&jwk)
        .map(|key| (key, algorithm))
        .map_err(|err| unusable(err.to_string()))
}

/// Turns a `jsonwebtoken` failure into a reason an operator can act on.
fn explain(kind: ErrorKind, token: &str, kid: &str, options: &Options<'_>) -> CliError {
    let claims = token_part(token, 1, "payload").unwrap_or(Value::Null);
    let shown = |name: &str| match claims.get(name) {
        Some(value) => value.to_string(),
        None => "(missing)".to_owned(),
    };
    let message = match kind {
        ErrorKind::InvalidSignature => {
            format!(
                "signature does not verify with the key {kid} (tampered token, or the wrong key)"
            )
        }
        ErrorKind::ExpiredSignature => {
            let ago = claims
                .get("exp")
                .and_then(Value::as_u64)
                .map(|exp| format!(" ({} s ago)", now().saturating_sub(exp)))
                .unwrap_or_default();
            format!(
                "token expired: exp {}{ago}, beyond the {LEEWAY} s leeway",
                shown("exp")
            )
        }
        ErrorKind::ImmatureSignature => format!(
            "token not valid yet: nbf {} is more than {LEEWAY} s in the future",
            shown("nbf")
        ),
        ErrorKind::InvalidIssuer => format!(
            "wrong issuer: iss is {}, expected \"{}\"",
            shown("iss"),
            options.iss.unwrap_or_default()
        ),
        ErrorKind::InvalidAudience => format!(
            "wrong audience: aud is {}, expected \"{}\"",
            shown("aud"),
            options.aud.unwrap_or_default()
        ),
        ErrorKind::MissingRequiredClaim(claim) => format!("token has no {claim} claim"),
        ErrorKind::InvalidClaimFormat(claim) => format!("claim {claim} is not a valid number"),
        ErrorKind::InvalidAlgorithm => "token alg does not match the key (ES256)".to_owned(),
        ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidKeyFormat => {
            format!("JWK {kid} is not a valid P-256 public key")
        }
        other => format!(
            "invalid token: {}",
            jsonwebtoken::errors::Error::from(other)
        ),
    };
    CliError::verify(message)
}

/// A claim that must be a non-negative integer (never a float).
fn integer_claim(claims: &Value, name: &str) -> Result<u64> {
    match claims.get(name) {
        None => Err(CliError::verify(format!("token has no {name} claim"))),
        Some(value) => value.as_u64().ok_or_else(|| {
            CliError::verify(format!(
                "claim {name} is {value}: it must be an integer number of seconds"
            ))
        }),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}
