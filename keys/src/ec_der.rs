//! P-256 keys in DER, read and written by hand with `asn1.rs`: SEC1
//! `ECPrivateKey` (RFC 5915), PKCS#8 `PrivateKeyInfo` and
//! `OneAsymmetricKey` (RFC 5208, 5958) and `SubjectPublicKeyInfo` (RFC
//! 5480), the curve named by its OID or given by explicit parameters
//! (`openssl ecparam -genkey -param_enc explicit`, `openssl ec -param_enc
//! explicit`: the domain spelled out, prime, coefficients, base point,
//! order). Python's `cryptography`, Node's `crypto` and `jose` read an
//! explicit key as P-256; so does this module when every parameter is
//! P-256's, and the bundle keeps such a key in its named-curve form; any
//! other domain is refused as another curve.
//!
//! The RustCrypto DER crates (`der`, `sec1`, `pkcs8`, `spki`) did the
//! named-curve half until these few structures, read and written here,
//! took their place in the filter: about 70 KB of its Wasm, all compiled
//! before Envoy's first request (BENCHMARKS.md, "One sort of our own,
//! keys in DER by hand").
//! The tests check the writers byte for byte against `p256`'s and the
//! readers on keys as openssl, Python and Node write them.

use p256::elliptic_curve::sec1::ToSec1Point as _;
use p256::{PublicKey, SecretKey};

use crate::asn1::{tlv, unsigned};
use crate::error::Reason;
use zeroize::Zeroizing;

const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OBJECT_IDENTIFIER: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const NULL: u8 = 0x05;
const CONTEXT_0: u8 = 0xa0;
const CONTEXT_1: u8 = 0xa1;
/// `[1] IMPLICIT BIT STRING`: `OneAsymmetricKey`'s public key.
const CONTEXT_1_PRIMITIVE: u8 = 0x81;

/// The contents of OID 1.2.840.10045.1.1 (prime-field).
const PRIME_FIELD: [u8; 7] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x01, 0x01];
/// The contents of OID 1.2.840.10045.3.1.7 (prime256v1, P-256).
const P256_OID: [u8; 8] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// The contents of OID 1.2.840.10045.2.1 (id-ecPublicKey).
const EC_PUBLIC_KEY: [u8; 7] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// The contents of OID 1.2.840.113549.1.1.1 (rsaEncryption).
const RSA_ENCRYPTION: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// The contents of OID 1.2.840.113549.1.1.10 (id-RSASSA-PSS).
const RSA_PSS: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];

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
    Reason::Malformed(what.to_owned())
}

fn malformed_parameters(what: &str) -> Reason {
    Reason::Malformed(format!("explicit curve parameters: {what}"))
}

/// An integer's or a field element's value without leading zero bytes.
fn trimmed(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|byte| **byte == 0).count();
    bytes.get(zeros..).unwrap_or_default()
}

/// The next TLV of a `SpecifiedECDomain`, which must have the tag
/// `expected`: its contents and what follows it.
fn field_of_domain<'a>(
    name: &str,
    expected: u8,
    input: &'a [u8],
) -> Result<(&'a [u8], &'a [u8]), Reason> {
    match tlv(input) {
        Some((tag, contents, rest)) if tag == expected => Ok((contents, rest)),
        _ => Err(malformed_parameters(name)),
    }
}

