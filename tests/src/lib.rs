//! End-to-end test harness for the signed-headers filter: a real Envoy
//! process running the built `.wasm`, in front of an echo upstream, behind a
//! test identity provider, all on loopback.
//!
//! - [`EchoUpstream`]: an HTTP/1.1 server that answers every request with the
//!   request itself (method, path, every header in order) and counts them.
//! - [`TestIdp`]: a P-256 identity provider whose JWTs Envoy's `jwt_authn`
//!   verifies; signed with `jsonwebtoken`, independent of our signer.
//! - [`Envoy`] and [`EnvoyOptions`]: one Envoy process per test, with its own
//!   temporary directory, ports discovered from its admin interface, killed on
//!   drop.
//! - [`http`]: a raw HTTP/1.1 client with full control over what goes on the
//!   wire (duplicate and mixed-case headers, any `Host`, a new connection per
//!   request).
//! - [`AssertionVerifier`]: checks assertions with `jsonwebtoken` against the
//!   JWKS the filter publishes, or against a bare public key.
//! - [`TestBed`]: all of the above wired together, which is what most tests
//!   want.
//!
//! Everything here panics with a descriptive message (including Envoy's log
//! where it helps) instead of returning errors: it only ever runs inside
//! tests, where a panic is the failure report.

// A test harness reports failure by panicking; the messages say what broke.
#![allow(clippy::expect_used, clippy::panic)]

pub mod auth_service;
pub mod browser;
mod echo;
mod envoy;
pub mod h2;
pub mod http;
mod idp;
pub mod oidc;
pub mod page_server;
mod server;
mod testbed;
pub mod tls;
pub mod url;
mod verify;

pub use echo::{EchoUpstream, EchoedRequest, MAX_HEADER_LINE_BYTES};
pub use envoy::{
    CONCURRENCY, Envoy, EnvoyOptions, FailedStart, FilterSetup, IDP_JWKS_PLACEHOLDER,
    ShippedConfig, UpstreamProtocol,
};
pub use idp::TestIdp;
pub use server::LoopbackServer;
pub use testbed::{TestBed, bundle_of, generate_key, signing_bundle};
pub use verify::{AssertionVerifier, VerifiedAssertion, decode_segment};

use std::path::PathBuf;

/// The assertion header the filter sets by default.
pub const ASSERTION_HEADER: &str = "x-pomerium-jwt-assertion";

/// The JWKS path the filter answers by default.
pub const JWKS_PATH: &str = "/.well-known/pomerium/jwks.json";

/// Environment variable naming the Envoy binary (exported by the Makefile).
pub const ENVOY_BIN_VAR: &str = "ENVOY_BIN";

/// Environment variable naming the built filter (exported by the Makefile).
pub const WASM_VAR: &str = "SIGNED_HEADERS_WASM";

/// The Envoy binary to run. Panics (the test fails, never silently passes)
/// when the Makefile's environment is missing.
pub fn envoy_binary() -> PathBuf {
    required_file(ENVOY_BIN_VAR, "the Envoy binary (`make envoy`)")
}

/// The built filter. Panics when it is missing, like [`envoy_binary`].
pub fn filter_wasm() -> PathBuf {
    required_file(WASM_VAR, "the built filter (`make wasm`)")
}

/// Environment variable naming the no-op baseline filter (exported by the Makefile).
pub const NOOP_WASM_VAR: &str = "NOOP_FILTER_WASM";

/// The no-op baseline filter (`noop-filter/`), which also crashes on
/// `/crash`. Panics when it is missing, like [`envoy_binary`].
pub fn noop_filter_wasm() -> PathBuf {
    required_file(NOOP_WASM_VAR, "the no-op baseline filter (`make wasm`)")
}

/// Environment variable naming the `signing-key` CLI (exported by the Makefile).
pub const SIGNING_KEY_BIN_VAR: &str = "SIGNING_KEY_BIN";

/// The built `signing-key` CLI. Panics when it is missing, like [`envoy_binary`].
pub fn signing_key_cli() -> PathBuf {
    required_file(SIGNING_KEY_BIN_VAR, "the signing-key CLI (`make cli`)")
}

/// Runs `signing-key` with `args` and returns how it ended.
pub fn try_signing_key(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(signing_key_cli())
        .args(args)
        .output()
        .expect("cannot run signing-key")
}

/// Runs `signing-key` with `args`; panics with its stderr unless it exits 0.
/// Returns its stdout.
pub fn run_signing_key(args: &[&std::ffi::OsStr]) -> String {
    let output = try_signing_key(args);
    assert!(
        output.status.success(),
        "signing-key {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn required_file(var: &str, what: &str) -> PathBuf {
    let Some(value) = std::env::var_os(var) else {
        panic!(
            "${var} is not set: it must name {what}. Run the end-to-end tests with `make test`."
        );
    };
    let path = PathBuf::from(value);
    if !path.is_file() {
        panic!(
            "${var} = {} does not exist: it must name {what}. Run the end-to-end tests with `make test`.",
            path.display()
        );
    }
    path
}

/// A TCP port on 127.0.0.1 nothing listens on now, for a server the test
/// starts as a separate process (which must be told its port).
pub fn free_loopback_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

/// The repository's top directory (where the shipped configurations expect
/// Envoy to run).
pub fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .expect("tests/ has a parent directory")
}

/// A path to a file under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// The text of a file under `tests/fixtures/`.
pub fn fixture_text(name: &str) -> String {
    let path = fixture(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read fixture {}: {err}", path.display()))
}
