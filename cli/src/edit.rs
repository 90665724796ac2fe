//! The commands that create or edit a bundle: `generate`, `add`, `promote`,
//! `retire` and `revoke`. Each reads and fully validates the bundle before
//! it changes anything, then replaces the file atomically (mode 0600). With
//! `-` as the bundle, the bundle is read from stdin and written to stdout.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use signed_headers_keys::{Bundle, BundleKey, KeyFormat};

use crate::error::{CliError, Result};
use crate::files::{
    EditLock, Overwrite, display_name, is_stdio, lock_for_edit, read_text, write_atomic,
    write_stdout,
};
use crate::history;
use crate::safety::{self, Checks};
use crate::status::kind;

/// Shortest kid prefix accepted in place of a whole kid.
const MIN_KID_PREFIX: usize = 8;

fn key_format(pkcs8: bool) -> KeyFormat {
    if pkcs8 {
        KeyFormat::Pkcs8
    } else {
        KeyFormat::Sec1
    }
}

fn format_label(format: KeyFormat) -> &'static str {
    match format {
        KeyFormat::Sec1 => "EC PRIVATE KEY (SEC1)",
        KeyFormat::Pkcs8 => "PRIVATE KEY (PKCS#8)",
        KeyFormat::Spki => "PUBLIC KEY (SPKI)",
        KeyFormat::RsaPkcs1 => "RSA PUBLIC KEY (PKCS#1)",
    }
}

fn new_key(pkcs8: bool) -> Result<BundleKey> {
    BundleKey::generate(key_format(pkcs8)).map_err(|err| CliError::input(err.to_string()))
}

/// How messages name the keys an edit works on (`keys.pem`, `keys.pem
/// [scope tenant-b]`), and how commands they suggest name them
/// (`keys.pem --scope tenant-b`).
pub struct ScopeNames {
    pub name: String,
    pub target: String,
}

impl ScopeNames {
    pub fn of(path: &Path, scope: Option<&str>) -> Self {
        let file = display_name(path);
        match scope {
            Some(scope) => Self {
                name: format!("{file} [scope {scope}]"),
                target: format!("{file} --scope {scope}"),
            },
            None => Self {
                name: file.clone(),
                target: file,
            },
        }
    }
}

/// Where an edit of one scope's keys goes back: among the other scopes'
/// keys, untouched, in the form the file had.
struct WriteBack {
    /// The other scopes' keys, and where the edited scope's go among them.
    others: Vec<BundleKey>,
    at: usize,
    /// The file held base64 of the PEM (the `SIGNING_KEY` form): it is
    /// written back in that form.
    base64: bool,
    /// Held until the edited bundle is saved: edits run one at a time.
    _lock: Option<EditLock>,
}

impl WriteBack {
    /// Writes the bundle with `edited` as the scope's keys.
    fn save(self, path: &Path, edited: Vec<BundleKey>) -> Result<()> {
        let mut keys = self.others;
        let at = self.at.min(keys.len());
        keys.splice(at..at, edited);
        save(path, keys, self.base64)
    }
}

/// A bundle read for editing: one scope's keys (the unscoped ones by
/// default; none yet, possibly), in bundle order.
struct Opened {
    keys: Vec<BundleKey>,
    names: ScopeNames,
    write_back: WriteBack,
}

/// [`Opened`] with at least one key in the scope.
struct Loaded {
    bundle: Bundle,
    names: ScopeNames,
    write_back: WriteBack,
}

