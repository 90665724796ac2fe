use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{SystemTime, UNIX_EPOCH};

use signed_headers_keys::Bundle;

use crate::cache::{CacheEvent, CacheOptions, CacheStats, FetchResponse, JwksCache, Plan};
use crate::claims::Claims;
use crate::error::VerifyError;
use crate::keyset::{JwksError, KeySet};
use crate::memo::{DEFAULT_MEMO_BYTES, VerifiedTokens};
use crate::policy::Policy;
use crate::token::{split, verify_parts};

/// Gets the JWKS document: one HTTP GET, conditional when `if_none_match`
/// is given. Errors are messages (the cache only reports them).
pub trait Fetch: Send + Sync {
    fn fetch(&self, if_none_match: Option<&str>) -> Result<FetchResponse, String>;
}

/// Whether a verification may fetch the JWKS (blocking).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetching {
    Allowed,
    Refused,
}

type EventHook = Box<dyn Fn(&CacheEvent) + Send + Sync>;
type Clock = Box<dyn Fn() -> u64 + Send + Sync>;

enum Keys {
    Static(Arc<KeySet>),
    Remote(Box<RemoteKeys>),
}

struct RemoteKeys {
    cache: Mutex<JwksCache>,
    /// One fetch at a time; verifications that need none do not wait.
    fetching: Mutex<()>,
    fetcher: Box<dyn Fetch>,
}

/// Verifies assertions. Share one per app (it is `Sync`): its JWKS cache is
/// what keeps verification cheap and rotation safe.
pub struct Verifier {
    policy: Policy,
    keys: Keys,
    /// Tokens verified before: a repeat costs a lookup, not a signature.
    memo: Mutex<VerifiedTokens>,
    on_event: EventHook,
    clock: Clock,
}

