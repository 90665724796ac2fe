//! `envoy/browser-login.yaml`: a real login flow. A browser (cookie jar,
//! redirects) asks for a page, Envoy's oauth2 filter sends it to the test
//! OpenID Connect provider, the code comes back to `/callback`, Envoy trades
//! it for tokens (PKCE), and the next request carries an `IdToken` cookie
//! that `jwt_authn` verifies and signed-headers turns into the assertion.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use signed_headers_e2e::browser::{Browser, Visit};
use signed_headers_e2e::oidc::{OidcClient, OidcProvider};
use signed_headers_e2e::tls::TestCa;
use signed_headers_e2e::{
    ASSERTION_HEADER, AssertionVerifier, EchoUpstream, EchoedRequest, Envoy, JWKS_PATH, TestIdp,
};
use tempfile::TempDir;

use crate::shipped::{
    filename, load_shipped, with_idp_at, with_listener_certificate, with_signing_key,
};
use crate::support::{assert_assertion_shape, now};

const FILE: &str = "browser-login.yaml";
const APP_HOST: &str = "app.example";
/// The assertion's issuer: the shipped file has `issuer_format: uri`.
const APP_ISSUER: &str = "https://app.example/";
const IDP_HOST: &str = "idp.example.com";
/// What the shipped file configures for the IdP and its client.
const ISSUER: &str = "https://idp.example.com";
const CLIENT_ID: &str = "my-app";
/// The oauth2 filter's cookies that carry the IdP's tokens.
const TOKEN_COOKIES: [&str; 3] = ["IdToken", "BearerToken", "RefreshToken"];

fn alice() -> Value {
    json!({
        "sub": "alice-id",
        "email": "alice@example.com",
        "name": "Alice Example",
        "groups": ["engineering"],
    })
}

struct BrowserLoginBed {
    envoy: Envoy,
    upstream: EchoUpstream,
    oidc: OidcProvider,
    ca: TestCa,
    signing_kid: String,
    dir: TempDir,
}

impl BrowserLoginBed {
    fn start() -> Self {
        Self::start_with_strip(None)
    }

    /// With `strip_cookies`, the filter's `strip` setting is replaced by it
    /// (to see what Envoy itself forwards).
    fn start_with_strip(strip_cookies: Option<&str>) -> Self {
        let upstream = EchoUpstream::start();
        let ca = TestCa::new("signed-headers e2e CA");
        let client_secret = "test-client-secret";
        let oidc = OidcProvider::start(
            &ca.issue_server(&[IDP_HOST]),
            OidcClient {
                issuer: ISSUER.into(),
                client_id: CLIENT_ID.into(),
                client_secret: client_secret.into(),
            },
            alice(),
        );
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        let ca_file = ca.write_cert(dir.path(), "ca.pem");
        let client_secret_file = dir.path().join("client-secret");
        std::fs::write(&client_secret_file, client_secret).expect("cannot write a secret");
        let hmac_secret_file = dir.path().join("hmac-secret");
        std::fs::write(&hmac_secret_file, STANDARD.encode(rand_bytes()))
            .expect("cannot write a secret");
        // `localhost` too: tools without the browser's host table (the CLI,
        // an app's verifier) reach the JWKS by it.
        let config = with_listener_certificate(
            load_shipped(FILE, &upstream),
            &ca.issue_server(&[APP_HOST, "localhost"]),
            dir.path(),
        )
        .substitute(
            "{filename: /etc/envoy/secrets/client-secret}",
            &filename(&client_secret_file),
        )
        .substitute(
            "{filename: /etc/envoy/secrets/hmac-secret}",
            &filename(&hmac_secret_file),
        );
        let config = match strip_cookies {
            Some(replacement) => config.substitute(
                r#""strip": {"cookies": ["IdToken", "BearerToken", "RefreshToken"]},"#,
                replacement,
            ),
            None => config,
        };
        let (config, signing_kid) =
            with_signing_key(with_idp_at(config, oidc.address().port(), &ca_file));
        let envoy = Envoy::start_shipped(&config, "ingress");
        Self {
            envoy,
            upstream,
            oidc,
            ca,
            signing_kid,
            dir,
        }
    }

