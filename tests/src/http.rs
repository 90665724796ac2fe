//! A raw HTTP/1.1 client. Tests need what ordinary clients hide or forbid:
//! duplicate and mixed-case header names, any `Host`, `HEAD` without a body
//! reader that waits, and a fresh TCP connection per request so that Envoy's
//! kernel-balanced listener spreads requests over its workers. Every request
//! is sent with `Connection: close` and the response is read to EOF.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a single exchange may take before the test is failed. Generous on
/// purpose: it only guards against a hang, it is not a timing assertion.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP/1.1 request, written to the wire exactly as built: header names
/// keep their letter case, order and repetitions.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    /// Header lines whose values are bytes a `String` cannot hold (obs-text,
    /// such as Latin-1), sent after `headers`.
    byte_headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// Send the body with `Transfer-Encoding: chunked`, in these sizes.
    chunks: Option<Vec<usize>>,
    /// Trailer lines after the last chunk (a chunked request only).
    trailers: Vec<(String, String)>,
}

impl Request {
    pub fn new(method: &str, target: &str) -> Self {
        Self {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            byte_headers: Vec::new(),
            body: Vec::new(),
            chunks: None,
            trailers: Vec::new(),
        }
    }

    pub fn get(target: &str) -> Self {
        Self::new("GET", target)
    }

    pub fn head(target: &str) -> Self {
        Self::new("HEAD", target)
    }

    pub fn post(target: &str) -> Self {
        Self::new("POST", target)
    }

    /// Adds a header line; calling it twice with the same name sends it twice.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a header line whose value is raw bytes (HTTP's obs-text: a
    /// Latin-1 value, which no `&str` holds).
    pub fn header_bytes(mut self, name: &str, value: &[u8]) -> Self {
        self.byte_headers.push((name.to_owned(), value.to_vec()));
        self
    }

    /// Sets the `Host` header (by default the address the request is sent to).
    pub fn host(self, host: &str) -> Self {
        self.header("Host", host)
    }

    /// `Authorization: Bearer <token>`, where `jwt_authn` looks for the IdP token.
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends the body chunked (`Transfer-Encoding: chunked`), cut into
    /// chunks of these sizes (the rest in one last chunk).
    pub fn chunked(mut self, sizes: &[usize]) -> Self {
        self.chunks = Some(sizes.to_vec());
        self
    }

    /// Adds a trailer line after the last chunk; makes the body chunked.
    pub fn trailer(mut self, name: &str, value: &str) -> Self {
        self.chunks.get_or_insert_with(Vec::new);
        self.trailers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn method(&self) -> &str {
        &self.method
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    fn to_wire(&self, address: SocketAddr) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        if !self.has_header("host") {
            head.push_str(&format!("Host: {address}\r\n"));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let mut head = head.into_bytes();
        for (name, value) in &self.byte_headers {
            head.extend_from_slice(format!("{name}: ").as_bytes());
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        }
        if let Some(sizes) = &self.chunks {
            head.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            let mut wire = head;
            let mut rest = self.body.as_slice();
            for size in sizes.iter().copied().chain(std::iter::once(usize::MAX)) {
                let (chunk, tail) = rest.split_at(size.min(rest.len()));
                if !chunk.is_empty() {
                    wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    wire.extend_from_slice(chunk);
                    wire.extend_from_slice(b"\r\n");
                }
                rest = tail;
            }
            wire.extend_from_slice(b"0\r\n");
            for (name, value) in &self.trailers {
                wire.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
            wire.extend_from_slice(b"\r\n");
            return wire;
        }
        if !self.body.is_empty() || self.method.eq_ignore_ascii_case("POST") {
            head.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        head.extend_from_slice(b"Connection: close\r\n\r\n");
        let mut wire = head;
        wire.extend_from_slice(&self.body);
        wire
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Every header line in order, names as received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The value of the only header with this name (any case); panics when
    /// the header is repeated, so a duplicate never hides behind the first.
    pub fn header(&self, name: &str) -> Option<&str> {
        let values = self.header_values(name);
        assert!(
            values.len() <= 1,
            "response header {name} appears {} times: {values:?}",
            values.len()
        );
        values.first().copied()
    }

    /// Every value of the headers with this name (any case), in order.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        header_values(&self.headers, name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "response body is not JSON ({err}); status {}, body: {}",
                self.status,
                self.text()
            )
        })
    }
}

/// Every value of the headers named `name` (ASCII case-insensitive), in order.
pub fn header_values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Sends `request` on a new connection to `address` and reads the response.
/// Panics when the exchange fails: every caller expects an answer.
pub fn send(address: SocketAddr, request: &Request) -> Response {
    try_send(address, request).unwrap_or_else(|err| {
        panic!(
            "{} {} to {address} failed: {err}",
            request.method, request.target
        )
    })
}

/// Like [`send`], but returns I/O and protocol errors.
pub fn try_send(address: SocketAddr, request: &Request) -> std::io::Result<Response> {
    exchange(connect(address)?, address, request)
}

/// A TCP connection to `address` with the exchange's time limits set.
pub fn connect(address: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&address, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// Writes `request` on `stream` (a connection to `address`, plain or TLS)
/// and reads the response to the end.
pub fn exchange<S: Read + Write>(
    mut stream: S,
    address: SocketAddr,
    request: &Request,
) -> std::io::Result<Response> {
    stream.write_all(&request.to_wire(address))?;
    stream.flush()?;

    let mut reader = BufReader::new(stream);
    let Some(head) = read_head(&mut reader)? else {
        return Err(protocol_error("connection closed before a response"));
    };
    let status = parse_status_line(&head.start_line)?;
    // HEAD responses and 1xx/204/304 have no body, whatever their headers say.
    let body = if request.method.eq_ignore_ascii_case("HEAD")
        || status < 200
        || status == 204
        || status == 304
    {
        Vec::new()
    } else {
        read_body(&mut reader, &head.headers, BodyEnd::CloseDelimited)?
    };
    Ok(Response {
        status,
        headers: head.headers,
        body,
    })
}

fn parse_status_line(line: &str) -> std::io::Result<u16> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(protocol_error(&format!("bad status line {line:?}")));
    }
    parts
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| protocol_error(&format!("bad status line {line:?}")))
}

