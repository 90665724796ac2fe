//! P-256 keys written with explicit curve parameters (`openssl ecparam
//! -genkey -param_enc explicit`, `openssl ec -param_enc explicit`): the
//! domain spelled out (prime, coefficients, base point, order) where a
//! named-curve key has P-256's OID. Python's `cryptography`, Node's
//! `crypto` and `jose` read such a key as P-256; the RustCrypto parsers take
//! only named curves. A key whose every parameter is P-256's is read here,
//! for the bundle to keep in its named-curve form; any other domain is
//! refused as another curve.
//!
//! Each reader returns `None` when the key does not carry explicit
//! parameters, so the caller reports its own parser's error instead.

use p256::elliptic_curve::sec1::ToSec1Point as _;
use p256::{PublicKey, SecretKey};

use crate::asn1::{tlv, unsigned};
use crate::error::Reason;

const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OBJECT_IDENTIFIER: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const CONTEXT_0: u8 = 0xa0;
const CONTEXT_1: u8 = 0xa1;

/// The contents of OID 1.2.840.10045.1.1 (prime-field).
const PRIME_FIELD: [u8; 7] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x01, 0x01];
/// The contents of OID 1.2.840.10045.3.1.7 (prime256v1, P-256).
const P256_OID: [u8; 8] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// P-256's domain (SEC 2 section 2.4.2; FIPS 186-4 D.1.2.3), big-endian.
const P: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
];
const A: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc,
];
const B: [u8; 32] = [
    0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98, 0x86, 0xbc,
    0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b,
];
const GX: [u8; 32] = [
    0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
    0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
];
const GY: [u8; 32] = [
    0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
    0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
];
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn malformed(what: &str) -> Reason {
    Reason::Malformed(format!("explicit curve parameters: {what}"))
}

/// An integer's or a field element's value without leading zero bytes.
fn trimmed(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|byte| **byte == 0).count();
    bytes.get(zeros..).unwrap_or_default()
}

/// The next TLV of `input`, which must have the tag `expected`: its
/// contents and what follows it.
fn field<'a>(name: &str, expected: u8, input: &'a [u8]) -> Result<(&'a [u8], &'a [u8]), Reason> {
    match tlv(input) {
        Some((tag, contents, rest)) if tag == expected => Ok((contents, rest)),
        _ => Err(malformed(name)),
    }
}

/// Checks the contents of a `SpecifiedECDomain` (SEC 1 C.2): version,
/// prime field, coefficients (a seed is provenance, not part of the
/// curve), base point, order and cofactor must all be P-256's.
fn require_p256_domain(domain: &[u8]) -> Result<(), Reason> {
    let other = |why: String| Reason::OtherCurve(format!("given by explicit parameters ({why})"));
    let (version, rest) = field("version", INTEGER, domain)?;
    if !matches!(version, [1..=3]) {
        return Err(malformed("version"));
    }
    let (field_id, rest) = field("field", SEQUENCE, rest)?;
    let (field_type, field_rest) = field("field type", OBJECT_IDENTIFIER, field_id)?;
    if field_type != PRIME_FIELD {
        return Err(other("a binary field".into()));
    }
    let (prime, _) = field("prime", INTEGER, field_rest)?;
    let prime = unsigned(prime).ok_or_else(|| malformed("prime"))?;
    if prime != P {
        return Err(other(format!("a {}-bit prime field", prime.len() * 8)));
    }
    let (curve, rest) = field("curve", SEQUENCE, rest)?;
    let (a, curve_rest) = field("a", OCTET_STRING, curve)?;
    let (b, _) = field("b", OCTET_STRING, curve_rest)?;
    if trimmed(a) != trimmed(&A) || trimmed(b) != trimmed(&B) {
        return Err(other("another curve over P-256's field".into()));
    }
    let (base, rest) = field("base point", OCTET_STRING, rest)?;
    let generator = PublicKey::from_sec1_bytes(base)
        .map_err(|_| other("a base point not on P-256".into()))?
        .to_sec1_point(false);
    if generator.as_bytes().get(1..) != Some([GX, GY].concat().as_slice()) {
        return Err(other("another base point".into()));
    }
    let (order, rest) = field("order", INTEGER, rest)?;
    if unsigned(order).as_deref() != Some(N.as_slice()) {
        return Err(other("another order".into()));
    }
    if let Some((INTEGER, cofactor, _)) = tlv(rest)
        && cofactor != [1]
    {
        return Err(other("a cofactor other than 1".into()));
    }
    Ok(())
}

