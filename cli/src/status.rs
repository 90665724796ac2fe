//! `signing-key status` (alias `list`): each key's kid, kind and role, and
//! where the bundle stands in the three-step rotation.

use serde::Serialize;
use signed_headers_keys::{Bundle, BundleKey, KeyFormat};

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
    /// `sec1`, `pkcs8` or `spki`: how the block is written.
    pub format: &'static str,
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

/// Where a bundle stands. Only the order and kind of its keys are known: a
/// PEM bundle records no history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// One private key: rotation starts with `add`.
    SingleKey,
    /// Two or more private keys, the first of them signing: just after `add`
    /// (the newest waits for `promote`) or just after `promote` (the old keys
    /// wait for `retire`). A bundle keeps no history, so it cannot tell which.
    Rotating,
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
            Step::Rotating => "rotating",
            Step::VerifyOnlyKept => "verify-only-kept",
            Step::NoSigningKey => "no-signing-key",
        }
    }
}

pub fn classify(bundle: &Bundle) -> Step {
    let private = bundle.keys().iter().filter(|key| key.is_private()).count();
    match (private, bundle.keys().len()) {
        (0, _) => Step::NoSigningKey,
        (1, 1) => Step::SingleKey,
        (1, _) => Step::VerifyOnlyKept,
        _ => Step::Rotating,
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
    }
}

pub fn status(bundle: &Bundle, name: &str) -> Status {
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
        })
        .collect();
    let step = classify(bundle);
    let quoted = shell_quote(name);
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
        Step::Rotating => rotating(bundle, &command),
    };
    Status {
        keys,
        step: step.id(),
        description,
        next,
    }
}

/// Two or more private keys: either a new key was added and waits to be
/// promoted, or it was promoted and the old ones wait to be retired. A PEM
/// file keeps no history, so both are offered, each named by its kid.
fn rotating(bundle: &Bundle, command: &dyn Fn(&str) -> String) -> (String, Vec<Next>) {
    let keys = bundle.keys();
    let private: Vec<(usize, &BundleKey)> = keys
        .iter()
        .enumerate()
        .filter(|(_, key)| key.is_private())
        .collect();
    let (signing_index, signing) = match private.first() {
        Some(&(index, key)) => (index + 1, key.kid()),
        None => (0, ""),
    };
    let (newest_index, newest) = match private.last() {
        Some(&(index, key)) => (index + 1, key.kid()),
        None => (0, ""),
    };
    let description = format!(
        "rotation in progress: {} private keys, key {signing_index} signs, key {newest_index} is the newest private key",
        private.len()
    );
    let next = vec![
        Next {
            command: command("promote"),
            when: format!(
                "if key {newest_index} ({}) is the key you added (new key added, not signing yet): once every verifier has refreshed the JWKS, it signs from then on",
                short(newest)
            ),
        },
        Next {
            command: command("retire"),
            when: format!(
                "if key {signing_index} ({}) is the key you added and promoted (new key signing, old keys still present): once tokens signed by the old keys have expired (add --keep-public to keep them verifiable)",
                short(signing)
            ),
        },
    ];
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
        "{:<3} {:<64}  {:<11}  {:<6}  ROLE",
        "#", "KID", "KIND", "FORMAT"
    );
    for key in &status.keys {
        let _ = writeln!(
            out,
            "{:<3} {:<64}  {:<11}  {:<6}  {}",
            key.position, key.kid, key.kind, key.format, key.role
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
