//! `signing-key rotate`: the three-step rotation on a schedule, for cron or
//! a Kubernetes CronJob. Each run looks at the bundle's history and the
//! clock, performs the one step that is due (with the same safety checks as
//! the manual commands) or nothing, and says which on stdout:
//!
//! - `add`: the signing key has signed for `--every` or longer;
//! - `promote`: the newest key has been published for as long as verifiers
//!   may cache the JWKS (`jwks_max_age_seconds` in `--settings`, or the
//!   largest max-age a `--jwks-url` serves; `--promote-after` to say it)
//!   and, with `--jwks-url`, is served everywhere;
//! - `retire`: the signing key was promoted a token's lifetime plus skew ago
//!   (`ttl_seconds` in `--settings` plus 60 s; `--retire-after` to say it)
//!   and, with `--jwks-url`, signs everywhere;
//! - `nothing`: with the reason and when the next step is due.
//!
//! With `--envoy-config`, the discovery file is rewritten whenever it differs
//! from the bundle (after a step, or if an earlier run stopped between the
//! two writes) and left alone otherwise, so a run with nothing due changes
//! no file.

use std::path::Path;
use std::time::{Duration, SystemTime};

use signed_headers_keys::{Bundle, BundleKey};

use crate::edit::ScopeNames;
use crate::envoy_config;
use crate::error::{CliError, Result};
use crate::files::{display_name, load_bundle, read_text, write_stdout};
use crate::history;
use crate::safety::{self, Checks, FilterTimes, Verdict, human};
use crate::status::{Step, classify};

/// Where the discovery file goes and what it holds besides the bundle.
pub struct EnvoyTarget<'a> {
    pub output: &'a Path,
    pub settings: Option<&'a Path>,
    pub wasm: &'a str,
    pub name: &'a str,
    pub vm_id: &'a str,
    pub seal: Option<&'a signed_headers_keys::KeyEncryptionKey>,
}

pub struct Options<'a> {
    pub bundle: &'a Path,
    /// Only this scope's keys; `None`: each scope of the bundle in turn.
    pub scope: Option<&'a str>,
    /// How long a key signs before the next rotation starts.
    pub every: Duration,
    pub promote_min_age: Option<Duration>,
    pub retire_min_age: Option<Duration>,
    pub allow_shorter_wait: bool,
    /// The filter's settings (`--settings`), which the waits follow.
    pub times: FilterTimes,
    pub jwks_urls: Vec<String>,
    pub cacert: Option<&'a Path>,
    pub envoy: Option<EnvoyTarget<'a>>,
    pub dry_run: bool,
}

/// The step due now, or why none is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Add(String),
    Promote(String),
    Retire(String),
    Nothing(String),
}