fn system_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Verifier {
    fn with_keys(policy: Policy, keys: Keys) -> Self {
        Self {
            policy,
            keys,
            memo: Mutex::new(VerifiedTokens::new(DEFAULT_MEMO_BYTES)),
            on_event: Box::new(|_| {}),
            clock: Box::new(system_clock),
        }
    }

    /// Keys from a JWKS document held by the app (no fetching).
    pub fn from_jwks(policy: Policy, jwks: &str) -> Result<Self, JwksError> {
        let keys = KeySet::from_jwks(jwks)?;
        Ok(Self::with_keys(policy, Keys::Static(Arc::new(keys))))
    }

    /// Keys from a PEM bundle (what `signing-key` edits; public keys suffice).
    pub fn from_bundle(policy: Policy, pem: &str) -> Result<Self, JwksError> {
        let bundle = Bundle::parse(pem).map_err(|err| JwksError::new(err.to_string()))?;
        let keys = KeySet::from_bundle(&bundle)?;
        Ok(Self::with_keys(policy, Keys::Static(Arc::new(keys))))
    }

    /// Keys fetched by `fetcher`, cached as `options` say.
    pub fn with_fetcher(
        policy: Policy,
        fetcher: impl Fetch + 'static,
        options: CacheOptions,
    ) -> Self {
        Self::with_keys(
            policy,
            Keys::Remote(Box::new(RemoteKeys {
                cache: Mutex::new(JwksCache::new(options)),
                fetching: Mutex::new(()),
                fetcher: Box::new(fetcher),
            })),
        )
    }

    /// Keys from the filter's JWKS URL
    /// (`https://<host>/.well-known/pomerium/jwks.json`), default caching.
    #[cfg(feature = "http")]
    pub fn from_jwks_url(policy: Policy, url: &str) -> Self {
        Self::with_fetcher(policy, crate::HttpFetch::new(url), CacheOptions::default())
    }

    /// [`Verifier::from_jwks_url`] for a JWKS whose `https` certificate is
    /// checked against `roots`: e.g. the system's plus a private CA,
    /// `TrustedRoots::system().with_ca_file(path)?`.
    #[cfg(feature = "http")]
    pub fn from_jwks_url_trusting(policy: Policy, url: &str, roots: &crate::TrustedRoots) -> Self {
        Self::with_fetcher(
            policy,
            crate::HttpFetch::trusting(url, roots),
            CacheOptions::default(),
        )
    }

    /// Called with every cache event (updates, 304s, failures, suppressed
    /// refetches): log them, or count them as metrics.
    pub fn on_event(mut self, hook: impl Fn(&CacheEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Box::new(hook);
        self
    }

    /// How much memory the memo of verified tokens may use (4 MiB unless
    /// set: some thousands of users' tokens); 0 turns it off. A remembered
    /// token is accepted again without its signature check until its `exp`
    /// (plus the skew) or until its key leaves the key set.
    pub fn memo_bytes(self, budget_bytes: usize) -> Self {
        *lock(&self.memo) = VerifiedTokens::new(budget_bytes);
        self
    }

    /// Replaces the clock (Unix milliseconds): for tests.
    pub fn with_clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The JWKS cache's counters (all zero for static keys).
    pub fn stats(&self) -> CacheStats {
        match &self.keys {
            Keys::Static(_) => CacheStats::default(),
            Keys::Remote(remote) => lock(&remote.cache).stats(),
        }
    }

    /// How many verified tokens the memo holds.
    pub fn remembered(&self) -> usize {
        lock(&self.memo).len()
    }

    /// Verifies one assertion.
    pub fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        self.verify_with(token, Fetching::Allowed)
            .unwrap_or_else(|| Err(VerifyError::KeysUnavailable("no fetch was made".to_owned())))
    }

    /// [`Verifier::verify`] if it needs no JWKS fetch; `None` if it does
    /// (no keys yet, stale keys, or a `kid` they lack): then call `verify`
    /// where blocking is fine. An async app answers almost every request
    /// this way, without handing it to a thread.
    pub fn verify_cached(&self, token: &str) -> Option<Result<Claims, VerifyError>> {
        self.verify_with(token, Fetching::Refused)
    }

    fn verify_with(&self, token: &str, fetching: Fetching) -> Option<Result<Claims, VerifyError>> {
        let now_ms = (self.clock)();
        let now = now_ms / 1000;
        // A remembered token still goes through the key cache (which may
        // have to revalidate, or have dropped its key) before it is reused.
        let remembered_kid = lock(&self.memo).kid_of(token).map(str::to_owned);
        if let Some(kid) = remembered_kid {
            let keys = match self.keys_for(&kid, now_ms, fetching)? {
                Ok(keys) => keys,
                Err(error) => return Some(Err(error)),
            };
            if let Some(claims) = lock(&self.memo).recall(token, &keys, now) {
                return Some(Ok(claims));
            }
        }
        let parts = match split(token) {
            Ok(parts) => parts,
            Err(error) => return Some(Err(error)),
        };
        let keys = match self.keys_for(&parts.kid, now_ms, fetching)? {
            Ok(keys) => keys,
            Err(error) => return Some(Err(error)),
        };
        let verified = verify_parts(&keys, &self.policy, &parts, now);
        if let Ok(claims) = &verified {
            lock(&self.memo).remember(
                token,
                &keys,
                &parts.kid,
                claims,
                self.policy.clock_skew_seconds,
            );
        }
        Some(verified)
    }

    /// The keys to verify a token naming `kid` with; `None` when they
    /// need a fetch that `fetching` refuses.
    fn keys_for(
        &self,
        kid: &str,
        now_ms: u64,
        fetching: Fetching,
    ) -> Option<Result<Arc<KeySet>, VerifyError>> {
        match &self.keys {
            Keys::Static(keys) => Some(Ok(Arc::clone(keys))),
            Keys::Remote(remote) => self.current_keys(kid, now_ms, remote, fetching),
        }
    }

    /// Verifies the assertion among a request's headers (the policy's header
    /// name, in any letter case, exactly once).
    pub fn verify_headers<'a>(
        &self,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Claims, VerifyError> {
        self.verify(self.assertion_in(headers)?)
    }

    /// [`Verifier::verify_headers`] if it needs no JWKS fetch (see
    /// [`Verifier::verify_cached`]).
    pub fn verify_headers_cached<'a>(
        &self,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Result<Claims, VerifyError>> {
        match self.assertion_in(headers) {
            Ok(token) => self.verify_cached(token),
            Err(error) => Some(Err(error)),
        }
    }

    fn assertion_in<'a>(
        &self,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<&'a str, VerifyError> {
        let name = &self.policy.header_name;
        let mut values = headers
            .into_iter()
            .filter(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value);
        let token = values
            .next()
            .ok_or_else(|| VerifyError::MissingHeader(name.clone()))?;
        if values.next().is_some() {
            return Err(VerifyError::DuplicateHeader(name.clone()));
        }
        Ok(token)
    }

    fn current_keys(
        &self,
        kid: &str,
        now: u64,
        remote: &RemoteKeys,
        may_fetch: Fetching,
    ) -> Option<Result<Arc<KeySet>, VerifyError>> {
        let RemoteKeys {
            cache,
            fetching,
            fetcher,
        } = remote;
        let plan = lock(cache).plan(kid, now);
        if may_fetch == Fetching::Refused
            && matches!(plan, Plan::Fetch { .. } | Plan::Revalidate { .. })
        {
            return None;
        }
        let one_fetch_at_a_time = match plan {
            Plan::UseCached => None,
            Plan::RefetchSuppressed => {
                (self.on_event)(&CacheEvent::RefetchSuppressed {
                    kid: kid.to_owned(),
                });
                None
            }
            // The keys held cannot verify this token: wait for the fetch.
            Plan::Fetch { .. } => Some(lock(fetching)),
            // They can: fetch unless someone else already is.
            Plan::Revalidate { .. } => match fetching.try_lock() {
                Ok(guard) => Some(guard),
                Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            },
        };
        if one_fetch_at_a_time.is_some() {
            // Another thread may have fetched while this one waited.
            let plan = lock(cache).plan(kid, (self.clock)());
            if let Plan::Fetch { if_none_match } | Plan::Revalidate { if_none_match } = plan {
                let outcome = fetcher.fetch(if_none_match.as_deref());
                let event = lock(cache).apply(outcome, (self.clock)());
                (self.on_event)(&event);
            }
        }
        drop(one_fetch_at_a_time);
        let cache = lock(cache);
        Some(
            cache
                .keys()
                .ok_or_else(|| VerifyError::KeysUnavailable(cache.unavailable_reason())),
        )
    }
}