/// The start line and header lines of a message.
pub(crate) struct MessageHead {
    pub start_line: String,
    pub headers: Vec<(String, String)>,
}

/// Reads a start line and headers; `Ok(None)` on a clean EOF before any byte.
pub(crate) fn read_head(reader: &mut impl BufRead) -> std::io::Result<Option<MessageHead>> {
    let mut start_line = String::new();
    if reader.read_line(&mut start_line)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        // Bytes, not a `String`: a value may be obs-text (Latin-1), which
        // the tests read as text with U+FFFD in its place.
        let mut bytes = Vec::new();
        if reader.read_until(b'\n', &mut bytes)? == 0 {
            return Err(protocol_error("EOF inside the header block"));
        }
        let line = String::from_utf8_lossy(&bytes);
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| protocol_error(&format!("bad header line {line:?}")))?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(Some(MessageHead {
        start_line: start_line.trim_end_matches(['\r', '\n']).to_owned(),
        headers,
    }))
}

/// What ends a body that has neither `Content-Length` nor chunked encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyEnd {
    /// A response: the body runs to EOF.
    CloseDelimited,
    /// A request: no body at all.
    Empty,
}

pub(crate) fn read_body(
    reader: &mut impl BufRead,
    headers: &[(String, String)],
    end: BodyEnd,
) -> std::io::Result<Vec<u8>> {
    read_body_and_trailers(reader, headers, end).map(|(body, _)| body)
}

/// Header or trailer lines as `(name, value)`, in order.
pub type Fields = Vec<(String, String)>;

/// A message's body, and its trailers (only a chunked body has any).
pub(crate) fn read_body_and_trailers(
    reader: &mut impl BufRead,
    headers: &[(String, String)],
    end: BodyEnd,
) -> std::io::Result<(Vec<u8>, Fields)> {
    let chunked = header_values(headers, "transfer-encoding")
        .iter()
        .any(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return read_chunked(reader);
    }
    if let Some(length) = header_values(headers, "content-length").first() {
        let length: usize = length
            .parse()
            .map_err(|_| protocol_error(&format!("bad content-length {length:?}")))?;
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        return Ok((body, Vec::new()));
    }
    let mut body = Vec::new();
    if end == BodyEnd::CloseDelimited {
        reader.read_to_end(&mut body)?;
    }
    Ok((body, Vec::new()))
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<(Vec<u8>, Fields)> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        let size_text = size_line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| protocol_error(&format!("bad chunk size {size_line:?}")))?;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            let mut trailers = Vec::new();
            loop {
                let mut trailer = String::new();
                if reader.read_line(&mut trailer)? == 0 || trailer.trim().is_empty() {
                    return Ok((body, trailers));
                }
                if let Some((name, value)) = trailer.split_once(':') {
                    trailers.push((name.trim().to_owned(), value.trim().to_owned()));
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(body.get_mut(start..).unwrap_or_default())?;
        let mut crlf = String::new();
        reader.read_line(&mut crlf)?;
    }
}

fn protocol_error(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_owned())
}
