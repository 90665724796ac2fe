//! The JWKS cache, without I/O: it says when to fetch ([`JwksCache::plan`])
//! and takes what the fetch got ([`JwksCache::apply`]). Times are Unix
//! milliseconds, passed in, so the Rust and JavaScript drivers and the tests
//! share one clock-free policy.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::keyset::KeySet;

/// How the cache treats the JWKS server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheOptions {
    /// Fetches for an unknown `kid` (and retries after a failed fetch)
    /// happen at most once per this interval, so forged kids cannot turn
    /// the app into a JWKS flood. 10 s unless set.
    pub min_refetch_interval: Duration,
    /// Freshness when the response has no `Cache-Control: max-age`.
    pub default_max_age: Duration,
    /// Bounds on the server's `max-age`: at least 1 s (a `max-age=0` would
    /// otherwise revalidate on every request), at most a day.
    pub min_max_age: Duration,
    pub max_max_age: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            min_refetch_interval: Duration::from_secs(10),
            default_max_age: Duration::from_secs(60),
            min_max_age: Duration::from_secs(1),
            max_max_age: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// What to do before verifying a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Verify with the keys held (or fail with what is missing).
    UseCached,
    /// The kid is unknown but the last fetch was too recent to fetch again:
    /// verify with the keys held (the token fails as signed by an unknown
    /// key) and report [`CacheEvent::RefetchSuppressed`].
    RefetchSuppressed,
    /// Fetch the JWKS, conditionally when an ETag is held: the keys held
    /// cannot verify this token (none yet, or an unknown kid).
    Fetch { if_none_match: Option<String> },
    /// The keys held can verify this token but are stale: revalidate them.
    /// While another caller is already fetching, verify with them as they
    /// are rather than wait (a slow JWKS server must not stall the app).
    Revalidate { if_none_match: Option<String> },
}

/// What a JWKS fetch got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    pub status: u16,
    pub etag: Option<String>,
    pub cache_control: Option<String>,
    pub body: String,
}

/// What a fetch changed, for a log or metric hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheEvent {
    /// A new key set was loaded.
    Updated { kids: Vec<String> },
    /// `304 Not Modified`: the held keys are fresh again.
    NotModified,
    /// The fetch failed or gave no usable key set; the last good keys (if
    /// any) are still used.
    FetchFailed {
        reason: String,
        kept_last_good: bool,
    },
    /// A token named an unknown kid, but the last fetch was too recent to
    /// fetch again.
    RefetchSuppressed { kid: String },
}

impl fmt::Display for CacheEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Updated { kids } => write!(f, "JWKS updated: kids {}", kids.join(", ")),
            Self::NotModified => f.write_str("JWKS not modified"),
            Self::FetchFailed {
                reason,
                kept_last_good: true,
            } => write!(
                f,
                "JWKS fetch failed ({reason}); keeping the last good keys"
            ),
            Self::FetchFailed {
                reason,
                kept_last_good: false,
            } => write!(f, "JWKS fetch failed ({reason}); no keys yet"),
            Self::RefetchSuppressed { kid } => write!(
                f,
                "unknown kid {kid}: not refetching the JWKS, the last fetch was too recent"
            ),
        }
    }
}

/// Counters, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Fetches attempted (each an HTTP request).
    pub fetches: u64,
    pub updates: u64,
    pub not_modified: u64,
    pub failures: u64,
    pub suppressed_refetches: u64,
}

