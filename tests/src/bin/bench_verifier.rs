//! `make bench-verifier`: verifications per second on one core, for each
//! verifier we ship next to the library an app would otherwise use, on the
//! same tokens and keys, in one run.
//!
//! The tokens are minted by the filter's own signer (`signed-headers-keys`)
//! with the claims the filter writes, under a bundle of two keys (the JWKS
//! an app sees mid-rotation). The JWKS is served over loopback HTTP, as the
//! filter serves it, with `Cache-Control: max-age` and an `ETag`; each
//! verifier that fetches keys is warmed up on one token outside the mixes,
//! so what is timed is verification with the keys cached.
//!
//! Two mixes:
//! - `distinct`: every token once (no verifier can reuse any work);
//! - `repeat`: users repeat, as the filter's token cache makes them (it
//!   reuses a user's token for half its lifetime): `BENCH_USERS` users
//!   round-robin, each token seen `BENCH_REPEATS` times.
//!
//! Each library gets a fresh verifier per round (a memo must not carry over
//! from one round to the next), rounds alternate ours / theirs, and the
//! table shows the median of `BENCH_ROUNDS` rounds and the spread.
//!
//! - Rust: `signed-headers-verifier` (`Verifier::from_jwks_url`) vs
//!   `jsonwebtoken` (AWS-LC) with `DecodingKey`s from the JWKS by `kid`;
//! - JavaScript (Node): the npm package (`jwksUrl`) vs `jose`'s `jwtVerify`
//!   with `createLocalJWKSet`, `verifier-js/npm/bench/verify.mjs`;
//! - Python: the `signed_headers_verifier` wheel (`jwks_url`) vs PyJWT with
//!   `PyJWKClient` keys, `verifier-py/bench/verify.py`.
//!
//! Environment (all optional): `BENCH_DISTINCT` (4000), `BENCH_USERS`
//! (1000), `BENCH_REPEATS` (20), `BENCH_ROUNDS` (5), `BENCH_ONLY` (`rust`,
//! `node`, `python`, comma-separated).

// Like the harness it lives in, the bench reports failure by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use signed_headers_e2e::LoopbackServer;
use signed_headers_e2e::repository_root;
use signed_headers_keys::{
    AssertionClaims, Audience, Bundle, BundleKey, JwksDocument, KeyFormat, random_jti,
};
use signed_headers_verifier::{Policy, Verifier};

const AUDIENCE: &str = "app.example.com";

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// What every runner reads: the keys, the tokens and the mixes.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fixture {
    jwks_url: String,
    jwks: Value,
    issuer: String,
    audience: String,
    /// Verified first by every fresh verifier (fetches the JWKS).
    warmup: String,
    distinct: Vec<String>,
    users: Vec<String>,
    repeats: usize,
    rounds: usize,
}

impl Fixture {
    /// The `repeat` mix: the users round-robin, `repeats` times.
    fn repeat_mix(&self) -> impl Iterator<Item = &str> {
        (0..self.repeats).flat_map(|_| self.users.iter().map(String::as_str))
    }
}

/// One row of the table: a library on a mix.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Measurement {
    language: String,
    library: String,
    mix: String,
    /// Verifications per second, one per round.
    rounds: Vec<f64>,
    /// CPU time per verification (µs), one per round: the process's, all
    /// threads (Node's WebCrypto runs on its thread pool), or for Rust the
    /// verifying thread's.
    cpu_micros: Vec<f64>,
}

fn mint(bundle: &Bundle, count: usize, user_prefix: &str) -> Vec<String> {
    let signer = bundle
        .signing_key()
        .and_then(BundleKey::signer)
        .expect("the bundle's first key signs");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs();
    (0..count)
        .map(|index| {
            let claims = AssertionClaims {
                iss: AUDIENCE.to_owned(),
                aud: Audience::One(AUDIENCE.to_owned()),
                jti: random_jti().expect("random jti"),
                iat: now,
                // Far enough that no run outlives its tokens.
                exp: now + 3600,
                sub: format!("{user_prefix}-{index}"),
                user: format!("{user_prefix}-{index}"),
                email: format!("{user_prefix}.{index}@example.com"),
                groups: vec![
                    "engineering".to_owned(),
                    "oncall".to_owned(),
                    format!("team-{}", index % 17),
                    "all-staff".to_owned(),
                ],
                sid: format!("session-{index:08}"),
                name: format!("User {index}"),
                groups_truncated: false,
                claims_truncated: Vec::new(),
                extra: serde_json::Map::new(),
            };
            signer.sign_claims(&claims).expect("claims serialize")
        })
        .collect()
}

