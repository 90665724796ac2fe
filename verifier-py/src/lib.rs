//! The compiled half of the Python package `signed_headers_verifier`: the
//! Rust verifier (`verifier/`) behind a small PyO3 class. The Python half
//! (`python/signed_headers_verifier/`) turns requests' headers into pairs,
//! raises `VerificationError`, and holds the framework glue.
//!
//! Verification releases the GIL (`Python::detach`): a JWKS fetch blocks
//! only the thread that asked, never the interpreter.

use pyo3::prelude::*;
use signed_headers_verifier::{Claims, Policy, Verifier, VerifyError};

/// What the Python side turns into a dict of claims or a
/// `VerificationError`: `(True, claims_json, "")` or `(False, code,
/// message)`.
fn outcome(result: Result<Claims, VerifyError>) -> (bool, String, String) {
    match result.map(|claims| serde_json::to_string(&claims)) {
        Ok(Ok(json)) => (true, json, String::new()),
        Ok(Err(error)) => (false, "malformed".to_owned(), error.to_string()),
        Err(error) => (false, error.code().to_owned(), error.to_string()),
    }
}

fn policy(
    issuers: Vec<String>,
    audiences: Vec<String>,
    clock_skew_seconds: Option<u64>,
    header_name: Option<String>,
) -> PyResult<Policy> {
    let (Some(issuer), Some(audience)) = (issuers.first(), audiences.first()) else {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "issuer and audience are required (a string or a non-empty list)",
        ));
    };
    let mut policy = Policy::new(issuer.clone(), audience.clone());
    for issuer in issuers.iter().skip(1) {
        policy = policy.or_issuer(issuer.clone());
    }
    for audience in audiences.iter().skip(1) {
        policy = policy.or_audience(audience.clone());
    }
    if let Some(seconds) = clock_skew_seconds {
        policy = policy.clock_skew(std::time::Duration::from_secs(seconds));
    }
    if let Some(name) = header_name {
        policy = policy.header_name(name);
    }
    Ok(policy)
}

fn refused(error: impl std::fmt::Display) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(error.to_string())
}

/// One verifier: its keys (a JWKS URL it caches, a static JWKS or a PEM
/// bundle) and its policy. Thread-safe: one per application.
#[pyclass(frozen, module = "signed_headers_verifier._core")]
struct CoreVerifier {
    inner: Verifier,
}

#[pymethods]
impl CoreVerifier {
    #[staticmethod]
    #[pyo3(signature = (issuers, audiences, *, jwks_url=None, jwks=None, bundle=None, clock_skew_seconds=None, header_name=None, memo_bytes=None))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        issuers: Vec<String>,
        audiences: Vec<String>,
        jwks_url: Option<String>,
        jwks: Option<String>,
        bundle: Option<String>,
        clock_skew_seconds: Option<u64>,
        header_name: Option<String>,
        memo_bytes: Option<usize>,
    ) -> PyResult<Self> {
        let policy = policy(issuers, audiences, clock_skew_seconds, header_name)?;
        let inner = match (jwks_url, jwks, bundle) {
            (Some(url), None, None) => Verifier::from_jwks_url(policy, &url),
            (None, Some(jwks), None) => Verifier::from_jwks(policy, &jwks).map_err(refused)?,
            (None, None, Some(pem)) => Verifier::from_bundle(policy, &pem).map_err(refused)?,
            _ => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "give exactly one of jwks_url, jwks or bundle",
                ));
            }
        };
        let inner = match memo_bytes {
            Some(budget) => inner.memo_bytes(budget),
            None => inner,
        };
        Ok(Self { inner })
    }

    /// `(True, claims_json, "")` or `(False, code, message)`.
    fn verify(&self, py: Python<'_>, token: &str) -> (bool, String, String) {
        py.detach(|| outcome(self.inner.verify(token)))
    }

    /// As `verify`, for the assertion among `headers` (name, value) pairs.
    fn verify_headers(
        &self,
        py: Python<'_>,
        headers: Vec<(String, String)>,
    ) -> (bool, String, String) {
        py.detach(|| {
            outcome(
                self.inner.verify_headers(
                    headers
                        .iter()
                        .map(|(name, value)| (name.as_str(), value.as_str())),
                ),
            )
        })
    }

    /// `verify` if it needs no JWKS fetch, else `None` (then call `verify`
    /// off the event loop). Fast enough to call on an event loop.
    fn verify_cached(&self, token: &str) -> Option<(bool, String, String)> {
        self.inner.verify_cached(token).map(outcome)
    }

    /// `verify_headers` if it needs no JWKS fetch, else `None`.
    fn verify_headers_cached(
        &self,
        headers: Vec<(String, String)>,
    ) -> Option<(bool, String, String)> {
        self.inner
            .verify_headers_cached(
                headers
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_str())),
            )
            .map(outcome)
    }

    /// How many verified tokens the memo holds.
    fn remembered(&self) -> usize {
        self.inner.remembered()
    }

    /// The JWKS cache's counters: fetches, updates, not_modified, failures,
    /// suppressed_refetches.
    fn stats(&self) -> (u64, u64, u64, u64, u64) {
        let stats = self.inner.stats();
        (
            stats.fetches,
            stats.updates,
            stats.not_modified,
            stats.failures,
            stats.suppressed_refetches,
        )
    }
}

#[pymodule]
fn _core(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<CoreVerifier>()?;
    Ok(())
}
