//! Where an ES256 signature's time goes, step by step, in whatever runs
//! this: built for `wasm32-wasip1` and run under Node's WASI (V8, the engine
//! Envoy runs the filter in) by `make bench-signing`, or natively with
//! `cargo run --release -p signed-headers-keys --example signing_cost`.
//! Prints a Markdown table of microseconds per operation.
//!
//! With arguments `repeat OPERATION COUNT` it only runs one operation
//! COUNT times, untimed, for an instruction counter: `make
//! bench-signing-instructions` runs it under callgrind (OPERATION is `kG`,
//! fixed_base.rs's `k·G` to affine, `kG-batch`, 16 of them in one batch
//! (`kG-batch-N`: N of them) as the nonce producer computes them, `sign`, a whole signature, `hedged`, a
//! whole signature with a hedged nonce (as the filter signs), `nonce`, the
//! RFC 6979 nonce, or `digest`, SHA-256 of its signing input).

use std::hint::black_box;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::Generate as _;
use p256::elliptic_curve::group::Group as _;
use p256::{NonZeroScalar, ProjectivePoint};
use sha2::{Digest as _, Sha256};
use signed_headers_keys::fixed_base::{self, GeneratorTable};
use signed_headers_keys::hmac_drbg::{NonceCandidates, NonceSource as _};
use signed_headers_keys::{BundleKey, KeyFormat, PrecomputedNonce};

/// Keeps the optimizer from dropping what an operation computed.
fn consume<T>(value: T) {
    let _ = black_box(value);
}

/// Microseconds per call of `operation`, the median of 5 runs of `count`,
/// after one run left out: V8 starts a module in its baseline compiler and
/// moves hot functions to its optimizing one while they run, so an
/// operation's first run measured its compiler (the first row read 264 µs
/// against 174 µs a minute later).
fn time(count: u32, mut operation: impl FnMut()) -> f64 {
    for _ in 0..count {
        operation();
    }
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..count {
                operation();
            }
            started.elapsed().as_secs_f64() * 1e6 / f64::from(count)
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs.get(2).copied().unwrap_or(f64::NAN)
}

/// Microseconds per `k·G` from a `W`-bit [`GeneratorTable`] (built first,
/// outside the timing).
fn time_table<const W: usize>(scalar: &NonZeroScalar) -> f64 {
    let table = GeneratorTable::<W>::new();
    time(200, || {
        consume(black_box(table.mul(black_box(*scalar).as_ref())))
    })
}

/// The first RFC 6979 nonce candidate for a key and a digest, as
/// `Es256Signer::sign` computes it (a digest below `n` is its own
/// `bits2octets`, as nearly all are).
fn first_nonce_candidate(secret: &[u8; 32], digest: &[u8; 32]) -> [u8; 32] {
    let mut k = [0u8; 32];
    NonceCandidates::new(secret, digest).fill_next(&mut k);
    k
}

/// The nonce producer's batch size (`filter/src/nonce_queue.rs`).
/// Scalars in one `kG-batch` operation, unless its name says otherwise.
const BATCH: usize = 16;

fn batch_scalars(size: usize) -> Vec<NonZeroScalar> {
    std::iter::from_fn(|| NonZeroScalar::try_generate().ok())
        .take(size)
        .collect()
}

