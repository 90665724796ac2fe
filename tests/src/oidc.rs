//! A small OpenID Connect provider for the browser-login test: the
//! authorization endpoint (it logs in whoever the test chose, no form), the
//! token endpoint (authorization code with PKCE S256 and a client secret),
//! and the JWKS, over HTTPS. ID tokens are signed by a [`TestIdp`] key with
//! `jsonwebtoken`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::idp::TestIdp;
use crate::tls::{HttpsServer, IssuedCert, Reply, ServedRequest};
use crate::url;

pub const AUTHORIZE_PATH: &str = "/authorize";
pub const TOKEN_PATH: &str = "/token";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The client the provider knows.
#[derive(Debug, Clone)]
pub struct OidcClient {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Debug, Clone)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    claims: Value,
}

struct Shared {
    client: OidcClient,
    idp: TestIdp,
    /// The claims of whoever logs in next.
    user: Mutex<Value>,
    grants: Mutex<HashMap<String, Grant>>,
    next_code: AtomicUsize,
    tokens_issued: AtomicUsize,
    /// Signs ID tokens with a key the JWKS does not publish, as a forger
    /// would.
    forge_signatures: AtomicBool,
    forger: TestIdp,
}

/// The provider; stops accepting when dropped.
pub struct OidcProvider {
    server: HttpsServer,
    shared: Arc<Shared>,
}

impl OidcProvider {
    /// Serves over HTTPS with `cert`; logs everyone in as `user` (claims of
    /// the ID token besides iss, aud, iat, exp and nonce) until told
    /// otherwise.
    pub fn start(cert: &IssuedCert, client: OidcClient, user: Value) -> Self {
        let shared = Arc::new(Shared {
            client,
            idp: TestIdp::new(),
            user: Mutex::new(user),
            grants: Mutex::new(HashMap::new()),
            next_code: AtomicUsize::new(0),
            tokens_issued: AtomicUsize::new(0),
            forge_signatures: AtomicBool::new(false),
            forger: TestIdp::new(),
        });
        let handler_shared = Arc::clone(&shared);
        let server = HttpsServer::start(cert, move |request| handle(&handler_shared, request));
        Self { server, shared }
    }

    pub fn address(&self) -> std::net::SocketAddr {
        self.server.address()
    }

    /// The next login is this user.
    pub fn log_in_as(&self, user: Value) {
        *self
            .shared
            .user
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = user;
    }

    /// From now on, ID tokens are signed by a key the JWKS does not publish.
    pub fn forge_signatures(&self) {
        self.shared.forge_signatures.store(true, Ordering::SeqCst);
    }

    /// How many token requests succeeded.
    pub fn tokens_issued(&self) -> usize {
        self.shared.tokens_issued.load(Ordering::SeqCst)
    }

    /// An ID token as the provider would issue it for `claims`, for tests
    /// that bring their own (iss, aud, iat, exp filled in unless given).
    pub fn id_token(&self, claims: &Value) -> String {
        id_token(&self.shared, claims, None)
    }
}

fn id_token(shared: &Shared, claims: &Value, nonce: Option<&str>) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let mut payload = serde_json::Map::new();
    payload.insert("iss".into(), json!(shared.client.issuer));
    payload.insert("aud".into(), json!(shared.client.client_id));
    payload.insert("iat".into(), json!(now));
    payload.insert("exp".into(), json!(now + 600));
    if let Some(nonce) = nonce {
        payload.insert("nonce".into(), json!(nonce));
    }
    if let Value::Object(claims) = claims {
        payload.extend(claims.clone());
    }
    let payload = Value::Object(payload);
    if shared.forge_signatures.load(Ordering::SeqCst) {
        shared.forger.sign(&payload)
    } else {
        shared.idp.sign(&payload)
    }
}

fn error(status: u16, code: &str) -> Reply {
    Reply::json(status, &json!({"error": code}).to_string())
}

fn handle(shared: &Shared, request: &ServedRequest) -> Reply {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    match (request.method.as_str(), path) {
        ("GET", AUTHORIZE_PATH) => authorize(shared, &url::parse_form(query)),
        ("POST", TOKEN_PATH) => token(shared, request),
        ("GET", JWKS_PATH) => Reply::json(200, shared.idp.jwks()),
        _ => error(404, "not_found"),
    }
}

fn authorize(shared: &Shared, params: &HashMap<String, String>) -> Reply {
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    if param("response_type") != "code"
        || param("client_id") != shared.client.client_id
        || param("code_challenge_method") != "S256"
        || param("code_challenge").is_empty()
        || !param("scope").split(' ').any(|scope| scope == "openid")
    {
        return error(400, "invalid_request");
    }
    let code = format!("code-{}", shared.next_code.fetch_add(1, Ordering::SeqCst));
    let grant = Grant {
        client_id: param("client_id").to_owned(),
        redirect_uri: param("redirect_uri").to_owned(),
        code_challenge: param("code_challenge").to_owned(),
        nonce: params.get("nonce").cloned(),
        claims: shared
            .user
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
    };
    shared
        .grants
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(code.clone(), grant.clone());
    let separator = if grant.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    Reply::redirect(&format!(
        "{}{separator}code={}&state={}",
        grant.redirect_uri,
        url::encode(&code),
        url::encode(param("state"))
    ))
}

fn token(shared: &Shared, request: &ServedRequest) -> Reply {
    let form = url::parse_form(&String::from_utf8_lossy(&request.body));
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    // Client authentication: in the body, or HTTP Basic.
    let (client_id, client_secret) =
        match crate::http::header_values(&request.headers, "authorization")
            .first()
            .and_then(|value| value.strip_prefix("Basic "))
            .and_then(|encoded| STANDARD.decode(encoded).ok())
            .and_then(|decoded| String::from_utf8(decoded).ok())
        {
            Some(basic) => {
                let (id, secret) = basic.split_once(':').unwrap_or((&basic, ""));
                (url::decode(id), url::decode(secret))
            }
            None => (
                field("client_id").to_owned(),
                field("client_secret").to_owned(),
            ),
        };
    if client_id != shared.client.client_id || client_secret != shared.client.client_secret {
        return error(401, "invalid_client");
    }
    if field("grant_type") != "authorization_code" {
        return error(400, "unsupported_grant_type");
    }
    let Some(grant) = shared
        .grants
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(field("code"))
    else {
        return error(400, "invalid_grant");
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
    if grant.client_id != client_id
        || grant.redirect_uri != field("redirect_uri")
        || grant.code_challenge != challenge
    {
        return error(400, "invalid_grant");
    }
    let number = shared.tokens_issued.fetch_add(1, Ordering::SeqCst);
    Reply::json(
        200,
        &json!({
            "access_token": format!("opaque-access-token-{number}"),
            "token_type": "Bearer",
            "expires_in": 3600,
            // As Keycloak, Okta and Entra ID (with offline_access) answer.
            "refresh_token": format!("opaque-refresh-token-{number}"),
            "id_token": id_token(shared, &grant.claims, grant.nonce.as_deref()),
        })
        .to_string(),
    )
}