/// Checks the contents of a `SpecifiedECDomain` (SEC 1 C.2): version,
/// prime field, coefficients (a seed is provenance, not part of the
/// curve), base point, order and cofactor must all be P-256's.
fn require_p256_domain(domain: &[u8]) -> Result<(), Reason> {
    let other = |why: String| Reason::OtherCurve(format!("given by explicit parameters ({why})"));
    let (version, rest) = field_of_domain("version", INTEGER, domain)?;
    if !matches!(version, [1..=3]) {
        return Err(malformed_parameters("version"));
    }
    let (field_id, rest) = field_of_domain("field", SEQUENCE, rest)?;
    let (field_type, field_rest) = field_of_domain("field type", OBJECT_IDENTIFIER, field_id)?;
    if field_type != PRIME_FIELD {
        return Err(other("a binary field".into()));
    }
    let (prime, _) = field_of_domain("prime", INTEGER, field_rest)?;
    let prime = unsigned(prime).ok_or_else(|| malformed_parameters("prime"))?;
    if prime != P {
        return Err(other(format!("a {}-bit prime field", prime.len() * 8)));
    }
    let (curve, rest) = field_of_domain("curve", SEQUENCE, rest)?;
    let (a, curve_rest) = field_of_domain("a", OCTET_STRING, curve)?;
    let (b, _) = field_of_domain("b", OCTET_STRING, curve_rest)?;
    if trimmed(a) != trimmed(&A) || trimmed(b) != trimmed(&B) {
        return Err(other("another curve over P-256's field".into()));
    }
    let (base, rest) = field_of_domain("base point", OCTET_STRING, rest)?;
    let generator = PublicKey::from_sec1_bytes(base)
        .map_err(|_| other("a base point not on P-256".into()))?
        .to_sec1_point(false);
    if generator.as_bytes().get(1..) != Some([GX, GY].concat().as_slice()) {
        return Err(other("another base point".into()));
    }
    let (order, rest) = field_of_domain("order", INTEGER, rest)?;
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
        Some((OBJECT_IDENTIFIER, oid, [])) => Err(Reason::OtherCurve(curve_name(oid))),
        _ => Err(malformed(
            "EC key with neither a named curve nor explicit curve parameters",
        )),
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

/// The next TLV of `input` if it has the tag `tag`: its contents and what
/// follows; else nothing read.
fn optional(tag: u8, input: &[u8]) -> (Option<&[u8]>, &[u8]) {
    match tlv(input) {
        Some((found, contents, rest)) if found == tag => (Some(contents), rest),
        _ => (None, input),
    }
}

fn sec1_fields(der: &[u8]) -> Option<Sec1Fields<'_>> {
    let (SEQUENCE, key, []) = tlv(der)? else {
        return None;
    };
    let (INTEGER, [1], rest) = tlv(key)? else {
        return None;
    };
    let (OCTET_STRING, private, rest) = tlv(rest)? else {
        return None;
    };
    let (parameters, rest) = optional(CONTEXT_0, rest);
    let (public, rest) = optional(CONTEXT_1, rest);
    rest.is_empty().then_some(Sec1Fields {
        private,
        parameters,
        public,
    })
}

/// A private key read from DER: the key, its public key (computed once,
/// for the stored ones to be checked against and for the caller), and
/// whether its curve was given by explicit parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivateRead {
    pub secret: SecretKey,
    pub public: PublicKey,
    pub explicit: bool,
}

/// A SEC1 `ECPrivateKey` (`EC PRIVATE KEY`).
pub fn sec1_private(der: &[u8]) -> Result<PrivateRead, Reason> {
    let fields = sec1_fields(der).ok_or_else(|| malformed("not a SEC1 ECPrivateKey (RFC 5915)"))?;
    let (secret, public) = sec1_private_key(&fields)?;
    Ok(PrivateRead {
        secret,
        public,
        explicit: fields.parameters.is_some_and(is_explicit),
    })
}

/// The private key of a SEC1 key whose parameters, if any, are P-256's,
/// and its public key, checked against the one the key stores, if any.
fn sec1_private_key(fields: &Sec1Fields<'_>) -> Result<(SecretKey, PublicKey), Reason> {
    if let Some(parameters) = fields.parameters {
        require_p256_parameters(parameters)?;
    }
    let secret =
        SecretKey::from_slice(fields.private).map_err(|err| Reason::Malformed(err.to_string()))?;
    let own = public_key(&secret)?;
    if let Some(public) = fields.public {
        let (BIT_STRING, [0, point @ ..], []) =
            tlv(public).ok_or_else(|| malformed("public key"))?
        else {
            return Err(malformed("public key"));
        };
        require_own_point(&own, point)?;
    }
    Ok((secret, own))
}

