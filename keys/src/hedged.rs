//! Hedged ECDSA nonces: fresh randomness and the message, through a
//! pseudorandom function keyed by the signing key.
//!
//! Each candidate is `HMAC-SHA256(K, random ‖ z ‖ i)`, where `K` is derived
//! once from the private key (`HMAC-SHA256(d, label)`), `random` is 32
//! fresh bytes from the system's CSPRNG, `z` the digest modulo `n` and `i`
//! the candidate's number. With a working random source `k` is as
//! unpredictable as a random nonce; were the source weak or repeating, `k`
//! would still be a secret function of the key and the message, as RFC
//! 6979's is, so equal nonces would mean equal messages (and equal
//! signatures). BoringSSL hedges its ECDSA nonces the same way. Three
//! SHA-256 compressions a nonce against RFC 6979's sixteen
//! ([`crate::hmac_drbg`]), about a tenth of a signature in V8
//! (BENCHMARKS.md, "Hedged nonces").

use zeroize::Zeroize as _;

use crate::hmac_drbg::{HmacSha256, NonceSource, keyed, mac_of};

/// What `K` is derived under: a key used for nothing else.
const LABEL: &[u8] = b"signed-headers ecdsa hedged nonce v1";

/// HMAC keyed with `K`: its padded states are secret, and wipe themselves
/// (`hmac`'s and `sha2`'s `zeroize` feature).
#[derive(Clone)]
pub struct NonceKey(HmacSha256);

impl NonceKey {
    /// `secret` is the private key's 32 bytes.
    pub fn new(secret: &[u8; 32]) -> Self {
        let mut derived = mac_of(&keyed(secret), &[LABEL]);
        let key = keyed(&derived);
        derived.zeroize();
        Self(key)
    }

    /// The candidates for `reduced_digest` (the digest modulo `n`, as 32
    /// bytes); `None` if the random source fails.
    pub fn candidates(&self, reduced_digest: &[u8; 32]) -> Option<HedgedCandidates<'_>> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).ok()?;
        Some(self.candidates_with(random, reduced_digest))
    }

    fn candidates_with(&self, random: [u8; 32], reduced_digest: &[u8; 32]) -> HedgedCandidates<'_> {
        HedgedCandidates {
            key: self,
            random,
            digest: *reduced_digest,
            next: 0,
        }
    }
}

/// The candidates for one signature, in order.
pub struct HedgedCandidates<'a> {
    key: &'a NonceKey,
    random: [u8; 32],
    digest: [u8; 32],
    next: u8,
}

impl NonceSource for HedgedCandidates<'_> {
    /// A second candidate is needed with probability about 2^-32 (`k ≥ n`),
    /// a 256th never in practice: the count wraps rather than fail.
    fn fill_next(&mut self, candidate: &mut [u8; 32]) {
        let mut k = mac_of(&self.key.0, &[&self.random, &self.digest, &[self.next]]);
        self.next = self.next.wrapping_add(1);
        candidate.copy_from_slice(&k);
        k.zeroize();
    }
}

impl Drop for HedgedCandidates<'_> {
    fn drop(&mut self) {
        self.random.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{KeyInit as _, Mac as _};

    fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(key).unwrap();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    #[test]
    fn candidates_are_hmac_of_the_random_bytes_the_digest_and_their_number() {
        let (secret, random, digest) = ([0x11u8; 32], [0x22u8; 32], [0x33u8; 32]);
        let key = hmac(&secret, &[LABEL]);
        let nonce_key = NonceKey::new(&secret);
        let mut candidates = nonce_key.candidates_with(random, &digest);
        for number in 0..3u8 {
            let mut candidate = [0u8; 32];
            candidates.fill_next(&mut candidate);
            assert_eq!(candidate, hmac(&key, &[&random, &digest, &[number]]));
        }
    }

    #[test]
    fn fresh_randomness_gives_fresh_candidates() {
        let key = NonceKey::new(&[0x11; 32]);
        let first = |key: &NonceKey| {
            let mut candidate = [0u8; 32];
            key.candidates(&[0x33; 32])
                .unwrap()
                .fill_next(&mut candidate);
            candidate
        };
        assert_ne!(first(&key), first(&key));
        // Another key, the same random bytes and digest: another nonce.
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        key.candidates_with([0x22; 32], &[0x33; 32])
            .fill_next(&mut a);
        NonceKey::new(&[0x12; 32])
            .candidates_with([0x22; 32], &[0x33; 32])
            .fill_next(&mut b);
        assert_ne!(a, b);
    }
}
