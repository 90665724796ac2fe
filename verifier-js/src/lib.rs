//! The verifier for JavaScript: the Rust checks and JWKS cache policy behind
//! a small wasm-bindgen surface. JavaScript does the I/O (`fetch`) and the
//! clock; this side decides when to fetch and whether a token is valid, so
//! both languages share one implementation. Values cross as JSON strings
//! (no serde-wasm-bindgen): the wrapper in `npm/index.js` parses them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use signed_headers_verifier::{
    CacheEvent, CacheOptions, FetchResponse, JwksCache, KeySet, Plan, Policy, VerifyError, kid_of,
    verify_token,
};
use wasm_bindgen::prelude::*;

enum Keys {
    Static(Arc<KeySet>),
    Cached(JwksCache),
}

/// One verifier's state: its policy and its keys (static, or the JWKS cache).
#[wasm_bindgen]
pub struct VerifierCore {
    policy: Policy,
    keys: Keys,
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn seconds(options: &Value, name: &str) -> Result<Option<Duration>, String> {
    match options.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_f64()
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .map(|seconds| Some(Duration::from_secs_f64(seconds)))
            .ok_or_else(|| format!("{name} must be a non-negative number of seconds")),
    }
}

fn error_json(error: &VerifyError) -> Value {
    json!({"code": error.code(), "message": error.to_string()})
}

fn event_json(event: &CacheEvent) -> Value {
    let message = event.to_string();
    match event {
        CacheEvent::Updated { kids } => {
            json!({"type": "updated", "kids": kids, "message": message})
        }
        CacheEvent::NotModified => json!({"type": "not_modified", "message": message}),
        CacheEvent::FetchFailed {
            reason,
            kept_last_good,
        } => json!({"type": "fetch_failed", "reason": reason,
                    "keptLastGood": kept_last_good, "message": message}),
        CacheEvent::RefetchSuppressed { kid } => {
            json!({"type": "refetch_suppressed", "kid": kid, "message": message})
        }
    }
}

fn millis(now_ms: f64) -> u64 {
    if now_ms.is_finite() && now_ms > 0.0 {
        // Saturating float-to-int conversion: a clock cannot be negative.
        now_ms as u64
    } else {
        0
    }
}

impl VerifierCore {
    fn from_options(options: &str) -> Result<Self, String> {
        let options: Value =
            serde_json::from_str(options).map_err(|err| format!("options: {err}"))?;
        let issuers = strings(options.get("issuer"));
        let audiences = strings(options.get("audience"));
        let (Some(issuer), Some(audience)) = (issuers.first(), audiences.first()) else {
            return Err("issuer and audience are required (a string or an array)".to_owned());
        };
        let mut policy = Policy::new(issuer.clone(), audience.clone());
        for issuer in issuers.iter().skip(1) {
            policy = policy.or_issuer(issuer.clone());
        }
        for audience in audiences.iter().skip(1) {
            policy = policy.or_audience(audience.clone());
        }
        if let Some(skew) = seconds(&options, "clockSkewSeconds")? {
            policy = policy.clock_skew(skew);
        }
        if let Some(name) = options.get("headerName").and_then(Value::as_str) {
            policy = policy.header_name(name);
        }
        let keys = match options.get("jwks") {
            Some(Value::Null) | None => {
                let mut cache = CacheOptions::default();
                if let Some(interval) = seconds(&options, "minRefetchIntervalSeconds")? {
                    cache.min_refetch_interval = interval;
                }
                if let Some(max_age) = seconds(&options, "defaultMaxAgeSeconds")? {
                    cache.default_max_age = max_age;
                }
                Keys::Cached(JwksCache::new(cache))
            }
            Some(Value::String(document)) => Keys::Static(Arc::new(
                KeySet::from_jwks(document).map_err(|e| e.to_string())?,
            )),
            Some(document) => Keys::Static(Arc::new(
                KeySet::from_jwks(&document.to_string()).map_err(|e| e.to_string())?,
            )),
        };
        Ok(Self { policy, keys })
    }
}

