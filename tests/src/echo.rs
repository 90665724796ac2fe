//! The upstream application: an HTTP/1.1 server on `127.0.0.1:0` that
//! answers every request with `200` and a JSON echo of the request, so a test
//! sees exactly which headers Envoy forwarded. It also records every request,
//! which is how a test proves the upstream was *not* reached.
//!
//! Like Apache (`LimitRequestFieldSize`) and nginx, it refuses a request with
//! a header line over [`MAX_HEADER_LINE_BYTES`] (431, not recorded): a header
//! the filter makes must fit what real servers accept.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::http::{self, BodyEnd};
use crate::server::LoopbackServer;

/// A request as the upstream received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoedRequest {
    pub method: String,
    pub path: String,
    /// Every header line as `[name, value]`, in order, duplicates included.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The trailer lines of a chunked body, likewise.
    #[serde(default)]
    pub trailers: Vec<(String, String)>,
}

impl EchoedRequest {
    /// Every value of the headers with this name (any case), in order.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        http::header_values(&self.headers, name)
    }

    /// The value of the only header with this name; panics when it is absent
    /// or repeated.
    pub fn single_header(&self, name: &str) -> &str {
        match self.header_values(name).as_slice() {
            [value] => value,
            values => panic!(
                "upstream expected exactly one {name} header, got {}: {:#?}",
                values.len(),
                self.headers
            ),
        }
    }

    /// Header names (lowercased) that start with `prefix` (any case).
    pub fn header_names_with_prefix(&self, prefix: &str) -> Vec<String> {
        let prefix = prefix.to_ascii_lowercase();
        self.headers
            .iter()
            .map(|(name, _)| name.to_ascii_lowercase())
            .filter(|name| name.starts_with(&prefix))
            .collect()
    }

    /// Parses the echo a response body carries; panics with the body if it
    /// is not one (the request did not reach the upstream).
    pub fn from_response(response: &http::Response) -> Self {
        assert_eq!(
            response.status,
            200,
            "expected the upstream's echo, got status {} with headers {:?} and body {}",
            response.status,
            response.headers,
            response.text()
        );
        serde_json::from_slice(&response.body).unwrap_or_else(|err| {
            panic!(
                "response is not an upstream echo ({err}): {}",
                response.text()
            )
        })
    }
}

/// Apache's default limit on one header line (name, `: ` and value).
pub const MAX_HEADER_LINE_BYTES: usize = 8190;

#[derive(Debug, Default)]
struct Shared {
    requests: Mutex<Vec<EchoedRequest>>,
}

/// The echo server; stops accepting when dropped.
#[derive(Debug)]
pub struct EchoUpstream {
    server: LoopbackServer,
    shared: Arc<Shared>,
}

impl EchoUpstream {
    pub fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let connection_shared = Arc::clone(&shared);
        let server = LoopbackServer::start("echo", move |stream| {
            serve_connection(stream, &connection_shared);
        });
        Self { server, shared }
    }

    pub fn address(&self) -> SocketAddr {
        self.server.address()
    }

    /// How many requests reached the upstream so far.
    pub fn request_count(&self) -> usize {
        self.lock_requests().len()
    }

    /// Every request that reached the upstream so far, in arrival order.
    pub fn requests(&self) -> Vec<EchoedRequest> {
        self.lock_requests().clone()
    }

    fn lock_requests(&self) -> std::sync::MutexGuard<'_, Vec<EchoedRequest>> {
        // A panicking connection thread cannot leave the list half-written.
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
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
        let Ok((body, trailers)) =
            http::read_body_and_trailers(&mut reader, &head.headers, BodyEnd::Empty)
        else {
            return;
        };
        let too_long = head
            .headers
            .iter()
            .any(|(name, value)| name.len() + 2 + value.len() > MAX_HEADER_LINE_BYTES);
        if too_long {
            let refusal = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            let _ = writer.write_all(refusal);
            return;
        }
        let mut parts = head.start_line.split(' ');
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let is_head = method.eq_ignore_ascii_case("HEAD");
        let close = http::header_values(&head.headers, "connection")
            .iter()
            .any(|v| v.eq_ignore_ascii_case("close"));
        let echoed = EchoedRequest {
            method,
            path,
            headers: head.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            trailers,
        };
        let payload = serde_json::to_vec(&echoed).unwrap_or_default();
        shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(echoed);

        let mut response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            payload.len()
        )
        .into_bytes();
        if close {
            response.extend_from_slice(b"connection: close\r\n");
        }
        response.extend_from_slice(b"\r\n");
        if !is_head {
            response.extend_from_slice(&payload);
        }
        if writer.write_all(&response).is_err() || close {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Request;

    #[test]
    fn echo_reports_headers_in_order_with_duplicates_and_counts() {
        let echo = EchoUpstream::start();
        let response = http::send(
            echo.address(),
            &Request::post("/p?q=1")
                .header("X-A", "1")
                .header("x-a", "2")
                .body("hello"),
        );
        let echoed = EchoedRequest::from_response(&response);
        assert_eq!(echoed.method, "POST");
        assert_eq!(echoed.path, "/p?q=1");
        assert_eq!(echoed.header_values("x-a"), ["1", "2"]);
        assert_eq!(echoed.body, "hello");
        assert_eq!(echo.request_count(), 1);

        let response = http::send(echo.address(), &Request::head("/"));
        assert_eq!(response.status, 200);
        assert!(response.body.is_empty());
        assert_eq!(echo.request_count(), 2);

        let at_limit = "v".repeat(MAX_HEADER_LINE_BYTES - "x-big: ".len());
        let response = http::send(
            echo.address(),
            &Request::get("/").header("x-big", &at_limit),
        );
        assert_eq!(response.status, 200);
        let over = format!("{at_limit}v");
        let response = http::send(echo.address(), &Request::get("/").header("x-big", &over));
        assert_eq!(response.status, 431);
        assert_eq!(echo.request_count(), 3);
    }
}
