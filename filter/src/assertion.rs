//! The assertion minted for a user, and the cache that spares most
//! requests a signature.

use std::rc::Rc;

use signed_headers_keys::{
    AssertionClaims, Audience, Es256Signer, PrecomputedNonce, SigningFailed,
};

use crate::config::{Issuer, IssuerFormat};
use crate::fresh_map::FreshMap;
use crate::identity::{ExtraValue, Identity};

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
        claims_truncated: Vec::new(),
        extra: extra_claims(&identity.extra),
    }
}

/// The extra claims as JSON members, inserted one by one: collecting them
/// into the map would sort them first with the standard library's stable
/// sort, 10 KB of Wasm for this one call (`sort.rs`).
fn extra_claims(extra: &[(String, ExtraValue)]) -> serde_json::Map<String, serde_json::Value> {
    let mut members = serde_json::Map::new();
    for (name, value) in extra {
        members.insert(name.clone(), value.to_json());
    }
    members
}

/// A string claim the size limit may empty. `sub` and `user` name the user
/// and are never emptied: a token without them would be anonymous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionalClaim {
    Email,
    Name,
    Sid,
}

impl OptionalClaim {
    const ALL: [Self; 3] = [Self::Email, Self::Name, Self::Sid];

    pub fn name(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Name => "name",
            Self::Sid => "sid",
        }
    }

    fn value(self, claims: &AssertionClaims) -> &str {
        match self {
            Self::Email => &claims.email,
            Self::Name => &claims.name,
            Self::Sid => &claims.sid,
        }
    }

    fn clear(self, claims: &mut AssertionClaims) {
        match self {
            Self::Email => claims.email.clear(),
            Self::Name => claims.name.clear(),
            Self::Sid => claims.sid.clear(),
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::Email => 1,
            Self::Name => 2,
            Self::Sid => 4,
        }
    }
}

/// The optional claims a token was minted without: built-in ones by
/// [`OptionalClaim`], extra ones by their index in the identity's `extra`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DroppedClaims {
    builtin: u8,
    extra: u32,
}

impl DroppedClaims {
    pub fn contains(self, claim: OptionalClaim) -> bool {
        self.builtin & claim.bit() != 0
    }

    fn insert(&mut self, claim: OptionalClaim) {
        self.builtin |= claim.bit();
    }

    /// Whether the extra claim at `index` was left out.
    pub fn contains_extra(self, index: usize) -> bool {
        u32::try_from(index)
            .ok()
            .and_then(|index| 1u32.checked_shl(index))
            .is_some_and(|bit| self.extra & bit != 0)
    }

    fn insert_extra(&mut self, index: usize) {
        if let Some(bit) = u32::try_from(index)
            .ok()
            .and_then(|index| 1u32.checked_shl(index))
        {
            self.extra |= bit;
        }
    }

    pub fn is_empty(self) -> bool {
        self.builtin == 0 && self.extra == 0
    }

    #[cfg(test)]
    pub fn of(claims: &[OptionalClaim]) -> Self {
        let mut dropped = Self::default();
        for claim in claims {
            dropped.insert(*claim);
        }
        dropped
    }
}

/// Who signs a token: a scope's first private key.
#[derive(Debug, Clone, Copy)]
pub struct Signing<'a> {
    /// `""` for the unscoped keys.
    pub scope: &'a str,
    pub signer: &'a Es256Signer,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    /// The signing scope (`""`: unscoped): routes of different scopes sign
    /// with different keys, so never share a token.
    scope: Rc<str>,
    identity: Identity,
    iss: String,
    aud: Audience,
}

/// A minted assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    pub token: String,
    /// The kid of the key that signed it: a token is reused only while
    /// that key is published.
    pub kid: Rc<str>,
    /// How many groups were left out to keep the token within its size
    /// limit (0: none).
    pub dropped_groups: usize,
    /// The string claims emptied for the same reason.
    pub dropped_claims: DroppedClaims,
}

impl Minted {
    pub fn groups_dropped(&self) -> bool {
        self.dropped_groups > 0
    }
}

/// Tokens every worker VM can read: proxy-wasm shared data in the filter.
/// Envoy runs one VM per worker, each with its own [`TokenCache`]; without
/// this a user whose requests land on 8 workers costs 8 signatures.
pub trait SharedTokens {
    fn get(&self, slot: &str) -> Option<Vec<u8>>;
    fn put(&self, slot: &str, value: &[u8]);
    /// Nonces precomputed elsewhere (the main thread's producer, see
    /// `nonce_queue`), asked for when this worker is about to sign and has
    /// none of its own left.
    fn take_nonces(&self) -> Vec<PrecomputedNonce> {
        Vec::new()
    }
}

/// No sharing: each cache on its own.
#[cfg(any(test, feature = "fuzzing"))]
pub struct NotShared;

#[cfg(any(test, feature = "fuzzing"))]
impl SharedTokens for NotShared {
    fn get(&self, _slot: &str) -> Option<Vec<u8>> {
        None
    }

    fn put(&self, _slot: &str, _value: &[u8]) {}
}

/// Where a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// This worker's cache.
    Local,
    /// Another worker signed it (the shared slots).
    Shared,
    /// Signed for this request.
    Signed,
    /// Signed for this request with a nonce computed ahead of time.
    SignedPrecomputed,
}

/// What every token of one configuration shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLimits {
    pub ttl_seconds: u64,
    /// Longer tokens lose their groups (and get `groups_truncated`) or
    /// their optional claims (listed in `claims_truncated`), largest first;
    /// a token still longer is not minted ([`MintError::TooLarge`]).
    pub max_token_bytes: usize,
}

