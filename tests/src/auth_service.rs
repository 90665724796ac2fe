//! An auth service for Envoy's `ext_authz` (HTTP), in oauth2-proxy's
//! header convention: a request whose `_oauth2_proxy` session cookie it
//! knows gets `200` (the only status Envoy's HTTP `ext_authz` takes as
//! "allowed") with `x-auth-request-user`, `-email`, `-groups` (comma-joined) and
//! `-preferred-username`; an unknown session gets `401`. Paths under
//! `/public` are allowed without a session and without a user, as an auth
//! service with anonymous routes does.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::http::{self, BodyEnd};
use crate::server::LoopbackServer;

/// The session cookie's name (oauth2-proxy's default).
pub const SESSION_COOKIE: &str = "_oauth2_proxy";
/// Paths the service allows without a session (and names no user for).
pub const PUBLIC_PREFIX: &str = "/public";

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub user: String,
    pub email: String,
    pub groups: Vec<String>,
    pub preferred_username: String,
}

impl SessionUser {
    /// A typical user: `<name>@example.com`, groups `engineering,on-call`.
    pub fn typical(name: &str) -> Self {
        Self {
            user: format!("user-{name}"),
            email: format!("{name}@example.com"),
            groups: vec!["engineering".into(), "on-call".into()],
            preferred_username: name.to_owned(),
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    sessions: Mutex<HashMap<String, SessionUser>>,
    /// Every check, as the path the service was asked about.
    checked_paths: Mutex<Vec<String>>,
    next_session: AtomicUsize,
}

/// The auth service; stops accepting when dropped.
#[derive(Debug)]
pub struct AuthService {
    server: LoopbackServer,
    shared: Arc<Shared>,
}

impl AuthService {
    pub fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let connection_shared = Arc::clone(&shared);
        let server = LoopbackServer::start("auth", move |stream| {
            serve_connection(stream, &connection_shared);
        });
        Self { server, shared }
    }

    pub fn address(&self) -> SocketAddr {
        self.server.address()
    }

    /// Opens a session for `user`; returns the `Cookie` header value a
    /// browser would then send.
    pub fn log_in(&self, user: SessionUser) -> String {
        let number = self.shared.next_session.fetch_add(1, Ordering::SeqCst);
        let session = format!("session-{number}-{}", user.preferred_username);
        self.shared
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(session.clone(), user);
        format!("{SESSION_COOKIE}={session}")
    }

    /// The request paths checked so far.
    pub fn checked_paths(&self) -> Vec<String> {
        self.shared
            .checked_paths
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn session_user(shared: &Shared, headers: &[(String, String)]) -> Option<SessionUser> {
    let sessions = shared
        .sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    http::header_values(headers, "cookie")
        .iter()
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == SESSION_COOKIE)
        .find_map(|(_, session)| sessions.get(session).cloned())
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let Ok(Some(head)) = http::read_head(&mut reader) else {
            return;
        };
        if http::read_body(&mut reader, &head.headers, BodyEnd::Empty).is_err() {
            return;
        }
        let target = head.start_line.split(' ').nth(1).unwrap_or_default();
        let path = target.to_owned();
        shared
            .checked_paths
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(path.clone());

        let response = match session_user(shared, &head.headers) {
            Some(user) => format!(
                "HTTP/1.1 200 OK\r\nx-auth-request-user: {}\r\nx-auth-request-email: {}\r\nx-auth-request-groups: {}\r\nx-auth-request-preferred-username: {}\r\ncontent-length: 0\r\n\r\n",
                user.user,
                user.email,
                user.groups.join(","),
                user.preferred_username
            ),
            None if path.starts_with(PUBLIC_PREFIX) => {
                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_owned()
            }
            None => "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nUnauthorized\n"
                .to_owned(),
        };
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
