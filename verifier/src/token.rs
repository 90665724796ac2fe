//! Compact JWS checks. Nothing in the token is trusted before its signature
//! verifies, except the header fields that pick the algorithm and the key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::Signature;
use p256::ecdsa::signature::Verifier as _;
use serde::Deserialize;

use crate::claims::Claims;
use crate::error::VerifyError;
use crate::keyset::KeySet;
use crate::policy::Policy;

/// Far above any assertion (the filter caps its header at 8 KiB by default):
/// bounds the work a hostile header can cause.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

pub(crate) struct Parts<'a> {
    signing_input: &'a str,
    payload: &'a str,
    signature: &'a str,
    pub(crate) kid: String,
}

/// The token's parts, its header checked (alg, crit) and its kid taken.
pub(crate) fn split(token: &str) -> Result<Parts<'_>, VerifyError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(VerifyError::Malformed(format!(
            "{} bytes, more than {MAX_TOKEN_BYTES}",
            token.len()
        )));
    }
    let token = token.trim();
    let (signing_input, signature) = token
        .rsplit_once('.')
        .ok_or_else(|| VerifyError::Malformed("not three dot-separated parts".to_owned()))?;
    let (header, payload) = signing_input
        .split_once('.')
        .filter(|(_, payload)| !payload.contains('.'))
        .ok_or_else(|| VerifyError::Malformed("not three dot-separated parts".to_owned()))?;
    let header: Header = decode_json(header, "header")?;
    if header.alg != "ES256" {
        return Err(VerifyError::UnsupportedAlgorithm(header.alg));
    }
    if header.crit.is_some() {
        return Err(VerifyError::Malformed(
            "critical header extensions are not supported".to_owned(),
        ));
    }
    let kid = header.kid.ok_or(VerifyError::MissingKid)?;
    Ok(Parts {
        signing_input,
        payload,
        signature,
        kid,
    })
}

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str, what: &str) -> Result<T, VerifyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|err| VerifyError::Malformed(format!("{what}: {err}")))?;
    serde_json::from_slice(&bytes).map_err(|err| VerifyError::Malformed(format!("{what}: {err}")))
}

/// The `kid` an ES256 token's header names: the key to look up (and, when
/// it is unknown, the reason to refetch the JWKS). Refuses other algorithms
/// before any key is looked for.
pub fn kid_of(token: &str) -> Result<String, VerifyError> {
    split(token).map(|parts| parts.kid)
}

/// Checks `token` against `keys` and `policy` at `now` (Unix seconds).
pub fn verify_token(
    keys: &KeySet,
    policy: &Policy,
    token: &str,
    now: u64,
) -> Result<Claims, VerifyError> {
    verify_parts(keys, policy, &split(token)?, now)
}

/// [`verify_token`] for a token already split.
pub(crate) fn verify_parts(
    keys: &KeySet,
    policy: &Policy,
    parts: &Parts<'_>,
    now: u64,
) -> Result<Claims, VerifyError> {
    let key = keys
        .get(&parts.kid)
        .ok_or_else(|| VerifyError::UnknownKey(parts.kid.clone()))?;
    let signature = URL_SAFE_NO_PAD
        .decode(parts.signature)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or(VerifyError::BadSignature)?;
    key.verify(parts.signing_input.as_bytes(), &signature)
        .map_err(|_| VerifyError::BadSignature)?;

    let claims: Claims = decode_json(parts.payload, "claims")?;
    let skew = policy.clock_skew_seconds;
    if now > claims.exp.saturating_add(skew) {
        return Err(VerifyError::Expired {
            exp: claims.exp,
            now,
        });
    }
    for at in std::iter::once(claims.iat).chain(claims.nbf) {
        if at > now.saturating_add(skew) {
            return Err(VerifyError::NotYetValid { at, now });
        }
    }
    // Audience first: a token minted for another host (aud and, by default,
    // iss both that host) is reported as meant for someone else.
    if !claims
        .aud
        .iter()
        .any(|audience| policy.audiences.contains(audience))
    {
        return Err(VerifyError::WrongAudience(claims.aud));
    }
    if !policy.issuers.contains(&claims.iss) {
        return Err(VerifyError::WrongIssuer(claims.iss));
    }
    Ok(claims)
}