#[wasm_bindgen]
impl VerifierCore {
    /// `options`: JSON with `issuer`, `audience` (each a string or an
    /// array), and optionally `clockSkewSeconds`, `headerName`, `jwks` (a
    /// static JWKS: no fetching), `minRefetchIntervalSeconds`,
    /// `defaultMaxAgeSeconds`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: &str) -> Result<VerifierCore, JsError> {
        Self::from_options(options).map_err(|err| JsError::new(&err))
    }

    #[wasm_bindgen(js_name = headerName)]
    pub fn header_name(&self) -> String {
        self.policy.get_header_name().to_owned()
    }

    /// What to do for `token` at `now_ms`, as JSON. When the keys held
    /// decide it, the answer carries the verification too (one call on the
    /// common path): `{"action":"use","result":…}`, or
    /// `{"action":"suppressed","event":…,"result":…}` (an unknown kid not
    /// refetched yet), where `result` is what [`Self::verify`] returns.
    /// Otherwise `{"action":"fetch","ifNoneMatch":…}`,
    /// `{"action":"revalidate","ifNoneMatch":…}` (stale keys that can still
    /// verify the token: verify after starting the refresh), or
    /// `{"action":"refuse","error":…}` when the token's header alone
    /// refuses it.
    pub fn plan(&mut self, token: &str, now_ms: f64) -> String {
        let mut plan = match &mut self.keys {
            Keys::Static(_) => json!({"action": "use"}),
            Keys::Cached(cache) => match kid_of(token) {
                Err(error) => {
                    return json!({"action": "refuse", "error": error_json(&error)}).to_string();
                }
                Ok(kid) => match cache.plan(&kid, millis(now_ms)) {
                    Plan::UseCached => json!({"action": "use"}),
                    Plan::RefetchSuppressed => json!({"action": "suppressed",
                        "event": event_json(&CacheEvent::RefetchSuppressed { kid })}),
                    Plan::Fetch { if_none_match } => {
                        return json!({"action": "fetch", "ifNoneMatch": if_none_match})
                            .to_string();
                    }
                    Plan::Revalidate { if_none_match } => {
                        return json!({"action": "revalidate", "ifNoneMatch": if_none_match})
                            .to_string();
                    }
                },
            },
        };
        if let Value::Object(fields) = &mut plan {
            fields.insert("result".to_owned(), self.verification(token, now_ms));
        }
        plan.to_string()
    }

    /// Takes a fetch's response; returns the cache event as JSON.
    #[wasm_bindgen(js_name = applyResponse)]
    pub fn apply_response(
        &mut self,
        status: u16,
        etag: Option<String>,
        cache_control: Option<String>,
        body: String,
        now_ms: f64,
    ) -> String {
        self.apply(
            Ok(FetchResponse {
                status,
                etag,
                cache_control,
                body,
            }),
            now_ms,
        )
    }

    /// Takes a fetch that got no response (network error, timeout).
    #[wasm_bindgen(js_name = applyFailure)]
    pub fn apply_failure(&mut self, reason: String, now_ms: f64) -> String {
        self.apply(Err(reason), now_ms)
    }

    fn apply(&mut self, outcome: Result<FetchResponse, String>, now_ms: f64) -> String {
        match &mut self.keys {
            Keys::Cached(cache) => event_json(&cache.apply(outcome, millis(now_ms))).to_string(),
            Keys::Static(_) => json!({"type": "ignored"}).to_string(),
        }
    }

    /// Verifies with the keys held: `{"ok":true,"claims":…}` or
    /// `{"ok":false,"error":{"code":…,"message":…}}`.
    pub fn verify(&self, token: &str, now_ms: f64) -> String {
        self.verification(token, now_ms).to_string()
    }

    fn verification(&self, token: &str, now_ms: f64) -> Value {
        let now = millis(now_ms) / 1000;
        let result = match &self.keys {
            Keys::Static(keys) => verify_token(keys, &self.policy, token, now),
            Keys::Cached(cache) => match cache.keys() {
                Some(keys) => verify_token(&keys, &self.policy, token, now),
                None => Err(VerifyError::KeysUnavailable(cache.unavailable_reason())),
            },
        };
        match result {
            Ok(claims) => json!({"ok": true, "claims": claims}),
            Err(error) => json!({"ok": false, "error": error_json(&error)}),
        }
    }

    /// The cache's counters as JSON.
    pub fn stats(&self) -> String {
        let stats = match &self.keys {
            Keys::Cached(cache) => cache.stats(),
            Keys::Static(_) => Default::default(),
        };
        json!({
            "fetches": stats.fetches,
            "updates": stats.updates,
            "notModified": stats.not_modified,
            "failures": stats.failures,
            "suppressedRefetches": stats.suppressed_refetches,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"a"}]}"#;

    fn parsed(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn options_need_an_issuer_and_an_audience() {
        let refused = VerifierCore::from_options(r#"{"issuer":"a"}"#)
            .err()
            .unwrap();
        assert!(refused.contains("audience"), "{refused}");
        let refused =
            VerifierCore::from_options(r#"{"issuer":"a","audience":"a","clockSkewSeconds":-1}"#)
                .err()
                .unwrap();
        assert!(refused.contains("clockSkewSeconds"), "{refused}");
        assert!(VerifierCore::from_options("not json").is_err());
    }

    #[test]
    fn a_cached_core_asks_to_fetch_then_uses_what_it_got() {
        let mut core = VerifierCore::from_options(
            r#"{"issuer":"a","audience":["a","b"],"headerName":"x-id"}"#,
        )
        .unwrap();
        assert_eq!(core.header_name(), "x-id");
        let token = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImEifQ.e30.AAAA";
        assert_eq!(
            parsed(&core.plan(token, 1000.0)),
            json!({"action": "fetch", "ifNoneMatch": null})
        );
        let event = core.apply_response(200, Some("\"e\"".into()), None, JWKS.into(), 1000.0);
        assert_eq!(parsed(&event)["type"], "updated");
        // The keys held decide: the plan carries the verification, the one
        // `verify` gives. The token's signature is junk: refused with a
        // code, not a throw.
        let plan = parsed(&core.plan(token, 2000.0));
        assert_eq!(plan["action"], "use");
        assert_eq!(plan["result"], parsed(&core.verify(token, 2000.0)));
        assert_eq!(plan["result"]["error"]["code"], "bad_signature");
        let none = "eyJhbGciOiJub25lIn0.e30.";
        assert_eq!(
            parsed(&core.plan(none, 2000.0))["error"]["code"],
            "unsupported_algorithm"
        );
        assert_eq!(parsed(&core.stats())["fetches"], 1);
    }

    #[test]
    fn a_static_core_never_fetches() {
        let options = json!({"issuer": "a", "audience": "a", "jwks": JWKS}).to_string();
        let mut core = VerifierCore::from_options(&options).unwrap();
        let plan = parsed(&core.plan("x.y.z", 0.0));
        assert_eq!(plan["action"], "use");
        assert_eq!(plan["result"]["error"]["code"], "malformed");
        let empty = json!({"issuer": "a", "audience": "a", "jwks": {"keys": []}}).to_string();
        assert!(VerifierCore::from_options(&empty).is_err());
    }
}
