//! ES256 compact JWS, built directly: this is the filter's hot path.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::Signature;
use p256::elliptic_curve::Field as _;
use p256::elliptic_curve::Generate as _;
use p256::elliptic_curve::ff::PrimeField as _;
use p256::elliptic_curve::point::AffineCoordinates as _;
use p256::{AffinePoint, FieldBytes, NonZeroScalar, Scalar, SecretKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroize as _;

use crate::fixed_base;
use crate::hedged::NonceKey;
use crate::hmac_drbg::{NonceCandidates, NonceSource};

/// Signs compact JWS with one P-256 key; the protected header is encoded once.
#[derive(Clone)]
pub struct Es256Signer {
    /// `d`, wiped when the signer is dropped. Not a `p256` `SigningKey`,
    /// which computes the public key when made, by a variable-base
    /// multiplication of its own: code the filter needs nowhere else.
    secret: NonZeroScalar,
    kid: String,
    encoded_header: String,
    /// SHA-256 having hashed `encoded_header.`: the blocks every token's
    /// digest starts with, hashed once.
    header_digest: Sha256,
    /// What [`Self::sign_hedged`]'s nonces are derived under.
    nonce_key: NonceKey,
}

impl Drop for Es256Signer {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl std::fmt::Debug for Es256Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Es256Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct ProtectedHeader<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

impl Es256Signer {
    /// The first signer a process makes also builds [`fixed_base`]'s table.
    pub fn new(secret: &SecretKey, kid: String) -> Self {
        fixed_base::prepare();
        let header = ProtectedHeader {
            alg: "ES256",
            typ: "JWT",
            kid: &kid,
        };
        // A struct of three strings always serializes.
        let header_json = serde_json::to_vec(&header).unwrap_or_default();
        let encoded_header = URL_SAFE_NO_PAD.encode(header_json);
        let header_digest = Sha256::new()
            .chain_update(&encoded_header)
            .chain_update(b".");
        let mut secret_bytes: [u8; 32] = secret.to_bytes().into();
        let nonce_key = NonceKey::new(&secret_bytes);
        secret_bytes.zeroize();
        Self {
            secret: secret.to_nonzero_scalar(),
            encoded_header,
            header_digest,
            nonce_key,
            kid,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The length of the token [`Self::sign`] makes from a payload of
    /// `payload_len` bytes, known before signing.
    pub fn token_len(&self, payload_len: usize) -> usize {
        // header + '.' + payload + '.' + 86 characters of signature
        let encoded_payload = payload_len.div_ceil(3) * 4 - (3 - payload_len % 3) % 3;
        self.encoded_header.len() + 1 + encoded_payload + 1 + 86
    }

    /// `header.payload`, with room for the signature that follows.
    fn signing_input(&self, payload: &[u8]) -> String {
        let mut token = String::with_capacity(self.token_len(payload.len()));
        token.push_str(&self.encoded_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        token
    }

    /// SHA-256 of a token [`Self::signing_input`] made.
    fn digest(&self, signing_input: &str) -> FieldBytes {
        let payload = signing_input
            .as_bytes()
            .get(self.encoded_header.len() + 1..)
            .unwrap_or_default();
        self.header_digest.clone().chain_update(payload).finalize()
    }

    fn append_signature(mut token: String, signature: &Signature) -> String {
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        token
    }

    /// `header.payload.signature` over the given payload bytes (JSON), with
    /// RFC 6979's deterministic nonce: the same signature as `p256`'s
    /// `SigningKey` gives, with `k·G` from [`fixed_base`]'s wider tables (in
    /// V8 about two thirds of the time `p256`'s own takes).
    pub fn sign(&self, payload: &[u8]) -> Result<String, SigningFailed> {
        self.token(payload, |z| self.sign_rfc6979(z))
    }

    /// Like [`Self::sign`], with a hedged nonce ([`crate::hedged`]): fresh
    /// randomness and the digest under a key derived from the signing key,
    /// about a tenth cheaper than RFC 6979's in V8. RFC 6979's if the random
    /// source fails.
    pub fn sign_hedged(&self, payload: &[u8]) -> Result<String, SigningFailed> {
        self.token(payload, |z| {
            match self.nonce_key.candidates(&z.to_repr().into()) {
                Some(mut candidates) => self.sign_with_candidates(z, &mut candidates),
                None => self.sign_rfc6979(z),
            }
        })
    }

    /// `header.payload.signature`, signed by `sign` given the digest
    /// modulo `n`.
    fn token(
        &self,
        payload: &[u8],
        sign: impl FnOnce(&Scalar) -> Option<Signature>,
    ) -> Result<String, SigningFailed> {
        let token = self.signing_input(payload);
        let signature = sign(&reduce_mod_n(&self.digest(&token))).ok_or(SigningFailed)?;
        Ok(Self::append_signature(token, &signature))
    }

    fn sign_rfc6979(&self, z: &Scalar) -> Option<Signature> {
        let mut secret: [u8; 32] = self.secret.to_repr().into();
        let mut candidates = NonceCandidates::new(&secret, &z.to_repr().into());
        secret.zeroize();
        self.sign_with_candidates(z, &mut candidates)
    }

    /// The signature with the first usable nonce of `candidates`: another
    /// only when k = 0, k ≥ n, r = 0 or s = 0, each with a probability near
    /// 2^-128 (2^-32 for k ≥ n). `None` after [`MAX_NONCE_CANDIDATES`].
    fn sign_with_candidates(
        &self,
        z: &Scalar,
        candidates: &mut impl NonceSource,
    ) -> Option<Signature> {
        for _ in 0..MAX_NONCE_CANDIDATES {
            let mut candidate = [0u8; 32];
            candidates.fill_next(&mut candidate);
            let k = NonZeroScalar::from_repr(candidate.into()).into_option();
            candidate.zeroize();
            let Some(nonce) = k.as_ref().and_then(PrecomputedNonce::from_k) else {
                continue;
            };
            if let Some(signature) = self.signature(z, &nonce) {
                return Some(signature);
            }
        }
        None
    }

    /// `(r, s)` with `s = k⁻¹(z + r·d)`; `None` in the negligible case
    /// `s = 0`.
    fn signature(&self, z: &Scalar, nonce: &PrecomputedNonce) -> Option<Signature> {
        let d: &Scalar = self.secret.as_ref();
        let s = nonce.k_inv * (*z + nonce.r * d);
        Signature::from_scalars(nonce.r, s).ok()
    }

    /// Like [`Self::sign`], with a nonce computed ahead of time: only
    /// `s = k⁻¹(z + r·d)` is left to do, a few scalar operations instead of a
    /// base-point multiplication. The nonce is consumed (used once) and
    /// wiped. Falls back to RFC 6979's nonce in the negligible case `s = 0`.
    pub fn sign_with(
        &self,
        payload: &[u8],
        nonce: PrecomputedNonce,
    ) -> Result<String, SigningFailed> {
        self.token(payload, |z| {
            self.signature(z, &nonce).or_else(|| self.sign_rfc6979(z))
        })
    }

    /// Serializes `claims` to JSON and signs them.
    pub fn sign_claims<T: Serialize>(&self, claims: &T) -> Result<String, SignClaimsError> {
        let payload = serde_json::to_vec(claims).map_err(SignClaimsError::Serialize)?;
        self.sign(&payload).map_err(SignClaimsError::Signing)
    }
}

/// Nonce candidates one signature tries before giving up. A candidate is
/// unusable with a probability near 2^-32 at most (`k ≥ n`), so eight in a
/// row are only with a probability near 2^-256: where they are, the
/// signing arithmetic is broken (a bug in hand-written field or point
/// code), and an error serves the caller better than a signer retrying for
/// ever, which would stop the Envoy worker running it.
pub const MAX_NONCE_CANDIDATES: usize = 8;

/// No signature: [`MAX_NONCE_CANDIDATES`] nonce candidates in a row were
/// unusable, which only broken signing arithmetic makes happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigningFailed;

impl std::fmt::Display for SigningFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no usable ECDSA nonce in {MAX_NONCE_CANDIDATES} candidates: the signing arithmetic is broken"
        )
    }
}

impl std::error::Error for SigningFailed {}

/// Why [`Es256Signer::sign_claims`] made no token.
#[derive(Debug)]
pub enum SignClaimsError {
    Serialize(serde_json::Error),
    Signing(SigningFailed),
}

impl std::fmt::Display for SignClaimsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Serialize(error) => write!(f, "the claims do not serialize: {error}"),
            Self::Signing(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for SignClaimsError {}

/// An ECDSA nonce computed off the request path (online/offline signing):
/// `k` from the system's CSPRNG, kept only as `k⁻¹` and `r = x(k·G) mod n`.
/// Each is used for exactly one signature ([`Es256Signer::sign_with`] takes
/// it by value) and wiped when dropped: a nonce used twice, or leaked with
/// its signature, gives away the private key.
pub struct PrecomputedNonce {
    k_inv: Scalar,
    r: Scalar,
}

impl PrecomputedNonce {
    /// `None` if the random source fails (or, with negligible probability,
    /// `r` is zero).
    pub fn generate() -> Option<Self> {
        Self::generate_batch(1).pop()
    }

    /// Up to `count` nonces (fewer only if the random source fails). The
    /// inversions are shared (Montgomery's trick: one field and one scalar
    /// inversion for the whole batch), which saves most of the two 8–9 µs
    /// inversions (in V8, `make bench-signing`) a nonce needs alone; the
    /// base-point multiplications remain.
    pub fn generate_batch(count: usize) -> Vec<Self> {
        // On the heap, where freed memory lingers: wiped when done, as `k`
        // with a signature made from it gives the key away.
        let ks: zeroize::Zeroizing<Vec<NonZeroScalar>> = zeroize::Zeroizing::new(
            std::iter::from_fn(|| NonZeroScalar::try_generate().ok())
                .take(count)
                .collect(),
        );
        let affine = fixed_base::mul_by_generator_batch(ks.iter().map(|k| k.as_ref()));
        invert_all(&ks)
            .into_iter()
            .zip(affine)
            .filter_map(|(k_inv, point)| Self::from_parts(k_inv, &point))
            .collect()
    }

    /// The nonce of one `k`, with inversions of its own.
    fn from_k(k: &NonZeroScalar) -> Option<Self> {
        let k_inv = invert_blinded_by(k, NonZeroScalar::try_generate().ok());
        Self::from_parts(k_inv, &fixed_base::mul_by_generator(k))
    }

    /// `k⁻¹` and `r = x(k·G) mod n`; `None` (with negligible probability)
    /// when `r` is zero.
    fn from_parts(k_inv: Scalar, point: &AffinePoint) -> Option<Self> {
        let r = reduce_mod_n(&point.x());
        (!bool::from(r.is_zero())).then_some(Self { k_inv, r })
    }

    /// The length of [`Self::to_bytes`]: `k⁻¹` then `r`, 32 bytes each.
    pub const BYTES: usize = 64;

    /// The nonce as bytes, to hand to another thread that signs (wiped
    /// when dropped; whoever holds these and a signature made with them
    /// can compute the private key).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; Self::BYTES]> {
        let mut out = zeroize::Zeroizing::new([0u8; Self::BYTES]);
        let (k_inv, r) = out.split_at_mut(32);
        k_inv.copy_from_slice(&self.k_inv.to_bytes());
        r.copy_from_slice(&self.r.to_bytes());
        out
    }

    /// Reads [`Self::to_bytes`] back. `None` unless both scalars are
    /// canonical and nonzero. Nothing here can check that `r` belongs to
    /// `k⁻¹` (that takes the multiplication the nonce exists to avoid):
    /// take these bytes only from a producer as trusted as the key.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (k_inv, r) = bytes.split_at_checked(32)?;
        if r.len() != 32 {
            return None;
        }
        let scalar = |half: &[u8]| {
            let mut repr = FieldBytes::default();
            repr.copy_from_slice(half);
            let scalar = Option::<Scalar>::from(Scalar::from_repr(repr));
            repr.zeroize();
            scalar.filter(|scalar| !bool::from(scalar.is_zero()))
        };
        Some(Self {
            k_inv: scalar(k_inv)?,
            r: scalar(r)?,
        })
    }
}

impl Drop for PrecomputedNonce {
    fn drop(&mut self) {
        self.k_inv.zeroize();
        self.r.zeroize();
    }
}

impl std::fmt::Debug for PrecomputedNonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrecomputedNonce(..)")
    }
}

