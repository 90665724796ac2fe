//! Sealed bundles: a key bundle encrypted and authenticated under a
//! key-encryption key (KEK), so that the configuration carrying it (an ECDS
//! discovery file, which Envoy's admin `/config_dump` prints verbatim) holds
//! no usable key. Envoy hands the KEK to the VM from its own environment
//! (`host_env_keys`), which `/config_dump` does not print.
//!
//! The text is `signed-headers-sealed.v1.<kek id>.<base64url(nonce ‖
//! ciphertext ‖ tag)>`, XChaCha20-Poly1305 with the prefix and KEK id as
//! associated data. Sealing is deterministic (the nonce is an HMAC of the
//! plaintext under a key of its own, as in SIV): the same bundle under the
//! same KEK gives the same text, so rewriting an unchanged discovery file
//! changes nothing and Envoy reloads nothing. Equal texts reveal equal
//! bundles, nothing more.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::Mac;
use zeroize::Zeroizing;

use crate::hmac_drbg::keyed;

/// The environment variable that holds the KEKs, in Envoy's environment (the
/// VM reads it through `host_env_keys`) and the CLI's.
pub const KEK_ENV: &str = "SIGNED_HEADERS_KEK";

const PREFIX: &str = "signed-headers-sealed.v1.";
const KEK_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;
/// Hex characters of a KEK's id: enough to tell a fleet's KEKs apart in a
/// log line, far too few to say anything about the key.
const KEK_ID_HEX: usize = 12;

/// One 256-bit key-encryption key.
pub struct KeyEncryptionKey {
    cipher_key: Zeroizing<[u8; KEK_BYTES]>,
    nonce_key: Zeroizing<[u8; KEK_BYTES]>,
    text: Zeroizing<String>,
    id: String,
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// One HMAC-SHA256 output of `key` over `label`: separate keys for the
/// cipher, the nonce and the id, none of which gives away another.
fn derive(key: &[u8; KEK_BYTES], label: &[u8]) -> Zeroizing<[u8; KEK_BYTES]> {
    let mut mac = keyed(key);
    mac.update(label);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

impl KeyEncryptionKey {
    /// A fresh KEK from the system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = Zeroizing::new([0u8; KEK_BYTES]);
        getrandom::fill(bytes.as_mut())?;
        Ok(Self::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8; KEK_BYTES]) -> Self {
        let id_bytes = derive(bytes, b"signed-headers kek id v1");
        let id = id_bytes
            .iter()
            .take(KEK_ID_HEX / 2)
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Self {
            cipher_key: derive(bytes, b"signed-headers seal key v1"),
            nonce_key: derive(bytes, b"signed-headers seal nonce v1"),
            text: Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes)),
            id,
        }
    }

    /// Reads one KEK: base64 (standard or URL-safe, padded or not) of 32
    /// bytes.
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let decoded = [&URL_SAFE_NO_PAD, &URL_SAFE, &STANDARD_NO_PAD, &STANDARD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .map(Zeroizing::new)?;
        let bytes: Zeroizing<[u8; KEK_BYTES]> = Zeroizing::new(decoded.as_slice().try_into().ok()?);
        Some(Self::from_bytes(&bytes))
    }

    /// The id sealed texts name this KEK by (not secret).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The KEK as written in `SIGNED_HEADERS_KEK`: base64url of its 32
    /// bytes. Secret.
    pub fn to_text(&self) -> Zeroizing<String> {
        self.text.clone()
    }

    fn associated_data(&self) -> String {
        format!("{PREFIX}{}", self.id)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.cipher_key).into())
    }

    /// `plaintext` sealed under this KEK.
    pub fn seal(&self, plaintext: &str) -> Result<String, SealError> {
        let synthetic = derive(&self.nonce_key, plaintext.as_bytes());
        let mut nonce = [0u8; NONCE_BYTES];
        nonce
            .iter_mut()
            .zip(synthetic.iter())
            .for_each(|(byte, from)| *byte = *from);
        let aad = self.associated_data();
        let ciphertext = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            // Only a message over 256 GiB is refused.
            .map_err(|_| SealError::TooLarge)?;
        let mut sealed = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(format!("{aad}.{}", URL_SAFE_NO_PAD.encode(sealed)))
    }

    fn open(&self, payload: &[u8]) -> Result<Zeroizing<String>, SealError> {
        let (nonce, ciphertext) = payload
            .split_at_checked(NONCE_BYTES)
            .filter(|(_, ciphertext)| ciphertext.len() >= TAG_BYTES)
            .ok_or(SealError::Malformed("too short"))?;
        let nonce: [u8; NONCE_BYTES] = nonce
            .try_into()
            .map_err(|_| SealError::Malformed("too short"))?;
        let aad = self.associated_data();
        let plaintext = self
            .cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::DoesNotOpen {
                kek: self.id.clone(),
            })?;
        String::from_utf8(plaintext.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| SealError::Malformed("the sealed bundle is not text"))
    }
}

