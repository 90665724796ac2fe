//! The assertion minted for a user, and the cache that spares most
//! requests a signature.

use std::collections::HashMap;

use signed_headers_keys::{AssertionClaims, Audience, Es256Signer};

use crate::config::{Issuer, IssuerFormat};
use crate::identity::Identity;

/// `iss` for a request to `host` (as [`crate::authority::request_host`]
/// gives it).
pub fn issuer(issuer: &Issuer, host: &str) -> String {
    match issuer {
        Issuer::Fixed(fixed) => fixed.clone(),
        Issuer::FromHost(IssuerFormat::Host) => host.to_owned(),
        Issuer::FromHost(IssuerFormat::Uri) => format!("https://{host}/"),
    }
}

/// The claims for one identity, audience and time.
pub fn claims(
    identity: &Identity,
    iss: String,
    aud: Audience,
    jti: String,
    now: u64,
    ttl_seconds: u64,
) -> AssertionClaims {
    AssertionClaims {
        iss,
        aud,
        jti,
        iat: now,
        exp: now.saturating_add(ttl_seconds),
        sub: identity.sub.clone(),
        user: identity.user.clone(),
        email: identity.email.clone(),
        groups: identity.groups.clone(),
        sid: identity.sid.clone(),
        name: identity.name.clone(),
        groups_truncated: identity.groups_truncated,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    identity: Identity,
    iss: String,
    aud: Audience,
}

/// A minted assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    pub token: String,
    /// How many groups were left out to keep the token within its size
    /// limit (0: none).
    pub dropped_groups: usize,
}

impl Minted {
    pub fn groups_dropped(&self) -> bool {
        self.dropped_groups > 0
    }
}

#[derive(Debug, Clone)]
struct CachedToken {
    minted: Minted,
    reuse_until: u64,
}

/// What every token of one configuration shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLimits {
    pub ttl_seconds: u64,
    /// Longer tokens lose their groups (and get `groups_truncated`).
    pub max_token_bytes: usize,
}

/// Recently minted tokens, so a user's burst of requests costs one signature.
///
/// A token is reused while at least half its lifetime remains, so the
/// upstream always gets one valid for `ttl / 2` seconds or more. Memory is
/// bounded by `capacity`. When full, stale entries are purged (at most once
/// per second in which one has gone stale, so a full cache costs no scan per
/// miss); if none is stale the new token is simply not cached. Keeping what
/// is cached, rather than evicting, means more users than entries still get
/// `capacity` hits, where clearing or LRU would miss on every request of a
/// cyclic workload.
#[derive(Debug)]
pub struct TokenCache {
    entries: HashMap<CacheKey, CachedToken>,
    capacity: usize,
    limits: TokenLimits,
    /// The earliest `reuse_until` among the entries: nothing is stale before.
    earliest_reuse_until: u64,
}

/// Why no token could be minted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MintError {
    Random,
    Serialize(String),
}

impl std::fmt::Display for MintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MintError::Random => f.write_str("random source unavailable"),
            MintError::Serialize(why) => write!(f, "could not serialize claims: {why}"),
        }
    }
}

