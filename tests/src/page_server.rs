//! A plain HTTP server for a page a real browser runs: it serves a fixed set
//! of files (with the content types browsers insist on for modules), the
//! page's inputs at `/inputs`, and takes one result the page POSTs to
//! `/result`.

use std::io::{BufReader, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::http::{BodyEnd, read_body, read_head};
use crate::server::LoopbackServer;

pub struct PageServer {
    server: LoopbackServer,
    result: Arc<(Mutex<Option<String>>, Condvar)>,
}

struct Site {
    /// URL path to file.
    files: Vec<(String, PathBuf)>,
    inputs: String,
    result: Arc<(Mutex<Option<String>>, Condvar)>,
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

impl PageServer {
    /// Serves `files` (URL path, file) and `inputs` (JSON) on loopback.
    pub fn start(files: Vec<(String, PathBuf)>, inputs: String) -> Self {
        let result = Arc::new((Mutex::new(None), Condvar::new()));
        let site = Arc::new(Site {
            files,
            inputs,
            result: Arc::clone(&result),
        });
        let server = LoopbackServer::start("page", move |stream| serve(stream, &site));
        Self { server, result }
    }

    pub fn address(&self) -> SocketAddr {
        self.server.address()
    }

    /// What the page POSTed to `/result`, if it did within `timeout`.
    pub fn wait_for_result(&self, timeout: Duration) -> Option<String> {
        let (lock, ready) = &*self.result;
        let deadline = Instant::now() + timeout;
        let mut result = lock.lock().ok()?;
        while result.is_none() {
            let left = deadline.checked_duration_since(Instant::now())?;
            result = ready.wait_timeout(result, left).ok()?.0;
        }
        result.clone()
    }
}

fn serve(stream: TcpStream, site: &Site) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(head)) = read_head(&mut reader) {
        let Ok(body) = read_body(&mut reader, &head.headers, BodyEnd::Empty) else {
            return;
        };
        let mut parts = head.start_line.split(' ');
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (status, kind, content) = match (method, path) {
            ("POST", "/result") => {
                let (lock, ready) = &*site.result;
                if let Ok(mut result) = lock.lock() {
                    *result = Some(String::from_utf8_lossy(&body).into_owned());
                    ready.notify_all();
                }
                (204, "text/plain", Vec::new())
            }
            ("GET", "/inputs") => (200, "application/json", site.inputs.clone().into_bytes()),
            ("GET", path) => match site.files.iter().find(|(url, _)| url == path) {
                Some((url, file)) => match std::fs::read(file) {
                    Ok(bytes) => (200, content_type(url), bytes),
                    Err(_) => (500, "text/plain", Vec::new()),
                },
                None => (404, "text/plain", Vec::new()),
            },
            _ => (405, "text/plain", Vec::new()),
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\ncache-control: no-store\r\n\r\n",
            content.len()
        );
        if writer.write_all(head.as_bytes()).is_err()
            || writer.write_all(&content).is_err()
            || writer.flush().is_err()
        {
            return;
        }
    }
}