/// Recently minted tokens, so a user's burst of requests costs one signature.
///
/// A token is reused while at least half its lifetime remains, so the
/// upstream always gets one valid for `ttl / 2` seconds or more, and only
/// while the key that signed it is published: after a promote, tokens the
/// previous key signed keep being reused until their usual refresh point
/// (every verifier still accepts them, and `retire` waits for their
/// expiry), so a promote does not make every active user's next request
/// sign at once. Memory is bounded by `capacity` (see [`FreshMap`] for what
/// happens when full).
#[derive(Debug)]
pub struct TokenCache {
    entries: FreshMap<CacheKey, Minted>,
    limits: TokenLimits,
    /// The (scope, kid) a cached token may carry to be reused: the keys
    /// published in each scope.
    reusable_kids: Vec<(Rc<str>, Rc<str>)>,
    /// Slots in the store every worker shares; 0: none.
    shared_slots: usize,
    /// ECDSA nonces computed off the request path (see [`Self::refill_nonces`]).
    nonces: Vec<PrecomputedNonce>,
}

/// How many precomputed nonces a worker keeps at most: a burst of that many
/// new users signs without a base-point multiplication on the request path.
pub const NONCE_POOL: usize = 64;

/// A token for a request, where it came from, and until when it may be
/// reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub minted: Minted,
    pub source: TokenSource,
    pub reuse_until: u64,
}

/// Why no token could be minted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MintError {
    Random,
    /// Broken signing arithmetic (`Es256Signer`'s bound on nonce
    /// candidates): the request fails with 500, the worker keeps serving.
    Signing(SigningFailed),
    Serialize(String),
    /// `sub` and `user` alone make a token of `bytes`, over the limit.
    TooLarge {
        bytes: usize,
        limit: usize,
    },
}

impl std::fmt::Display for MintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MintError::Random => f.write_str("random source unavailable"),
            MintError::Signing(why) => write!(f, "could not sign: {why}"),
            MintError::Serialize(why) => write!(f, "could not serialize claims: {why}"),
            MintError::TooLarge { bytes, limit } => write!(
                f,
                "the user's sub and user claims make a {bytes}-byte token with every optional claim left out, over the {limit} bytes max_header_bytes leaves for it"
            ),
        }
    }
}

impl TokenCache {
    pub fn new(capacity: usize, limits: TokenLimits) -> Self {
        Self {
            entries: FreshMap::new(capacity),
            limits,
            reusable_kids: Vec::new(),
            shared_slots: 0,
            nonces: Vec::new(),
        }
    }

