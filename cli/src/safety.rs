//! The safety checks of the rotation steps: no step may come sooner than
//! verifiers' caches allow, and, with `--jwks-url`, the running filter must
//! already show the state the step builds on.
//!
//! - `promote` needs the new key to have been published for as long as a
//!   verifier may cache the JWKS (the filter's `jwks_max_age_seconds`,
//!   default 60 s), so no verifier meets a token signed by a key it has not
//!   fetched. With `--jwks-url`, the key must be in the served JWKS.
//! - `retire` needs the old keys to have stopped signing for longer than a
//!   token lives, plus clock skew (`ttl_seconds` + 60 s, default 360 s), so no
//!   token they signed is still in use. With `--jwks-url`, the served JWKS
//!   must show the new key signing (`x-signing-kid`). `--keep-public` keeps
//!   the old keys published, so only the `--jwks-url` check applies to it.
//!
//! When each step happened comes from the history comments (see
//! [`crate::history`]).

use std::time::{Duration, SystemTime};

use signed_headers_keys::{Bundle, BundleKey, KidFormat};

use crate::error::{CliError, Result};
use crate::history;
use crate::verify::fetch_jwks;

/// The filter's default `jwks_max_age_seconds`.
pub const DEFAULT_PROMOTE_MIN_AGE: Duration = Duration::from_secs(60);
/// The filter's default `ttl_seconds` plus 60 s of clock skew.
pub const DEFAULT_RETIRE_MIN_AGE: Duration = Duration::from_secs(300 + 60);

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
    /// `None`: the step's default.
    pub min_age: Option<Duration>,
    /// Every Envoy serving the bundle (each replica's JWKS).
    pub jwks_urls: Vec<String>,
    pub now: SystemTime,
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

fn too_soon(name: &str, what: String, elapsed: Duration, min_age: Duration, flag: &str) -> Verdict {
    Verdict::Wait(format!(
        "{name}: {what} {} ago; wait {} more (--min-age {}: {flag}), or pass a --min-age that matches your settings",
        human(elapsed),
        human(min_age.saturating_sub(elapsed)),
        human(min_age)
    ))
}

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
    let min_age = checks.min_age.unwrap_or(DEFAULT_PROMOTE_MIN_AGE);
    if !min_age.is_zero() {
        let Some(added) = history::added(key) else {
            return Ok(Verdict::Wait(format!(
                "{name}: no record of when {} was added (it was not made by signing-key add): once every verifier has had time to fetch it, promote with --min-age 0",
                describe(target + 1, key)
            )));
        };
        let elapsed = age(checks.now, added);
        if elapsed < min_age {
            return Ok(too_soon(
                name,
                format!("{} was added", describe(target + 1, key)),
                elapsed,
                min_age,
                "verifiers may cache the JWKS that long",
            ));
        }
    }
    for url in &checks.jwks_urls {
        let fetched = fetch_jwks(url)?;
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
    let min_age = checks.min_age.unwrap_or(DEFAULT_RETIRE_MIN_AGE);
    if !keep_public && !min_age.is_zero() {
        match history::promoted(signer) {
            Some(promoted) => {
                let elapsed = age(checks.now, promoted);
                if elapsed < min_age {
                    return Ok(too_soon(
                        name,
                        format!(
                            "{} was promoted (the old keys signed until then)",
                            describe(signing + 1, signer)
                        ),
                        elapsed,
                        min_age,
                        "tokens they signed live that long",
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
                        "{name}: no record of when {} was promoted, so the other keys may still have live tokens: once they have expired, retire with --min-age 0",
                        describe(signing + 1, signer)
                    )));
                }
            }
        }
    }
    for url in &checks.jwks_urls {
        let fetched = fetch_jwks(url)?;
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
