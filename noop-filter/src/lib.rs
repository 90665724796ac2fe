//! The least a proxy-wasm HTTP filter can do: read `:path` and set one
//! request header (`x-noop: 1`). `make bench` measures signed-headers
//! against it, so the ratios leave out what any wasm filter costs.
//!
//! It also answers the JWKS path with a fixed one-key JWKS, as the filter
//! does with its own, so the benchmark can compare the two local answers.
//!
//! A request for exactly `/crash` makes it panic, which traps the worker's
//! VM: the end-to-end tests use that to check what Envoy's
//! `failure_policy` does when a filter's VM dies (signed-headers itself
//! never panics).

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(NoopRoot) });
}}

const JWKS_PATH: &str = "/.well-known/pomerium/jwks.json";
/// A JWKS of the size the filter serves for one key.
const JWKS_BODY: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"4f1b7e2a9c0d5e6f8a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071","use":"sig","alg":"ES256"}]}"#;

struct NoopRoot;

impl Context for NoopRoot {}

impl RootContext for NoopRoot {
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(NoopHttp))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct NoopHttp;

impl Context for NoopHttp {}

impl HttpContext for NoopHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let path = hostcalls::get_map_value(MapType::HttpRequestHeaders, ":path")
            .ok()
            .flatten();
        #[allow(clippy::panic)]
        if path.as_deref() == Some("/crash") {
            panic!("crash requested");
        }
        if path.as_deref() == Some(JWKS_PATH) {
            let _ = hostcalls::send_http_response(
                200,
                vec![
                    ("content-type", "application/json"),
                    ("cache-control", "public, max-age=60"),
                ],
                Some(JWKS_BODY.as_bytes()),
            );
            return Action::Pause;
        }
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, "x-noop", Some("1"));
        Action::Continue
    }
}