/// Locks the bundle for this edit, then reads and fully validates it before
/// anything is changed, and takes out the keys of the scope `pick` chooses.
fn open_scope(path: &Path, pick: impl FnOnce(&Bundle) -> Result<Option<String>>) -> Result<Opened> {
    let lock = lock_for_edit(path)?;
    let text = read_text(path)?;
    let whole = Bundle::parse(&text)
        .map_err(|err| CliError::input(format!("{}: {err}", display_name(path))))?;
    let scope = pick(&whole)?;
    let scope = scope.as_deref();
    let at = whole
        .keys()
        .iter()
        .position(|key| key.scope() == scope)
        .unwrap_or(whole.keys().len());
    let (keys, others): (Vec<BundleKey>, Vec<BundleKey>) = whole
        .into_keys()
        .into_iter()
        .partition(|key| key.scope() == scope);
    Ok(Opened {
        keys,
        names: ScopeNames::of(path, scope),
        write_back: WriteBack {
            others,
            at,
            base64: !text.contains("-----BEGIN"),
            _lock: lock,
        },
    })
}

/// [`open_scope`] for an edit of keys the scope has; `signing`: one of them
/// must be private.
fn open(path: &Path, signing: bool, scope: Option<&str>) -> Result<Loaded> {
    loaded(open_scope(path, |_| Ok(scope.map(str::to_owned)))?, signing)
}

fn loaded(opened: Opened, signing: bool) -> Result<Loaded> {
    let Opened {
        keys,
        names,
        write_back,
    } = opened;
    let ScopeNames { name, target } = &names;
    if keys.is_empty() {
        return Err(CliError::input(format!(
            "{name}: no keys in this scope (start one: signing-key add {target})"
        )));
    }
    let bundle =
        Bundle::from_keys(keys).map_err(|err| CliError::input(format!("{name}: {err}")))?;
    if signing && bundle.signing_key().is_none() {
        return Err(CliError::input(format!(
            "{name}: no private key: nothing in the bundle can sign"
        )));
    }
    Ok(Loaded {
        bundle,
        names,
        write_back,
    })
}

/// Writes the edited bundle back where it came from, in the same form.
fn save(path: &Path, keys: Vec<BundleKey>, base64: bool) -> Result<()> {
    let bundle = Bundle::from_keys(keys)
        .map_err(|err| CliError::input(format!("{}: {err}", display_name(path))))?;
    let text = if base64 {
        format!("{}\n", STANDARD.encode(bundle.to_pem()))
    } else {
        bundle.to_pem()
    };
    if is_stdio(path) {
        write_stdout(&text)?;
    } else {
        write_atomic(path, &text, Overwrite::Replace)?;
    }
    Ok(())
}

fn describe(position: usize, key: &BundleKey) -> String {
    format!("key {position} ({}, {})", key.kid(), kind(key))
}

/// `generate [-o FILE] [--force] [--pkcs8] [--scope NAME]`
pub fn generate(
    output: Option<&Path>,
    force: bool,
    pkcs8: bool,
    scope: Option<&str>,
) -> Result<()> {
    let key = history::stamp(new_key(pkcs8)?.in_scope(scope), 1);
    match output {
        Some(path) if !is_stdio(path) => {
            let overwrite = if force {
                Overwrite::Replace
            } else {
                Overwrite::Refuse
            };
            if !force && path.exists() {
                return Err(CliError::input(format!(
                    "{} already exists: use --force to overwrite it",
                    path.display()
                )));
            }
            write_atomic(path, &key.to_pem(), overwrite)?;
            eprintln!(
                "wrote {} (mode 0600): new P-256 key, {}",
                path.display(),
                format_label(key.format())
            );
        }
        _ => write_stdout(&key.to_pem())?,
    }
    eprintln!("kid: {}", key.kid());
    Ok(())
}

/// `add BUNDLE [--pkcs8] [--scope NAME]`: rotation step 1.
pub fn add(path: &Path, pkcs8: bool, scope: Option<&str>) -> Result<()> {
    let Opened {
        keys,
        names: ScopeNames { name, target },
        write_back,
    } = open_scope(path, |_| Ok(scope.map(str::to_owned)))?;
    let had_signer = keys.iter().any(BundleKey::is_private);
    let key = history::stamp(new_key(pkcs8)?.in_scope(scope), history::next_serial(&keys));
    let kid = key.kid().to_owned();
    let mut keys = keys;
    keys.push(key);
    let position = keys.len();
    write_back.save(path, keys)?;
    if is_stdio(path) {
        eprintln!("kid: {kid}");
    } else {
        write_stdout(&format!("{kid}\n"))?;
    }
    if had_signer {
        eprintln!(
            "added key {position} ({kid}) to {name}: published, not signing yet.\n\
             Deploy the bundle, wait until every verifier has refreshed the JWKS, then:\n  \
             signing-key promote {target}"
        );
    } else {
        eprintln!(
            "added key {position} ({kid}) to {name}: it had no private key, so this one signs at once"
        );
    }
    Ok(())
}