/// `x mod n` for 32 big-endian bytes: a digest, or a point's x-coordinate.
fn reduce_mod_n(bytes: &FieldBytes) -> Scalar {
    <Scalar as p256::elliptic_curve::ops::Reduce<FieldBytes>>::reduce(bytes)
}

/// `aud`: one audience as a string, several as an array (RFC 7519 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl From<&str> for Audience {
    fn from(audience: &str) -> Self {
        Self::One(audience.to_owned())
    }
}

impl From<String> for Audience {
    fn from(audience: String) -> Self {
        Self::One(audience)
    }
}

/// The claims of an assertion, in the order the spec lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub aud: Audience,
    pub jti: String,
    pub iat: u64,
    pub exp: u64,
    pub sub: String,
    pub user: String,
    pub email: String,
    pub groups: Vec<String>,
    pub sid: String,
    pub name: String,
    /// Present (and `true`) only when the user's groups were dropped to keep
    /// the header within its size or count limit: `groups` is then empty
    /// although the user has groups, and must not be read as "no groups".
    #[serde(default, skip_serializing_if = "is_false")]
    pub groups_truncated: bool,
    /// Present only when string claims (`email`, `name`, `sid`) were
    /// emptied to keep the header within its size limit: their names, in
    /// the order they were dropped (largest first). An emptied claim here
    /// must not be read as "the user has none".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims_truncated: Vec<String>,
    /// Further claims the operator configured, each with its JSON type,
    /// after the claims above.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// `1/k` for a secret `k`. With a random `b ≠ 0`, a variable-time
