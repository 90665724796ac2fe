//! `signing-key status` (alias `list`): each key's kid, kind and role, and
//! where the bundle stands in the three-step rotation.

use serde::Serialize;
use signed_headers_keys::{Bundle, BundleKey, KeyFormat};

use crate::history;
use crate::verify::plural;

/// One key as `status --json` shows it.
#[derive(Debug, Serialize)]
pub struct KeyRow {
    /// 1-based position in the bundle (and in the JWKS).
    pub position: usize,
    pub kid: String,
    /// `private` or `public-only`.
    pub kind: &'static str,
    /// `signing` (the first private key) or `published`.
    pub role: &'static str,
    /// `sec1`, `pkcs8`, `spki` or `pkcs1`: how the block is written.
    pub format: &'static str,
    /// `ES256`, or `RS256` for a (verify-only) RSA key.
    pub alg: &'static str,
}

/// A command worth running next, and when.
#[derive(Debug, Serialize)]
pub struct Next {
    pub command: String,
    pub when: String,
}

/// The whole `status --json` document.
#[derive(Debug, Serialize)]
pub struct Status {
    pub keys: Vec<KeyRow>,
    /// Stable identifier of the rotation step (see [`Step`]).
    pub step: &'static str,
    /// The step in words.
    pub description: String,
    /// Commands that move the rotation on, most likely first.
    pub next: Vec<Next>,
}

/// Where a bundle stands in the rotation. Which key is newest comes from
/// the history comments `generate` and `add` write (see [`history`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// One private key: rotation starts with `add`.
    SingleKey,
    /// Step 1 done: the newest private key is published but does not sign
    /// yet; `promote` is next.
    Added,
    /// Step 2 done: the newest key signs, older private keys are still
    /// there; `retire` is next.
    Promoted,
    /// One private key that signs, plus verify-only (public) keys: after
    /// `retire --keep-public`.
    VerifyOnlyKept,
    /// No key can sign.
    NoSigningKey,
}

impl Step {
    pub fn id(self) -> &'static str {
        match self {
            Step::SingleKey => "single-key",
            Step::Added => "added",
            Step::Promoted => "promoted",
            Step::VerifyOnlyKept => "verify-only-kept",
            Step::NoSigningKey => "no-signing-key",
        }
    }
}

pub fn classify(bundle: &Bundle) -> Step {
    let keys = bundle.keys();
    let private = keys.iter().filter(|key| key.is_private()).count();
    let signing = keys.iter().position(BundleKey::is_private);
    match (private, keys.len()) {
        (0, _) => Step::NoSigningKey,
        (1, 1) => Step::SingleKey,
        (1, _) => Step::VerifyOnlyKept,
        _ if history::newest_private(keys) != signing => Step::Added,
        _ => Step::Promoted,
    }
}

pub fn kind(key: &BundleKey) -> &'static str {
    if key.is_private() {
        "private"
    } else {
        "public-only"
    }
}

fn format_name(format: KeyFormat) -> &'static str {
    match format {
        KeyFormat::Sec1 => "sec1",
        KeyFormat::Pkcs8 => "pkcs8",
        KeyFormat::Spki => "spki",
        KeyFormat::RsaPkcs1 => "pkcs1",
    }
}