/// `promote BUNDLE [--kid KID] [--scope NAME]`: rotation step 2.
pub fn promote(path: &Path, kid: Option<&str>, checks: &Checks, scope: Option<&str>) -> Result<()> {
    let Loaded {
        bundle,
        names: ScopeNames {
            name,
            target: command_target,
        },
        write_back,
    } = open(path, true, scope)?;
    let signing = bundle.keys().iter().position(BundleKey::is_private);
    let target = match kid {
        Some(query) => find_kid(&bundle, query, &name)?,
        None => history::newest_private(bundle.keys())
            .ok_or_else(|| CliError::input(format!("{name}: no private key to promote")))?,
    };
    let keys = bundle.keys();
    let Some(key) = keys.get(target) else {
        return Err(CliError::input(format!("{name}: no key {}", target + 1)));
    };
    if !key.is_private() {
        return Err(CliError::input(format!(
            "{name}: {} cannot sign: only a private key can be promoted",
            describe(target + 1, key)
        )));
    }
    if target == 0 {
        let next = if keys.len() > 1 {
            format!(
                "retire the old keys once their tokens have expired: signing-key retire {command_target}"
            )
        } else {
            format!("add a new key first: signing-key add {command_target}")
        };
        return Err(CliError::input(format!(
            "{name}: {} is already first and signing: nothing to promote ({next})",
            describe(1, key)
        )));
    }
    if Some(target) == signing {
        return Err(CliError::input(format!(
            "{name}: {} already signs (the keys before it are public-only): nothing to promote",
            describe(target + 1, key)
        )));
    }
    safety::before_promote(&bundle, target, checks, &name)?.required()?;
    let promoted = key.kid().to_owned();
    let previous = signing
        .and_then(|index| keys.get(index))
        .map(|key| key.kid().to_owned())
        .unwrap_or_default();
    let mut keys = bundle.into_keys();
    let moved = history::stamp_promoted(keys.remove(target), checks.now);
    keys.insert(0, moved);
    write_back.save(path, keys)?;
    eprintln!(
        "promoted key {} ({promoted}) to key 1 of {name}: it signs from now on.\n\
         {previous} is still published (and still private).\n\
         Deploy the bundle; once tokens signed by the old key have expired:\n  \
         signing-key retire {command_target}",
        target + 1
    );
    Ok(())
}

/// `retire BUNDLE [--keep-public] [--scope NAME]`: rotation step 3.
pub fn retire(path: &Path, keep_public: bool, checks: &Checks, scope: Option<&str>) -> Result<()> {
    let Loaded {
        bundle,
        names: ScopeNames { name, .. },
        write_back,
    } = open(path, true, scope)?;
    let Some(signing) = bundle.keys().iter().position(BundleKey::is_private) else {
        return Err(CliError::input(format!("{name}: no key can sign")));
    };
    let mut kept: Vec<BundleKey> = Vec::with_capacity(bundle.keys().len());
    let mut report: Vec<String> = Vec::new();
    let mut changed = false;
    if let Some(key) = bundle.keys().get(signing) {
        kept.push(key.clone());
    }
    for (index, key) in bundle.keys().iter().enumerate() {
        if index == signing {
            continue;
        }
        if !keep_public {
            report.push(format!("removed {}", describe(index + 1, key)));
            changed = true;
        } else if key.is_private() {
            let public = key
                .to_public_only()
                .map_err(|err| CliError::input(format!("{name}: key {}: {err}", index + 1)))?;
            report.push(format!(
                "key {} ({}): private half removed, still published as a PUBLIC KEY",
                index + 1,
                key.kid()
            ));
            kept.push(public);
            changed = true;
        } else {
            kept.push(key.clone());
        }
    }
    if !changed {
        let why = if bundle.keys().len() == 1 {
            "it holds only the signing key"
        } else {
            "the other keys are already public-only (retire without --keep-public removes them)"
        };
        return Err(CliError::input(format!("{name}: nothing to retire: {why}")));
    }
    safety::before_retire(&bundle, signing, keep_public, checks, &name)?.required()?;
    let signer = kept
        .first()
        .map(|key| key.kid().to_owned())
        .unwrap_or_default();
    write_back.save(path, kept)?;
    for line in report {
        eprintln!("{line}");
    }
    eprintln!("{name}: {signer} signs");
    Ok(())
}

