use std::fmt;

/// Why a token was refused. Match on the variant; [`Self::code`] is the same
/// as a stable string (what the JavaScript package reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// Not a compact JWS with a JSON header and claims, or a required claim
    /// (`iss`, `aud`, `iat`, `exp`) missing or of the wrong type.
    Malformed(String),
    /// `alg` is not `ES256` (`none`, `HS256` and the rest are never accepted).
    UnsupportedAlgorithm(String),
    /// The header names no `kid`.
    MissingKid,
    /// No published key has this `kid`, even after a refetch (when one was
    /// allowed).
    UnknownKey(String),
    /// The signature does not verify with the key the `kid` names.
    BadSignature,
    /// `exp` is further in the past than the clock skew allows.
    Expired {
        exp: u64,
        now: u64,
    },
    /// `iat` (or `nbf`) is further in the future than the clock skew allows.
    NotYetValid {
        at: u64,
        now: u64,
    },
    WrongIssuer(String),
    WrongAudience(Vec<String>),
    /// No key set has ever been loaded (the JWKS could not be fetched).
    KeysUnavailable(String),
    /// The request carries no assertion header.
    MissingHeader(String),
    /// The request carries the assertion header more than once.
    DuplicateHeader(String),
}

impl VerifyError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            Self::MissingKid => "missing_kid",
            Self::UnknownKey(_) => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::WrongIssuer(_) => "wrong_issuer",
            Self::WrongAudience(_) => "wrong_audience",
            Self::KeysUnavailable(_) => "keys_unavailable",
            Self::MissingHeader(_) => "missing_header",
            Self::DuplicateHeader(_) => "duplicate_header",
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed token: {why}"),
            Self::UnsupportedAlgorithm(alg) => {
                write!(f, "algorithm {alg:?} refused: only ES256 is accepted")
            }
            Self::MissingKid => f.write_str("the token header names no kid"),
            Self::UnknownKey(kid) => write!(f, "no published key has kid {kid:?}"),
            Self::BadSignature => f.write_str("the signature does not verify"),
            Self::Expired { exp, now } => write!(f, "expired at {exp} (now {now})"),
            Self::NotYetValid { at, now } => {
                write!(f, "not valid before {at} (now {now})")
            }
            Self::WrongIssuer(iss) => write!(f, "issuer {iss:?} is not the expected one"),
            Self::WrongAudience(aud) => write!(f, "audience {aud:?} is not an expected one"),
            Self::KeysUnavailable(why) => write!(f, "no verification keys: {why}"),
            Self::MissingHeader(name) => write!(f, "no {name} header"),
            Self::DuplicateHeader(name) => write!(f, "more than one {name} header"),
        }
    }
}

impl std::error::Error for VerifyError {}