/// A typical assertion's claims.
const PAYLOAD: &[u8] = br#"{"iss":"app.example.com","aud":"app.example.com","jti":"0f8fad5bd9cb469fa16570867728950e","iat":1800000000,"exp":1800000300,"sub":"user-000123","user":"user-000123","email":"user-000123@example.com","groups":["admins","developers","on-call"],"sid":"s-1f3a","name":"Some User"}"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = BundleKey::generate(KeyFormat::Sec1)?;
    let signer = key.signer().ok_or("a generated key can sign")?;
    let payload = PAYLOAD;
    let token = signer.sign(payload)?;
    let (signing_input, _) = token.rsplit_once('.').ok_or("a compact JWS")?;
    let scalar = NonZeroScalar::try_generate()?;
    let key_bytes: [u8; 32] = scalar.to_bytes().into();
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if let [repeat, operation, count] = arguments.as_slice()
        && repeat == "repeat"
    {
        let count: u32 = count.parse()?;
        let batch = match operation.strip_prefix("kG-batch-") {
            Some(size) => Some(size.parse::<usize>()?),
            None => (operation == "kG-batch").then_some(BATCH),
        };
        if let Some(size) = batch {
            // One batch of `size` scalars an operation, as the nonce
            // producer computes them: divide by `size` for one `k·G`.
            let scalars = batch_scalars(size);
            let ks: Vec<&p256::Scalar> = scalars.iter().map(AsRef::as_ref).collect();
            for _ in 0..count {
                consume(black_box(fixed_base::mul_by_generator_batch(
                    black_box(&ks).iter().copied(),
                )));
            }
            return Ok(());
        }
        match operation.as_str() {
            "kG" => {
                let table =
                    GeneratorTable::<{ signed_headers_keys::fixed_base::WINDOW_BITS }>::new();
                for _ in 0..count {
                    consume(black_box(table.mul(black_box(scalar).as_ref())));
                }
            }
            "sign" => {
                for _ in 0..count {
                    consume(black_box(signer.sign(black_box(payload))));
                }
            }
            "hedged" => {
                for _ in 0..count {
                    consume(black_box(signer.sign_hedged(black_box(payload))));
                }
            }
            "nonce" => {
                let digest: [u8; 32] = Sha256::digest(signing_input.as_bytes()).into();
                for _ in 0..count {
                    consume(black_box(first_nonce_candidate(
                        black_box(&key_bytes),
                        black_box(&digest),
                    )));
                }
            }
            "digest" => {
                for _ in 0..count {
                    consume(black_box(Sha256::digest(
                        black_box(signing_input).as_bytes(),
                    )));
                }
            }
            other => {
                return Err(format!(
                    "no operation {other:?}: kG, kG-batch, kG-batch-N, sign, hedged, nonce or digest"
                )
                .into());
            }
        }
        return Ok(());
    }
    let point = ProjectivePoint::mul_by_generator(scalar.as_ref());

    let rows = [
        (
            "whole signature, RFC 6979 nonce (`Es256Signer::sign`)",
            time(200, || consume(black_box(signer.sign(black_box(payload))))),
        ),
        (
            "whole signature, hedged nonce (`Es256Signer::sign_hedged`, as the filter signs)",
            time(200, || {
                consume(black_box(signer.sign_hedged(black_box(payload))))
            }),
        ),
        (
            "  the RFC 6979 nonce alone (HMAC-DRBG)",
            time(200, || {
                let digest: [u8; 32] = Sha256::digest(black_box(signing_input).as_bytes()).into();
                consume(black_box(first_nonce_candidate(&key_bytes, &digest)));
            }),
        ),
        (
            "one precomputed nonce (`PrecomputedNonce::generate`)",
            time(200, || consume(black_box(PrecomputedNonce::generate()))),
        ),
        (
            "  base-point multiplication k·G, to affine (`p256`'s own tables)",
            time(200, || {
                consume(black_box(
                    ProjectivePoint::mul_by_generator(black_box(scalar).as_ref()).to_affine(),
                ))
            }),
        ),
        (
            "building fixed_base.rs's table at `WINDOW_BITS` (once per process)",
            time(5, || {
                consume(black_box(GeneratorTable::<
                    { signed_headers_keys::fixed_base::WINDOW_BITS },
                >::new()))
            }),
        ),
        (
            "  k·G, to affine, from fixed_base.rs's tables, W = 4",
            time_table::<4>(&scalar),
        ),
        (
            "  k·G, to affine, from fixed_base.rs's tables, W = 5",
            time_table::<5>(&scalar),
        ),
        (
            "  k·G, to affine, from fixed_base.rs's tables, W = 6",
            time_table::<6>(&scalar),
        ),
        (
            "  k·G, to affine, from fixed_base.rs's tables, W = 7",
            time_table::<7>(&scalar),
        ),
        (
            "  k·G, to affine, from fixed_base.rs's tables, W = 8",
            time_table::<8>(&scalar),
        ),
        (
            "  to affine (a field inversion)",
            time(2000, || consume(black_box(black_box(point).to_affine()))),
        ),
        (
            "  k⁻¹ (a scalar inversion)",
            time(2000, || consume(black_box(black_box(scalar).invert()))),
        ),
        (
            "one nonce of a batch of 16 (`generate_batch`)",
            time(20, || {
                consume(black_box(PrecomputedNonce::generate_batch(16)))
            }) / 16.0,
        ),
        ("signature with a precomputed nonce (`sign_with`)", {
            let nonces: Vec<_> = PrecomputedNonce::generate_batch(2400);
            // One run to warm up, five measured.
            let count = u32::try_from(nonces.len() / 6)?;
            let mut nonces = nonces.into_iter();
            time(count, || {
                if let Some(nonce) = nonces.next() {
                    consume(black_box(signer.sign_with(black_box(payload), nonce)));
                }
            })
        }),
        (
            "  SHA-256 of the signing input",
            time(20_000, || {
                consume(black_box(Sha256::digest(black_box(
                    signing_input.as_bytes(),
                ))))
            }),
        ),
        (
            "  base64url of the payload",
            time(20_000, || {
                consume(black_box(URL_SAFE_NO_PAD.encode(black_box(payload))))
            }),
        ),
    ];
    println!("signing input {} bytes\n", signing_input.len());
    println!("| operation | µs |\n|---|---:|");
    for (operation, micros) in rows {
        println!("| {operation} | {micros:.2} |");
    }
    Ok(())
}