    /// Reuses tokens signed by any of `published`, (scope, kid) pairs (the
    /// keys each scope's JWKS holds), for requests of the same scope, and
    /// takes over only those. Without it, only the signer's own tokens are
    /// reused.
    pub fn with_reusable_keys<'k>(
        mut self,
        published: impl IntoIterator<Item = (&'k str, &'k str)>,
    ) -> Self {
        self.reusable_kids = published
            .into_iter()
            .map(|(scope, kid)| (Rc::from(scope), Rc::from(kid)))
            .collect();
        self
    }

    /// [`Self::with_reusable_keys`] for unscoped keys.
    #[cfg(test)]
    pub fn with_reusable_kids<'k>(
        self,
        signing_kid: &'k str,
        published: impl IntoIterator<Item = &'k str>,
    ) -> Self {
        let kids: Vec<&str> = std::iter::once(signing_kid)
            .chain(published.into_iter().filter(|kid| *kid != signing_kid))
            .collect();
        self.with_reusable_keys(kids.into_iter().map(|kid| ("", kid)))
    }

    fn reusable(&self, minted: &Minted, signer: &Es256Signer, scope: &str) -> bool {
        *minted.kid == *signer.kid() || self.published_kid(scope, &minted.kid).is_some()
    }

    /// The shared copy of `kid` if it is published in `scope`.
    fn published_kid(&self, scope: &str, kid: &str) -> Option<&Rc<str>> {
        self.reusable_kids
            .iter()
            .find(|(in_scope, published)| **in_scope == *scope && **published == *kid)
            .map(|(_, kid)| kid)
    }

    /// Takes over what `previous` (this VM's cache under the configuration
    /// before) holds that this one would have made itself: its fresh tokens,
    /// if both configurations shape tokens alike (the same limits; the
    /// identity, issuer and audience are the entries' keys), and its
    /// precomputed nonces, which depend on no key. Tokens whose key is no
    /// longer published are not reused anyway.
    /// Returns how many tokens it holds then.
    pub fn take_over(&mut self, previous: &mut TokenCache, now: u64) -> usize {
        if previous.limits == self.limits {
            for (key, mut minted, reuse_until) in previous.entries.drain_fresh(now) {
                let Some(kid) = self.published_kid(&key.scope, &minted.kid) else {
                    continue;
                };
                minted.kid = Rc::clone(kid);
                self.entries.insert(key, minted, reuse_until, now);
            }
        }
        let room = NONCE_POOL.saturating_sub(self.nonces.len());
        let from = previous.nonces.len().saturating_sub(room);
        self.nonces.extend(previous.nonces.drain(from..));
        self.entries.len()
    }

    /// Also looks tokens up in, and publishes them to, `slots` slots shared
    /// by every worker (see [`SharedTokens`]).
    pub fn with_shared_slots(mut self, slots: usize) -> Self {
        self.shared_slots = slots;
        self
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// Computes up to `at_most` nonces for later signatures, keeping at most
    /// [`NONCE_POOL`]: call it where the worker would otherwise be idle (a
    /// timer tick). Returns how many were added. This moves the base-point
    /// multiplication off a request's latency, not off the worker: a
    /// saturated worker signs as fast as before.
    pub fn refill_nonces(&mut self, at_most: usize) -> usize {
        let wanted = NONCE_POOL.saturating_sub(self.nonces.len()).min(at_most);
        let before = self.nonces.len();
        self.nonces
            .extend(std::iter::from_fn(PrecomputedNonce::generate).take(wanted));
        self.nonces.len() - before
    }

    /// Whether this worker's pool holds [`NONCE_POOL`] nonces: a tick has
    /// nothing to add.
    pub fn nonces_full(&self) -> bool {
        self.nonces.len() >= NONCE_POOL
    }

    /// Whether this worker is short of nonces (fewer than half its pool).
    pub fn wants_nonces(&self) -> bool {
        self.nonces.len() < NONCE_POOL / 2
    }

    /// Keeps `nonces` (computed elsewhere) for the next signatures.
    pub fn add_nonces(&mut self, nonces: Vec<PrecomputedNonce>) {
        self.nonces.extend(nonces);
    }

    /// A token for `identity` at `now`: a cached one still fresh, else a new
    /// signature (this worker's cache only).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn token(
        &mut self,
        signer: &Es256Signer,
        identity: &Identity,
        iss: String,
        aud: Audience,
        now: u64,
    ) -> Result<Minted, MintError> {
        self.token_shared(signer, identity, iss, aud, now, &NotShared)
            .map(|token| token.minted)
    }

    /// [`Self::token_in_scope`] for the unscoped keys.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn token_shared(
        &mut self,
        signer: &Es256Signer,
        identity: &Identity,
        iss: String,
        aud: Audience,
        now: u64,
        shared: &dyn SharedTokens,
    ) -> Result<Token, MintError> {
        self.token_in_scope(
            &Signing { scope: "", signer },
            identity,
            iss,
            aud,
            now,
            shared,
        )
    }

    /// A token for `identity` at `now`, signed in `signing`'s scope: from
    /// this worker's cache, else from the shared slots, else a new
    /// signature (then published to both).
    pub fn token_in_scope(
        &mut self,
        signing: &Signing<'_>,
        identity: &Identity,
        iss: String,
        aud: Audience,
        now: u64,
        shared: &dyn SharedTokens,
    ) -> Result<Token, MintError> {
        let Signing { scope, signer } = *signing;
        let key = CacheKey {
            scope: Rc::from(scope),
            identity: identity.clone(),
            iss,
            aud,
        };
        if let Some((minted, reuse_until)) = self.entries.get(&key, now)
            && self.reusable(minted, signer, scope)
        {
            return Ok(Token {
                minted: minted.clone(),
                source: TokenSource::Local,
                reuse_until,
            });
        }
        let shared_key = (self.shared_slots > 0).then(|| shared_key_bytes(&key, &self.limits));
        // Two candidate slots per key (2-way associative): two identities
        // sharing one slot do not keep evicting each other.
        let mut publish_to: Option<(u64, String)> = None;
        if let Some(key_bytes) = &shared_key {
            for slot in shared_slots(key_bytes, self.shared_slots) {
                let value = shared.get(&slot);
                if let Some((reuse_until, minted)) = value
                    .as_deref()
                    .and_then(|value| decode_shared(value, key_bytes))
                    && now <= reuse_until
                    && self.reusable(&minted, signer, scope)
                {
                    self.entries.insert(key, minted.clone(), reuse_until, now);
                    return Ok(Token {
                        minted,
                        source: TokenSource::Shared,
                        reuse_until,
                    });
                }
                // Publish where the entry is missing, or goes stale first.
                let rank = value.as_deref().and_then(shared_reuse_until).unwrap_or(0);
                if publish_to.as_ref().is_none_or(|(best, _)| rank < *best) {
                    publish_to = Some((rank, slot));
                }
            }
        }
        if self.nonces.is_empty() {
            self.nonces = shared.take_nonces();
        }
        let precomputed = !self.nonces.is_empty();
        let minted = self.mint(signer, &key, now)?;
        let reuse_until = now.saturating_add(self.limits.ttl_seconds / 2);
        if let (Some(key_bytes), Some((_, slot))) = (&shared_key, &publish_to) {
            shared.put(slot, &encode_shared(reuse_until, &minted, key_bytes));
        }
        self.entries.insert(key, minted.clone(), reuse_until, now);
        Ok(Token {
            minted,
            source: if precomputed {
                TokenSource::SignedPrecomputed
            } else {
                TokenSource::Signed
            },
            reuse_until,
        })
    }

    /// Signs a new token; while it would be too long, leaves out the
    /// largest of its groups (all of them, marked `groups_truncated`) and
    /// its optional claims (each named in `claims_truncated`), rather than
    /// sign one servers would refuse. `sub` and `user` are never left out:
    /// a token too long with them alone is refused.
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
        let limit = self.limits.max_token_bytes;
        let fits = |payload: &[u8]| signer.token_len(payload.len()) <= limit;
        let mut payload = serialize(&claims)?;
        let mut dropped_groups = 0;
        let mut dropped_claims = DroppedClaims::default();
        while !fits(&payload) {
            // The groups as one part (a partial list could read as "not a
            // member"), against each optional claim and each extra claim:
            // the largest goes.
            let groups_size: usize = claims.groups.iter().map(|group| group.len() + 3).sum();
            let largest_claim = OptionalClaim::ALL
                .into_iter()
                .filter(|claim| !claim.value(&claims).is_empty())
                .max_by_key(|claim| claim.value(&claims).len());
            let claim_size = largest_claim.map_or(0, |claim| claim.value(&claims).len());
            let largest_extra = key
                .identity
                .extra
                .iter()
                .enumerate()
                .filter(|(index, _)| !dropped_claims.contains_extra(*index))
                .map(|(index, (name, value))| {
                    (index, name, name.len() + value.to_json().to_string().len())
                })
                .max_by_key(|(_, _, size)| *size);
            match (largest_claim, largest_extra) {
                (_, Some((index, name, size))) if size > claim_size && size > groups_size => {
                    claims.extra.remove(name);
                    dropped_claims.insert_extra(index);
                    claims.claims_truncated.push(name.clone());
                }
                (Some(claim), _) if claim_size > groups_size => {
                    claim.clear(&mut claims);
                    dropped_claims.insert(claim);
                    claims.claims_truncated.push(claim.name().to_owned());
                }
                _ if !claims.groups.is_empty() => {
                    dropped_groups = claims.groups.len();
                    claims.groups.clear();
                    claims.groups_truncated = true;
                }
                _ => {
                    return Err(MintError::TooLarge {
                        bytes: signer.token_len(payload.len()),
                        limit,
                    });
                }
            }
            payload = serialize(&claims)?;
        }
        let kid = self
            .reusable_kids
            .iter()
            .map(|(_, kid)| kid)
            .find(|kid| ***kid == *signer.kid())
            .cloned()
            .unwrap_or_else(|| Rc::from(signer.kid()));
        let token = match self.nonces.pop() {
            Some(nonce) => signer.sign_with(&payload, nonce),
            None => signer.sign_hedged(&payload),
        };
        Ok(Minted {
            token: token.map_err(MintError::Signing)?,
            kid,
            dropped_groups,
            dropped_claims,
        })
    }
}