/// The checks of a step, with its explicit wait (and the flag that set it).
fn checks(
    options: &Options<'_>,
    min_age: Option<(Duration, &'static str)>,
    now: SystemTime,
) -> Checks {
    Checks {
        min_age,
        allow_shorter_wait: options.allow_shorter_wait,
        times: options.times.clone(),
        jwks_urls: options.jwks_urls.clone(),
        cacert: options.cacert.map(Path::to_path_buf),
        now,
    }
}

fn promote_wait(options: &Options<'_>) -> Option<(Duration, &'static str)> {
    options
        .promote_min_age
        .map(|wait| (wait, "--promote-after"))
}

fn retire_wait(options: &Options<'_>) -> Option<(Duration, &'static str)> {
    options.retire_min_age.map(|wait| (wait, "--retire-after"))
}

/// `name` names the keys in messages, `target` in a suggested command
/// (`keys.pem --scope tenant-b`).
fn decide(
    bundle: &Bundle,
    options: &Options<'_>,
    now: SystemTime,
    (name, target): (&str, &str),
) -> Result<Decision> {
    let name = name.to_owned();
    let keys = bundle.keys();
    let signing = keys.iter().position(BundleKey::is_private);
    match (classify(bundle), signing) {
        (Step::NoSigningKey, _) | (_, None) => Err(CliError::input(format!(
            "{name}: no key can sign: add one by hand (signing-key add {target})"
        ))),
        (Step::SingleKey | Step::VerifyOnlyKept, Some(signing)) => {
            let signer = keys.get(signing).map_or("", |key| key.kid());
            let since = keys.get(signing).and_then(history::signing_since);
            match since {
                None => Ok(Decision::Add(format!(
                    "no record of when key {} ({signer}) started signing: starting a rotation",
                    signing + 1
                ))),
                Some(since) => {
                    let signed_for = now.duration_since(since).unwrap_or_default();
                    if signed_for >= options.every {
                        Ok(Decision::Add(format!(
                            "key {} ({signer}) has signed for {} (--every {})",
                            signing + 1,
                            human(signed_for),
                            human(options.every)
                        )))
                    } else {
                        Ok(Decision::Nothing(format!(
                            "key {} ({signer}) has signed for {}; the next rotation starts in {} (--every {})",
                            signing + 1,
                            human(signed_for),
                            human(options.every.saturating_sub(signed_for)),
                            human(options.every)
                        )))
                    }
                }
            }
        }
        (Step::Added, Some(_)) => {
            let Some(newest) = history::newest_private(keys) else {
                return Err(CliError::input(format!("{name}: no key to promote")));
            };
            let checks = checks(options, promote_wait(options), now);
            Ok(
                match safety::before_promote(bundle, newest, &checks, &name)? {
                    Verdict::Go => Decision::Promote(format!(
                        "key {} ({}) has been published long enough",
                        newest + 1,
                        keys.get(newest).map_or("", |key| key.kid())
                    )),
                    Verdict::Wait(why) => Decision::Nothing(why),
                },
            )
        }
        (Step::Promoted, Some(signing)) => {
            let checks = checks(options, retire_wait(options), now);
            Ok(
                match safety::before_retire(bundle, signing, false, &checks, &name)? {
                    Verdict::Go => Decision::Retire(format!(
                        "key {} ({}) has signed long enough for the old keys' tokens to expire",
                        signing + 1,
                        keys.get(signing).map_or("", |key| key.kid())
                    )),
                    Verdict::Wait(why) => Decision::Nothing(why),
                },
            )
        }
    }
}

/// Rewrites the discovery file when its contents differ from what the
/// bundle and settings give; returns whether it wrote.
fn sync_envoy_config(bundle_path: &Path, target: &EnvoyTarget<'_>, dry_run: bool) -> Result<bool> {
    let options = envoy_config::Options {
        bundle: bundle_path,
        output: target.output,
        settings: target.settings,
        wasm: target.wasm,
        name: target.name,
        vm_id: target.vm_id,
        seal: target.seal,
    };
    let bundle = load_bundle(bundle_path)?;
    let wanted = envoy_config::document(
        &bundle,
        envoy_config::settings_object(target.settings)?,
        &options,
    )?;
    let current = if target.output.exists() {
        read_text(target.output).ok()
    } else {
        None
    };
    if current.as_deref() == Some(wanted.as_str()) {
        return Ok(false);
    }
    if !dry_run {
        envoy_config::write(target.output, &wanted)?;
    }
    Ok(true)
}

pub fn run(options: &Options<'_>) -> Result<()> {
    let now = SystemTime::now();
    let whole = load_bundle(options.bundle)?;
    let scopes: Vec<Option<String>> = match options.scope {
        Some(scope) => vec![Some(scope.to_owned())],
        None => whole
            .scopes()
            .into_iter()
            .map(|scope| scope.map(str::to_owned))
            .collect(),
    };
    if scopes.len() > 1 && !options.jwks_urls.is_empty() {
        return Err(CliError::input(format!(
            "{}: its keys are in {} scopes, each published on its own hosts: with --jwks-url, rotate one scope at a time (--scope NAME, with that scope's JWKS URLs)",
            display_name(options.bundle),
            scopes.len()
        )));
    }
    for scope in &scopes {
        let scope = scope.as_deref();
        let keys: Vec<BundleKey> = whole.keys_in_scope(scope).cloned().collect();
        let ScopeNames { name, target } = ScopeNames::of(options.bundle, scope);
        let bundle = Bundle::from_keys(keys)
            .map_err(|_| CliError::input(format!("{name}: no keys in this scope")))?;
        let decision = decide(&bundle, options, now, (&name, &target))?;
        let (step, reason) = match &decision {
            Decision::Add(why) => ("add", why),
            Decision::Promote(why) => ("promote", why),
            Decision::Retire(why) => ("retire", why),
            Decision::Nothing(why) => ("nothing", why),
        };
        let prefix = if options.dry_run && step != "nothing" {
            "would "
        } else {
            ""
        };
        let label = scope
            .map(|scope| format!("[scope {scope}] "))
            .unwrap_or_default();
        write_stdout(&format!("{label}{prefix}{step}: {reason}\n"))?;
        if !options.dry_run {
            // The checks passed above; the step re-reads the bundle and runs
            // them again, so a concurrent edit cannot slip through.
            match decision {
                Decision::Add(_) => crate::edit::add(options.bundle, false, scope)?,
                Decision::Promote(_) => {
                    let checks = checks(options, promote_wait(options), now);
                    crate::edit::promote(options.bundle, None, &checks, scope)?;
                }
                Decision::Retire(_) => {
                    let checks = checks(options, retire_wait(options), now);
                    crate::edit::retire(options.bundle, false, &checks, scope)?;
                }
                Decision::Nothing(_) => {}
            }
        }
    }
    if let Some(target) = &options.envoy
        && sync_envoy_config(options.bundle, target, options.dry_run)?
    {
        let verb = if options.dry_run {
            "would write"
        } else {
            "wrote"
        };
        eprintln!("{verb} {}", display_name(target.output));
    }
    Ok(())
}
