//! The safety checks of the rotation steps: no step may come sooner than
//! verifiers' caches allow, and, with `--jwks-url`, the running filter must
//! already show the state the step builds on.
//!
//! - `promote` needs the new key to have been published for as long as a
//!   verifier may cache the JWKS, so no verifier meets a token signed by a
//!   key it has not fetched: the longest of the filter's
//!   `jwks_max_age_seconds` from the settings the step is handed and the
//!   `Cache-Control: max-age` each `--jwks-url` serves (60 s, the filter's
//!   default, when neither says).
//!   With `--jwks-url`, the key must also be in each served JWKS.
//! - `retire` needs the old keys to have stopped signing for longer than a
//!   token lives, plus clock skew (`ttl_seconds` from the settings, default
//!   300 s, plus 60 s), so no token they signed is still in use. With
//!   `--jwks-url`, the served JWKS must show the new key signing
//!   (`x-signing-kid`). `--keep-public` keeps the old keys published, so only
//!   the `--jwks-url` check applies to it.
//!
//! An explicit wait (`--min-age`, `rotate`'s `--promote-after` and
//! `--retire-after`) shorter than the derived one is refused unless
//! `--allow-shorter-wait` says the operator means it.
//!
//! When each step happened comes from the history comments (see
//! [`crate::history`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use signed_headers_keys::{Bundle, BundleKey, KidFormat};

use crate::error::{CliError, Result};
use crate::files::display_name;
use crate::history;
use crate::verify::{FetchedJwks, fetch_jwks};

/// The filter's default `jwks_max_age_seconds`.
const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(60);
/// The filter's default `ttl_seconds`.
const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Clock skew a verifier allows on `exp` (as `signing-key verify` does).
const CLOCK_SKEW: Duration = Duration::from_secs(crate::verify::LEEWAY);

/// The answer of a check: go ahead, or not yet (and why). Failures to
/// check at all (a JWKS that cannot be fetched) are errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Go,
    Wait(String),
}

impl Verdict {
    /// For a step run by hand: waiting is a refusal.
    pub fn required(self) -> Result<()> {
        match self {
            Verdict::Go => Ok(()),
            Verdict::Wait(why) => Err(CliError::input(why)),
        }
    }
}

/// What a step is checked against.
#[derive(Debug, Clone)]
pub struct Checks {
    /// An explicit wait, and the flag it was given with; `None`: the wait
    /// derived from the settings and the replicas.
    pub min_age: Option<(Duration, &'static str)>,
    /// An explicit wait shorter than the derived one is used anyway.
    pub allow_shorter_wait: bool,
    /// The filter's settings the waits derive from.
    pub times: FilterTimes,
    /// Every Envoy serving the bundle (each replica's JWKS).
    pub jwks_urls: Vec<String>,
    /// A private CA's certificates (PEM) for `https` JWKS URLs.
    pub cacert: Option<PathBuf>,
    pub now: SystemTime,
}

/// What the filter's plugin settings say about the two waits.
#[derive(Debug, Clone, Default)]
pub struct FilterTimes {
    /// `jwks_max_age_seconds`, if the settings set it.
    jwks_max_age: Option<Duration>,
    /// `ttl_seconds`, likewise.
    ttl: Option<Duration>,
    /// The settings file, for messages.
    source: Option<String>,
}

impl FilterTimes {
    /// From a settings file as `envoy-config --settings` takes it (`None`:
    /// the filter's defaults).
    pub fn from_settings(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let settings = crate::envoy_config::settings_object(Some(path))?;
        let name = display_name(path);
        let seconds = |field: &str| match settings.get(field) {
            None => Ok(None),
            Some(Value::Number(number)) if number.as_u64().is_some() => {
                Ok(number.as_u64().map(Duration::from_secs))
            }
            Some(other) => Err(CliError::input(format!(
                "{name}: {field} is {other}: it must be a whole number of seconds"
            ))),
        };
        Ok(Self {
            jwks_max_age: seconds("jwks_max_age_seconds")?,
            ttl: seconds("ttl_seconds")?,
            source: Some(name),
        })
    }

