//! The TCP plumbing every test server shares: a listener on `127.0.0.1:0`,
//! one thread per connection, and a clean stop when dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

/// Accepts connections on a loopback port and hands each to `serve` on its
/// own thread (Envoy keeps upstream connections open and pools them); stops
/// accepting when dropped.
#[derive(Debug)]
pub struct LoopbackServer {
    address: SocketAddr,
    stopping: Arc<AtomicBool>,
}

impl LoopbackServer {
    /// `name` names the threads, for debugging.
    pub fn start<F>(name: &str, serve: F) -> Self
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|err| panic!("{name}: cannot bind 127.0.0.1:0: {err}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("{name}: no local address: {err}"));
        let stopping = Arc::new(AtomicBool::new(false));
        let accept_stopping = Arc::clone(&stopping);
        let serve = Arc::new(serve);
        let connection_name = format!("{name}-connection");
        thread::Builder::new()
            .name(format!("{name}-accept-{}", address.port()))
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let serve = Arc::clone(&serve);
                    let _ = thread::Builder::new()
                        .name(connection_name.clone())
                        .spawn(move || serve(stream));
                }
            })
            .unwrap_or_else(|err| panic!("{name}: cannot spawn the accept thread: {err}"));
        Self { address, stopping }
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so its thread sees the flag and exits.
        let _ = TcpStream::connect(self.address);
    }
}