/// inversion (`safegcd.rs`'s) runs on `k·b`, uniformly distributed whatever
/// `k` is, so its running time says nothing about `k`; `1/k = b/(k·b)`.
/// Without `b` (the random source failed), `p256`'s constant-time
/// inversion.
fn invert_blinded_by(k: &NonZeroScalar, blind: Option<NonZeroScalar>) -> Scalar {
    // Both are nonzero, so each inversion exists.
    let Some(mut blind) = blind else {
        return k.as_ref().invert().unwrap_or(Scalar::ZERO);
    };
    let mut blinded = *k.as_ref() * blind.as_ref();
    let mut blinded_bytes: [u8; 32] = blinded.to_bytes().into();
    let mut inverse_bytes = crate::safegcd::invert_vartime(&blinded_bytes, &crate::safegcd::ORDER);
    // Checked, at the cost of one multiplication: a wrong or missing fast
    // inverse (a bug) costs time, the constant-time inversion, never a
    // wrong signature or a signer that retries for ever.
    let fast = inverse_bytes
        .and_then(|bytes| Scalar::from_repr(bytes.into()).into_option())
        .filter(|inverse| blinded * inverse == Scalar::ONE);
    let inverse = fast.unwrap_or_else(|| blinded.invert().unwrap_or(Scalar::ZERO)) * blind.as_ref();
    blinded.zeroize();
    blinded_bytes.zeroize();
    inverse_bytes.zeroize();
    blind.zeroize();
    inverse
}