/// Serves the JWKS as the filter does: `max-age`, a strong `ETag`, 304 on a
/// match.
fn serve_jwks(document: JwksDocument) -> LoopbackServer {
    LoopbackServer::start("jwks", move |stream: TcpStream| {
        let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
        let mut writer = stream;
        loop {
            let mut if_none_match = None;
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 {
                    return;
                }
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("if-none-match")
                {
                    if_none_match = Some(value.trim().to_owned());
                }
            }
            let fresh = if_none_match.as_deref() == Some(document.etag());
            let (status, body) = if fresh {
                ("304 Not Modified", "")
            } else {
                ("200 OK", document.body())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                 cache-control: public, max-age=300\r\netag: {}\r\n\
                 content-length: {}\r\n\r\n{body}",
                document.etag(),
                body.len()
            );
            if writer.write_all(response.as_bytes()).is_err() {
                return;
            }
        }
    })
}

/// The CPU time this thread has used (ns), from the scheduler.
fn thread_cpu_nanos() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

/// Times `run` over `count` verifications: (per second, CPU µs each).
fn timed(count: usize, run: impl FnOnce()) -> (f64, f64) {
    let cpu = thread_cpu_nanos();
    let started = Instant::now();
    run();
    let seconds = started.elapsed().as_secs_f64();
    let cpu_micros = (thread_cpu_nanos() - cpu) / 1000.0 / count as f64;
    (count as f64 / seconds, cpu_micros)
}

/// `jsonwebtoken` as an app would use it: a `DecodingKey` per `kid` from
/// the JWKS, the header's `kid` picking one.
struct JsonWebToken {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl JsonWebToken {
    fn new(fixture: &Fixture) -> Self {
        let set: JwkSet = serde_json::from_value(fixture.jwks.clone()).expect("a JWK set");
        let keys = set
            .keys
            .iter()
            .map(|jwk| {
                let kid = jwk.common.key_id.clone().expect("every key has a kid");
                (kid, DecodingKey::from_jwk(jwk).expect("a usable JWK"))
            })
            .collect();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[&fixture.audience]);
        validation.set_issuer(&[&fixture.issuer]);
        validation.leeway = 60;
        Self { keys, validation }
    }

    fn verify(&self, token: &str) -> Value {
        let header = jsonwebtoken::decode_header(token).expect("a JWS header");
        let key = &self.keys[header.kid.as_deref().expect("a kid")];
        jsonwebtoken::decode::<Value>(token, key, &self.validation)
            .expect("jsonwebtoken accepts the token")
            .claims
    }
}

fn ours(fixture: &Fixture) -> Verifier {
    let verifier = Verifier::from_jwks_url(
        Policy::new(&fixture.issuer, &fixture.audience),
        &fixture.jwks_url,
    );
    verifier.verify(&fixture.warmup).expect("warm-up token");
    verifier
}

fn measure_rust(fixture: &Fixture) -> Vec<Measurement> {
    let mut results: Vec<Measurement> = Vec::new();
    let mut record = |library: &str, mix: &str, (rate, cpu): (f64, f64)| match results
        .iter_mut()
        .find(|row| row.library == library && row.mix == mix)
    {
        Some(row) => {
            row.rounds.push(rate);
            row.cpu_micros.push(cpu);
        }
        None => results.push(Measurement {
            language: "Rust".to_owned(),
            library: library.to_owned(),
            mix: mix.to_owned(),
            rounds: vec![rate],
            cpu_micros: vec![cpu],
        }),
    };
    let mixes: [(&str, Vec<&str>); 2] = [
        (
            "distinct",
            fixture.distinct.iter().map(String::as_str).collect(),
        ),
        ("repeat", fixture.repeat_mix().collect()),
    ];
    for _ in 0..fixture.rounds {
        for (mix, tokens) in &mixes {
            let verifier = ours(fixture);
            let measured = timed(tokens.len(), || {
                for token in tokens {
                    std::hint::black_box(verifier.verify(token).expect("ours accepts the token"));
                }
            });
            record("signed-headers-verifier", mix, measured);

            let theirs = JsonWebToken::new(fixture);
            let measured = timed(tokens.len(), || {
                for token in tokens {
                    std::hint::black_box(theirs.verify(token));
                }
            });
            record("jsonwebtoken 11", mix, measured);
        }
    }
    results
}

