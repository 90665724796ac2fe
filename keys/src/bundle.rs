//! PEM key bundles: parsing (raw PEM or base64 of PEM), validation and
//! serialization. A bundle is an ordered list of P-256 keys; the first
//! private key signs and every key is published.

use base64::Engine as _;
use p256::elliptic_curve::Generate as _;
use p256::{PublicKey, SecretKey};

use crate::ec_der;
use crate::error::{BundleError, Reason};
use crate::jwk::{Jwk, rsa_thumbprint_kid, thumbprint_kid};
use crate::jws::Es256Signer;
use crate::rsa::RsaPublic;
use zeroize::{Zeroize as _, Zeroizing};

const LABEL_SEC1: &str = "EC PRIVATE KEY";
const LABEL_PKCS8: &str = "PRIVATE KEY";
const LABEL_SPKI: &str = "PUBLIC KEY";
const LABEL_RSA_PUBLIC: &str = "RSA PUBLIC KEY";
const LABEL_EC_PARAMETERS: &str = "EC PARAMETERS";
/// The comment line that puts a key in a scope: `# scope: tenant-a`.
const SCOPE_MARKER: &str = "# scope:";

/// The longest scope name the filter's `signing_scope` and the CLI's
/// `--scope` take.
pub const MAX_SCOPE_NAME_BYTES: usize = 64;

/// Whether `name` is a scope name the filter and the CLI take: 1 to
/// [`MAX_SCOPE_NAME_BYTES`] letters, digits, `.`, `_` or `-`.
pub fn is_scope_name(name: &str) -> bool {
    let valid = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    !name.is_empty() && name.len() <= MAX_SCOPE_NAME_BYTES && name.chars().all(valid)
}

/// How a key is written in PEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// `EC PRIVATE KEY`, what `openssl ecparam -genkey` writes.
    Sec1,
    /// `PRIVATE KEY`, what `openssl genpkey` writes.
    Pkcs8,
    /// `PUBLIC KEY`: a verify-only key (P-256 or RSA).
    Spki,
    /// `RSA PUBLIC KEY` (PKCS#1), as OpenShift's key config maps hold it:
    /// verify-only.
    RsaPkcs1,
}

impl KeyFormat {
    fn label(self) -> &'static str {
        match self {
            KeyFormat::Sec1 => LABEL_SEC1,
            KeyFormat::Pkcs8 => LABEL_PKCS8,
            KeyFormat::Spki => LABEL_SPKI,
            KeyFormat::RsaPkcs1 => LABEL_RSA_PUBLIC,
        }
    }
}

/// How a key's `kid` is written. The bundle's own identity for a key is
/// always the hex thumbprint; this only changes what is published and put
/// in token headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KidFormat {
    /// Lowercase hex of the RFC 7638 SHA-256 thumbprint (the default).
    #[default]
    ThumbprintHex,
    /// Base64url of the same thumbprint: what most JOSE libraries compute.
    Thumbprint,
    /// Base64url of the SHA-256 of the DER SubjectPublicKeyInfo: what
    /// kube-apiserver and OpenShift use for service-account keys.
    Kubernetes,
}

impl KidFormat {
    pub const NAMES: [&'static str; 3] = ["thumbprint-hex", "thumbprint", "kubernetes"];
    pub const ALL: [Self; 3] = [Self::ThumbprintHex, Self::Thumbprint, Self::Kubernetes];

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "thumbprint-hex" => Some(Self::ThumbprintHex),
            "thumbprint" => Some(Self::Thumbprint),
            "kubernetes" => Some(Self::Kubernetes),
            _ => None,
        }
    }
}

/// The public half of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PublicMaterial {
    P256(PublicKey),
    /// Verify-only: published as an RS256 JWK.
    Rsa(RsaPublic),
}