/// Everything a token depends on besides its key, `jti` and times,
/// unambiguously (length-prefixed): a shared slot is used only when these
/// bytes match exactly, so two identities hashing to one slot never see
/// each other's token, and a token minted under other limits is never
/// reused. The signing key is checked apart (the slot holds its kid): a
/// token of a key still published is reused across a promote.
fn shared_key_bytes(key: &CacheKey, limits: &TokenLimits) -> Vec<u8> {
    let identity = &key.identity;
    let mut out = Vec::with_capacity(256);
    crate::push_field(&mut out, key.scope.as_bytes());
    for text in [
        &key.iss,
        &identity.sub,
        &identity.user,
        &identity.email,
        &identity.name,
        &identity.sid,
    ] {
        crate::push_field(&mut out, text.as_bytes());
    }
    let audiences: &[String] = match &key.aud {
        Audience::One(one) => std::slice::from_ref(one),
        Audience::Many(many) => many,
    };
    out.push(u8::from(matches!(key.aud, Audience::Many(_))));
    for list in [audiences, identity.groups.as_slice()] {
        out.extend_from_slice(&(list.len() as u64).to_be_bytes());
        for item in list {
            crate::push_field(&mut out, item.as_bytes());
        }
    }
    out.push(u8::from(identity.groups_truncated));
    out.extend_from_slice(&(identity.extra.len() as u64).to_be_bytes());
    for (name, value) in &identity.extra {
        crate::push_field(&mut out, name.as_bytes());
        crate::push_field(&mut out, value.to_json().to_string().as_bytes());
    }
    out.extend_from_slice(&limits.ttl_seconds.to_be_bytes());
    out.extend_from_slice(&(limits.max_token_bytes as u64).to_be_bytes());
    out
}

/// The shared-data keys of the two slots these key bytes may use.
fn shared_slots(key_bytes: &[u8], slots: usize) -> [String; 2] {
    // FNV-1a alone spreads near-identical keys (user-01, user-02) poorly
    // over the low bits; the SplitMix64 finalizer mixes them.
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let first = mix(crate::fnv1a(key_bytes));
    let second = mix(first ^ 0x9e37_79b9_7f4a_7c15);
    let slots = slots.max(1) as u64;
    [first, second].map(|hash| format!("signed-headers.token.v4.{}", hash % slots))
}

