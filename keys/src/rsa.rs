//! RSA public keys, verify-only: parsed from PKCS#1 `RSAPublicKey` DER
//! (the body of an `RSA PUBLIC KEY` block, or the key inside an RSA
//! `PUBLIC KEY`), published as RS256 JWKs. Nothing here signs RS256.

use crate::asn1::{der_length, tlv, unsigned};
use crate::error::Reason;

/// Smallest modulus accepted (NIST SP 800-131A, and what AppSSO requires).
pub const MIN_RSA_BITS: usize = 2048;

/// An RSA public key: modulus and exponent, big-endian, no leading zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaPublic {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

impl RsaPublic {
    pub fn bits(&self) -> usize {
        match self.n.first() {
            Some(first) => self.n.len() * 8 - first.leading_zeros() as usize,
            None => 0,
        }
    }
}

/// The SubjectPublicKeyInfo around a PKCS#1 `RSAPublicKey` (algorithm
/// rsaEncryption with NULL parameters), as openssl `-pubout` writes it.
pub fn spki_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    const ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0x03];
    bit_string.extend(der_length(pkcs1.len() + 1));
    bit_string.push(0);
    bit_string.extend(pkcs1);
    let mut out = vec![0x30];
    out.extend(der_length(ALGORITHM.len() + bit_string.len()));
    out.extend(ALGORITHM);
    out.extend(bit_string);
    out
}

/// Parses `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
pub fn parse_pkcs1_public(der: &[u8]) -> Result<RsaPublic, Reason> {
    let malformed = || Reason::Malformed("not a PKCS#1 RSAPublicKey".into());
    let (tag, sequence, rest) = tlv(der).ok_or_else(malformed)?;
    if tag != 0x30 || !rest.is_empty() {
        return Err(malformed());
    }
    let (tag, modulus, rest) = tlv(sequence).ok_or_else(malformed)?;
    let (exponent_tag, exponent, rest) = tlv(rest).ok_or_else(malformed)?;
    if tag != 0x02 || exponent_tag != 0x02 || !rest.is_empty() {
        return Err(malformed());
    }
    let key = RsaPublic {
        n: unsigned(modulus).ok_or_else(malformed)?,
        e: unsigned(exponent).ok_or_else(malformed)?,
    };
    let bits = key.bits();
    if bits < MIN_RSA_BITS {
        return Err(Reason::RsaTooSmall { bits });
    }
    if key.e.last().is_none_or(|last| last & 1 == 0) || key.e == [1] {
        return Err(Reason::Malformed(
            "RSA public exponent must be odd and above 1".into(),
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(n: &[u8], e: &[u8]) -> Vec<u8> {
        fn integer(value: &[u8]) -> Vec<u8> {
            let mut body = Vec::new();
            if value.first().is_some_and(|b| b & 0x80 != 0) {
                body.push(0);
            }
            body.extend(value);
            let mut out = vec![0x02];
            out.extend(length(body.len()));
            out.extend(body);
            out
        }
        fn length(len: usize) -> Vec<u8> {
            if len < 0x80 {
                vec![len as u8]
            } else if len < 0x100 {
                vec![0x81, len as u8]
            } else {
                vec![0x82, (len >> 8) as u8, len as u8]
            }
        }
        let mut body = integer(n);
        body.extend(integer(e));
        let mut out = vec![0x30];
        out.extend(length(body.len()));
        out.extend(body);
        out
    }

    #[test]
    fn reads_modulus_and_exponent_and_refuses_small_keys() {
        let n = vec![0xc5; 256];
        let key = parse_pkcs1_public(&der(&n, &[1, 0, 1])).unwrap();
        assert_eq!(key.bits(), 2048);
        assert_eq!((key.n, key.e), (n, vec![1, 0, 1]));
        assert_eq!(
            parse_pkcs1_public(&der(&[0xc5; 128], &[1, 0, 1])),
            Err(Reason::RsaTooSmall { bits: 1024 })
        );
        assert!(parse_pkcs1_public(&der(&[0xc5; 256], &[2])).is_err());
        assert!(parse_pkcs1_public(b"\x30\x00").is_err());
        let mut trailing = der(&[0xc5; 256], &[3]);
        trailing.push(0);
        assert!(parse_pkcs1_public(&trailing).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let valid = der(&[0xc5; 256], &[1, 0, 1]);
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bytes = valid.clone();
            let at = (state as usize) % bytes.len();
            bytes[at] = (state >> 32) as u8;
            bytes.truncate(((state >> 40) as usize) % (bytes.len() + 1));
            let _ = parse_pkcs1_public(&bytes);
        }
    }
}
