use std::fmt;

/// Why a bundle (or one of its PEM blocks) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Nothing but whitespace.
    Empty,
    /// Not PEM, and not base64 of PEM either.
    NotPem,
    /// Text that is not whitespace outside any PEM block (1-based line number).
    StrayText { line: usize },
    /// `#` comment lines after the last block: comments describe the key
    /// whose block follows them.
    TrailingComment { line: usize },
    /// A `BEGIN` line without its matching `END` line (or the reverse).
    UnterminatedBlock,
    /// The block's base64 body or headers could not be decoded.
    BadPem(String),
    /// An RSA private key: nothing here signs RS256; its public half can be
    /// published.
    RsaPrivate,
    /// An RSA public key under 2048 bits.
    RsaTooSmall { bits: usize },
    /// An RSA-PSS key (only RSASSA-PKCS1-v1_5 keys, RS256, are published).
    RsaPss,
    /// The public key stored inside a SEC1 private key is not the private
    /// key's own.
    MismatchedPublicKey,
    /// An EC key on a curve other than P-256.
    OtherCurve(String),
    /// A key of an algorithm that is neither EC nor RSA (Ed25519, DSA, ...).
    UnsupportedAlgorithm(String),
    /// Password-protected key material.
    Encrypted,
    /// A PEM label this project does not read (certificates, ...).
    UnsupportedLabel(String),
    /// The DER inside a supported label is malformed.
    Malformed(String),
    /// The same key (private or public half) already appeared in an earlier block.
    Duplicate { first_block: usize },
    /// The bundle holds keys, but none that can sign.
    NoPrivateKey,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Empty => f.write_str("the bundle is empty"),
            Reason::NotPem => f.write_str("not a PEM bundle (nor base64 of one)"),
            Reason::StrayText { line } => write!(f, "line {line}: text outside a PEM block"),
            Reason::TrailingComment { line } => write!(
                f,
                "line {line}: comment after the last PEM block (a comment belongs to the key below it)"
            ),
            Reason::UnterminatedBlock => f.write_str("BEGIN line without a matching END line"),
            Reason::BadPem(why) => write!(f, "unreadable PEM: {why}"),
            Reason::RsaPrivate => f.write_str(
                "RSA private key: only P-256 keys sign here; to publish an RSA key (verify-only, RS256), add its public half: openssl pkey -in KEY -pubout",
            ),
            Reason::RsaTooSmall { bits } => write!(
                f,
                "RSA key of {bits} bits: at least 2048 bits are required"
            ),
            Reason::RsaPss => f.write_str("RSA-PSS key: only RSA (RS256) public keys can be published"),
            Reason::MismatchedPublicKey => f.write_str(
                "the public key stored in this SEC1 key does not match its private key (corrupt or edited file)",
            ),
            Reason::OtherCurve(curve) => {
                write!(
                    f,
                    "EC key on curve {curve}: only P-256 (prime256v1) is supported"
                )
            }
            Reason::UnsupportedAlgorithm(oid) => write!(
                f,
                "key algorithm {oid} is not supported: only P-256 (ES256) keys are supported"
            ),
            Reason::Encrypted => f.write_str(
                "encrypted private key: decrypt it first (openssl pkey -in KEY -out PLAIN)",
            ),
            Reason::UnsupportedLabel(label) => write!(
                f,
                "unsupported PEM block \"{label}\" (expected EC PRIVATE KEY, PRIVATE KEY or PUBLIC KEY)"
            ),
            Reason::Malformed(why) => write!(f, "malformed key: {why}"),
            Reason::Duplicate { first_block } => {
                write!(
                    f,
                    "duplicate key: the same key is already block {first_block}"
                )
            }
            Reason::NoPrivateKey => f.write_str("no private key: nothing in the bundle can sign"),
        }
    }
}

/// A refused bundle: which block (1-based, when one is to blame) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleError {
    pub block: Option<usize>,
    pub reason: Reason,
}

impl BundleError {
    pub(crate) fn whole(reason: Reason) -> Self {
        Self {
            block: None,
            reason,
        }
    }

    pub(crate) fn at(block: usize, reason: Reason) -> Self {
        Self {
            block: Some(block),
            reason,
        }
    }
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.block {
            Some(block) => write!(f, "block {block}: {}", self.reason),
            None => write!(f, "{}", self.reason),
        }
    }
}

impl std::error::Error for BundleError {}