impl TokenCache {
    pub fn new(capacity: usize, limits: TokenLimits) -> Self {
        Self {
            entries: HashMap::new(),
            capacity,
            limits,
            earliest_reuse_until: u64::MAX,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A token for `identity` at `now`: a cached one still fresh, else a new
    /// signature.
    pub fn token(
        &mut self,
        signer: &Es256Signer,
        identity: &Identity,
        iss: String,
        aud: Audience,
        now: u64,
    ) -> Result<Minted, MintError> {
        let key = CacheKey {
            identity: identity.clone(),
            iss,
            aud,
        };
        if let Some(cached) = self.entries.get(&key)
            && now <= cached.reuse_until
        {
            return Ok(cached.minted.clone());
        }
        let minted = self.mint(signer, &key, now)?;
        let reuse_until = now.saturating_add(self.limits.ttl_seconds / 2);
        if self.entries.len() >= self.capacity && now > self.earliest_reuse_until {
            self.entries.retain(|_, cached| now <= cached.reuse_until);
            self.earliest_reuse_until = self
                .entries
                .values()
                .map(|cached| cached.reuse_until)
                .min()
                .unwrap_or(u64::MAX);
        }
        // A stale entry for this key is replaced in place, full or not.
        if self.entries.len() < self.capacity || self.entries.contains_key(&key) {
            self.earliest_reuse_until = self.earliest_reuse_until.min(reuse_until);
            self.entries.insert(
                key,
                CachedToken {
                    minted: minted.clone(),
                    reuse_until,
                },
            );
        }
        Ok(minted)
    }

    /// Signs a new token; if it would be too long, signs one without groups
    /// (and with `groups_truncated`) rather than one servers would refuse.
    fn mint(
        &mut self,
        signer: &Es256Signer,
        key: &CacheKey,
        now: u64,
    ) -> Result<Minted, MintError> {
        let jti = signed_headers_keys::random_jti().map_err(|_| MintError::Random)?;
        let mut claims = claims(
            &key.identity,
            key.iss.clone(),
            key.aud.clone(),
            jti,
            now,
            self.limits.ttl_seconds,
        );
        let serialize = |claims: &AssertionClaims| {
            serde_json::to_vec(claims).map_err(|e| MintError::Serialize(e.to_string()))
        };
        let mut payload = serialize(&claims)?;
        let too_long = signer.token_len(payload.len()) > self.limits.max_token_bytes;
        let dropped_groups = if too_long { claims.groups.len() } else { 0 };
        if dropped_groups > 0 {
            claims.groups.clear();
            claims.groups_truncated = true;
            payload = serialize(&claims)?;
        }
        Ok(Minted {
            token: signer.sign(&payload),
            dropped_groups,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signed_headers_keys::{BundleKey, KeyFormat};

    fn decode_claims(token: &str) -> AssertionClaims {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).unwrap();
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&json).unwrap()
    }

    fn alice() -> Identity {
        Identity {
            sub: "alice".into(),
            user: "alice".into(),
            email: "alice@example.com".into(),
            groups: vec!["admins".into()],
            name: "Alice".into(),
            sid: "s1".into(),
            groups_truncated: false,
        }
    }

    fn limits() -> TokenLimits {
        TokenLimits {
            ttl_seconds: 300,
            max_token_bytes: 8000,
        }
    }

    fn signer() -> Es256Signer {
        BundleKey::generate(KeyFormat::Sec1)
            .unwrap()
            .signer()
            .unwrap()
    }

    #[test]
    fn issuer_modes() {
        assert_eq!(
            issuer(&Issuer::FromHost(IssuerFormat::Host), "a.test"),
            "a.test"
        );
        assert_eq!(
            issuer(&Issuer::FromHost(IssuerFormat::Uri), "a.test"),
            "https://a.test/"
        );
        assert_eq!(issuer(&Issuer::Fixed("idp".into()), "a.test"), "idp");
    }

    #[test]
    fn claims_have_integer_times_and_user_equals_sub() {
        let claims = claims(&alice(), "i".into(), "a".into(), "j".into(), 1000, 300);
        assert_eq!((claims.iat, claims.exp), (1000, 1300));
        assert_eq!(claims.user, "alice");
        let json = serde_json::to_value(&claims).unwrap();
        assert!(json["iat"].is_u64() && json["exp"].is_u64());
        assert!(json.get("nbf").is_none());
        let anonymous = super::claims(
            &Identity::anonymous(),
            "i".into(),
            "a".into(),
            "j".into(),
            1,
            1,
        );
        assert_eq!(
            serde_json::to_value(&anonymous).unwrap()["groups"],
            serde_json::json!([])
        );
    }

    #[test]
    fn cache_reuses_fresh_tokens_per_identity_and_audience() {
        let signer = signer();
        let mut cache = TokenCache::new(16, limits());
        let first = cache
            .token(&signer, &alice(), "i".into(), "a".into(), 1000)
            .unwrap()
            .token;
        let again = cache
            .token(&signer, &alice(), "i".into(), "a".into(), 1150)
            .unwrap()
            .token;
        assert_eq!(first, again, "half the lifetime left: reuse");
        let renewed = cache
            .token(&signer, &alice(), "i".into(), "a".into(), 1151)
            .unwrap()
            .token;
        assert_ne!(first, renewed, "less than half left: sign again");
        assert_eq!(decode_claims(&renewed).iat, 1151);
        let other_audience = cache
            .token(&signer, &alice(), "i".into(), "b".into(), 1151)
            .unwrap()
            .token;
        assert_eq!(decode_claims(&other_audience).aud, Audience::from("b"));
        let mut bob = alice();
        bob.sub = "bob".into();
        let bobs = cache
            .token(&signer, &bob, "i".into(), "a".into(), 1151)
            .unwrap()
            .token;
        assert_eq!(decode_claims(&bobs).sub, "bob");
    }

    #[test]
    fn a_full_cache_keeps_serving_its_entries_and_purges_stale_ones() {
        let signer = signer();
        let mut cache = TokenCache::new(2, limits());
        let user = |n: u32| Identity {
            sub: format!("user{n}"),
            ..alice()
        };
        let mint = |cache: &mut TokenCache, n: u32, now: u64| {
            cache
                .token(&signer, &user(n), "i".into(), "a".into(), now)
                .unwrap()
                .token
        };
        let first = mint(&mut cache, 1, 1000);
        let second = mint(&mut cache, 2, 1000);
        // Full: a third user is signed for but not cached...
        let third = mint(&mut cache, 3, 1001);
        assert_ne!(mint(&mut cache, 3, 1001), third);
        assert_eq!(cache.len(), 2);
        // ...and the cached users keep their tokens: a cyclic workload larger
        // than the cache still hits for most of its users.
        assert_eq!(mint(&mut cache, 1, 1002), first);
        assert_eq!(mint(&mut cache, 2, 1002), second);
        // Once entries go stale they are purged and room is made.
        let later = mint(&mut cache, 3, 1151);
        assert_eq!(mint(&mut cache, 3, 1152), later);
        assert!(cache.len() <= 2);
    }

    #[test]
    fn cache_memory_is_bounded() {
        let signer = signer();
        let mut cache = TokenCache::new(4, limits());
        for n in 0..20 {
            let mut user = alice();
            user.sub = format!("user{n}");
            cache
                .token(&signer, &user, "i".into(), "a".into(), 1000)
                .unwrap();
            assert!(cache.len() <= 4);
        }
        let mut uncached = TokenCache::new(0, limits());
        uncached
            .token(&signer, &alice(), "i".into(), "a".into(), 1000)
            .unwrap();
        assert!(uncached.is_empty());
    }

    #[test]
    fn several_audiences_are_an_array_and_key_the_cache() {
        let signer = signer();
        let mut cache = TokenCache::new(16, limits());
        let both = Audience::Many(vec!["api".into(), "web".into()]);
        let token = cache
            .token(&signer, &alice(), "i".into(), both.clone(), 1000)
            .unwrap()
            .token;
        assert_eq!(decode_claims(&token).aud, both);
        let one = cache
            .token(&signer, &alice(), "i".into(), "api".into(), 1000)
            .unwrap()
            .token;
        assert_ne!(token, one);
    }

    #[test]
    fn groups_that_would_make_the_token_too_long_are_dropped_and_marked() {
        let signer = signer();
        let limits = TokenLimits {
            ttl_seconds: 300,
            max_token_bytes: 1500,
        };
        let mut cache = TokenCache::new(16, limits);
        let few = cache
            .token(&signer, &alice(), "i".into(), "a".into(), 1000)
            .unwrap();
        assert_eq!(few.dropped_groups, 0);
        let claims = decode_claims(&few.token);
        assert_eq!(claims.groups, vec!["admins"]);
        assert!(!claims.groups_truncated);
        let json: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                few.token.split('.').nth(1).unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert!(json.get("groups_truncated").is_none(), "absent unless set");

        let many = Identity {
            groups: (0..500).map(|n| format!("group-{n:04}")).collect(),
            ..alice()
        };
        let dropped = cache
            .token(&signer, &many, "i".into(), "a".into(), 1000)
            .unwrap();
        assert_eq!(dropped.dropped_groups, 500);
        assert!(dropped.token.len() <= 1500);
        let claims = decode_claims(&dropped.token);
        assert!(claims.groups.is_empty());
        assert!(claims.groups_truncated);
        assert_eq!(claims.sub, "alice");
        // The same answer from the cache.
        assert_eq!(
            cache
                .token(&signer, &many, "i".into(), "a".into(), 1001)
                .unwrap(),
            dropped
        );

        // Just under the limit: kept.
        let exact = TokenLimits {
            max_token_bytes: few.token.len(),
            ..limits
        };
        let kept = TokenCache::new(0, exact)
            .token(&signer, &alice(), "i".into(), "a".into(), 1000)
            .unwrap();
        assert!(!kept.groups_dropped());
        assert_eq!(kept.token.len(), few.token.len());
    }
}