    fn browser(&self) -> Browser<'_> {
        Browser::new(&self.ca)
            .resolve(APP_HOST, self.envoy.listener_address())
            .resolve(IDP_HOST, self.oidc.address())
    }

    fn verifier(&self) -> AssertionVerifier {
        let response = self
            .browser()
            .get(&format!("https://{APP_HOST}{JWKS_PATH}"));
        assert_eq!(response.status, 200, "{}", response.text());
        AssertionVerifier::from_jwks(&response.text())
    }
}

/// 32 bytes that differ per run (no RNG dependency needed for a test HMAC
/// key: the JWKS key generator already draws from the OS).
fn rand_bytes() -> Vec<u8> {
    signed_headers_e2e::generate_key(signed_headers_keys::KeyFormat::Sec1)
        .kid()
        .as_bytes()
        .to_vec()
}

fn describe(visits: &[Visit]) -> String {
    visits
        .iter()
        .map(|visit| {
            format!(
                "{} -> {} {:?}",
                visit.url,
                visit.response.status,
                visit.response.header_values("location")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn final_response(visits: &[Visit]) -> &signed_headers_e2e::http::Response {
    &visits
        .last()
        .expect("a navigation has at least one visit")
        .response
}

/// After a login, the browser holds all three of the IdP's token cookies.
fn assert_browser_holds_the_token_cookies(browser: &Browser<'_>) {
    let held: Vec<&str> = browser
        .cookies(APP_HOST)
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    for token_cookie in TOKEN_COOKIES {
        assert!(held.contains(&token_cookie), "browser cookies: {held:?}");
    }
}

#[test]
fn browser_login_flow_ends_with_a_verified_assertion_and_no_token_cookies_upstream() {
    let bed = BrowserLoginBed::start();
    let mut browser = bed.browser();

    let visits = browser.navigate(&format!("https://{APP_HOST}/dashboard?tab=1"));
    let flow = describe(&visits);
    assert!(
        visits.len() >= 4,
        "expected app -> IdP -> callback -> app:\n{flow}"
    );
    assert!(
        visits[1]
            .url
            .starts_with(&format!("https://{IDP_HOST}/authorize?")),
        "{flow}"
    );
    assert!(
        visits[2]
            .url
            .starts_with(&format!("https://{APP_HOST}/callback?")),
        "{flow}"
    );
    assert_eq!(bed.oidc.tokens_issued(), 1, "{flow}");
    let echoed = EchoedRequest::from_response(final_response(&visits));
    assert_eq!(echoed.path, "/dashboard?tab=1");

    let assertion =
        bed.verifier()
            .verify(echoed.single_header(ASSERTION_HEADER), APP_ISSUER, APP_HOST);
    assert_assertion_shape(&assertion, &bed.signing_kid, 300);
    assert_eq!(assertion.claim("sub"), "alice-id");
    assert_eq!(assertion.claim("email"), "alice@example.com");
    assert_eq!(assertion.claim("name"), "Alice Example");
    assert_eq!(assertion.claim("groups"), &json!(["engineering"]));

    // The browser holds the IdP's tokens; the app never sees them.
    assert_browser_holds_the_token_cookies(&browser);
    let cookies = echoed.header_values("cookie").join("; ");
    for token_cookie in TOKEN_COOKIES {
        assert!(
            !cookies.contains(&format!("{token_cookie}=")),
            "{token_cookie} reached the app: {cookies}"
        );
    }
    assert!(
        echoed.header_values("authorization").is_empty(),
        "the access token reached the app: {:?}",
        echoed.headers
    );

    // The session holds: the next page needs no new login.
    let visits = browser.navigate(&format!("https://{APP_HOST}/settings"));
    assert_eq!(visits.len(), 1, "{}", describe(&visits));
    let echoed = EchoedRequest::from_response(final_response(&visits));
    let again = bed
        .verifier()
        .verify(echoed.single_header(ASSERTION_HEADER), APP_ISSUER, APP_HOST);
    assert_eq!(again.claim("sub"), "alice-id");
    assert_eq!(bed.oidc.tokens_issued(), 1);
}

#[test]
fn without_strip_cookies_envoy_hands_the_app_the_id_and_access_tokens() {
    // What Envoy 1.40's oauth2 filter does on its own, which is why
    // `strip.cookies` ships: it decrypts the token cookies and passes
    // `IdToken` and `BearerToken` on to the app in plain text; it removes
    // `RefreshToken` itself.
    let bed = BrowserLoginBed::start_with_strip(Some(""));
    let mut browser = bed.browser();
    let visits = browser.navigate(&format!("https://{APP_HOST}/dashboard"));
    let echoed = EchoedRequest::from_response(final_response(&visits));
    assert_browser_holds_the_token_cookies(&browser);
    let cookies = echoed.header_values("cookie").join("; ");
    assert!(cookies.contains("IdToken=eyJ"), "{cookies}");
    assert!(
        cookies.contains("BearerToken=opaque-access-token-"),
        "{cookies}"
    );
    assert!(!cookies.contains("RefreshToken="), "{cookies}");
    assert!(!cookies.contains("opaque-refresh-token"), "{cookies}");
}

#[test]
fn browser_login_jwks_needs_no_login_and_pages_do() {
    let bed = BrowserLoginBed::start();
    let mut browser = bed.browser();
    let jwks = browser.get(&format!("https://{APP_HOST}{JWKS_PATH}"));
    assert_eq!(jwks.status, 200, "{}", jwks.text());
    assert_eq!(jwks.json()["keys"][0]["kid"], json!(bed.signing_kid));
    // So is the discovery document, which leads to that JWKS.
    let discovery = browser.get(&format!(
        "https://{APP_HOST}/.well-known/openid-configuration"
    ));
    assert_eq!(discovery.status, 200, "{}", discovery.text());
    assert_eq!(discovery.json()["issuer"], APP_ISSUER);
    assert_eq!(
        discovery.json()["jwks_uri"],
        format!("https://{APP_HOST}{JWKS_PATH}")
    );

    let page = browser.get(&format!("https://{APP_HOST}/dashboard"));
    assert_eq!(page.status, 302, "{}", page.text());
    let location = page.header("location").unwrap_or_default();
    assert!(
        location.starts_with(&format!("https://{IDP_HOST}/authorize?")),
        "{location}"
    );
    assert!(
        location.contains("code_challenge_method=S256"),
        "{location}"
    );
    assert_eq!(bed.upstream.request_count(), 0);
}

#[test]
fn browser_login_forged_or_invalid_id_tokens_get_no_assertion() {
    let bed = BrowserLoginBed::start();
    let stranger = TestIdp::new();
    let forged = stranger.sign(&json!({
        "iss": ISSUER, "aud": CLIENT_ID, "sub": "admin",
        "iat": now(), "exp": now() + 600,
    }));

    // A forged IdToken cookie without a session: sent to log in.
    let mut browser = bed.browser();
    browser.set_cookie(APP_HOST, "IdToken", &forged);
    let response = browser.get(&format!("https://{APP_HOST}/"));
    assert_eq!(response.status, 302, "{}", response.text());

    // A forged IdToken cookie swapped into a real session: refused.
    let mut browser = bed.browser();
    let visits = browser.navigate(&format!("https://{APP_HOST}/"));
    EchoedRequest::from_response(final_response(&visits));
    let before = bed.upstream.request_count();
    browser.set_cookie(APP_HOST, "IdToken", &forged);
    let response = browser.get(&format!("https://{APP_HOST}/"));
    assert_ne!(response.status, 200, "{}", response.text());
    assert_eq!(bed.upstream.request_count(), before);

    // The IdP itself hands out an expired ID token: the oauth2 filter sets
    // an IdToken cookie that has already expired, so the browser is sent to
    // log in again and again, and never reaches the app.
    bed.oidc.log_in_as(json!({
        "sub": "late", "iat": now() - 7200, "exp": now() - 3600,
    }));
    let mut browser = bed.browser();
    let visits = browser.navigate_at_most(&format!("https://{APP_HOST}/"), 9);
    assert!(
        visits.iter().all(|visit| visit.response.status != 200),
        "{}",
        describe(&visits)
    );

    // An ID token signed by a key the IdP's JWKS does not publish.
    bed.oidc.log_in_as(alice());
    bed.oidc.forge_signatures();
    let mut browser = bed.browser();
    let visits = browser.navigate(&format!("https://{APP_HOST}/"));
    assert_eq!(final_response(&visits).status, 401, "{}", describe(&visits));
    assert_eq!(bed.upstream.request_count(), before);
}

#[test]
fn the_jwks_behind_a_private_ca_is_reached_with_its_certificate() {
    // The listener's certificate comes from the test's own CA, as an
    // internal deployment's would: the CLI and the Rust verifier reach the
    // JWKS over HTTPS when told to trust that CA (--cacert, SSL_CERT_FILE,
    // or the verifier's TrustedRoots), and refuse it otherwise.
    let bed = BrowserLoginBed::start();
    let mut browser = bed.browser();
    let visits = browser.navigate(&format!("https://{APP_HOST}/dashboard"));
    let echoed = EchoedRequest::from_response(final_response(&visits));
    let token = echoed.single_header(ASSERTION_HEADER).to_owned();
    let jwks_url = format!(
        "https://localhost:{}{JWKS_PATH}",
        bed.envoy.listener_address().port()
    );
    let ca_file = bed.ca.write_cert(bed.dir.path(), "internal-ca.pem");
    let verify = |extra: &[&str], env: Option<(&str, &std::path::Path)>| {
        let mut command = std::process::Command::new(signed_headers_e2e::signing_key_cli());
        command
            .args(["verify", &token, "--jwks", &jwks_url, "--aud", APP_HOST])
            .args(extra)
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR");
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        command.output().expect("signing-key runs")
    };

    let refused = verify(&[], None);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("UnknownIssuer") && stderr.contains("--cacert"),
        "{stderr}"
    );
    for (extra, env) in [
        (vec!["--cacert", ca_file.to_str().expect("UTF-8")], None),
        (vec![], Some(("SSL_CERT_FILE", ca_file.as_path()))),
    ] {
        let verified = verify(&extra, env);
        let stderr = String::from_utf8_lossy(&verified.stderr);
        assert!(verified.status.success(), "{extra:?} {env:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "verified: ES256 signature by kid {}",
                bed.signing_kid
            )),
            "{stderr}"
        );
    }

    // promote's --jwks-url check reaches the JWKS the same way: with the
    // CA it gets as far as seeing that the new key is not served there.
    let bundle = bed.dir.path().join("rotating.pem");
    signed_headers_e2e::run_signing_key(&["generate".as_ref(), "-o".as_ref(), bundle.as_os_str()]);
    signed_headers_e2e::run_signing_key(&["add".as_ref(), bundle.as_os_str()]);
    let promote = |extra: &[&str]| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "promote".as_ref(),
            "--min-age".as_ref(),
            "0".as_ref(),
            "--allow-shorter-wait".as_ref(),
            "--jwks-url".as_ref(),
            jwks_url.as_ref(),
        ];
        args.extend(extra.iter().map(|arg| std::ffi::OsStr::new(*arg)));
        args.push(bundle.as_os_str());
        signed_headers_e2e::try_signing_key(&args)
    };
    let without = promote(&[]);
    assert!(String::from_utf8_lossy(&without.stderr).contains("UnknownIssuer"));
    let with = promote(&["--cacert", ca_file.to_str().expect("UTF-8")]);
    let stderr = String::from_utf8_lossy(&with.stderr);
    assert!(
        stderr.contains("is not published at") && stderr.contains(&jwks_url),
        "{stderr}"
    );

    // The Rust verifier: the system's roots alone cannot fetch the keys;
    // with the private CA it verifies the filter's token.
    let policy = signed_headers_verifier::Policy::new(APP_ISSUER, APP_HOST);
    let system_only = signed_headers_verifier::Verifier::from_jwks_url(policy.clone(), &jwks_url);
    let refused = system_only
        .verify(&token)
        .expect_err("the CA is not trusted");
    assert_eq!(refused.code(), "keys_unavailable");
    let roots = signed_headers_verifier::TrustedRoots::system()
        .with_ca_file(&ca_file)
        .expect("the CA's certificate");
    let trusting =
        signed_headers_verifier::Verifier::from_jwks_url_trusting(policy, &jwks_url, &roots);
    let claims = trusting
        .verify(&token)
        .expect("verified with the private CA");
    assert_eq!(claims.sub, "alice-id");
}