/// One key of a bundle, with its encoded form kept as read so that editing a
/// bundle never rewrites the keys it does not touch.
#[derive(Clone)]
pub struct BundleKey {
    kid: String,
    public: PublicMaterial,
    secret: Option<SecretKey>,
    format: KeyFormat,
    /// The block's DER: a private key's holds the secret, so it is wiped
    /// when dropped (as `SecretKey` wipes itself).
    der: Zeroizing<Vec<u8>>,
    /// An `EC PARAMETERS` block (P-256's named curve) came just before the
    /// key, as `openssl ecparam -genkey` writes it: written back with it.
    ec_parameters: bool,
    /// `#` lines written just before the key's block (RFC 7468 allows text
    /// outside blocks; openssl ignores it). Kept with the key.
    comments: Vec<String>,
}

impl std::fmt::Debug for BundleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("BundleKey")
            .field("kid", &self.kid)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl BundleKey {
    /// A fresh P-256 key from the system's random source.
    pub fn generate(format: KeyFormat) -> Result<Self, KeyGenerationError> {
        let secret = SecretKey::try_generate().map_err(|_| KeyGenerationError)?;
        Self::from_secret(secret, format)
    }

    /// Wraps a secret key, encoding it as `format` (`Spki` keeps the public half only).
    pub fn from_secret(secret: SecretKey, format: KeyFormat) -> Result<Self, KeyGenerationError> {
        let public = ec_der::public_key(&secret).map_err(|_| KeyGenerationError)?;
        Self::from_key_pair(secret, public, format)
    }

    /// [`Self::from_secret`] given the public key already.
    fn from_key_pair(
        secret: SecretKey,
        public: PublicKey,
        format: KeyFormat,
    ) -> Result<Self, KeyGenerationError> {
        let der = match format {
            KeyFormat::Sec1 => ec_der::sec1_der(&secret, &public),
            KeyFormat::Pkcs8 => ec_der::pkcs8_der(&secret, &public),
            KeyFormat::Spki => return Self::from_public(public),
            KeyFormat::RsaPkcs1 => return Err(KeyGenerationError),
        };
        Ok(Self {
            kid: thumbprint_kid(&public),
            public: PublicMaterial::P256(public),
            secret: Some(secret),
            format,
            der,
            ec_parameters: false,
            comments: Vec::new(),
        })
    }

    fn from_public(public: PublicKey) -> Result<Self, KeyGenerationError> {
        let der = ec_der::spki_der(&public);
        Ok(Self {
            kid: thumbprint_kid(&public),
            public: PublicMaterial::P256(public),
            secret: None,
            format: KeyFormat::Spki,
            der: Zeroizing::new(der),
            ec_parameters: false,
            comments: Vec::new(),
        })
    }

    /// RFC 7638 SHA-256 thumbprint, lowercase hex.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn is_private(&self) -> bool {
        self.secret.is_some()
    }

    pub fn format(&self) -> KeyFormat {
        self.format
    }

    /// The P-256 public key (`None` for an RSA key).
    pub fn public_key(&self) -> Option<&PublicKey> {
        match &self.public {
            PublicMaterial::P256(public) => Some(public),
            PublicMaterial::Rsa(_) => None,
        }
    }

    /// The RSA public key (`None` for a P-256 key).
    pub fn rsa_public_key(&self) -> Option<&RsaPublic> {
        match &self.public {
            PublicMaterial::Rsa(public) => Some(public),
            PublicMaterial::P256(_) => None,
        }
    }

    /// `ES256` or `RS256`: what a token signed by this key uses.
    pub fn algorithm(&self) -> &'static str {
        match &self.public {
            PublicMaterial::P256(_) => "ES256",
            PublicMaterial::Rsa(_) => "RS256",
        }
    }

    /// The kid in `format`.
    pub fn kid_in(&self, format: KidFormat) -> String {
        use sha2::Digest as _;
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        match format {
            KidFormat::ThumbprintHex => self.kid.clone(),
            KidFormat::Thumbprint => {
                let digest: Vec<u8> = (0..self.kid.len())
                    .step_by(2)
                    .filter_map(|at| self.kid.get(at..at + 2))
                    .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
                    .collect();
                url.encode(digest)
            }
            KidFormat::Kubernetes => url.encode(sha2::Sha256::digest(self.spki_der())),
        }
    }

    /// The DER SubjectPublicKeyInfo of the public key.
    fn spki_der(&self) -> Vec<u8> {
        match &self.public {
            PublicMaterial::P256(public) => ec_der::spki_der(public),
            PublicMaterial::Rsa(_) if self.format == KeyFormat::Spki => self.der.to_vec(),
            PublicMaterial::Rsa(_) => crate::rsa::spki_from_pkcs1(&self.der),
        }
    }

    /// The public JWK with its kid in `format`.
    pub fn jwk_in(&self, format: KidFormat) -> Jwk {
        let mut jwk = self.jwk();
        jwk.kid = self.kid_in(format);
        jwk
    }

    /// A signer whose tokens carry the kid in `format`.
    pub fn signer_in(&self, format: KidFormat) -> Option<Es256Signer> {
        self.secret
            .as_ref()
            .map(|secret| Es256Signer::new(secret, self.kid_in(format)))
    }

    /// The public JWK (never `d`).
    pub fn jwk(&self) -> Jwk {
        match &self.public {
            PublicMaterial::P256(public) => Jwk::new(public, self.kid.clone()),
            PublicMaterial::Rsa(public) => Jwk::rsa(public, self.kid.clone()),
        }
    }

    /// The same key reduced to its public half (a `PUBLIC KEY` block),
    /// comments kept. A public key stays as it is.
    pub fn to_public_only(&self) -> Result<Self, KeyGenerationError> {
        match &self.public {
            PublicMaterial::P256(public) if self.secret.is_some() => {
                Self::from_public(*public).map(|key| key.with_comments(self.comments.clone()))
            }
            _ => Ok(self.clone()),
        }
    }

    /// The `#` comment lines written before this key's block.
    pub fn comments(&self) -> &[String] {
        &self.comments
    }

    /// The scope this key signs for, from a `# scope: NAME` comment line
    /// above its block; `None` for an unscoped key. A route (a tenant, an
    /// app) that names a scope signs with that scope's first private key,
    /// and its JWKS publishes only that scope's keys.
    pub fn scope(&self) -> Option<&str> {
        self.comments.iter().find_map(|line| {
            let scope = line.strip_prefix(SCOPE_MARKER)?.trim();
            (!scope.is_empty()).then_some(scope)
        })
    }

    /// The same key in `scope` (`None`: unscoped), other comments kept.
    pub fn in_scope(self, scope: Option<&str>) -> Self {
        let mut comments: Vec<String> = self
            .comments
            .iter()
            .filter(|line| !line.starts_with(SCOPE_MARKER))
            .cloned()
            .collect();
        if let Some(scope) = scope {
            comments.insert(0, format!("{SCOPE_MARKER} {scope}"));
        }
        self.with_comments(comments)
    }

    /// The same key with these comment lines (a line that does not start
    /// with `#` is made a comment, so the bundle always parses back).
    pub fn with_comments(mut self, comments: Vec<String>) -> Self {
        self.comments = comments
            .into_iter()
            .map(|line| {
                let line = line.replace(['\r', '\n'], " ").trim().to_owned();
                if line.starts_with('#') {
                    line
                } else {
                    format!("# {line}")
                }
            })
            .collect();
        self
    }

    /// A signer for this key, when it is private.
    pub fn signer(&self) -> Option<Es256Signer> {
        self.secret
            .as_ref()
            .map(|secret| Es256Signer::new(secret, self.kid.clone()))
    }

    /// Base64 (standard) of the SPKI DER of the public key: what is logged for
    /// an ephemeral key.
    pub fn public_spki_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.spki_der())
    }

    /// This key alone as a PEM block preceded by its comments (LF line endings).
    pub fn to_pem(&self) -> String {
        let block = pem::Pem::new(self.format.label(), self.der.to_vec());
        let mut text: String = self
            .comments
            .iter()
            .map(|line| format!("{line}\n"))
            .collect();
        let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
        if self.ec_parameters {
            // The DER of OID 1.2.840.10045.3.1.7 (prime256v1).
            let parameters = pem::Pem::new(
                LABEL_EC_PARAMETERS,
                vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
            );
            text.push_str(&pem::encode_config(&parameters, config));
        }
        text.push_str(&pem::encode_config(&block, config));
        text
    }
}