    fn origin(&self, field: &str) -> String {
        match &self.source {
            Some(source) => format!("{field} in {source}"),
            None => format!("the filter's default {field}"),
        }
    }
}

/// A wait a step needs, and why.
struct Wait {
    duration: Duration,
    why: String,
}

/// How long a new key must be published before it signs: the longest any
/// verifier may cache the JWKS, by the settings and by what each replica
/// serves (the filter's default only when neither says).
fn promote_wait(times: &FilterTimes, served: &[(&str, FetchedJwks)]) -> Wait {
    let from_settings = times
        .jwks_max_age
        .map(|age| (age, times.origin("jwks_max_age_seconds")));
    let from_replicas = served.iter().filter_map(|(url, fetched)| {
        fetched
            .max_age
            .map(|age| (age, format!("the max-age {url} serves")))
    });
    let (duration, origin) = from_settings
        .into_iter()
        .chain(from_replicas)
        .max_by_key(|(age, _)| *age)
        .unwrap_or_else(|| (DEFAULT_JWKS_MAX_AGE, times.origin("jwks_max_age_seconds")));
    Wait {
        duration,
        why: format!(
            "verifiers may cache the JWKS for {} ({origin})",
            human(duration)
        ),
    }
}

/// How long the old keys must have stopped signing before they go: a
/// token's lifetime plus clock skew.
fn retire_wait(times: &FilterTimes) -> Wait {
    let ttl = times.ttl.unwrap_or(DEFAULT_TTL);
    let duration = ttl + CLOCK_SKEW;
    Wait {
        duration,
        why: format!(
            "tokens they signed live {} ({}) plus {} of clock skew",
            human(ttl),
            times.origin("ttl_seconds"),
            human(CLOCK_SKEW)
        ),
    }
}

/// The wait a step applies: an explicit one if given (refused when shorter
/// than `derived` unless the operator allowed it), else `derived`.
fn applied_wait(checks: &Checks, derived: Wait) -> Result<Wait> {
    let Some((explicit, flag)) = checks.min_age else {
        return Ok(derived);
    };
    if explicit < derived.duration && !checks.allow_shorter_wait {
        return Err(CliError::input(format!(
            "{flag} {} is shorter than the {} this step needs: {}; pass --allow-shorter-wait to use it anyway",
            human(explicit),
            human(derived.duration),
            derived.why
        )));
    }
    Ok(Wait {
        duration: explicit,
        why: format!("{flag} {} says so", human(explicit)),
    })
}

/// Every replica's JWKS, fetched once for a step.
fn fetch_all(checks: &Checks) -> Result<Vec<(&str, FetchedJwks)>> {
    checks
        .jwks_urls
        .iter()
        .map(|url| Ok((url.as_str(), fetch_jwks(url, checks.cacert.as_deref())?)))
        .collect()
}

/// `--min-age` values: seconds (`90`), or a duration (`90s`, `6m`, `1h`).
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map(Duration::from_secs)
            .map_err(|err| err.to_string());
    }
    humantime::parse_duration(text).map_err(|err| err.to_string())
}

/// A duration to the second, as people read it.
pub fn human(duration: Duration) -> String {
    humantime::format_duration(Duration::from_secs(duration.as_secs())).to_string()
}

/// Whether `kid`, as a filter publishes it, names `key` (in whichever
/// `kid_format` the filter is set to).
fn names_key(kid: &str, key: &BundleKey) -> bool {
    KidFormat::ALL
        .into_iter()
        .any(|format| key.kid_in(format) == kid)
}

fn describe(position: usize, key: &BundleKey) -> String {
    format!("key {position} ({})", key.kid())
}

