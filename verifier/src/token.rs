//! Compact JWS checks. Nothing in the token is trusted before its signature
//! verifies, except the header fields that pick the algorithm and the key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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

/// Where a token's signed text and its signature are (byte offsets into
/// the token, which is ASCII), for a driver that checks the signature
/// itself (the JavaScript package, with WebCrypto) and then calls
/// [`verify_token_checked`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInput {
    pub kid: String,
    pub signed: std::ops::Range<usize>,
    pub signature: std::ops::Range<usize>,
}

/// The [`SignatureInput`] of `token`, its header checked as
/// [`verify_token`] checks it.
pub fn signature_input(token: &str) -> Result<SignatureInput, VerifyError> {
    if !token.is_ascii() {
        return Err(VerifyError::Malformed(
            "not ASCII (base64url parts only)".to_owned(),
        ));
    }
    let parts = split(token)?;
    let offset = |part: &str| part.as_ptr() as usize - token.as_ptr() as usize;
    let signed_from = offset(parts.signing_input);
    let signature_from = offset(parts.signature);
    Ok(SignatureInput {
        signed: signed_from..signed_from + parts.signing_input.len(),
        signature: signature_from..signature_from + parts.signature.len(),
        kid: parts.kid,
    })
}

/// [`verify_token`] for a token whose signature the caller checked and
/// found valid under the key whose uncompressed point is `checked_with`
/// ([`KeySet::point`]): everything but the signature is checked here. A
/// token whose `kid` no longer names that key is refused as badly signed.
pub fn verify_token_checked(
    keys: &KeySet,
    policy: &Policy,
    token: &str,
    now: u64,
    checked_with: &[u8; 65],
) -> Result<Claims, VerifyError> {
    let parts = split(token)?;
    let key = keys
        .key(&parts.kid)
        .ok_or_else(|| VerifyError::UnknownKey(parts.kid.clone()))?;
    if key.point() != checked_with {
        return Err(VerifyError::BadSignature);
    }
    check_claims(policy, decode_json(parts.payload, "claims")?, now)
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
        .key(&parts.kid)
        .ok_or_else(|| VerifyError::UnknownKey(parts.kid.clone()))?;
    let signature = URL_SAFE_NO_PAD
        .decode(parts.signature)
        .map_err(|_| VerifyError::BadSignature)?;
    if !key.verifies(parts.signing_input.as_bytes(), &signature) {
        return Err(VerifyError::BadSignature);
    }
    check_claims(policy, decode_json(parts.payload, "claims")?, now)
}

/// The checks after the signature's: times with the skew, audience, issuer.
pub(crate) fn check_claims(
    policy: &Policy,
    claims: Claims,
    now: u64,
) -> Result<Claims, VerifyError> {
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