/// The system random source failed, or a fresh key could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyGenerationError;

impl std::fmt::Display for KeyGenerationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("could not generate a P-256 key (random source unavailable)")
    }
}

impl std::error::Error for KeyGenerationError {}

/// An ordered, validated list of distinct P-256 keys.
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    keys: Vec<BundleKey>,
}

impl Bundle {
    /// Parses a bundle given as raw PEM or as base64 of PEM (the `SIGNING_KEY`
    /// convention). Fails on anything it cannot account for.
    pub fn parse(input: &str) -> Result<Self, BundleError> {
        // Editors on Windows start files with a byte-order mark.
        let input = input.strip_prefix('\u{feff}').unwrap_or(input);
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(BundleError::whole(Reason::Empty));
        }
        if trimmed.contains("-----BEGIN") {
            // Untrimmed, so line numbers in errors match the file.
            return Self::parse_pem(input);
        }
        let pem_text = decode_base64_text(trimmed).ok_or(BundleError::whole(Reason::NotPem))?;
        if !pem_text.contains("-----BEGIN") {
            return Err(BundleError::whole(Reason::NotPem));
        }
        Self::parse_pem(&pem_text)
    }

    /// Like [`Bundle::parse`], but also requires a key that can sign.
    pub fn parse_signing(input: &str) -> Result<Self, BundleError> {
        let bundle = Self::parse(input)?;
        if bundle.signing_key().is_none() {
            return Err(BundleError::whole(Reason::NoPrivateKey));
        }
        Ok(bundle)
    }

    fn parse_pem(text: &str) -> Result<Self, BundleError> {
        let mut keys: Vec<BundleKey> = Vec::new();
        // Block numbers count every PEM block, EC PARAMETERS included, so they
        // match what an operator sees in the file.
        let mut key_blocks: Vec<usize> = Vec::new();
        // Comments before a skipped block belong to the next key.
        let mut comments: Vec<String> = Vec::new();
        let mut ec_parameters = false;
        for (index, block) in split_pem_blocks(text)?.into_iter().enumerate() {
            let number = index + 1;
            comments.extend(block.comments.iter().cloned());
            let Some(mut key) =
                decode_block(&block).map_err(|reason| BundleError::at(number, reason))?
            else {
                ec_parameters = block.label == LABEL_EC_PARAMETERS;
                continue;
            };
            key.comments = std::mem::take(&mut comments);
            key.ec_parameters = std::mem::take(&mut ec_parameters) && key.format == KeyFormat::Sec1;
            if let Some(position) = keys.iter().position(|k| k.kid == key.kid) {
                let first_block = key_blocks.get(position).copied().unwrap_or(0);
                return Err(BundleError::at(number, Reason::Duplicate { first_block }));
            }
            keys.push(key);
            key_blocks.push(number);
        }
        if keys.is_empty() {
            return Err(BundleError::whole(Reason::Empty));
        }
        Ok(Self { keys })
    }

    /// A bundle from keys already in hand; refuses duplicates and emptiness.
    pub fn from_keys(keys: Vec<BundleKey>) -> Result<Self, BundleError> {
        if keys.is_empty() {
            return Err(BundleError::whole(Reason::Empty));
        }
        for (index, key) in keys.iter().enumerate() {
            if let Some(first) = keys.iter().take(index).position(|k| k.kid == key.kid) {
                return Err(BundleError::at(
                    index + 1,
                    Reason::Duplicate {
                        first_block: first + 1,
                    },
                ));
            }
        }
        Ok(Self { keys })
    }

    pub fn keys(&self) -> &[BundleKey] {
        &self.keys
    }

    pub fn into_keys(self) -> Vec<BundleKey> {
        self.keys
    }

    /// The first private key: the one that signs.
    pub fn signing_key(&self) -> Option<&BundleKey> {
        self.keys.iter().find(|key| key.is_private())
    }

    /// The keys of `scope` (`None`: the unscoped ones), in bundle order.
    pub fn keys_in_scope<'a>(
        &'a self,
        scope: Option<&'a str>,
    ) -> impl Iterator<Item = &'a BundleKey> + 'a {
        self.keys.iter().filter(move |key| key.scope() == scope)
    }

    /// The first private key of `scope`: the one that signs for it.
    pub fn signing_key_in_scope(&self, scope: Option<&str>) -> Option<&BundleKey> {
        self.keys
            .iter()
            .find(|key| key.scope() == scope && key.is_private())
    }

    /// Every scope the bundle's keys name (`None` for unscoped keys), each
    /// once, in bundle order.
    pub fn scopes(&self) -> Vec<Option<&str>> {
        let mut scopes: Vec<Option<&str>> = Vec::new();
        for key in &self.keys {
            if !scopes.contains(&key.scope()) {
                scopes.push(key.scope());
            }
        }
        scopes
    }

    /// Every key, in bundle order, as public JWKs with kids in `format`.
    pub fn jwks_in(&self, format: KidFormat) -> Vec<Jwk> {
        self.keys.iter().map(|key| key.jwk_in(format)).collect()
    }

    /// Every key, in bundle order, as public JWKs.
    pub fn jwks(&self) -> Vec<Jwk> {
        self.keys.iter().map(BundleKey::jwk).collect()
    }

    /// The bundle as concatenated PEM blocks with LF line endings.
    pub fn to_pem(&self) -> String {
        self.keys.iter().map(BundleKey::to_pem).collect()
    }
}