/// A PKCS#8 `PrivateKeyInfo` or `OneAsymmetricKey` (`PRIVATE KEY`) for
/// id-ecPublicKey on P-256, and whether its parameters were explicit. Its
/// inner SEC1 key may carry parameters of its own (then P-256's too).
pub fn pkcs8_private(der: &[u8]) -> Result<PrivateRead, Reason> {
    let not_pkcs8 = || malformed("not a PKCS#8 PrivateKeyInfo (RFC 5208)");
    let Some((SEQUENCE, info, [])) = tlv(der) else {
        return Err(not_pkcs8());
    };
    let Some((INTEGER, version @ ([0] | [1]), rest)) = tlv(info) else {
        return Err(not_pkcs8());
    };
    let (algorithm, parameters, rest) = algorithm_identifier(rest).ok_or_else(not_pkcs8)?;
    let Some((OCTET_STRING, inner, rest)) = tlv(rest) else {
        return Err(not_pkcs8());
    };
    // Attributes, then (version 2 only) the public key, each optional.
    let (_attributes, rest) = optional(CONTEXT_0, rest);
    let (public, rest) = optional(CONTEXT_1_PRIMITIVE, rest);
    if !rest.is_empty() || (public.is_some() && version == [0]) {
        return Err(not_pkcs8());
    }
    let parameters = require_ec(algorithm, parameters, true)?;
    require_p256_parameters(parameters)?;
    let fields = sec1_fields(inner).ok_or_else(|| malformed("the inner SEC1 key"))?;
    let (secret, own) = sec1_private_key(&fields)?;
    if let Some(bits) = public {
        let [0, point @ ..] = bits else {
            return Err(malformed("public key"));
        };
        require_own_point(&own, point)?;
    }
    Ok(PrivateRead {
        secret,
        public: own,
        explicit: is_explicit(parameters),
    })
}

/// `secret`'s public key.
pub fn public_key(secret: &SecretKey) -> Result<PublicKey, Reason> {
    crate::fixed_base::public_key(secret)
        .ok_or_else(|| malformed("no public key for this private key"))
}

/// `point` (SEC1-encoded) must be `own`, compressed or not.
fn require_own_point(own: &PublicKey, point: &[u8]) -> Result<(), Reason> {
    if point == own.to_sec1_point(false).as_bytes() || point == own.to_sec1_point(true).as_bytes() {
        Ok(())
    } else {
        Err(Reason::MismatchedPublicKey)
    }
}

/// A public key read from a `SubjectPublicKeyInfo` (`PUBLIC KEY`).
pub enum PublicRead<'a> {
    /// A P-256 key, and whether its parameters were explicit.
    P256(PublicKey, bool),
    /// The PKCS#1 `RSAPublicKey` an RSA key holds.
    Rsa(&'a [u8]),
}

/// A `SubjectPublicKeyInfo` of a P-256 or an RSA key.
pub fn spki_public(der: &[u8]) -> Result<PublicRead<'_>, Reason> {
    let not_spki = || malformed("not a SubjectPublicKeyInfo (RFC 5280)");
    let Some((SEQUENCE, info, [])) = tlv(der) else {
        return Err(not_spki());
    };
    let (algorithm, parameters, rest) = algorithm_identifier(info).ok_or_else(not_spki)?;
    let Some((BIT_STRING, bits, [])) = tlv(rest) else {
        return Err(not_spki());
    };
    if algorithm == RSA_ENCRYPTION {
        return match bits {
            [0, pkcs1 @ ..] => Ok(PublicRead::Rsa(pkcs1)),
            _ => Err(malformed("RSA key with unused bits")),
        };
    }
    let parameters = require_ec(algorithm, parameters, false)?;
    require_p256_parameters(parameters)?;
    let [0, point @ ..] = bits else {
        return Err(malformed("EC public key with unused bits"));
    };
    let public =
        PublicKey::from_sec1_bytes(point).map_err(|err| Reason::Malformed(err.to_string()))?;
    Ok(PublicRead::P256(public, is_explicit(parameters)))
}

/// An `AlgorithmIdentifier`: the OID's contents, the parameters' whole TLV
/// (empty when absent) and what follows the identifier.
fn algorithm_identifier(input: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (SEQUENCE, algorithm, rest) = tlv(input)? else {
        return None;
    };
    let (OBJECT_IDENTIFIER, oid, parameters) = tlv(algorithm)? else {
        return None;
    };
    Some((oid, parameters, rest))
}

/// The parameters of an id-ecPublicKey algorithm, or why the algorithm is
/// not one this crate takes (`private`: the key is a private one, so an
/// RSA key cannot be published from it).
fn require_ec<'a>(
    algorithm: &[u8],
    parameters: &'a [u8],
    private: bool,
) -> Result<&'a [u8], Reason> {
    if algorithm == RSA_ENCRYPTION && private {
        return Err(Reason::RsaPrivate);
    }
    if algorithm == RSA_PSS {
        return Err(Reason::RsaPss);
    }
    if algorithm != EC_PUBLIC_KEY {
        return Err(Reason::UnsupportedAlgorithm(algorithm_name(algorithm)));
    }
    match tlv(parameters) {
        None | Some((NULL, _, _)) => Err(malformed(
            "EC key with neither a named curve nor explicit curve parameters",
        )),
        Some(_) => Ok(parameters),
    }
}

