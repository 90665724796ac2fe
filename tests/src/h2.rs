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