/// Base64 (standard or URL-safe alphabet, padded or not, with line breaks) to UTF-8 text.
fn decode_base64_text(input: &str) -> Option<Zeroizing<String>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let compact: Zeroizing<String> =
        Zeroizing::new(input.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, config);
    let bytes = standard
        .decode(compact.as_bytes())
        .or_else(|_| url_safe.decode(compact.as_bytes()))
        .ok()?;
    match String::from_utf8(bytes) {
        Ok(text) => Some(Zeroizing::new(text)),
        Err(err) => {
            err.into_bytes().zeroize();
            None
        }
    }
}

/// One PEM block's text, from its BEGIN line to its END line, and the
/// comment lines before it.
struct PemBlock {
    label: String,
    text: String,
    comments: Vec<String>,
}

impl Drop for PemBlock {
    fn drop(&mut self) {
        // The block's text is the key in base64.
        self.text.zeroize();
    }
}

/// Splits text into PEM blocks, refusing anything between them but
/// whitespace and `#` comment lines (which belong to the block after them).
fn split_pem_blocks(text: &str) -> Result<Vec<PemBlock>, BundleError> {
    let mut blocks = Vec::new();
    let mut current: Option<PemBlock> = None;
    let mut comments: Vec<String> = Vec::new();
    let mut last_comment_line = 0;
    for (line_index, raw_line) in text.lines().enumerate() {
        let line = raw_line.trim();
        match current.as_mut() {
            None => {
                if line.is_empty() {
                    continue;
                }
                if line.starts_with('#') {
                    comments.push(line.to_owned());
                    last_comment_line = line_index + 1;
                    continue;
                }
                let Some(label) = line
                    .strip_prefix("-----BEGIN ")
                    .and_then(|rest| rest.strip_suffix("-----"))
                else {
                    return Err(BundleError::whole(Reason::StrayText {
                        line: line_index + 1,
                    }));
                };
                current = Some(PemBlock {
                    label: label.to_owned(),
                    text: format!("{line}\n"),
                    comments: std::mem::take(&mut comments),
                });
            }
            Some(block) => {
                block.text.push_str(line);
                block.text.push('\n');
                if line.starts_with("-----END ") {
                    let expected = format!("-----END {}-----", block.label);
                    if line != expected {
                        return Err(BundleError::at(
                            blocks.len() + 1,
                            Reason::BadPem(format!(
                                "\"{line}\" does not close \"{}\"",
                                block.label
                            )),
                        ));
                    }
                    if let Some(done) = current.take() {
                        blocks.push(done);
                    }
                }
            }
        }
    }
    if current.is_some() {
        return Err(BundleError::at(blocks.len() + 1, Reason::UnterminatedBlock));
    }
    if !comments.is_empty() {
        return Err(BundleError::whole(Reason::TrailingComment {
            line: last_comment_line,
        }));
    }
    Ok(blocks)
}