/// The KEKs `SIGNED_HEADERS_KEK` holds: one, or several separated by commas
/// while the KEK itself is being rotated. The first seals; any of them
/// opens.
#[derive(Debug)]
pub struct KeyEncryptionKeys {
    sealing: KeyEncryptionKey,
    others: Vec<KeyEncryptionKey>,
}

impl KeyEncryptionKeys {
    /// Reads the variable's value. Errors name the key's position, never its
    /// text.
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let parts: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect();
        if parts.is_empty() {
            return Err(SealError::NoKek);
        }
        let count = parts.len();
        let mut keys: Vec<KeyEncryptionKey> = Vec::with_capacity(count);
        for (index, part) in parts.into_iter().enumerate() {
            let key = KeyEncryptionKey::parse(part).ok_or(SealError::NotAKek {
                position: index + 1,
                count,
            })?;
            if let Some(first) = keys.iter().position(|seen| seen.id == key.id) {
                return Err(SealError::DuplicateKek {
                    position: index + 1,
                    first: first + 1,
                });
            }
            keys.push(key);
        }
        let mut keys = keys.into_iter();
        let sealing = keys.next().ok_or(SealError::NoKek)?;
        Ok(Self {
            sealing,
            others: keys.collect(),
        })
    }

    /// The KEK that seals.
    pub fn sealing(&self) -> &KeyEncryptionKey {
        &self.sealing
    }

    fn all(&self) -> impl Iterator<Item = &KeyEncryptionKey> {
        std::iter::once(&self.sealing).chain(&self.others)
    }

    /// Every KEK's id, the sealing one first.
    pub fn ids(&self) -> Vec<&str> {
        self.all().map(KeyEncryptionKey::id).collect()
    }

    /// Opens `sealed` with whichever KEK it names.
    pub fn open(&self, sealed: &str) -> Result<Opened<'_>, SealError> {
        let sealed = sealed.trim();
        let rest = sealed.strip_prefix(PREFIX).ok_or_else(|| {
            SealError::Malformed(if sealed.starts_with("signed-headers-sealed.") {
                "sealed by a newer version of signed-headers (not v1)"
            } else {
                "does not start with signed-headers-sealed.v1."
            })
        })?;
        let (id, payload) = rest
            .split_once('.')
            .ok_or(SealError::Malformed("no KEK id"))?;
        let key = self
            .all()
            .find(|key| key.id == id)
            .ok_or_else(|| SealError::UnknownKek {
                wanted: printable_id(id),
                available: self.ids().join(", "),
            })?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map(Zeroizing::new)
            .map_err(|_| SealError::Malformed("not base64url"))?;
        Ok(Opened {
            text: key.open(&payload)?,
            kek: key,
        })
    }
}

/// A sealed bundle's text, and the KEK that opened it.
#[derive(Debug)]
pub struct Opened<'a> {
    pub text: Zeroizing<String>,
    pub kek: &'a KeyEncryptionKey,
}

/// Whether `text` is a sealed bundle (of any version), rather than PEM.
pub fn is_sealed(text: &str) -> bool {
    text.trim_start().starts_with("signed-headers-sealed.")
}

