//! RFC 6979's deterministic nonce candidates for P-256 with SHA-256
//! (section 3.2, steps b to h), each HMAC key padded and hashed once.
//!
//! The `rfc6979` crate computes the same values through `SimpleHmac`, which
//! hashes a key's inner and outer pad blocks again for every HMAC it makes
//! with that key, and runs step h.3 after every candidate in case another is
//! needed (with probability about 2^-128). That is 30 SHA-256 compressions
//! for a signature's nonce. Here each key's HMAC is keyed once and cloned
//! for each message, the all-zero first key once per process, and step h.3
//! runs only when a second candidate is asked for: 16 compressions
//! (BENCHMARKS.md, "RFC 6979 with each key hashed once").

use std::sync::OnceLock;

use hmac::{Hmac, KeyInit, Mac as _};
use sha2::Sha256;
use zeroize::Zeroize as _;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Nonce candidates in order: a signer takes the first, and asks for
/// another only if it is not a usable nonce (zero or not below `n`, or
/// giving `r = 0` or `s = 0`).
pub trait NonceSource {
    fn fill_next(&mut self, candidate: &mut [u8; 32]);
}

/// The candidates `k` RFC 6979 derives from a private key and a digest,
/// in order. A caller takes the first, and asks for another only if it is
/// not a usable nonce (zero or not below `n`, or giving `r = 0` or `s = 0`).
/// Its state (which determines every later candidate) is wiped when dropped.
pub struct NonceCandidates {
    /// HMAC keyed with the current `K`.
    mac: HmacSha256,
    v: [u8; 32],
    /// Whether a candidate was taken: the next one needs step h.3 first.
    taken: bool,
}

impl NonceCandidates {
    /// `secret` is `int2octets(x)`, the private key's 32 bytes;
    /// `reduced_digest` is `bits2octets(h1)`: the message digest modulo `n`,
    /// as 32 bytes.
    pub fn new(secret: &[u8; 32], reduced_digest: &[u8; 32]) -> Self {
        // b. V = 0x01 0x01 … 0x01; c. K = 0x00 0x00 … 0x00.
        let initial_v = [0x01; 32];
        // d. K = HMAC_K(V || 0x00 || int2octets(x) || bits2octets(h1))
        let mac = rekeyed(zero_key(), &[&initial_v, &[0x00], secret, reduced_digest]);
        // e. V = HMAC_K(V)
        let mut v = mac_of(&mac, &[&initial_v]);
        // f. K = HMAC_K(V || 0x01 || int2octets(x) || bits2octets(h1))
        let mac = rekeyed(&mac, &[&v, &[0x01], secret, reduced_digest]);
        // g. V = HMAC_K(V)
        let next_v = mac_of(&mac, &[&v]);
        v.zeroize();
        Self {
            mac,
            v: next_v,
            taken: false,
        }
    }
}

impl NonceSource for NonceCandidates {
    /// Writes the next candidate `T` (step h.2: `V = HMAC_K(V)`, and with
    /// `qlen = hlen = 256` one `V` is a whole candidate) into `candidate`.
    fn fill_next(&mut self, candidate: &mut [u8; 32]) {
        if self.taken {
            // h.3. K = HMAC_K(V || 0x00); V = HMAC_K(V)
            self.mac = rekeyed(&self.mac, &[&self.v, &[0x00]]);
            self.v = mac_of(&self.mac, &[&self.v]);
        }
        self.v = mac_of(&self.mac, &[&self.v]);
        self.taken = true;
        candidate.copy_from_slice(&self.v);
    }
}

impl Drop for NonceCandidates {
    /// `V` becomes the nonce; `mac`'s hash states (derived from `K`) wipe
    /// themselves (`hmac`'s and `sha2`'s `zeroize` feature).
    fn drop(&mut self) {
        self.v.zeroize();
    }
}

/// HMAC keyed with the all-zero `K` of step c, the same for every
/// signature.
fn zero_key() -> &'static HmacSha256 {
    static ZERO_KEY: OnceLock<HmacSha256> = OnceLock::new();
    ZERO_KEY.get_or_init(|| keyed(&[0; 32]))
}

/// HMAC-SHA256 keyed with 32 bytes.
pub(crate) fn keyed(key: &[u8; 32]) -> HmacSha256 {
    // HMAC pads a shorter key with zeros to the hash's block: padding it
    // here gives the same MAC through the infallible constructor.
    let mut block = [0u8; 64];
    block
        .iter_mut()
        .zip(key)
        .for_each(|(padded, byte)| *padded = *byte);
    let mac = <HmacSha256 as KeyInit>::new(&block.into());
    block.zeroize();
    mac
}

/// HMAC keyed with the next `K = HMAC_K(parts…)`; `K` itself is wiped.
fn rekeyed(mac: &HmacSha256, parts: &[&[u8]]) -> HmacSha256 {
    let mut key = mac_of(mac, parts);
    let next = keyed(&key);
    key.zeroize();
    next
}

/// `HMAC_K(parts…)`, with `K`'s padded states taken from `mac`.
pub(crate) fn mac_of(mac: &HmacSha256, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = mac.clone();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::Curve as _;
    use p256::{NistP256, U256};

    fn candidates_from_the_rfc6979_crate(
        secret: &[u8; 32],
        digest: &[u8; 32],
        count: usize,
    ) -> Vec<[u8; 32]> {
        let order: U256 = *NistP256::ORDER.as_ref();
        let mut generator = rfc6979::KGenerator::<Sha256, U256>::new(secret, digest, &[], &order);
        (0..count)
            .map(|_| {
                let mut k = [0u8; 32];
                generator.fill_next_k(&mut k);
                k
            })
            .collect()
    }

    fn ours(secret: &[u8; 32], reduced_digest: &[u8; 32], count: usize) -> Vec<[u8; 32]> {
        let mut candidates = NonceCandidates::new(secret, reduced_digest);
        (0..count)
            .map(|_| {
                let mut k = [0u8; 32];
                candidates.fill_next(&mut k);
                k
            })
            .collect()
    }

    /// The crate skips a candidate that is zero or not below `n`; none of
    /// these are (each with probability about 2^-32), so both list the same
    /// values, the later ones through step h.3.
    #[test]
    fn candidates_are_the_rfc6979_crates_first_and_later_ones() {
        for _ in 0..32 {
            let (mut secret, mut digest) = ([0u8; 32], [0u8; 32]);
            getrandom::fill(&mut secret).unwrap();
            getrandom::fill(&mut digest).unwrap();
            // Digests below n, so that bits2octets leaves them as they are.
            digest[0] &= 0x7f;
            assert_eq!(
                ours(&secret, &digest, 4),
                candidates_from_the_rfc6979_crate(&secret, &digest, 4)
            );
        }
    }

    /// RFC 6979 A.2.5, P-256 with SHA-256, message "sample": the k the
    /// RFC lists.
    #[test]
    fn first_candidate_is_rfc_6979_known_answer() {
        let hex = |text: &str| -> [u8; 32] {
            let bytes: Vec<u8> = (0..text.len())
                .step_by(2)
                .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
                .collect();
            bytes.try_into().unwrap()
        };
        let secret = hex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721");
        // SHA-256("sample"), below n.
        let digest = hex("af2bdbe1aa9b6ec1e2ade1d694f41fc71a831d0268e9891562113d8a62add1bf");
        assert_eq!(
            ours(&secret, &digest, 1)[0],
            hex("a6e3c57dd01abe90086538398355dd4c3b17aa873382b0f24d6129493d8aad60")
        );
    }
}