/// `scope`: the bundle is that scope's keys, and the commands suggested
/// name it.
pub fn status(bundle: &Bundle, name: &str, scope: Option<&str>) -> Status {
    let signing = bundle.keys().iter().position(BundleKey::is_private);
    let keys: Vec<KeyRow> = bundle
        .keys()
        .iter()
        .enumerate()
        .map(|(index, key)| KeyRow {
            position: index + 1,
            kid: key.kid().to_owned(),
            kind: kind(key),
            role: if Some(index) == signing {
                "signing"
            } else {
                "published"
            },
            format: format_name(key.format()),
            alg: key.algorithm(),
        })
        .collect();
    let step = classify(bundle);
    let quoted = match scope {
        Some(scope) => format!("{} --scope {scope}", shell_quote(name)),
        None => shell_quote(name),
    };
    let command = |verb: &str| format!("signing-key {verb} {quoted}");
    let public_count = bundle.keys().iter().filter(|key| !key.is_private()).count();
    let (description, next) = match step {
        Step::SingleKey => (
            "single key".to_owned(),
            vec![Next {
                command: command("add"),
                when: "to start a rotation: adds a new key, published but not signing yet"
                    .to_owned(),
            }],
        ),
        Step::NoSigningKey => (
            format!(
                "no signing key: {} published, none can sign",
                plural(public_count, "verify-only key")
            ),
            vec![Next {
                command: command("add"),
                when: "adds a private key, which signs at once".to_owned(),
            }],
        ),
        Step::VerifyOnlyKept => (
            format!(
                "one signing key, old keys kept as verify-only ({} published)",
                plural(public_count, "public-only key")
            ),
            vec![
                Next {
                    command: command("retire"),
                    when: "once every token signed by the old keys has expired: removes them"
                        .to_owned(),
                },
                Next {
                    command: command("add"),
                    when: "to start the next rotation".to_owned(),
                },
            ],
        ),
        Step::Added => added(bundle, &command),
        Step::Promoted => promoted(bundle, &command),
    };
    Status {
        keys,
        step: step.id(),
        description,
        next,
    }
}

/// The signing key and the newest private key, as `(position, kid)`.
fn signing_and_newest(bundle: &Bundle) -> ((usize, &str), (usize, &str)) {
    let keys = bundle.keys();
    let describe = |index: Option<usize>| {
        index
            .and_then(|i| keys.get(i).map(|key| (i + 1, key.kid())))
            .unwrap_or((0, ""))
    };
    (
        describe(keys.iter().position(BundleKey::is_private)),
        describe(history::newest_private(keys)),
    )
}

fn added(bundle: &Bundle, command: &dyn Fn(&str) -> String) -> (String, Vec<Next>) {
    let ((signing_position, signing), (newest_position, newest)) = signing_and_newest(bundle);
    let description = format!(
        "new key added, not signing yet: key {newest_position} ({}) is published, key {signing_position} ({}) signs",
        short(newest),
        short(signing)
    );
    let next = vec![Next {
        command: command("promote"),
        when: format!(
            "once every verifier has refreshed the JWKS: key {newest_position} ({}) signs from then on",
            short(newest)
        ),
    }];
    (description, next)
}

fn promoted(bundle: &Bundle, command: &dyn Fn(&str) -> String) -> (String, Vec<Next>) {
    let ((signing_position, signing), _) = signing_and_newest(bundle);
    let old = bundle.keys().len().saturating_sub(1);
    let description = format!(
        "new key signing, old keys still present: key {signing_position} ({}) signs, {} still published",
        short(signing),
        plural(old, "older key")
    );
    let next = vec![Next {
        command: command("retire"),
        when: "once every token signed by the old keys has expired: removes them \
               (--keep-public keeps them verifiable, without their private halves)"
            .to_owned(),
    }];
    (description, next)
}

fn short(kid: &str) -> &str {
    kid.get(..12).unwrap_or(kid)
}

/// The human table and rotation step.
pub fn render(status: &Status) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<3} {:<64}  {:<11}  {:<6}  {:<5}  ROLE",
        "#", "KID", "KIND", "FORMAT", "ALG"
    );
    for key in &status.keys {
        let _ = writeln!(
            out,
            "{:<3} {:<64}  {:<11}  {:<6}  {:<5}  {}",
            key.position, key.kid, key.kind, key.format, key.alg, key.role
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "step: {} ({})", status.description, status.step);
    for (index, next) in status.next.iter().enumerate() {
        let label = if index == 0 { "next:" } else { "  or:" };
        let _ = writeln!(out, "{label} {}", next.command);
        let _ = writeln!(out, "      {}", next.when);
    }
    out
}

/// Quotes a path for a shell command line when it needs it.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./+=:@,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
