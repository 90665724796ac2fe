//! HTTP/2 (cleartext, prior knowledge) requests through `curl`, an
//! independent client with its own HTTP/2 stack (nghttp2). The raw HTTP/1.1
//! client in [`crate::http`] covers what HTTP/2 cannot express.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use crate::http::Response;

/// The curl binary (Debian's, built with nghttp2).
const CURL: &str = "curl";

/// Panics unless curl speaks HTTP/2, so a test never silently skips it.
pub fn require_http2_curl() {
    let output = Command::new(CURL)
        .arg("--version")
        .output()
        .expect("curl is needed for the HTTP/2 tests (apt-get install curl)");
    let version = String::from_utf8_lossy(&output.stdout);
    assert!(
        version.contains("HTTP2"),
        "curl without HTTP/2 support: {version}"
    );
}

/// Sends one HTTP/2 request; `headers` may include `Host` (sent as
/// `:authority`). `Err` carries curl's exit code and message (a refused or
/// reset stream).
pub fn send(
    address: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Response, String> {
    let mut command = Command::new(CURL);
    command
        .args([
            "--silent",
            "--show-error",
            "--http2-prior-knowledge",
            "--include",
        ])
        .args(["--max-time", "30", "--request", method]);
    for (name, value) in headers {
        command.arg("--header").arg(format!("{name}: {value}"));
    }
    if body.is_some() {
        command.args(["--data-binary", "@-"]);
    }
    if method == "HEAD" {
        command.arg("--head");
    }
    command.arg(format!("http://{address}{target}"));
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run curl");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(body.unwrap_or_default());
    }
    let output = child.wait_with_output().expect("curl did not finish");
    if !output.status.success() {
        return Err(format!(
            "curl exit {:?}: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse(&output.stdout)
}

fn parse(raw: &[u8]) -> Result<Response, String> {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or("no header block in curl's output")?;
    let (head, rest) = raw.split_at(split);
    let head = String::from_utf8_lossy(head);
    let body = rest.get(4..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    if !status_line.starts_with("HTTP/2") {
        return Err(format!("not an HTTP/2 response: {status_line}"));
    }
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line}"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Sends one HTTP/2 request (cleartext, prior knowledge) with `body` and
/// then request trailers, which the curl command line cannot send, and
/// returns the response's status once the response has ended.
///
/// A minimal client for that one exchange: header blocks are written as
/// HPACK literals without indexing (no Huffman coding, no dynamic table);
/// of the response it decodes only a `:status` sent as an indexed field of
/// HPACK's static table (200, 204, 206, 304, 400, 404, 500), which is how
/// Envoy sends those.
pub fn send_with_trailers(
    address: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    trailers: &[(&str, &str)],
) -> Result<u16, String> {
    use std::io::Read as _;
    const DATA: u8 = 0;
    const HEADERS: u8 = 1;
    const RST_STREAM: u8 = 3;
    const SETTINGS: u8 = 4;
    const PING: u8 = 6;
    const GOAWAY: u8 = 7;
    const END_STREAM: u8 = 0x1;
    const ACK: u8 = 0x1;
    const END_HEADERS: u8 = 0x4;
    const PADDED: u8 = 0x8;
    const PRIORITY: u8 = 0x20;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let length = u32::try_from(payload.len()).expect("a small frame");
        let mut out = length.to_be_bytes()[1..].to_vec();
        out.extend([kind, flags]);
        out.extend(stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }
    fn integer(out: &mut Vec<u8>, first: u8, prefix_bits: u32, value: usize) {
        let max = (1usize << prefix_bits) - 1;
        if value < max {
            out.push(first | value as u8);
            return;
        }
        out.push(first | max as u8);
        let mut rest = value - max;
        while rest >= 128 {
            out.push((rest % 128) as u8 | 0x80);
            rest /= 128;
        }
        out.push(rest as u8);
    }
    fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in fields {
            // Literal header field without indexing, new name.
            out.push(0);
            integer(&mut out, 0, 7, name.len());
            out.extend(name.to_ascii_lowercase().as_bytes());
            integer(&mut out, 0, 7, value.len());
            out.extend(value.as_bytes());
        }
        out
    }

    let mut stream =
        std::net::TcpStream::connect(address).map_err(|err| format!("connect: {err}"))?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .map_err(|err| err.to_string())?;
    let mut request_fields = vec![(":method", "POST"), (":scheme", "http"), (":path", target)];
    request_fields.extend_from_slice(headers);
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out.extend(frame(
        HEADERS,
        END_HEADERS,
        1,
        &header_block(&request_fields),
    ));
    out.extend(frame(DATA, 0, 1, body));
    out.extend(frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &header_block(trailers),
    ));
    stream
        .write_all(&out)
        .map_err(|err| format!("write: {err}"))?;

    let mut status = None;
    loop {
        let mut head = [0u8; 9];
        stream
            .read_exact(&mut head)
            .map_err(|err| format!("the connection ended before the response: {err}"))?;
        let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream_id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; length];
        stream
            .read_exact(&mut payload)
            .map_err(|err| format!("a frame cut short: {err}"))?;
        match kind {
            SETTINGS if flags & ACK == 0 => {
                let _ = stream.write_all(&frame(SETTINGS, ACK, 0, &[]));
            }
            PING if flags & ACK == 0 => {
                let _ = stream.write_all(&frame(PING, ACK, 0, &payload));
            }
            GOAWAY => return Err("the server sent GOAWAY before the response ended".into()),
            RST_STREAM if stream_id == 1 => return Err("the server reset the stream".into()),
            HEADERS if stream_id == 1 && status.is_none() => {
                let mut block = payload.as_slice();
                if flags & PADDED != 0 {
                    let pad = usize::from(*block.first().ok_or("empty frame")?);
                    block = block
                        .get(1..block.len().saturating_sub(pad))
                        .unwrap_or_default();
                }
                if flags & PRIORITY != 0 {
                    block = block.get(5..).unwrap_or_default();
                }
                status = Some(match block.first() {
                    Some(0x88) => 200,
                    Some(0x89) => 204,
                    Some(0x8a) => 206,
                    Some(0x8b) => 304,
                    Some(0x8c) => 400,
                    Some(0x8d) => 404,
                    Some(0x8e) => 500,
                    other => return Err(format!("a :status this client cannot decode: {other:?}")),
                });
            }
            _ => {}
        }
        if stream_id == 1 && (kind == DATA || kind == HEADERS) && flags & END_STREAM != 0 {
            let _ = stream.write_all(&frame(GOAWAY, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0]));
            return status.ok_or_else(|| "the response ended without headers".to_owned());
        }
    }
}