/// Each `k` inverted, with one blinded inversion for all of them
/// (Montgomery's trick: 3 multiplications a scalar).
fn invert_all(ks: &[NonZeroScalar]) -> Vec<Scalar> {
    // prefix[i] = k_0·…·k_(i-1)
    let mut prefix = Vec::with_capacity(ks.len());
    let mut product = Scalar::ONE;
    for k in ks {
        prefix.push(product);
        product *= k.as_ref();
    }
    // A product of nonzero scalars modulo the prime n is nonzero.
    let Some(product) = Option::<NonZeroScalar>::from(NonZeroScalar::new(product)) else {
        return Vec::new();
    };
    let mut inverse = invert_blinded_by(&product, NonZeroScalar::try_generate().ok());
    let mut inverses = vec![Scalar::ZERO; ks.len()];
    for ((out, k), before) in inverses.iter_mut().zip(ks).zip(&prefix).rev() {
        // inverse = 1/(k_0·…·k_i), so this is 1/k_i.
        *out = inverse * before;
        inverse *= k.as_ref();
    }
    inverse.zeroize();
    prefix.zeroize();
    inverses
}

/// 128 random bits, base64url: a token id that never repeats in practice.
pub fn random_jti() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier as _;
    use p256::ecdsa::{SigningKey, VerifyingKey};

    fn split(token: &str) -> (&str, Signature) {
        let (input, signature) = token.rsplit_once('.').unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        (input, Signature::from_slice(&bytes).unwrap())
    }

    #[test]
    fn signatures_are_the_ones_p256_signing_key_makes() {
        use p256::ecdsa::signature::Signer as _;
        let payloads: [&[u8]; 4] = [b"{}", br#"{"sub":"alice"}"#, &[b'x'; 1000], b""];
        // Headers shorter than a SHA-256 block, and longer (a thumbprint
        // kid, as the CLI makes): the signer hashes the header's blocks once.
        let kids = ["kid", "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"];
        for kid in kids.into_iter().cycle().take(32) {
            let secret = SecretKey::try_generate().unwrap();
            let signer = Es256Signer::new(&secret, kid.into());
            let reference = SigningKey::from(&secret);
            for payload in payloads {
                let token = signer.sign(payload).unwrap();
                let (input, signature) = split(&token);
                let expected: Signature = reference.sign(input.as_bytes());
                assert_eq!(signature, expected);
            }
        }
    }

    #[test]
    fn hedged_signatures_verify_and_never_repeat() {
        let secret = SecretKey::try_generate().unwrap();
        let signer = Es256Signer::new(&secret, "kid".into());
        let verifying_key = VerifyingKey::from(&SigningKey::from(&secret));
        let payload = br#"{"sub":"alice"}"#;
        let deterministic = split(&signer.sign(payload).unwrap()).1;
        let mut seen = vec![deterministic];
        for _ in 0..16 {
            let token = signer.sign_hedged(payload).unwrap();
            let (input, signature) = split(&token);
            assert_eq!(input, split(&signer.sign(payload).unwrap()).0);
            verifying_key.verify(input.as_bytes(), &signature).unwrap();
            assert!(!seen.contains(&signature));
            seen.push(signature);
        }
    }

    /// Candidates in order, then the last one again.
    struct Listed(Vec<[u8; 32]>);

    impl NonceSource for Listed {
        fn fill_next(&mut self, candidate: &mut [u8; 32]) {
            *candidate = if self.0.len() > 1 {
                self.0.remove(0)
            } else {
                self.0[0]
            };
        }
    }

    #[test]
    fn unusable_candidates_are_skipped() {
        let signer = Es256Signer::new(&SecretKey::try_generate().unwrap(), "kid".into());
        let z = reduce_mod_n(&Sha256::digest(b"message"));
        let k = NonZeroScalar::try_generate().unwrap();
        // (n - 1) + 1 = n itself: not below n (n's last byte is 0x51, so
        // adding one to n - 1's carries nowhere).
        let mut at_or_above_n: [u8; 32] = (-Scalar::ONE).to_repr().into();
        at_or_above_n[31] += 1;
        let signature = signer
            .sign_with_candidates(
                &z,
                &mut Listed(vec![[0xff; 32], at_or_above_n, [0; 32], k.to_repr().into()]),
            )
            .unwrap();
        let expected = signer
            .signature(&z, &PrecomputedNonce::from_k(&k).unwrap())
            .unwrap();
        assert_eq!(signature, expected);
    }

    #[test]
    fn a_signer_whose_candidates_never_work_gives_up() {
        let signer = Es256Signer::new(&SecretKey::try_generate().unwrap(), "kid".into());
        let z = reduce_mod_n(&Sha256::digest(b"message"));
        // Zero for ever (`Listed` repeats its last candidate): no nonce.
        assert_eq!(
            signer.sign_with_candidates(&z, &mut Listed(vec![[0; 32]])),
            None
        );
        let token = signer.token(b"{}", |z| {
            signer.sign_with_candidates(z, &mut Listed(vec![[0; 32]]))
        });
        assert_eq!(token, Err(SigningFailed));
        // The last allowed candidate still signs.
        let k = NonZeroScalar::try_generate().unwrap();
        let mut candidates = vec![[0; 32]; MAX_NONCE_CANDIDATES - 1];
        candidates.push(k.to_repr().into());
        assert!(
            signer
                .sign_with_candidates(&z, &mut Listed(candidates))
                .is_some()
        );
    }

    #[test]
    fn blinded_inversion_inverts_whatever_the_blind() {
        let one = NonZeroScalar::new(Scalar::ONE).unwrap();
        let minus_one = NonZeroScalar::new(-Scalar::ONE).unwrap();
        let mut ks = vec![
            one,
            minus_one,
            NonZeroScalar::new(Scalar::from(2u64)).unwrap(),
        ];
        ks.extend((0..32).map(|_| NonZeroScalar::try_generate().unwrap()));
        for k in &ks {
            let expected = k.as_ref().invert().unwrap();
            let blinds = [None, Some(one), Some(minus_one)]
                .into_iter()
                .chain((0..4).map(|_| NonZeroScalar::try_generate().ok()));
            for blind in blinds {
                assert_eq!(invert_blinded_by(k, blind), expected, "k = {k:?}");
            }
            assert_eq!(*k.as_ref() * invert_blinded_by(k, None), Scalar::ONE);
        }
    }

    /// RFC 6979 A.2.5: P-256, SHA-256, message "sample".
    #[test]
    fn rfc_6979_signature_matches_the_known_answer() {
        let hex = |text: &str| -> Vec<u8> {
            (0..text.len())
                .step_by(2)
                .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
                .collect()
        };
        let secret = SecretKey::from_slice(&hex(
            "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
        ))
        .unwrap();
        let signer = Es256Signer::new(&secret, "kid".into());
        let digest: FieldBytes = Sha256::digest(b"sample");
        let signature = signer.sign_rfc6979(&reduce_mod_n(&digest)).unwrap();
        assert_eq!(
            signature.to_bytes()[..],
            hex(concat!(
                "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716",
                "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"
            ))[..]
        );
    }

    #[test]
    fn precomputed_nonces_give_valid_distinct_signatures() {
        let secret = SecretKey::try_generate().unwrap();
        let signer = Es256Signer::new(&secret, "kid".into());
        let verifying = VerifyingKey::from(secret.public_key());
        let payload = br#"{"sub":"alice"}"#;
        let mut signatures = std::collections::HashSet::new();
        for _ in 0..20 {
            let token = signer
                .sign_with(payload, PrecomputedNonce::generate().unwrap())
                .unwrap();
            assert_eq!(token.len(), signer.token_len(payload.len()));
            let (input, signature) = split(&token);
            verifying.verify(input.as_bytes(), &signature).unwrap();
            assert!(signatures.insert(token.clone()), "a nonce repeated");
            // Same header and payload as the deterministic signature.
            assert_eq!(input, split(&signer.sign(payload).unwrap()).0);
        }
        // Another message under the same kind of nonce does not verify as this one.
        let token = signer
            .sign_with(b"{}", PrecomputedNonce::generate().unwrap())
            .unwrap();
        let (_, signature) = split(&token);
        let deterministic = signer.sign(payload).unwrap();
        let (input, _) = split(&deterministic);
        assert!(verifying.verify(input.as_bytes(), &signature).is_err());
    }

    #[test]
    fn a_batch_of_nonces_signs_like_single_ones() {
        let secret = SecretKey::try_generate().unwrap();
        let signer = Es256Signer::new(&secret, "kid".into());
        let verifying = VerifyingKey::from(secret.public_key());
        let batch = PrecomputedNonce::generate_batch(16);
        assert_eq!(batch.len(), 16);
        assert!(PrecomputedNonce::generate_batch(0).is_empty());
        let mut rs = std::collections::HashSet::new();
        for nonce in batch {
            let token = signer.sign_with(b"{}", nonce).unwrap();
            let (input, signature) = split(&token);
            verifying.verify(input.as_bytes(), &signature).unwrap();
            assert!(rs.insert(signature.r().to_bytes()), "a nonce repeated");
        }
    }

    #[test]
    fn nonce_bytes_round_trip_and_reject_non_scalars() {
        let secret = SecretKey::try_generate().unwrap();
        let signer = Es256Signer::new(&secret, "kid".into());
        let verifying = VerifyingKey::from(secret.public_key());
        let nonce = PrecomputedNonce::generate().unwrap();
        let bytes = nonce.to_bytes();
        let decoded = PrecomputedNonce::from_bytes(&bytes[..]).unwrap();
        assert_eq!(decoded.to_bytes()[..], bytes[..]);
        // Signed with the copy, the signature is the one the original gives.
        let token = signer.sign_with(b"{}", decoded).unwrap();
        assert_eq!(token, signer.sign_with(b"{}", nonce).unwrap());
        let (input, signature) = split(&token);
        verifying.verify(input.as_bytes(), &signature).unwrap();

        assert!(PrecomputedNonce::from_bytes(&bytes[..63]).is_none());
        assert!(PrecomputedNonce::from_bytes(&[bytes.as_slice(), &[0]].concat()).is_none());
        let mut zero_r = *bytes;
        zero_r[32..].fill(0);
        assert!(PrecomputedNonce::from_bytes(&zero_r).is_none());
        let mut zero_k = *bytes;
        zero_k[..32].fill(0);
        assert!(PrecomputedNonce::from_bytes(&zero_k).is_none());
        // At or above the group order n: not a canonical scalar.
        let mut too_big = *bytes;
        too_big[..32].fill(0xff);
        assert!(PrecomputedNonce::from_bytes(&too_big).is_none());
    }
}
