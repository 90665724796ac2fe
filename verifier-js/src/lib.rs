//! The verifier for JavaScript: the Rust checks and JWKS cache policy behind
//! a small wasm-bindgen surface. JavaScript does the I/O (`fetch`) and the
//! clock; this side decides when to fetch and whether a token is valid, so
//! both languages share one implementation. Values cross as JSON strings
//! (no serde-wasm-bindgen): the wrapper in `npm/index.js` parses them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use signed_headers_verifier::{
    CacheEvent, CacheOptions, Claims, DEFAULT_MEMO_BYTES, FetchResponse, JwksCache, KeySet, Plan,
    Policy, VerifiedTokens, VerifyError, kid_of, signature_input, verify_token,
    verify_token_checked,
};
use wasm_bindgen::prelude::*;

enum Keys {
    Static(Arc<KeySet>),
    Cached(JwksCache),
}

/// One verifier's state: its policy, its keys (static, or the JWKS cache)
/// and the memo of tokens it verified.
#[wasm_bindgen]
pub struct VerifierCore {
    policy: Policy,
    keys: Keys,
    memo: VerifiedTokens,
    /// The JavaScript side checks signatures (WebCrypto): plans say
    /// `check` instead of verifying here with p256.
    external_signatures: bool,
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
        let memo_bytes = match options.get("memoBytes") {
            None | Some(Value::Null) => DEFAULT_MEMO_BYTES,
            Some(value) => value
                .as_u64()
                .and_then(|bytes| usize::try_from(bytes).ok())
                .ok_or_else(|| "memoBytes must be a non-negative integer".to_owned())?,
        };
        let external_signatures = match options.get("signatures") {
            None | Some(Value::Null) => false,
            Some(Value::String(by)) if by == "wasm" => false,
            Some(Value::String(by)) if by == "external" => true,
            Some(other) => {
                return Err(format!(
                    "signatures must be \"wasm\" or \"external\", not {other}"
                ));
            }
        };
        Ok(Self {
            policy,
            keys,
            memo: VerifiedTokens::new(memo_bytes),
            external_signatures,
        })
    }

    /// The keys held, or why there are none.
    fn held_keys(&self) -> Result<Arc<KeySet>, VerifyError> {
        match &self.keys {
            Keys::Static(keys) => Ok(Arc::clone(keys)),
            Keys::Cached(cache) => cache
                .keys()
                .ok_or_else(|| VerifyError::KeysUnavailable(cache.unavailable_reason())),
        }
    }

    /// What the cache says for `kid` (static keys always decide).
    fn cache_plan(&mut self, kid: &str, now_ms: f64) -> Plan {
        match &mut self.keys {
            Keys::Static(_) => Plan::UseCached,
            Keys::Cached(cache) => cache.plan(kid, millis(now_ms)),
        }
    }

    /// The claims of a remembered token that is still good.
    fn recalled(&mut self, token: &str, now_ms: f64) -> Option<Claims> {
        let keys = self.held_keys().ok()?;
        self.memo.recall(token, &keys, millis(now_ms) / 1000)
    }

    fn remember(&mut self, token: &str, keys: &KeySet, claims: &Claims) {
        if let Ok(kid) = kid_of(token) {
            let skew = self.policy.clock_skew_seconds();
            self.memo.remember(token, keys, &kid, claims, skew);
        }
    }

    /// `{"action":"check",…}` for the JavaScript side to check the
    /// signature of `token` with the key its kid names, when it checks
    /// signatures and the keys hold that key; `None` otherwise.
    fn check_plan(&self, token: &str) -> Option<Value> {
        if !self.external_signatures {
            return None;
        }
        let input = signature_input(token).ok()?;
        let keys = self.held_keys().ok()?;
        let point = keys.point(&input.kid)?;
        Some(json!({
            "action": "check",
            "key": hex(point),
            "signed": [input.signed.start, input.signed.end],
            "signature": [input.signature.start, input.signature.end],
        }))
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        for nibble in [byte >> 4, byte & 0x0f] {
            text.push(char::from(
                DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
    text
}

fn verification_json(result: Result<Claims, VerifyError>) -> Value {
    match result {
        Ok(claims) => json!({"ok": true, "claims": claims}),
        Err(error) => json!({"ok": false, "error": error_json(&error)}),
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
    ///
    /// `settled`: decide with the keys held, whatever their age (after a
    /// fetch, or while another is in flight): never `fetch`/`revalidate`.
    ///
    /// With `signatures: "external"`, a token the keys can decide but the
    /// memo does not hold gets `{"action":"check","key":…,"signed":[from,
    /// to],"signature":[from,to]}`: check the signature (base64url at
    /// `signature`) of the token's text at `signed` with the P-256 key
    /// whose uncompressed point is `key` (hex), then call
    /// [`Self::accept`].
    pub fn plan(&mut self, token: &str, now_ms: f64, settled: bool) -> String {
        let kid = match self.memo.kid_of(token) {
            Some(kid) => kid.to_owned(),
            None => match kid_of(token) {
                Ok(kid) => kid,
                Err(error) => {
                    return json!({"action": "refuse", "error": error_json(&error)}).to_string();
                }
            },
        };
        // Settled: the cache is not asked (it would count a refetch it
        // suppresses, though this verification just made one).
        let cache_plan = if settled {
            Plan::UseCached
        } else {
            self.cache_plan(&kid, now_ms)
        };
        let held_keys_decide = cache_plan == Plan::UseCached;
        let mut plan = match cache_plan {
            Plan::UseCached => json!({"action": "use"}),
            Plan::RefetchSuppressed => json!({"action": "suppressed",
                "event": event_json(&CacheEvent::RefetchSuppressed { kid })}),
            Plan::Fetch { if_none_match } => {
                return json!({"action": "fetch", "ifNoneMatch": if_none_match}).to_string();
            }
            Plan::Revalidate { if_none_match } => {
                return json!({"action": "revalidate", "ifNoneMatch": if_none_match}).to_string();
            }
        };
        if let Some(claims) = self.recalled(token, now_ms) {
            // The hot path of a repeat: the claims straight to text.
            return match serde_json::to_string(&claims) {
                Ok(claims) => {
                    format!(r#"{{"action":"use","result":{{"ok":true,"claims":{claims}}}}}"#)
                }
                Err(error) => json!({"action": "use", "result": {"ok": false, "error":
                    {"code": "malformed", "message": error.to_string()}}})
                .to_string(),
            };
        }
        if held_keys_decide && let Some(check) = self.check_plan(token) {
            return check.to_string();
        }
        if let Value::Object(fields) = &mut plan {
            fields.insert("result".to_owned(), self.verification(token, now_ms));
        }
        plan.to_string()
    }

    /// Finishes a `check` plan: `valid` is what the signature check said
    /// with the key `key` (hex, as the plan gave it), `undefined` when it
    /// could not be run (then it runs here). Returns what [`Self::verify`]
    /// returns. Keys replaced since the plan are noticed: the token is then
    /// checked here, with the keys held now.
    pub fn accept(&mut self, token: &str, now_ms: f64, key: &str, valid: Option<bool>) -> String {
        let Ok(keys) = self.held_keys() else {
            return self.verify(token, now_ms);
        };
        let held = kid_of(token)
            .ok()
            .and_then(|kid| keys.point(&kid).copied())
            .filter(|point| hex(point) == key);
        let result = match (held, valid) {
            (Some(_), Some(false)) => Err(VerifyError::BadSignature),
            (Some(point), Some(true)) => {
                verify_token_checked(&keys, &self.policy, token, millis(now_ms) / 1000, &point)
            }
            _ => return self.verify(token, now_ms),
        };
        if let Ok(claims) = &result {
            self.remember(token, &keys, claims);
        }
        verification_json(result).to_string()
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

    /// Verifies with the keys held, here (p256) or from the memo:
    /// `{"ok":true,"claims":…}` or
    /// `{"ok":false,"error":{"code":…,"message":…}}`.
    pub fn verify(&mut self, token: &str, now_ms: f64) -> String {
        self.verification(token, now_ms).to_string()
    }

    fn verification(&mut self, token: &str, now_ms: f64) -> Value {
        if let Some(claims) = self.recalled(token, now_ms) {
            return json!({"ok": true, "claims": claims});
        }
        let result = self.held_keys().and_then(|keys| {
            let claims = verify_token(&keys, &self.policy, token, millis(now_ms) / 1000)?;
            self.remember(token, &keys, &claims);
            Ok(claims)
        });
        verification_json(result)
    }

    /// How many verified tokens the memo holds.
    pub fn remembered(&self) -> usize {
        self.memo.len()
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
    use signed_headers_keys::{BundleKey, KeyFormat};

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
            parsed(&core.plan(token, 1000.0, false)),
            json!({"action": "fetch", "ifNoneMatch": null})
        );
        let event = core.apply_response(200, Some("\"e\"".into()), None, JWKS.into(), 1000.0);
        assert_eq!(parsed(&event)["type"], "updated");
        // The keys held decide: the plan carries the verification, the one
        // `verify` gives. The token's signature is junk: refused with a
        // code, not a throw.
        let plan = parsed(&core.plan(token, 2000.0, false));
        assert_eq!(plan["action"], "use");
        assert_eq!(plan["result"], parsed(&core.verify(token, 2000.0)));
        assert_eq!(plan["result"]["error"]["code"], "bad_signature");
        let none = "eyJhbGciOiJub25lIn0.e30.";
        assert_eq!(
            parsed(&core.plan(none, 2000.0, false))["error"]["code"],
            "unsupported_algorithm"
        );
        assert_eq!(parsed(&core.stats())["fetches"], 1);
    }

    #[test]
    fn a_static_core_never_fetches() {
        let options = json!({"issuer": "a", "audience": "a", "jwks": JWKS}).to_string();
        let mut core = VerifierCore::from_options(&options).unwrap();
        let plan = parsed(&core.plan("x.y.z", 0.0, false));
        assert_eq!(plan["action"], "refuse");
        assert_eq!(plan["error"]["code"], "malformed");
        let token = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImEifQ.e30.AAAA";
        let plan = parsed(&core.plan(token, 0.0, false));
        assert_eq!(plan["action"], "use");
        assert_eq!(plan["result"]["error"]["code"], "bad_signature");
        let empty = json!({"issuer": "a", "audience": "a", "jwks": {"keys": []}}).to_string();
        assert!(VerifierCore::from_options(&empty).is_err());
    }

    /// A core whose JavaScript side checks signatures, with `key` published
    /// and a token it signed at `now` seconds (5 minutes of life).
    fn external_core(key: &BundleKey, now: u64) -> (VerifierCore, String) {
        let jwks = signed_headers_keys::JwksDocument::new(&[key.jwk()]);
        let options = json!({"issuer": "app", "audience": "app", "jwks": jwks.body(),
                             "signatures": "external"});
        let core = VerifierCore::from_options(&options.to_string()).unwrap();
        let claims = json!({"iss": "app", "aud": "app", "iat": now, "exp": now + 300,
                            "sub": "alice"});
        let token = key.signer().unwrap().sign_claims(&claims).unwrap();
        (core, token)
    }

    const NOW: u64 = 1_800_000_000;

    fn point_hex(key: &BundleKey) -> String {
        let jwks = signed_headers_keys::JwksDocument::new(&[key.jwk()]);
        let keys = KeySet::from_jwks(jwks.body()).unwrap();
        hex(keys.point(key.kid()).unwrap())
    }

    fn ms(seconds: u64) -> f64 {
        (seconds * 1000) as f64
    }

    #[test]
    fn a_check_plan_names_the_key_and_the_signed_text() {
        let key = BundleKey::generate(KeyFormat::Pkcs8).unwrap();
        let (mut core, token) = external_core(&key, NOW);
        let plan = parsed(&core.plan(&token, ms(NOW), false));
        assert_eq!(plan["action"], "check");
        assert_eq!(plan["key"], point_hex(&key));
        let dot = token.rfind('.').unwrap();
        assert_eq!(plan["signed"], json!([0, dot]));
        assert_eq!(plan["signature"], json!([dot + 1, token.len()]));
    }

    #[test]
    fn an_accepted_check_is_remembered_until_exp_and_a_refused_one_is_not() {
        let key = BundleKey::generate(KeyFormat::Pkcs8).unwrap();
        let (mut core, token) = external_core(&key, NOW);
        let point = parsed(&core.plan(&token, ms(NOW), false))["key"]
            .as_str()
            .unwrap()
            .to_owned();

        let refused = parsed(&core.accept(&token, ms(NOW), &point, Some(false)));
        assert_eq!(refused["error"]["code"], "bad_signature");
        assert_eq!(core.remembered(), 0, "a refusal is not remembered");

        let accepted = parsed(&core.accept(&token, ms(NOW), &point, Some(true)));
        assert_eq!(accepted["claims"]["sub"], "alice");
        assert_eq!(core.remembered(), 1);
        // A repeat is answered from the memo, without a check.
        let repeat = parsed(&core.plan(&token, ms(NOW + 100), false));
        assert_eq!(repeat["action"], "use");
        assert_eq!(repeat["result"], accepted);
        // Past exp plus the skew it is checked again, and refused.
        let late = parsed(&core.plan(&token, ms(NOW + 300 + 61), false));
        assert_eq!(late["action"], "check");
        let late = parsed(&core.accept(&token, ms(NOW + 361), &point, Some(true)));
        assert_eq!(late["error"]["code"], "expired");
    }

    #[test]
    fn a_check_made_with_another_key_is_redone_here() {
        let key = BundleKey::generate(KeyFormat::Pkcs8).unwrap();
        let other = BundleKey::generate(KeyFormat::Pkcs8).unwrap();
        let (mut core, token) = external_core(&key, NOW);
        let other_point = point_hex(&other);
        // A forgery: the token's payload changed, its signature kept. A
        // JavaScript side that claims it valid under a key the core does
        // not hold for this kid is not believed.
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let (header, _) = signed.split_once('.').unwrap();
        let forged_payload = json!({"iss": "app", "aud": "app", "iat": NOW, "exp": NOW + 300,
                                    "sub": "mallory"});
        let forged = format!(
            "{header}.{}.{signature}",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                forged_payload.to_string()
            )
        );
        let result = parsed(&core.accept(&forged, ms(NOW), &other_point, Some(true)));
        assert_eq!(result["error"]["code"], "bad_signature");
        // The genuine token, vouched for under the wrong key, is checked
        // here and passes; and without a verdict (WebCrypto failed) too.
        let result = parsed(&core.accept(&token, ms(NOW), &other_point, Some(true)));
        assert_eq!(result["claims"]["sub"], "alice");
        let (mut core, token) = external_core(&key, NOW);
        let point = parsed(&core.plan(&token, ms(NOW), false))["key"]
            .as_str()
            .unwrap()
            .to_owned();
        let result = parsed(&core.accept(&token, ms(NOW), &point, None));
        assert_eq!(result["claims"]["sub"], "alice");
        assert_eq!(core.remembered(), 1);
    }
}