/// Decodes one block: `Ok(None)` for blocks that are skipped on purpose.
fn decode_block(block: &PemBlock) -> Result<Option<BundleKey>, Reason> {
    let parsed = pem::parse(&block.text).map_err(|err| Reason::BadPem(err.to_string()))?;
    let encrypted = parsed
        .headers()
        .get("Proc-Type")
        .is_some_and(|value| value.contains("ENCRYPTED"));
    let tag = parsed.tag().to_owned();
    let der = Zeroizing::new(parsed.into_contents());
    let der = der.as_slice();
    match tag.as_str() {
        LABEL_EC_PARAMETERS => Ok(None),
        "ENCRYPTED PRIVATE KEY" => Err(Reason::Encrypted),
        "RSA PRIVATE KEY" => Err(Reason::RsaPrivate),
        LABEL_RSA_PUBLIC => rsa_key(
            crate::rsa::parse_pkcs1_public(der)?,
            KeyFormat::RsaPkcs1,
            der,
        )
        .map(Some),
        _ if encrypted => Err(Reason::Encrypted),
        LABEL_SEC1 => decode_sec1(der).map(Some),
        LABEL_PKCS8 => decode_pkcs8(der).map(Some),
        LABEL_SPKI => decode_spki(der).map(Some),
        other => Err(Reason::UnsupportedLabel(other.to_owned())),
    }
}