/// Checks `ECParameters` given as a whole TLV: explicit ones must be
/// P-256's; a named curve must be P-256.
fn require_p256_parameters(parameters: &[u8]) -> Result<(), Reason> {
    match tlv(parameters) {
        Some((SEQUENCE, domain, [])) => require_p256_domain(domain),
        Some((OBJECT_IDENTIFIER, oid, [])) if oid == P256_OID => Ok(()),
        Some((OBJECT_IDENTIFIER, _, [])) => Err(Reason::OtherCurve(
            "named by an OID other than P-256's".into(),
        )),
        _ => Err(malformed("neither a domain nor a named curve")),
    }
}

fn is_explicit(parameters: &[u8]) -> bool {
    matches!(tlv(parameters), Some((SEQUENCE, _, _)))
}

/// The fields of a SEC1 `ECPrivateKey` (RFC 5915): the private scalar, and
/// the optional `[0]` parameters and `[1]` public key (their contents).
struct Sec1Fields<'a> {
    private: &'a [u8],
    parameters: Option<&'a [u8]>,
    public: Option<&'a [u8]>,
}

fn sec1_fields(der: &[u8]) -> Option<Sec1Fields<'_>> {
    let (SEQUENCE, key, []) = tlv(der)? else {
        return None;
    };
    let (INTEGER, [1], rest) = tlv(key)? else {
        return None;
    };
    let (OCTET_STRING, private, mut rest) = tlv(rest)? else {
        return None;
    };
    let mut fields = Sec1Fields {
        private,
        parameters: None,
        public: None,
    };
    while let Some((tag, contents, tail)) = tlv(rest) {
        match tag {
            CONTEXT_0 => fields.parameters = Some(contents),
            CONTEXT_1 => fields.public = Some(contents),
            _ => return None,
        }
        rest = tail;
    }
    rest.is_empty().then_some(fields)
}

/// A SEC1 `ECPrivateKey` whose `[0]` parameters are explicit.
pub fn sec1_private(der: &[u8]) -> Option<Result<SecretKey, Reason>> {
    let fields = sec1_fields(der)?;
    if !is_explicit(fields.parameters?) {
        return None;
    }
    Some(sec1_private_key(&fields))
}

/// The private key of a SEC1 key whose parameters, if any, are P-256's,
/// checked against the public key it stores, if any.
fn sec1_private_key(fields: &Sec1Fields<'_>) -> Result<SecretKey, Reason> {
    if let Some(parameters) = fields.parameters {
        require_p256_parameters(parameters)?;
    }
    let secret =
        SecretKey::from_slice(fields.private).map_err(|err| Reason::Malformed(err.to_string()))?;
    if let Some(public) = fields.public {
        let (BIT_STRING, [0, point @ ..], []) =
            tlv(public).ok_or_else(|| malformed("public key"))?
        else {
            return Err(malformed("public key"));
        };
        let own = secret.public_key();
        if point != own.to_sec1_point(false).as_bytes()
            && point != own.to_sec1_point(true).as_bytes()
        {
            return Err(Reason::MismatchedPublicKey);
        }
    }
    Ok(secret)
}

/// A PKCS#8 `PrivateKeyInfo` for id-ecPublicKey with explicit parameters
/// (its inner SEC1 key with none, named or explicit ones).
pub fn pkcs8_private(der: &[u8]) -> Option<Result<SecretKey, Reason>> {
    let (SEQUENCE, info, []) = tlv(der)? else {
        return None;
    };
    let (INTEGER, [0 | 1], rest) = tlv(info)? else {
        return None;
    };
    let (parameters, rest) = ec_algorithm(rest)?;
    let (OCTET_STRING, inner, _) = tlv(rest)? else {
        return None;
    };
    Some(require_p256_parameters(parameters).and_then(|()| inner_sec1(inner)))
}

