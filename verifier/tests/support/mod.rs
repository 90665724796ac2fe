//! Keys, tokens and a counting JWKS server for the verifier's tests.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use signed_headers_keys::{Bundle, BundleKey, JwksDocument, KeyFormat};

pub const HOST: &str = "app.example.com";

pub fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

pub fn new_key() -> BundleKey {
    BundleKey::generate(KeyFormat::Pkcs8).expect("a P-256 key")
}

pub fn jwks_of(keys: &[&BundleKey]) -> String {
    let jwks: Vec<_> = keys.iter().map(|key| key.jwk()).collect();
    JwksDocument::new(&jwks).body().to_owned()
}

pub fn bundle_pem(keys: &[&BundleKey]) -> String {
    Bundle::from_keys(keys.iter().map(|key| (*key).clone()).collect())
        .expect("a bundle")
        .to_pem()
}

/// The claims the filter mints for alice at `iat`.
pub fn claims_at(iat: u64) -> Value {
    json!({
        "iss": HOST, "aud": HOST, "jti": "j1", "iat": iat, "exp": iat + 300,
        "sub": "alice-id", "user": "alice-id", "email": "alice@example.com",
        "groups": ["admins", "staff"], "sid": "s1", "name": "Alice",
    })
}

/// An ES256 token over `claims`, signed with `key` (our signer).
pub fn sign(key: &BundleKey, claims: &Value) -> String {
    key.signer()
        .expect("a private key")
        .sign(claims.to_string().as_bytes())
        .expect("a signature")
}

/// What the counting server answers and what it has seen.
#[derive(Default)]
pub struct ServerState {
    pub jwks: String,
    pub etag: String,
    pub cache_control: String,
    /// Answer every request with this status and no body.
    pub fail_with: Option<u16>,
    pub requests: usize,
    pub if_none_match: Vec<Option<String>>,
}

/// A JWKS server on loopback that counts requests and honours
/// `If-None-Match` as the filter does.
pub struct JwksServer {
    pub address: SocketAddr,
    pub state: Arc<Mutex<ServerState>>,
}

impl JwksServer {
    pub fn start(jwks: String, cache_control: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().expect("an address");
        let state = Arc::new(Mutex::new(ServerState {
            jwks,
            etag: "\"v1\"".to_owned(),
            cache_control: cache_control.to_owned(),
            ..ServerState::default()
        }));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("a stream"));
                let mut if_none_match = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("if-none-match")
                    {
                        if_none_match = Some(value.trim().to_owned());
                    }
                }
                let mut state = shared.lock().expect("the server state");
                state.requests += 1;
                state.if_none_match.push(if_none_match.clone());
                let response = match state.fail_with {
                    Some(status) => {
                        format!(
                            "HTTP/1.1 {status} Oops\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        )
                    }
                    None if if_none_match.as_deref() == Some(state.etag.as_str()) => format!(
                        "HTTP/1.1 304 Not Modified\r\netag: {}\r\ncache-control: {}\r\nconnection: close\r\n\r\n",
                        state.etag, state.cache_control
                    ),
                    None => format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\netag: {}\r\ncache-control: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                        state.etag,
                        state.cache_control,
                        state.jwks.len(),
                        state.jwks
                    ),
                };
                let _ = stream.write_all(response.as_bytes());
            }
        });
        Self { address, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/.well-known/pomerium/jwks.json", self.address)
    }

    pub fn requests(&self) -> usize {
        self.state.lock().expect("the server state").requests
    }

    /// Publishes a new key set (a new ETag).
    pub fn publish(&self, jwks: String, etag: &str) {
        let mut state = self.state.lock().expect("the server state");
        state.jwks = jwks;
        state.etag = etag.to_owned();
    }

    pub fn fail_with(&self, status: Option<u16>) {
        self.state.lock().expect("the server state").fail_with = status;
    }
}
