use serde::{Deserialize, Serialize};
use signed_headers_keys::Audience;

/// The verified claims of an assertion. `iss`, `aud`, `iat` and `exp` are
/// required; the identity claims default to empty when a token leaves them
/// out (the filter always sends them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// Every audience the token names (`aud` as a string or an array).
    #[serde(deserialize_with = "audiences")]
    pub aud: Vec<String>,
    pub iat: u64,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default)]
    pub jti: String,
    #[serde(default)]
    pub sub: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub sid: String,
    #[serde(default)]
    pub name: String,
    /// `true` when the filter dropped the user's groups to keep the header
    /// small: `groups` is then empty but must not be read as "no groups".
    #[serde(default)]
    pub groups_truncated: bool,
    /// The claims (`email`, `name`, `sid`) the filter left out to keep the
    /// header small: each is then empty but must not be read as "none".
    #[serde(default)]
    pub claims_truncated: Vec<String>,
    /// Every other claim the token carries, with its JSON type: the extra
    /// claims the filter was configured to add (`claims.extra`). One the
    /// filter left out for size is named in `claims_truncated`.
    #[serde(flatten)]
    pub extra: std::collections::BTreeMap<String, serde_json::Value>,
}

fn audiences<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(match Audience::deserialize(deserializer)? {
        Audience::One(audience) => vec![audience],
        Audience::Many(audiences) => audiences,
    })
}