fn decode_sec1(der: &[u8]) -> Result<BundleKey, Reason> {
    private_key(ec_der::sec1_private(der)?, KeyFormat::Sec1, der)
}

fn decode_pkcs8(der: &[u8]) -> Result<BundleKey, Reason> {
    private_key(ec_der::pkcs8_private(der)?, KeyFormat::Pkcs8, der)
}

fn decode_spki(der: &[u8]) -> Result<BundleKey, Reason> {
    let public = match ec_der::spki_public(der)? {
        ec_der::PublicRead::Rsa(pkcs1) => {
            return rsa_key(crate::rsa::parse_pkcs1_public(pkcs1)?, KeyFormat::Spki, der);
        }
        ec_der::PublicRead::P256(public, true) => {
            return BundleKey::from_public(public).map_err(|_| not_reencoded());
        }
        ec_der::PublicRead::P256(public, false) => public,
    };
    Ok(BundleKey {
        kid: thumbprint_kid(&public),
        public: PublicMaterial::P256(public),
        secret: None,
        format: KeyFormat::Spki,
        der: Zeroizing::new(der.to_vec()),
        ec_parameters: false,
        comments: Vec::new(),
    })
}

fn not_reencoded() -> Reason {
    Reason::Malformed("the key could not be written with P-256's name".into())
}

fn rsa_key(public: RsaPublic, format: KeyFormat, der: &[u8]) -> Result<BundleKey, Reason> {
    Ok(BundleKey {
        kid: rsa_thumbprint_kid(&public),
        public: PublicMaterial::Rsa(public),
        secret: None,
        format,
        der: Zeroizing::new(der.to_vec()),
        ec_parameters: false,
        comments: Vec::new(),
    })
}

/// A private key as read; one read from explicit curve parameters is kept
/// in its named-curve form (what every tool reads, and what `signing-key`
/// writes back).
fn private_key(
    read: ec_der::PrivateRead,
    format: KeyFormat,
    der: &[u8],
) -> Result<BundleKey, Reason> {
    let ec_der::PrivateRead {
        secret,
        public,
        explicit,
    } = read;
    if explicit {
        return BundleKey::from_key_pair(secret, public, format).map_err(|_| not_reencoded());
    }
    Ok(BundleKey {
        kid: thumbprint_kid(&public),
        public: PublicMaterial::P256(public),
        secret: Some(secret),
        format,
        der: Zeroizing::new(der.to_vec()),
        ec_parameters: false,
        comments: Vec::new(),
    })
}