/// The SEC1 key inside a PKCS#8 one: its own parameters may be absent.
fn inner_sec1(der: &[u8]) -> Result<SecretKey, Reason> {
    let fields = sec1_fields(der).ok_or_else(|| malformed("the inner SEC1 key"))?;
    sec1_private_key(&fields)
}

/// A `SubjectPublicKeyInfo` for id-ecPublicKey with explicit parameters.
pub fn spki_public(der: &[u8]) -> Option<Result<PublicKey, Reason>> {
    let (SEQUENCE, info, []) = tlv(der)? else {
        return None;
    };
    let (parameters, rest) = ec_algorithm(info)?;
    let (BIT_STRING, [0, point @ ..], []) = tlv(rest)? else {
        return None;
    };
    Some(require_p256_parameters(parameters).and_then(|()| {
        PublicKey::from_sec1_bytes(point).map_err(|err| Reason::Malformed(err.to_string()))
    }))
}

/// The contents of OID 1.2.840.10045.2.1 (id-ecPublicKey).
const EC_PUBLIC_KEY: [u8; 7] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// An `AlgorithmIdentifier` for id-ecPublicKey with explicit parameters:
/// the parameters' whole TLV, and what follows the identifier.
fn ec_algorithm(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (SEQUENCE, algorithm, rest) = tlv(input)? else {
        return None;
    };
    let (OBJECT_IDENTIFIER, oid, parameters) = tlv(algorithm)? else {
        return None;
    };
    (oid == EC_PUBLIC_KEY && is_explicit(parameters)).then_some((parameters, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl ecparam -name prime256v1 -param_enc explicit -outform DER`:
    /// P-256's domain with its seed, the base point uncompressed.
    fn domain_from_openssl() -> Vec<u8> {
        let hex = "3081f7020101302c06072a8648ce3d0101022100ffffffff00000001000000000000000000000000ffffffffffffffffffffffff305b0420ffffffff00000001000000000000000000000000fffffffffffffffffffffffc04205ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b031500c49d360886e704936a6678e1139d26b7819f7e900441046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5022100ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551020101";
        (0..hex.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn p256s_own_domain_is_accepted_and_any_change_refused() {
        let domain = domain_from_openssl();
        assert_eq!(require_p256_parameters(&domain), Ok(()));
        assert_eq!(
            require_p256_parameters(&[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
            Ok(())
        );
        // Change one byte of b, of the base point, of the order, of p.
        for (what, needle) in [
            ("b", "5ac635d8"),
            ("base point", "6b17d1f2"),
            ("order", "bce6faad"),
        ] {
            let mut changed = domain.clone();
            let needle: Vec<u8> = (0..needle.len())
                .step_by(2)
                .map(|at| u8::from_str_radix(&needle[at..at + 2], 16).unwrap())
                .collect();
            let at = changed
                .windows(needle.len())
                .position(|window| window == needle)
                .unwrap();
            changed[at + 3] ^= 1;
            assert!(
                matches!(
                    require_p256_parameters(&changed),
                    Err(Reason::OtherCurve(_))
                ),
                "{what}"
            );
        }
        let mut cofactor_two = domain.clone();
        *cofactor_two.last_mut().unwrap() = 2;
        assert!(matches!(
            require_p256_parameters(&cofactor_two),
            Err(Reason::OtherCurve(_))
        ));
        assert!(matches!(
            require_p256_parameters(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]),
            Err(Reason::OtherCurve(_))
        ));
    }

    #[test]
    fn random_and_mutated_keys_never_panic() {
        let mut key = vec![0x30, 0x82, 0x01, 0x13, 0x02, 0x01, 0x01, 0x04, 0x20];
        key.extend([7u8; 32]);
        key.push(0xa0);
        let domain = domain_from_openssl();
        key.extend(crate::asn1::der_length(domain.len()));
        key.extend(&domain);
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bytes = key.clone();
            let at = (state as usize) % bytes.len();
            bytes[at] = (state >> 32) as u8;
            bytes.truncate(((state >> 40) as usize) % (bytes.len() + 1));
            let _ = sec1_private(&bytes);
            let _ = pkcs8_private(&bytes);
            let _ = spki_public(&bytes);
        }
    }
}
