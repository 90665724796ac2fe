//! A bounded memo of verified tokens. The filter reuses a user's token for
//! half its lifetime, so an app sees the same token many times; checking
//! its signature once is enough, as long as a remembered token is never
//! accepted past its `exp` (plus the skew) or after its key left the key
//! set (or was replaced under the same `kid`).
//!
//! Keyed by the token's exact text: a token that differs in any byte is
//! another token and is verified in full. Only successes are remembered,
//! so forged tokens cannot fill it; it holds at most its byte budget and
//! forgets the oldest first (tokens minted first expire first).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::claims::Claims;
use crate::keyset::KeySet;

/// What a remembered token costs besides its text and its claims' strings:
/// the map's and the queue's slots, the point, the times.
const ENTRY_OVERHEAD_BYTES: usize = 192;

/// The default budget: some thousands of users' tokens.
pub const DEFAULT_MEMO_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug)]
struct Remembered {
    claims: Claims,
    kid: String,
    /// The key that verified the signature: the token stays good only
    /// while the key set holds this very key under `kid`.
    point: [u8; 65],
    /// Unix seconds between which the token passed the time checks, the
    /// skew included: `iat`/`nbf` minus it, `exp` plus it.
    valid_from: u64,
    valid_until: u64,
    bytes: usize,
}

/// Verified tokens, within a byte budget.
#[derive(Debug)]
pub struct VerifiedTokens {
    budget_bytes: usize,
    used_bytes: usize,
    entries: HashMap<Arc<str>, Remembered>,
    /// Oldest first; may name tokens already forgotten (skipped when met).
    order: VecDeque<Arc<str>>,
}

impl VerifiedTokens {
    /// `budget_bytes == 0` remembers nothing.
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            budget_bytes,
            used_bytes: 0,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `kid` of a remembered token: the key its reuse depends on.
    pub fn kid_of(&self, token: &str) -> Option<&str> {
        self.entries.get(token).map(|entry| entry.kid.as_str())
    }

    /// The claims of `token` if it was verified before and is still good at
    /// `now` (Unix seconds) under `keys`. A remembered token that is no
    /// longer good is forgotten, and the caller verifies it in full (which
    /// says why it fails).
    pub fn recall(&mut self, token: &str, keys: &KeySet, now: u64) -> Option<Claims> {
        let entry = self.entries.get(token)?;
        let still_good = (entry.valid_from..=entry.valid_until).contains(&now)
            && keys
                .key(&entry.kid)
                .is_some_and(|key| key.point() == &entry.point);
        if still_good {
            return Some(entry.claims.clone());
        }
        self.forget(token);
        None
    }

    /// Remembers a token that just passed every check at `now` with the
    /// key `kid` names in `keys`, under `skew_seconds`.
    pub fn remember(
        &mut self,
        token: &str,
        keys: &KeySet,
        kid: &str,
        claims: &Claims,
        skew_seconds: u64,
    ) {
        let Some(key) = keys.key(kid) else { return };
        let bytes = ENTRY_OVERHEAD_BYTES + 2 * token.len() + kid.len();
        if bytes > self.budget_bytes || self.entries.contains_key(token) {
            return;
        }
        while self.used_bytes + bytes > self.budget_bytes {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.forget(&oldest);
        }
        let not_before = claims.nbf.map_or(claims.iat, |nbf| nbf.max(claims.iat));
        let token: Arc<str> = Arc::from(token);
        self.entries.insert(
            Arc::clone(&token),
            Remembered {
                claims: claims.clone(),
                kid: kid.to_owned(),
                point: *key.point(),
                valid_from: not_before.saturating_sub(skew_seconds),
                valid_until: claims.exp.saturating_add(skew_seconds),
                bytes,
            },
        );
        self.order.push_back(token);
        self.used_bytes += bytes;
        // Forgotten tokens leave their names in the queue: drop them before
        // they outnumber the live ones.
        if self.order.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            self.order.retain(|token| entries.contains_key(token));
        }
    }

    fn forget(&mut self, token: &str) {
        if let Some(entry) = self.entries.remove(token) {
            self.used_bytes -= entry.bytes;
        }
    }
}
