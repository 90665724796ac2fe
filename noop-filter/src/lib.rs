//! The least a proxy-wasm HTTP filter can do: read `:path` and set one
//! request header (`x-noop: 1`). `make bench` measures signed-headers
//! against it, so the ratios leave out what any wasm filter costs.
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
        let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, "x-noop", Some("1"));
        Action::Continue
    }
}