/// `revoke BUNDLE KID [--force]`: emergency removal of one key. Only the
/// key's scope is affected: it must keep a key that can sign.
pub fn revoke(path: &Path, kid: &str, force: bool) -> Result<()> {
    let opened = open_scope(path, |whole| {
        let index = find_kid(whole, kid, &display_name(path))?;
        Ok(whole
            .keys()
            .get(index)
            .and_then(BundleKey::scope)
            .map(str::to_owned))
    })?;
    let Loaded {
        bundle,
        names: ScopeNames { name, target },
        write_back,
    } = loaded(opened, false)?;
    let index = find_kid(&bundle, kid, &name)?;
    let was_signing = bundle.keys().iter().position(BundleKey::is_private) == Some(index);
    let mut keys = bundle.into_keys();
    let removed = keys.remove(index);
    let what = describe(index + 1, &removed);
    if keys.is_empty() && write_back.others.is_empty() {
        return Err(CliError::input(format!(
            "{name}: refusing to revoke {what}: it is the only key and a bundle cannot be empty \
             (add a replacement first: signing-key add {target})"
        )));
    }
    let next_signer = keys
        .iter()
        .find(|key| key.is_private())
        .map(|key| key.kid().to_owned());
    if next_signer.is_none() && !force {
        return Err(CliError::input(format!(
            "{name}: refusing to revoke {what}: no key left could sign \
             (add a replacement first: signing-key add {target}; or use --force)"
        )));
    }
    write_back.save(path, keys)?;
    eprintln!("revoked {what} from {name}");
    match next_signer {
        Some(signer) if was_signing => eprintln!("{signer} signs from now on"),
        Some(_) => {}
        None => eprintln!(
            "warning: no key in {name} can sign any more: the filter will refuse it until a key is added"
        ),
    }
    Ok(())
}

/// The position of the key named by a kid or by a unique prefix of one
/// (at least 8 characters).
fn find_kid(bundle: &Bundle, query: &str, name: &str) -> Result<usize> {
    let wanted = query.trim().to_ascii_lowercase();
    let keys = bundle.keys();
    if let Some(index) = keys.iter().position(|key| key.kid() == wanted) {
        return Ok(index);
    }
    let known = || {
        keys.iter()
            .map(BundleKey::kid)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if wanted.len() < MIN_KID_PREFIX {
        return Err(CliError::input(format!(
            "{name}: no key with kid {query} (give the whole kid, or at least {MIN_KID_PREFIX} characters of it; kids: {})",
            known()
        )));
    }
    let matches: Vec<usize> = keys
        .iter()
        .enumerate()
        .filter(|(_, key)| key.kid().starts_with(&wanted))
        .map(|(index, _)| index)
        .collect();
    match matches.as_slice() {
        [index] => Ok(*index),
        [] => Err(CliError::input(format!(
            "{name}: no key with kid {query} (kids: {})",
            known()
        ))),
        _ => Err(CliError::input(format!(
            "{name}: kid prefix {query} matches {} keys: give more of it",
            matches.len()
        ))),
    }
}