/// The id a sealed text names, as far as it can be shown in a log line.
fn printable_id(id: &str) -> String {
    if id.len() == KEK_ID_HEX && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        id.to_owned()
    } else {
        "(not a KEK id)".to_owned()
    }
}

/// Why a KEK or a sealed bundle was refused. Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    /// The variable is empty.
    NoKek,
    /// One of the comma-separated keys is not base64 of 32 bytes.
    NotAKek { position: usize, count: usize },
    /// The same KEK twice.
    DuplicateKek { position: usize, first: usize },
    /// The sealed text itself is broken.
    Malformed(&'static str),
    /// Sealed under a KEK the environment does not hold.
    UnknownKek { wanted: String, available: String },
    /// The KEK it names does not open it: altered, or cut.
    DoesNotOpen { kek: String },
    /// Over XChaCha20-Poly1305's 256 GiB.
    TooLarge,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::NoKek => write!(f, "{KEK_ENV} is empty"),
            SealError::NotAKek { position, count } => write!(
                f,
                "{KEK_ENV}: key {position} of {count} is not base64 of 32 bytes (`signing-key generate-kek` writes one)"
            ),
            SealError::DuplicateKek { position, first } => {
                write!(f, "{KEK_ENV}: key {position} repeats key {first}")
            }
            SealError::Malformed(why) => write!(f, "not a sealed bundle: {why}"),
            SealError::UnknownKek { wanted, available } => write!(
                f,
                "sealed under key-encryption key {wanted}, but {KEK_ENV} holds {available}"
            ),
            SealError::DoesNotOpen { kek } => write!(
                f,
                "does not open under key-encryption key {kek}: the sealed text was altered or cut"
            ),
            SealError::TooLarge => f.write_str("too large to seal"),
        }
    }
}

impl std::error::Error for SealError {}

#[cfg(test)]
mod tests {
    use super::*;

    const BUNDLE: &str =
        "-----BEGIN EC PRIVATE KEY-----\nnot really\n-----END EC PRIVATE KEY-----\n";

    fn keys(text: &str) -> KeyEncryptionKeys {
        KeyEncryptionKeys::parse(text).unwrap()
    }

    #[test]
    fn a_sealed_bundle_opens_under_its_kek_only() {
        let kek = KeyEncryptionKey::generate().unwrap();
        let other = KeyEncryptionKey::generate().unwrap();
        let sealed = kek.seal(BUNDLE).unwrap();
        assert!(is_sealed(&sealed));
        assert!(sealed.starts_with(&format!("signed-headers-sealed.v1.{}.", kek.id())));
        assert!(!sealed.contains("PRIVATE"));
        assert_eq!(*keys(&kek.to_text()).open(&sealed).unwrap().text, BUNDLE);
        assert_eq!(
            keys(&other.to_text()).open(&sealed).unwrap_err(),
            SealError::UnknownKek {
                wanted: kek.id().to_owned(),
                available: other.id().to_owned()
            }
        );
        // Either of two KEKs opens what it sealed; the first seals.
        let both = keys(&format!(
            "{}, {}",
            other.to_text().as_str(),
            kek.to_text().as_str()
        ));
        assert_eq!(*both.open(&sealed).unwrap().text, BUNDLE);
        assert_eq!(both.sealing().id(), other.id());
    }