/// An OID's contents in dotted form (`1.2.840.10045.2.1`).
fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for byte in oid {
        if value > u64::MAX >> 7 {
            return "an unreadable OID".into();
        }
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            arcs.push(value);
            value = 0;
        }
    }
    let Some((&first, rest)) = arcs.split_first() else {
        return "an empty OID".into();
    };
    let (top, second) = match first {
        0..40 => (0, first),
        40..80 => (1, first - 40),
        _ => (2, first - 80),
    };
    std::iter::once(top)
        .chain(std::iter::once(second))
        .chain(rest.iter().copied())
        .map(|arc| arc.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

fn curve_name(curve: &[u8]) -> String {
    let oid = dotted(curve);
    let name = match oid.as_str() {
        "1.3.132.0.34" => "P-384 (secp384r1)",
        "1.3.132.0.35" => "P-521 (secp521r1)",
        "1.3.132.0.10" => "secp256k1",
        "1.2.840.10045.3.1.1" => "P-192 (prime192v1)",
        "1.3.132.0.33" => "P-224 (secp224r1)",
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1",
        _ => return oid,
    };
    name.to_owned()
}

fn algorithm_name(algorithm: &[u8]) -> String {
    let oid = dotted(algorithm);
    let name = match oid.as_str() {
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        "1.2.840.10040.4.1" => "DSA",
        _ => return oid,
    };
    name.to_owned()
}

/// `prefix`, then `middle` (secret), then `suffix`, in memory wiped on drop.
fn joined(prefix: &[&[u8]], middle: &[u8], suffix: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(160));
    for part in prefix {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(middle);
    for part in suffix {
        out.extend_from_slice(part);
    }
    out
}

/// The uncompressed point of `public` (`04 ‖ x ‖ y`).
fn uncompressed(public: &PublicKey) -> Vec<u8> {
    public.to_sec1_point(false).as_bytes().to_vec()
}

/// `secret` as a SEC1 `ECPrivateKey` with P-256's OID and its public key
/// `public`, as `openssl ec` writes it (and `p256`'s `to_sec1_der`).
pub fn sec1_der(secret: &SecretKey, public: &PublicKey) -> Zeroizing<Vec<u8>> {
    let point = uncompressed(public);
    let scalar = Zeroizing::new(secret.to_bytes());
    joined(
        &[&[SEQUENCE, 0x77, INTEGER, 0x01, 0x01, OCTET_STRING, 0x20]],
        scalar.as_slice(),
        &[
            &[CONTEXT_0, 0x0a, OBJECT_IDENTIFIER, 0x08],
            &P256_OID,
            &[CONTEXT_1, 0x44, BIT_STRING, 0x42, 0x00],
            &point,
        ],
    )
}

/// `secret` as a PKCS#8 `PrivateKeyInfo` (version 1) for id-ecPublicKey on
/// P-256, its inner SEC1 key without parameters and with the public key,
/// as `openssl pkcs8` writes it (and `p256`'s `to_pkcs8_der`); `public`
/// is its public key.
pub fn pkcs8_der(secret: &SecretKey, public: &PublicKey) -> Zeroizing<Vec<u8>> {
    let point = uncompressed(public);
    let scalar = Zeroizing::new(secret.to_bytes());
    joined(
        &[
            &[SEQUENCE, 0x81, 0x87, INTEGER, 0x01, 0x00],
            &[SEQUENCE, 0x13, OBJECT_IDENTIFIER, 0x07],
            &EC_PUBLIC_KEY,
            &[OBJECT_IDENTIFIER, 0x08],
            &P256_OID,
            &[
                OCTET_STRING,
                0x6d,
                SEQUENCE,
                0x6b,
                INTEGER,
                0x01,
                0x01,
                OCTET_STRING,
                0x20,
            ],
        ],
        scalar.as_slice(),
        &[&[CONTEXT_1, 0x44, BIT_STRING, 0x42, 0x00], &point],
    )
}

/// `public` as a `SubjectPublicKeyInfo` with P-256's OID, the point
/// uncompressed.
pub fn spki_der(public: &PublicKey) -> Vec<u8> {
    let mut out = vec![SEQUENCE, 0x59, SEQUENCE, 0x13, OBJECT_IDENTIFIER, 0x07];
    out.extend_from_slice(&EC_PUBLIC_KEY);
    out.extend_from_slice(&[OBJECT_IDENTIFIER, 0x08]);
    out.extend_from_slice(&P256_OID);
    out.extend_from_slice(&[BIT_STRING, 0x42, 0x00]);
    out.extend_from_slice(&uncompressed(public));
    out
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
    fn writers_match_p256s_encoders_and_readers_take_them_back() {
        use p256::elliptic_curve::Generate as _;
        use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
        for _ in 0..32 {
            let secret = SecretKey::try_generate().unwrap();
            let public = secret.public_key();
            assert_eq!(public_key(&secret), Ok(public));
            let sec1 = sec1_der(&secret, &public);
            assert_eq!(sec1.as_slice(), secret.to_sec1_der().unwrap().as_slice());
            let pkcs8 = pkcs8_der(&secret, &public);
            assert_eq!(pkcs8.as_slice(), secret.to_pkcs8_der().unwrap().as_bytes());
            let spki = spki_der(&public);
            assert_eq!(spki, public.to_public_key_der().unwrap().as_bytes());
            let read = PrivateRead {
                secret: secret.clone(),
                public,
                explicit: false,
            };
            assert_eq!(sec1_private(&sec1), Ok(read.clone()));
            assert_eq!(pkcs8_private(&pkcs8), Ok(read));
            assert!(matches!(
                spki_public(&spki),
                Ok(PublicRead::P256(read, false)) if read == public
            ));
        }
    }

    #[test]
    fn pkcs8_version_2_carries_its_public_key_and_nothing_else() {
        use p256::elliptic_curve::Generate as _;
        let secret = SecretKey::try_generate().unwrap();
        let v1 = pkcs8_der(&secret, &secret.public_key());
        // OneAsymmetricKey (RFC 5958): version 1 and a [1] IMPLICIT public key.
        let point = uncompressed(&secret.public_key());
        let with_public = |version: u8, extra: &[u8]| {
            let mut contents = vec![INTEGER, 0x01, version];
            contents.extend_from_slice(&v1[6..]);
            contents.extend_from_slice(&[CONTEXT_1_PRIMITIVE, 0x42, 0x00]);
            contents.extend_from_slice(&point);
            contents.extend_from_slice(extra);
            let mut der = vec![SEQUENCE];
            der.extend(crate::asn1::der_length(contents.len()));
            der.extend(contents);
            der
        };
        assert_eq!(
            pkcs8_private(&with_public(1, &[])),
            Ok(PrivateRead {
                secret: secret.clone(),
                public: secret.public_key(),
                explicit: false,
            })
        );
        let not_pkcs8 = Err(malformed("not a PKCS#8 PrivateKeyInfo (RFC 5208)"));
        assert_eq!(pkcs8_private(&with_public(0, &[])), not_pkcs8);
        assert_eq!(pkcs8_private(&with_public(1, &[0x05, 0x00])), not_pkcs8);
        assert_eq!(pkcs8_private(&with_public(2, &[])), not_pkcs8);
        let mut other_point = with_public(1, &[]);
        *other_point.last_mut().unwrap() ^= 1;
        assert_eq!(
            pkcs8_private(&other_point),
            Err(Reason::MismatchedPublicKey)
        );
    }

    #[test]
    fn other_algorithms_and_curves_are_named() {
        assert_eq!(dotted(&EC_PUBLIC_KEY), "1.2.840.10045.2.1");
        assert_eq!(dotted(&RSA_PSS), "1.2.840.113549.1.1.10");
        assert_eq!(dotted(&[0x2b, 0x65, 0x70]), "1.3.101.112");
        assert_eq!(dotted(&[0x88, 0x37]), "2.999");
        assert_eq!(algorithm_name(&[0x2b, 0x65, 0x70]), "Ed25519");
        assert_eq!(
            curve_name(&[0x2b, 0x81, 0x04, 0x00, 0x22]),
            "P-384 (secp384r1)"
        );
        assert_eq!(curve_name(&[0x2b, 0x81, 0x04, 0x00, 0x7f]), "1.3.132.0.127");
        assert_eq!(
            require_ec(&RSA_ENCRYPTION, &[], true),
            Err(Reason::RsaPrivate)
        );
        assert_eq!(require_ec(&RSA_PSS, &[], false), Err(Reason::RsaPss));
        assert_eq!(
            require_ec(&EC_PUBLIC_KEY, &[NULL, 0x00], true),
            Err(malformed(
                "EC key with neither a named curve nor explicit curve parameters"
            ))
        );
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