/// Until when a slot's entry may be reused (whoever's it is).
fn shared_reuse_until(value: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = value.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// `reuse_until` (8 bytes), dropped groups (8), dropped built-in claims (1),
/// dropped extra claims (4), key length (8), key, kid length (8), kid,
/// token.
fn encode_shared(reuse_until: u64, minted: &Minted, key_bytes: &[u8]) -> Vec<u8> {
    let mut value =
        Vec::with_capacity(37 + key_bytes.len() + minted.kid.len() + minted.token.len());
    value.extend_from_slice(&reuse_until.to_be_bytes());
    value.extend_from_slice(&(minted.dropped_groups as u64).to_be_bytes());
    value.push(minted.dropped_claims.builtin);
    value.extend_from_slice(&minted.dropped_claims.extra.to_be_bytes());
    crate::push_field(&mut value, key_bytes);
    crate::push_field(&mut value, minted.kid.as_bytes());
    value.extend_from_slice(minted.token.as_bytes());
    value
}

/// The slot's token, if it is for exactly these key bytes.
fn decode_shared(value: &[u8], key_bytes: &[u8]) -> Option<(u64, Minted)> {
    let number = |at: usize| -> Option<u64> {
        let bytes: [u8; 8] = value.get(at..at + 8)?.try_into().ok()?;
        Some(u64::from_be_bytes(bytes))
    };
    let reuse_until = number(0)?;
    let dropped_groups = usize::try_from(number(8)?).ok()?;
    let extra: [u8; 4] = value.get(17..21)?.try_into().ok()?;
    let dropped_claims = DroppedClaims {
        builtin: *value.get(16)?,
        extra: u32::from_be_bytes(extra),
    };
    let key_len = usize::try_from(number(21)?).ok()?;
    let key_end = 29usize.checked_add(key_len)?;
    if value.get(29..key_end)? != key_bytes {
        return None;
    }
    let kid_len = usize::try_from(number(key_end)?).ok()?;
    let kid_start = key_end.checked_add(8)?;
    let kid_end = kid_start.checked_add(kid_len)?;
    let kid = std::str::from_utf8(value.get(kid_start..kid_end)?).ok()?;
    let token = std::str::from_utf8(value.get(kid_end..)?).ok()?;
    Some((
        reuse_until,
        Minted {
            token: token.to_owned(),
            kid: Rc::from(kid),
            dropped_groups,
            dropped_claims,
        },
    ))
}

#[cfg(test)]
pub mod tests {
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
            extra: Vec::new(),
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

    #[test]
    fn large_optional_claims_are_dropped_largest_first_and_named() {
        let signer = signer();
        let limits = TokenLimits {
            ttl_seconds: 300,
            max_token_bytes: 2000,
        };
        let shared = MemoryShared::default();
        let mut cache = TokenCache::new(16, limits).with_shared_slots(8);
        let huge = Identity {
            email: "e".repeat(10_000),
            name: "n".repeat(5_000),
            sid: "s-1".into(),
            groups: (0..500).map(|n| format!("group-{n:04}")).collect(),
            ..alice()
        };
        let token = cache
            .token_shared(&signer, &huge, "i".into(), "a".into(), 1000, &shared)
            .unwrap();
        let minted = &token.minted;
        assert!(minted.token.len() <= 2000);
        assert_eq!(minted.dropped_groups, 500);
        assert_eq!(
            minted.dropped_claims,
            DroppedClaims::of(&[OptionalClaim::Email, OptionalClaim::Name])
        );
        let claims = decode_claims(&minted.token);
        assert_eq!(claims.claims_truncated, ["email", "name"]);
        assert!(claims.groups_truncated);
        assert_eq!((claims.email.as_str(), claims.name.as_str()), ("", ""));
        assert_eq!((claims.sub.as_str(), claims.sid.as_str()), ("alice", "s-1"));
        // Only what must go: a large email alone leaves the name and groups.
        let large_email = Identity {
            email: "e".repeat(3_000),
            ..alice()
        };
        let claims = decode_claims(
            &cache
                .token(&signer, &large_email, "i".into(), "a".into(), 1000)
                .unwrap()
                .token,
        );
        assert_eq!(claims.claims_truncated, ["email"]);
        assert_eq!((claims.name.as_str(), claims.groups.len()), ("Alice", 1));
        assert!(!claims.groups_truncated);
        // Another worker gets the same token, with what it left out.
        let other = TokenCache::new(16, limits)
            .with_shared_slots(8)
            .token_shared(&signer, &huge, "i".into(), "a".into(), 1001, &shared)
            .unwrap();
        assert_eq!(other.source, TokenSource::Shared);
        assert_eq!(&other.minted, minted);
    }

    #[test]
    fn extra_claims_are_signed_with_their_types_and_dropped_largest_first_for_size() {
        use crate::identity::ExtraValue;
        let signer = signer();
        let mut identity = alice();
        identity.extra = vec![
            ("level".into(), ExtraValue::Number(3.into())),
            ("admin".into(), ExtraValue::Bool(true)),
            (
                "teams".into(),
                ExtraValue::List(vec!["a".into(), "b".into()]),
            ),
            ("bio".into(), ExtraValue::Text("x".repeat(600))),
        ];
        let minted = TokenCache::new(16, limits())
            .token(&signer, &identity, "i".into(), "a".into(), 1000)
            .unwrap();
        let claims = decode_claims(&minted.token);
        assert_eq!(claims.extra["level"], serde_json::json!(3));
        assert_eq!(claims.extra["admin"], serde_json::json!(true));
        assert_eq!(claims.extra["teams"], serde_json::json!(["a", "b"]));
        assert_eq!(claims.extra["bio"].as_str().map(str::len), Some(600));
        assert!(claims.claims_truncated.is_empty());

        // Too long with the bio: it goes (the largest), and the token says
        // so; the small extras stay.
        let tight = TokenLimits {
            max_token_bytes: minted.token.len() - 100,
            ..limits()
        };
        let minted = TokenCache::new(16, tight)
            .token(&signer, &identity, "i".into(), "a".into(), 1000)
            .unwrap();
        let claims = decode_claims(&minted.token);
        assert_eq!(claims.claims_truncated, ["bio"]);
        assert!(!claims.extra.contains_key("bio"));
        assert_eq!(claims.extra["level"], serde_json::json!(3));
        assert!(minted.dropped_claims.contains_extra(3));
        assert!(!minted.dropped_claims.contains_extra(0));
        assert!(minted.token.len() <= tight.max_token_bytes);
    }

    #[test]
    fn extra_claims_key_the_caches() {
        use crate::identity::ExtraValue;
        let shared = MemoryShared::default();
        let signer = signer();
        let with_tenant = |tenant: &str| Identity {
            extra: vec![("tenant".into(), ExtraValue::Text(tenant.into()))],
            ..alice()
        };
        let mut worker_1 = TokenCache::new(16, limits()).with_shared_slots(1);
        let mut worker_2 = TokenCache::new(16, limits()).with_shared_slots(1);
        let get = |cache: &mut TokenCache, identity: &Identity| {
            cache
                .token_shared(&signer, identity, "i".into(), "a".into(), 1000, &shared)
                .unwrap()
        };
        let first = get(&mut worker_1, &with_tenant("t-1"));
        let other = get(&mut worker_1, &with_tenant("t-2"));
        assert_eq!(
            other.source,
            TokenSource::Signed,
            "another tenant, another token"
        );
        assert_ne!(first.minted.token, other.minted.token);
        // One shared slot, now holding t-2's token: worker 2 never gets it
        // for t-1.
        let for_t1 = get(&mut worker_2, &with_tenant("t-1"));
        assert_eq!(decode_claims(&for_t1.minted.token).extra["tenant"], "t-1");
        let for_t1_again = get(&mut worker_1, &with_tenant("t-1"));
        assert_eq!(for_t1_again.source, TokenSource::Local);
    }

    #[test]
    fn a_subject_too_large_for_the_limit_mints_nothing() {
        let signer = signer();
        let limits = TokenLimits {
            ttl_seconds: 300,
            max_token_bytes: 2000,
        };
        for huge in [
            Identity {
                sub: "s".repeat(3_000),
                ..alice()
            },
            Identity {
                user: "u".repeat(3_000),
                ..alice()
            },
        ] {
            let error = TokenCache::new(16, limits)
                .token(&signer, &huge, "i".into(), "a".into(), 1000)
                .unwrap_err();
            assert!(
                matches!(error, MintError::TooLarge { bytes, limit: 2000 } if bytes > 2000),
                "{error}"
            );
        }
    }

    /// Shared data as Envoy keeps it: one map for every worker VM.
    #[derive(Default)]
    pub struct MemoryShared(std::cell::RefCell<std::collections::HashMap<String, Vec<u8>>>);

    impl SharedTokens for MemoryShared {
        fn get(&self, slot: &str) -> Option<Vec<u8>> {
            self.0.borrow().get(slot).cloned()
        }

        fn put(&self, slot: &str, value: &[u8]) {
            self.0.borrow_mut().insert(slot.to_owned(), value.to_vec());
        }
    }

    #[test]
    fn workers_share_one_signature_per_identity() {
        let shared = MemoryShared::default();
        let signer = signer();
        let mut worker_1 = TokenCache::new(16, limits()).with_shared_slots(64);
        let mut worker_2 = TokenCache::new(16, limits()).with_shared_slots(64);
        let get = |cache: &mut TokenCache, identity: &Identity, now| {
            let token = cache
                .token_shared(&signer, identity, "i".into(), "a".into(), now, &shared)
                .unwrap();
            (token.minted, token.source)
        };
        let (first, source) = get(&mut worker_1, &alice(), 1000);
        assert_eq!(source, TokenSource::Signed);
        let (seen, source) = get(&mut worker_2, &alice(), 1010);
        assert_eq!(
            (seen.token.as_str(), source),
            (first.token.as_str(), TokenSource::Shared)
        );
        let (_, source) = get(&mut worker_2, &alice(), 1020);
        assert_eq!(source, TokenSource::Local);
        // Half the lifetime after signing, neither reuses it.
        let (fresh, source) = get(&mut worker_2, &alice(), 1151);
        assert_eq!(source, TokenSource::Signed);
        assert_ne!(fresh.token, first.token);
        let (seen, source) = get(&mut worker_1, &alice(), 1152);
        assert_eq!((seen.token, source), (fresh.token, TokenSource::Shared));
    }

    fn kid_of(token: &str) -> String {
        use base64::Engine as _;
        let header = token.split('.').next().unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap();
        let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
        header["kid"].as_str().unwrap().to_owned()
    }

    #[test]
    fn scopes_never_share_a_token_and_take_over_only_their_own_keys() {
        let shared = MemoryShared::default();
        let (a, b) = (signer(), signer());
        let published = [("tenant-a", a.kid()), ("tenant-b", b.kid())];
        let cache = || {
            TokenCache::new(16, limits())
                .with_shared_slots(64)
                .with_reusable_keys(published)
        };
        let get = |cache: &mut TokenCache, scope: &str, signer: &Es256Signer, now| {
            let token = cache
                .token_in_scope(
                    &Signing { scope, signer },
                    &alice(),
                    "i".into(),
                    "a".into(),
                    now,
                    &shared,
                )
                .unwrap();
            (kid_of(&token.minted.token), token.source)
        };
        let mut worker_1 = cache();
        // The same user, issuer and audience on two scopes: two tokens,
        // each signed by its scope's key, each reused in its own scope.
        assert_eq!(
            get(&mut worker_1, "tenant-a", &a, 1000),
            (a.kid().to_owned(), TokenSource::Signed)
        );
        assert_eq!(
            get(&mut worker_1, "tenant-b", &b, 1000),
            (b.kid().to_owned(), TokenSource::Signed)
        );
        assert_eq!(
            get(&mut worker_1, "tenant-a", &a, 1001),
            (a.kid().to_owned(), TokenSource::Local)
        );
        // Another worker finds each in the shared slots, by scope.
        let mut worker_2 = cache();
        assert_eq!(
            get(&mut worker_2, "tenant-b", &b, 1002),
            (b.kid().to_owned(), TokenSource::Shared)
        );
        // A configuration that publishes tenant-b's key in tenant-a (a
        // key moved between scopes) does not hand tenant-b's token to
        // tenant-a: the scope is part of the key.
        let mut moved = TokenCache::new(16, limits())
            .with_reusable_keys([("tenant-a", a.kid()), ("tenant-a", b.kid())]);
        moved.take_over(&mut worker_1, 1003);
        assert_eq!(
            get(&mut moved, "tenant-a", &a, 1003),
            (a.kid().to_owned(), TokenSource::Local)
        );
        assert_eq!(
            get(&mut moved, "tenant-b", &b, 1003),
            (b.kid().to_owned(), TokenSource::Signed),
            "tenant-b's key is no longer published in tenant-b"
        );
    }

    #[test]
    fn a_promote_keeps_reusing_tokens_of_published_keys_until_their_refresh_point() {
        let shared = MemoryShared::default();
        let (old, new) = (signer(), signer());
        let get = |cache: &mut TokenCache, signer: &Es256Signer, identity: &Identity, now| {
            let token = cache
                .token_shared(signer, identity, "i".into(), "a".into(), now, &shared)
                .unwrap();
            (token.minted.token, token.source)
        };
        let bob = Identity {
            sub: "bob".into(),
            ..alice()
        };
        // Before: the old key signs (the new one published, after `add`).
        let before = || {
            TokenCache::new(16, limits())
                .with_shared_slots(64)
                .with_reusable_kids(old.kid(), [old.kid(), new.kid()])
        };
        let mut worker_1 = before();
        let (alice_token, _) = get(&mut worker_1, &old, &alice(), 1000);
        assert_eq!(kid_of(&alice_token), old.kid());

        // Promote: a new configuration, whose cache takes over worker 1's.
        let promoted = || {
            TokenCache::new(16, limits())
                .with_shared_slots(64)
                .with_reusable_kids(new.kid(), [new.kid(), old.kid()])
        };
        let mut after_1 = promoted();
        assert_eq!(after_1.take_over(&mut worker_1, 1010), 1);
        assert_eq!(
            get(&mut after_1, &new, &alice(), 1010),
            (alice_token.clone(), TokenSource::Local)
        );
        // Worker 2 never saw alice: it finds her token in the shared slots.
        let mut after_2 = promoted();
        assert_eq!(
            get(&mut after_2, &new, &alice(), 1020),
            (alice_token.clone(), TokenSource::Shared)
        );
        // What is minted after the promote uses the new key.
        let (bob_token, source) = get(&mut after_2, &new, &bob, 1020);
        assert_eq!(
            (kid_of(&bob_token).as_str(), source),
            (new.kid(), TokenSource::Signed)
        );
        // Past the old token's refresh point (ttl / 2 after it was signed):
        // a new token, by the new key, never the old one.
        let (refreshed, source) = get(&mut after_1, &new, &alice(), 1151);
        assert_eq!(source, TokenSource::Signed);
        assert_eq!(kid_of(&refreshed), new.kid());

        // Retire: the old key is no longer published. Its tokens are
        // neither taken over nor reused from the shared slots.
        let mut worker_3 = before();
        get(&mut worker_3, &old, &bob, 1200);
        let retired = || {
            TokenCache::new(16, limits())
                .with_shared_slots(64)
                .with_reusable_kids(new.kid(), [new.kid()])
        };
        let mut after_retire = retired();
        assert_eq!(after_retire.take_over(&mut worker_3, 1201), 0);
        let (for_bob, source) = get(&mut after_retire, &new, &bob, 1201);
        assert_eq!(
            (kid_of(&for_bob).as_str(), source),
            (new.kid(), TokenSource::Signed)
        );
    }

    #[test]
    fn a_new_configuration_takes_over_tokens_only_under_the_same_limits_and_nonces_always() {
        let signer = signer();
        let cache = |limits: TokenLimits| {
            TokenCache::new(16, limits).with_reusable_kids(signer.kid(), [signer.kid()])
        };
        let mut previous = cache(limits());
        previous.refill_nonces(NONCE_POOL);
        previous
            .token(&signer, &alice(), "i".into(), "a".into(), 1000)
            .unwrap();
        let shorter = TokenLimits {
            ttl_seconds: 60,
            ..limits()
        };
        let mut next = cache(shorter);
        assert_eq!(next.take_over(&mut previous, 1001), 0, "another ttl");
        assert_eq!(next.nonces.len(), NONCE_POOL - 1, "the nonces move");
        assert!(previous.nonces.is_empty());

        let mut previous = cache(limits());
        previous
            .token(&signer, &alice(), "i".into(), "a".into(), 1000)
            .unwrap();
        let mut next = cache(limits());
        assert_eq!(
            next.take_over(&mut previous, 1151),
            0,
            "a stale token stays behind"
        );
    }

    #[test]
    fn a_shared_slot_serves_only_its_exact_identity_key_and_limits() {
        let shared = MemoryShared::default();
        let signer = signer();
        let bob = Identity {
            sub: "bob".into(),
            ..alice()
        };
        // One slot: every identity collides.
        let mut worker_1 = TokenCache::new(16, limits()).with_shared_slots(1);
        let mut worker_2 = TokenCache::new(16, limits()).with_shared_slots(1);
        let get = |cache: &mut TokenCache, signer: &Es256Signer, identity: &Identity| {
            let token = cache
                .token_shared(signer, identity, "i".into(), "a".into(), 1000, &shared)
                .unwrap();
            (token.minted, token.source)
        };
        get(&mut worker_1, &signer, &alice());
        let (for_bob, source) = get(&mut worker_2, &signer, &bob);
        assert_eq!(source, TokenSource::Signed);
        assert_eq!(decode_claims(&for_bob.token).sub, "bob");
        // The slot now holds bob's token: alice on worker 2 gets her own.
        let (for_alice, source) = get(&mut worker_2, &signer, &alice());
        assert_eq!(source, TokenSource::Signed);
        assert_eq!(decode_claims(&for_alice.token).sub, "alice");
        // Another signing key whose cache does not publish the old one (a
        // retired key, another configuration's): never a token of it.
        let promoted = super::tests::signer();
        let mut worker_3 = TokenCache::new(16, limits()).with_shared_slots(1);
        let (token, source) = get(&mut worker_3, &promoted, &alice());
        assert_eq!(source, TokenSource::Signed);
        use base64::Engine as _;
        let header = token.token.split('.').next().unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap();
        let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
        assert_eq!(header["kid"], promoted.kid());
        // Other limits: not reused either.
        let mut longer = TokenCache::new(
            16,
            TokenLimits {
                ttl_seconds: 600,
                ..limits()
            },
        )
        .with_shared_slots(1);
        let (_, source) = get(&mut longer, &promoted, &alice());
        assert_eq!(source, TokenSource::Signed);
    }

    #[test]
    fn a_corrupt_shared_slot_is_a_miss() {
        let shared = MemoryShared::default();
        let signer = signer();
        let mut cache = TokenCache::new(16, limits()).with_shared_slots(1);
        let [slot, _] = shared_slots(b"", 1);
        for junk in [&b""[..], b"\x00\x01", &[0xff; 40], &[0; 24]] {
            shared.put(&slot, junk);
            let token = TokenCache::new(16, limits())
                .with_shared_slots(1)
                .token_shared(&signer, &alice(), "i".into(), "a".into(), 1000, &shared)
                .unwrap();
            assert_eq!(token.source, TokenSource::Signed);
        }
        let token = cache
            .token_shared(&signer, &alice(), "i".into(), "a".into(), 1000, &shared)
            .unwrap();
        assert_eq!(token.source, TokenSource::Shared);
    }

    /// The token's ES256 signature verifies under `verifying` (p256's own
    /// verifier: the signing side builds signatures by hand).
    fn assert_signed_by(verifying: &p256::ecdsa::VerifyingKey, token: &str) {
        use p256::ecdsa::Signature;
        use p256::ecdsa::signature::Verifier as _;

        let (input, signature) = token.rsplit_once('.').unwrap();
        let signature =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
                .unwrap();
        verifying
            .verify(
                input.as_bytes(),
                &Signature::from_slice(&signature).unwrap(),
            )
            .unwrap();
    }

    #[test]
    fn precomputed_nonces_sign_valid_tokens_and_are_used_once() {
        use p256::ecdsa::VerifyingKey;

        let key = BundleKey::generate(KeyFormat::Sec1).unwrap();
        let signer = key.signer().unwrap();
        let verifying = VerifyingKey::from(*key.public_key().unwrap());
        let mut cache = TokenCache::new(0, limits());
        assert_eq!(cache.refill_nonces(3), 3);
        assert_eq!(
            cache.refill_nonces(NONCE_POOL * 2),
            NONCE_POOL - 3,
            "bounded"
        );
        let mut cache = TokenCache::new(0, limits());
        cache.refill_nonces(2);
        let mut sources = Vec::new();
        let mut tokens = std::collections::HashSet::new();
        for _ in 0..3 {
            let token = cache
                .token_shared(&signer, &alice(), "i".into(), "a".into(), 1000, &NotShared)
                .unwrap();
            sources.push(token.source);
            assert_signed_by(&verifying, &token.minted.token);
            assert!(tokens.insert(token.minted.token));
        }
        assert_eq!(
            sources,
            [
                TokenSource::SignedPrecomputed,
                TokenSource::SignedPrecomputed,
                TokenSource::Signed
            ]
        );
    }

    /// A queue of nonces another thread computed: taken a batch at a time,
    /// only when the worker's own pool is empty.
    struct QueuedNonces(std::cell::RefCell<Vec<Vec<u8>>>);

    impl SharedTokens for QueuedNonces {
        fn get(&self, _slot: &str) -> Option<Vec<u8>> {
            None
        }

        fn put(&self, _slot: &str, _value: &[u8]) {}

        fn take_nonces(&self) -> Vec<PrecomputedNonce> {
            self.0
                .borrow_mut()
                .pop()
                .map(|entry| crate::nonce_queue::decode_batch(&entry))
                .unwrap_or_default()
        }
    }

    #[test]
    fn nonces_from_the_queue_are_taken_when_the_pool_is_empty() {
        use p256::ecdsa::VerifyingKey;

        let key = BundleKey::generate(KeyFormat::Sec1).unwrap();
        let signer = key.signer().unwrap();
        let verifying = VerifyingKey::from(*key.public_key().unwrap());
        let batch: Vec<_> = (0..2)
            .map(|_| PrecomputedNonce::generate().unwrap())
            .collect();
        let queue = QueuedNonces(std::cell::RefCell::new(vec![
            crate::nonce_queue::encode_batch(&batch).to_vec(),
        ]));
        let mut cache = TokenCache::new(0, limits());
        cache.refill_nonces(1);
        let mut sources = Vec::new();
        for _ in 0..4 {
            let token = cache
                .token_shared(&signer, &alice(), "i".into(), "a".into(), 1000, &queue)
                .unwrap();
            sources.push(token.source);
            assert_signed_by(&verifying, &token.minted.token);
        }
        // The worker's own nonce, the queue's two, then RFC 6979.
        assert_eq!(
            sources,
            [
                TokenSource::SignedPrecomputed,
                TokenSource::SignedPrecomputed,
                TokenSource::SignedPrecomputed,
                TokenSource::Signed
            ]
        );
        assert!(queue.0.borrow().is_empty());
    }
}