    #[test]
    fn derived_keys_are_hmac_sha256_of_the_kek() {
        let kek = [0x42u8; KEK_BYTES];
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&kek).unwrap();
        mac.update(b"label");
        let expected: [u8; KEK_BYTES] = mac.finalize().into_bytes().into();
        assert_eq!(*derive(&kek, b"label"), expected);
    }

    #[test]
    fn the_format_is_pinned() {
        // A change here breaks every sealed file in the field.
        let kek = KeyEncryptionKey::from_bytes(&[7u8; KEK_BYTES]);
        assert_eq!(kek.to_text().as_str(), URL_SAFE_NO_PAD.encode([7u8; 32]));
        let sealed = kek.seal("bundle").unwrap();
        assert_eq!(sealed, PINNED);
        assert_eq!(*keys(&kek.to_text()).open(PINNED).unwrap().text, "bundle");
    }

    /// Also opened by tests/scripts/open-sealed.mjs (Node's OpenSSL).
    const PINNED: &str = "signed-headers-sealed.v1.921316cc5746.N4KTWErnM4B_sHIB0vJmS_GMASaf8jxp3i3mW5lIWrjLxRCY76mRj0s0QUiZjw";

    #[test]
    fn sealing_is_deterministic_per_kek_and_bundle() {
        let kek = KeyEncryptionKey::generate().unwrap();
        assert_eq!(kek.seal(BUNDLE).unwrap(), kek.seal(BUNDLE).unwrap());
        assert_ne!(
            kek.seal(BUNDLE).unwrap(),
            kek.seal(&BUNDLE.replace("really", "reallY")).unwrap()
        );
        let other = KeyEncryptionKey::generate().unwrap();
        let (a, b) = (kek.seal(BUNDLE).unwrap(), other.seal(BUNDLE).unwrap());
        assert_ne!(a.rsplit('.').next(), b.rsplit('.').next());
    }

    #[test]
    fn any_change_to_the_sealed_text_is_refused() {
        let kek = KeyEncryptionKey::generate().unwrap();
        let opener = keys(&kek.to_text());
        let sealed = kek.seal(BUNDLE).unwrap();
        let payload_at = sealed.rfind('.').unwrap() + 1;
        for at in payload_at..sealed.len() {
            let mut bytes = sealed.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            if altered == sealed {
                continue;
            }
            let error = opener.open(&altered).unwrap_err();
            assert!(
                matches!(
                    error,
                    SealError::DoesNotOpen { .. } | SealError::Malformed(_)
                ),
                "{at}: {error}"
            );
        }
        // Cut short, and moved to another KEK's id (the id is authenticated).
        assert!(opener.open(&sealed[..sealed.len() - 4]).is_err());
        assert!(opener.open(&sealed[..payload_at + 10]).is_err());
        let version_bumped = sealed.replacen("v1", "v2", 1);
        assert_eq!(
            opener.open(&version_bumped).unwrap_err().to_string(),
            "not a sealed bundle: sealed by a newer version of signed-headers (not v1)"
        );
    }

    #[test]
    fn kek_text_is_base64_of_32_bytes_in_any_alphabet() {
        let kek = KeyEncryptionKey::generate().unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(kek.to_text().as_bytes()).unwrap();
        for text in [
            STANDARD.encode(&bytes),
            URL_SAFE.encode(&bytes),
            STANDARD_NO_PAD.encode(&bytes),
            format!("  {}\n", kek.to_text().as_str()),
        ] {
            assert_eq!(keys(&text).sealing().id(), kek.id());
        }
        assert_eq!(
            KeyEncryptionKeys::parse(" , ").unwrap_err(),
            SealError::NoKek
        );
        let short = STANDARD.encode([7u8; 31]);
        let error =
            KeyEncryptionKeys::parse(&format!("{},{short}", kek.to_text().as_str())).unwrap_err();
        assert_eq!(
            error,
            SealError::NotAKek {
                position: 2,
                count: 2
            }
        );
        assert!(!error.to_string().contains(&short));
        let twice = format!("{0},{0}", kek.to_text().as_str());
        assert_eq!(
            KeyEncryptionKeys::parse(&twice).unwrap_err(),
            SealError::DuplicateKek {
                position: 2,
                first: 1
            }
        );
    }

    #[test]
    fn errors_never_show_what_they_were_given() {
        let kek = KeyEncryptionKey::generate().unwrap();
        let opener = keys(&kek.to_text());
        let forged_id = "signed-headers-sealed.v1.SECRETSECRETSECRET.AAAA";
        let error = opener.open(forged_id).unwrap_err().to_string();
        assert!(!error.contains("SECRET"), "{error}");
        assert!(error.contains(kek.id()), "{error}");
        assert!(!format!("{kek:?}").contains(kek.to_text().as_str()));
    }
}