/// Runs a runner script that prints its measurements as one JSON array.
fn measure_with(program: &Path, script: &Path, fixture_path: &Path) -> Vec<Measurement> {
    let output = Command::new(program)
        .arg(script)
        .arg(fixture_path)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", program.display()));
    assert!(
        output.status.success(),
        "{} {} failed: {}",
        program.display(),
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "{} printed no measurements ({err}): {}",
            script.display(),
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn main() {
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |language: &str| only.is_empty() || only.split(',').any(|item| item == language);

    let keys = vec![
        BundleKey::generate(KeyFormat::Pkcs8).expect("a new key"),
        BundleKey::generate(KeyFormat::Pkcs8).expect("a new key"),
    ];
    let bundle = Bundle::from_keys(keys).expect("a bundle of two keys");
    let document = JwksDocument::new(&bundle.jwks());
    let jwks: Value = serde_json::from_str(document.body()).expect("the JWKS is JSON");
    let server = serve_jwks(document);

    let fixture = Fixture {
        jwks_url: format!("http://{}/.well-known/pomerium/jwks.json", server.address()),
        jwks,
        issuer: AUDIENCE.to_owned(),
        audience: AUDIENCE.to_owned(),
        warmup: mint(&bundle, 1, "warmup").remove(0),
        distinct: mint(&bundle, setting("BENCH_DISTINCT", 4000), "distinct"),
        users: mint(&bundle, setting("BENCH_USERS", 1000), "user"),
        repeats: setting("BENCH_REPEATS", 20),
        rounds: setting("BENCH_ROUNDS", 5).max(1),
    };
    let work = tempfile::tempdir().expect("a temporary directory");
    let fixture_path = work.path().join("fixture.json");
    std::fs::write(
        &fixture_path,
        serde_json::to_vec(&fixture).expect("the fixture serializes"),
    )
    .expect("write the fixture");

    println!(
        "bench-verifier: {} distinct tokens; {} users x {} repeats; {} rounds per library, \
         one core each; token {} bytes",
        fixture.distinct.len(),
        fixture.users.len(),
        fixture.repeats,
        fixture.rounds,
        fixture.distinct[0].len()
    );
    let root = repository_root();
    let mut measurements = Vec::new();
    if wanted("rust") {
        measurements.extend(measure_rust(&fixture));
    }
    if wanted("node") {
        measurements.extend(measure_with(
            Path::new("node"),
            &root.join("verifier-js/npm/bench/verify.mjs"),
            &fixture_path,
        ));
    }
    if wanted("python") {
        measurements.extend(measure_with(
            &root.join(".venv/bin/python"),
            &root.join("verifier-py/bench/verify.py"),
            &fixture_path,
        ));
    }

    println!();
    println!(
        "| language | library | mix | verifications/s (median) | spread (min-max) | CPU µs each | ours / theirs |"
    );
    println!("|---|---|---|---:|---:|---:|---:|");
    for row in &measurements {
        let rate = median(&row.rounds);
        let min = row.rounds.iter().copied().fold(f64::INFINITY, f64::min);
        let max = row.rounds.iter().copied().fold(0.0, f64::max);
        // Ours is the first library of each language; the ratio is on its row.
        let theirs = measurements.iter().find(|other| {
            other.language == row.language && other.mix == row.mix && other.library != row.library
        });
        let is_ours = measurements
            .iter()
            .find(|first| first.language == row.language)
            .is_some_and(|first| first.library == row.library);
        let ratio = match theirs {
            Some(theirs) if is_ours => format!("{:.2}", rate / median(&theirs.rounds)),
            _ => String::new(),
        };
        println!(
            "| {} | {} | {} | {:.0} | {:.0}-{:.0} | {:.1} | {} |",
            row.language,
            row.library,
            row.mix,
            rate,
            min,
            max,
            median(&row.cpu_micros),
            ratio
        );
    }
}