/// How long ago `then` was (zero if in the future).
fn age(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

fn too_soon(name: &str, what: String, elapsed: Duration, wait: &Wait) -> Verdict {
    Verdict::Wait(format!(
        "{name}: {what} {} ago; wait {} more: {}",
        human(elapsed),
        human(wait.duration.saturating_sub(elapsed)),
        wait.why
    ))
}

/// What a message suggests when a step has no record to wait from.
const SKIP_THE_WAIT: &str = "--min-age 0 --allow-shorter-wait";

/// Checks `promote` of the key at `target`.
pub fn before_promote(
    bundle: &Bundle,
    target: usize,
    checks: &Checks,
    name: &str,
) -> Result<Verdict> {
    let Some(key) = bundle.keys().get(target) else {
        return Ok(Verdict::Go);
    };
    let served = fetch_all(checks)?;
    let wait = applied_wait(checks, promote_wait(&checks.times, &served))?;
    if !wait.duration.is_zero() {
        let Some(added) = history::added(key) else {
            return Ok(Verdict::Wait(format!(
                "{name}: no record of when {} was added (it was not made by signing-key add): once every verifier has had time to fetch it, promote with {SKIP_THE_WAIT}",
                describe(target + 1, key)
            )));
        };
        let elapsed = age(checks.now, added);
        if elapsed < wait.duration {
            return Ok(too_soon(
                name,
                format!("{} was added", describe(target + 1, key)),
                elapsed,
                &wait,
            ));
        }
    }
    for (url, fetched) in &served {
        let kids = fetched.kids(url)?;
        if !kids.iter().any(|kid| names_key(kid, key)) {
            return Ok(Verdict::Wait(format!(
                "{name}: {} is not published at {url} yet (it publishes {}): deploy the bundle there first",
                describe(target + 1, key),
                if kids.is_empty() {
                    "no key".to_owned()
                } else {
                    kids.join(", ")
                }
            )));
        }
    }
    Ok(Verdict::Go)
}

/// Checks `retire` when the key at `signing` stays; `keep_public`: the
/// others stay published.
pub fn before_retire(
    bundle: &Bundle,
    signing: usize,
    keep_public: bool,
    checks: &Checks,
    name: &str,
) -> Result<Verdict> {
    let keys = bundle.keys();
    let Some(signer) = keys.get(signing) else {
        return Ok(Verdict::Go);
    };
    let wait = applied_wait(checks, retire_wait(&checks.times))?;
    if !keep_public && !wait.duration.is_zero() {
        match history::promoted(signer) {
            Some(promoted) => {
                let elapsed = age(checks.now, promoted);
                if elapsed < wait.duration {
                    return Ok(too_soon(
                        name,
                        format!(
                            "{} was promoted (the old keys signed until then)",
                            describe(signing + 1, signer)
                        ),
                        elapsed,
                        &wait,
                    ));
                }
            }
            None => {
                // Never promoted: keys added after it never signed.
                let signer_serial = history::serial(signer);
                let all_newer = keys.iter().enumerate().all(|(index, key)| {
                    index == signing
                        || matches!(
                            (history::serial(key), signer_serial),
                            (Some(serial), Some(signer_serial)) if serial > signer_serial
                        )
                });
                if !all_newer {
                    return Ok(Verdict::Wait(format!(
                        "{name}: no record of when {} was promoted, so the other keys may still have live tokens: once they have expired, retire with {SKIP_THE_WAIT}",
                        describe(signing + 1, signer)
                    )));
                }
            }
        }
    }
    for url in &checks.jwks_urls {
        let fetched = fetch_jwks(url, checks.cacert.as_deref())?;
        match fetched.signing_kid.as_deref() {
            Some(kid) if names_key(kid, signer) => {}
            Some(kid) => {
                return Ok(Verdict::Wait(format!(
                    "{name}: {url} still signs with {kid}, not {}: deploy the promoted bundle there first",
                    describe(signing + 1, signer)
                )));
            }
            None => {
                return Err(CliError::input(format!(
                    "{name}: {url} does not say which key signs (no x-signing-kid header): is it the signed-headers JWKS path?"
                )));
            }
        }
    }
    Ok(Verdict::Go)
}