#[derive(Debug, Clone)]
pub struct JwksCache {
    options: CacheOptions,
    keys: Option<Arc<KeySet>>,
    etag: Option<String>,
    /// Until when (ms) the held keys count as fresh.
    fresh_until: u64,
    /// When (ms) the last fetch was attempted, whatever came of it.
    last_attempt: Option<u64>,
    /// After a failed fetch (ms): no retry before then.
    retry_not_before: u64,
    last_failure: Option<String>,
    stats: CacheStats,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl JwksCache {
    pub fn new(options: CacheOptions) -> Self {
        Self {
            options,
            keys: None,
            etag: None,
            fresh_until: 0,
            last_attempt: None,
            retry_not_before: 0,
            last_failure: None,
            stats: CacheStats::default(),
        }
    }

    /// The keys held, if a fetch ever succeeded.
    pub fn keys(&self) -> Option<Arc<KeySet>> {
        self.keys.clone()
    }

    /// Why no keys are held (the last failure), for the error a caller gets.
    pub fn unavailable_reason(&self) -> String {
        self.last_failure
            .clone()
            .unwrap_or_else(|| "the JWKS was never fetched".to_owned())
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    fn may_refetch(&self, now: u64) -> bool {
        self.last_attempt.is_none_or(|last| {
            now.saturating_sub(last) >= millis(self.options.min_refetch_interval)
        })
    }

    fn fetch(&self) -> Plan {
        Plan::Fetch {
            if_none_match: self.etag.clone(),
        }
    }

    /// Whether to fetch before verifying a token signed with `kid`, at `now`.
    pub fn plan(&mut self, kid: &str, now: u64) -> Plan {
        let Some(keys) = &self.keys else {
            // Nothing held: fetch, but after a failure no more often than
            // the refetch interval, or an outage of the JWKS server would be
            // met with a request per token.
            return if now >= self.retry_not_before {
                self.fetch()
            } else {
                Plan::UseCached
            };
        };
        if !keys.contains(kid) {
            if self.may_refetch(now) {
                return self.fetch();
            }
            self.stats.suppressed_refetches += 1;
            return Plan::RefetchSuppressed;
        }
        // A stale set is revalidated; after a failed fetch the refetch
        // interval applies here too, and the stale keys keep serving.
        if now >= self.fresh_until && now >= self.retry_not_before {
            return Plan::Revalidate {
                if_none_match: self.etag.clone(),
            };
        }
        Plan::UseCached
    }

    /// Takes a fetch's outcome: the response, or why there was none.
    pub fn apply(&mut self, outcome: Result<FetchResponse, String>, now: u64) -> CacheEvent {
        self.last_attempt = Some(now);
        self.stats.fetches += 1;
        let result = outcome.and_then(|response| self.accept(response, now));
        match result {
            Ok(event) => {
                self.last_failure = None;
                event
            }
            Err(reason) => {
                self.stats.failures += 1;
                self.retry_not_before =
                    now.saturating_add(millis(self.options.min_refetch_interval));
                self.last_failure = Some(reason.clone());
                CacheEvent::FetchFailed {
                    reason,
                    kept_last_good: self.keys.is_some(),
                }
            }
        }
    }

    fn accept(&mut self, response: FetchResponse, now: u64) -> Result<CacheEvent, String> {
        let max_age = self.max_age(response.cache_control.as_deref());
        match response.status {
            200 => {
                let keys = KeySet::from_jwks(&response.body).map_err(|err| err.to_string())?;
                let kids = keys.kids().to_vec();
                self.keys = Some(Arc::new(keys));
                self.etag = response.etag;
                self.fresh_until = now.saturating_add(max_age);
                self.stats.updates += 1;
                Ok(CacheEvent::Updated { kids })
            }
            304 if self.keys.is_some() => {
                if response.etag.is_some() {
                    self.etag = response.etag;
                }
                self.fresh_until = now.saturating_add(max_age);
                self.stats.not_modified += 1;
                Ok(CacheEvent::NotModified)
            }
            status => Err(format!("HTTP status {status}")),
        }
    }

    /// Freshness from `Cache-Control`, in ms, within the configured bounds.
    fn max_age(&self, cache_control: Option<&str>) -> u64 {
        let directives = cache_control.unwrap_or_default();
        let mut max_age = None;
        for directive in directives.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-cache" || lower == "no-store" {
                max_age = Some(0);
                break;
            }
            if let Some(seconds) = lower.strip_prefix("max-age=") {
                max_age = seconds.trim_matches('"').parse::<u64>().ok();
            }
        }
        let max_age = max_age.map_or(self.options.default_max_age, Duration::from_secs);
        millis(max_age.clamp(self.options.min_max_age, self.options.max_max_age))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWKS_A: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"a","use":"sig","alg":"ES256"}]}"#;

    fn ok(body: &str, etag: &str, cache_control: &str) -> Result<FetchResponse, String> {
        Ok(FetchResponse {
            status: 200,
            etag: Some(etag.to_owned()),
            cache_control: Some(cache_control.to_owned()),
            body: body.to_owned(),
        })
    }

    fn not_modified() -> Result<FetchResponse, String> {
        Ok(FetchResponse {
            status: 304,
            etag: None,
            cache_control: Some("max-age=60".to_owned()),
            body: String::new(),
        })
    }

    #[test]
    fn fresh_keys_are_used_and_stale_ones_revalidated_with_their_etag() {
        let mut cache = JwksCache::new(CacheOptions::default());
        assert_eq!(
            cache.plan("a", 0),
            Plan::Fetch {
                if_none_match: None
            }
        );
        let event = cache.apply(ok(JWKS_A, "\"e1\"", "public, max-age=60"), 0);
        assert_eq!(
            event,
            CacheEvent::Updated {
                kids: vec!["a".to_owned()]
            }
        );
        assert_eq!(cache.plan("a", 59_999), Plan::UseCached);
        assert_eq!(
            cache.plan("a", 60_000),
            Plan::Revalidate {
                if_none_match: Some("\"e1\"".to_owned())
            }
        );
        assert_eq!(cache.apply(not_modified(), 60_000), CacheEvent::NotModified);
        assert_eq!(cache.plan("a", 119_999), Plan::UseCached);
        assert_eq!(cache.stats().fetches, 2);
    }

    #[test]
    fn an_unknown_kid_refetches_at_most_once_per_interval() {
        let mut cache = JwksCache::new(CacheOptions::default());
        cache.apply(ok(JWKS_A, "\"e1\"", "max-age=600"), 0);
        assert!(matches!(cache.plan("b", 10_000), Plan::Fetch { .. }));
        cache.apply(ok(JWKS_A, "\"e1\"", "max-age=600"), 10_000);
        assert_eq!(cache.plan("b", 19_999), Plan::RefetchSuppressed);
        assert_eq!(cache.stats().suppressed_refetches, 1);
        assert!(matches!(cache.plan("b", 20_000), Plan::Fetch { .. }));
    }

    #[test]
    fn a_failed_fetch_keeps_the_last_good_keys_and_backs_off() {
        let mut cache = JwksCache::new(CacheOptions::default());
        cache.apply(ok(JWKS_A, "\"e1\"", "max-age=1"), 0);
        assert!(matches!(cache.plan("a", 1_000), Plan::Revalidate { .. }));
        let event = cache.apply(Err("connection refused".to_owned()), 1_000);
        assert_eq!(
            event,
            CacheEvent::FetchFailed {
                reason: "connection refused".to_owned(),
                kept_last_good: true
            }
        );
        assert!(cache.keys().is_some_and(|keys| keys.contains("a")));
        assert_eq!(cache.plan("a", 10_999), Plan::UseCached);
        assert!(matches!(cache.plan("a", 11_000), Plan::Revalidate { .. }));
        // An empty key set is a failure too, never adopted.
        let event = cache.apply(ok(r#"{"keys":[]}"#, "\"e2\"", "max-age=60"), 11_000);
        assert!(matches!(
            event,
            CacheEvent::FetchFailed {
                kept_last_good: true,
                ..
            }
        ));
        assert!(cache.keys().is_some_and(|keys| keys.contains("a")));
    }

    #[test]
    fn max_age_is_bounded_and_defaulted() {
        let cache = JwksCache::new(CacheOptions::default());
        assert_eq!(cache.max_age(None), 60_000);
        assert_eq!(cache.max_age(Some("public, max-age=5")), 5_000);
        assert_eq!(cache.max_age(Some("no-store")), 1_000);
        assert_eq!(cache.max_age(Some("max-age=0")), 1_000);
        assert_eq!(cache.max_age(Some("max-age=999999999")), 86_400_000);
        assert_eq!(cache.max_age(Some("max-age=junk")), 60_000);
    }
}
