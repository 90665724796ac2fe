//! The least a proxy-wasm HTTP filter can do: read `:path` and set one
//! request header (`x-noop: 1`). `make bench` measures signed-headers
//! against it, so the ratios leave out what any wasm filter costs.
//!
//! It also answers the JWKS path with a fixed one-key JWKS, as the filter
//! does with its own, so the benchmark can compare the two local answers.
//!
//! Configured `{"mode": "floor"}`, it does exactly the host calls a
//! signed-headers cache hit cannot avoid, and nothing else: every request
//! header read in one call, the request's dynamic metadata read once, and
//! one 671-byte header (the size of a typical assertion) set. No parsing,
//! no cache, no clock. `make bench` compares the filter's hit path with it.
//!
//! A request for exactly `/crash` makes it panic, which traps the worker's
//! VM: the end-to-end tests use that to check what Envoy's
//! `failure_policy` does when a filter's VM dies (signed-headers itself
//! never panics).

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, MapType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(NoopRoot::default()) });
}}

const JWKS_PATH: &str = "/.well-known/pomerium/jwks.json";
/// A JWKS of the size the filter serves for one key.
const JWKS_BODY: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"4f1b7e2a9c0d5e6f8a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071","use":"sig","alg":"ES256"}]}"#;

/// What the floor mode sets: the size of an assertion, shaped like one.
const FLOOR_ASSERTION: &str = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.UvImZaYMEtKJGF2VDuiBNgkWb2sRPReNbA_TkB_yOaGglfIPk5VlDPk4C47bIkprJIoekk6P0K4uGpSSozBfGIy2EJAPnjR_rohtxlB3lex0XEw_yy6yxz4Uk0yGfuBXunJJm_oSHoNrKsFXJu59awr2qxPDjpLK4NFQV7FZmH-UzHQR1xfxRXmyqhAPu7NPpZP-rtJySLdi46tYBfB2WiucHX4PN8RJIb0_ZWTq338UKnJmjEfiI9Fu3YxHtGr8W67iYfU7JhUtJjuoOwN81JYuQ0gBJWuIXpyQUfMgsNuD856nrb0NdObex_PfrsyPZGVmZBp7omYPMBH8NXApHFeZDRoAkSaJGfJdnQYS3zWdYCaiQPRYml15Hx3ZfP76d3p7TxUkGr9XvUN61LEphAU08_OHXCWwi-oGwodM-qTdF7LYQoRd6CpbxTmIiseAVKI5nM_J_MLaMc490Wa9zTozhH5buwf9B8pHeEIxsZr0WHLO77n8WfT5XRQ4Gjp4MlY0e5_85pzXAHrop1jMpBXVqR7oY8i2wDN.J_C3pKldJEDiI_d3OL_zGGXifCn9qtU5KbRu_oNnVmsyW1EXuF0EVo11cLQEYlSEn0uD9RAc_OvJOvjgGhVDRQ";

#[derive(Default)]
struct NoopRoot {
    floor: bool,
    /// The floor plus one `get_current_time` per request (`"clock": true`):
    /// what the filter's one host call beyond the floor costs.
    clock: bool,
    /// The floor plus this many 48-byte copies of unknown length per request
    /// (`"copies": N`): what Wasm's `memory.copy`, which the module's
    /// copies compile to, costs in V8.
    copies: usize,
    /// The floor with the headers read in place (`"in_place": true`): the
    /// host's one buffer kept, as signed-headers reads it, instead of the
    /// SDK's copy of every name and value.
    in_place: bool,
}

impl Context for NoopRoot {}

impl RootContext for NoopRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let configuration = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&configuration);
        let compact = text.replace(' ', "");
        self.floor = compact.contains(r#""mode":"floor""#);
        self.clock = compact.contains(r#""clock":true"#);
        self.in_place = compact.contains(r#""in_place":true"#);
        self.copies = compact
            .split_once(r#""copies":"#)
            .and_then(|(_, rest)| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0);
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        if self.floor {
            Some(Box::new(FloorHttp {
                clock: self.clock,
                copies: self.copies,
                in_place: self.in_place,
            }))
        } else {
            Some(Box::new(NoopHttp))
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct NoopHttp;

impl Context for NoopHttp {}

struct FloorHttp {
    clock: bool,
    copies: usize,
    in_place: bool,
}

impl Context for FloorHttp {}

impl HttpContext for FloorHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let jwks = if self.in_place {
            in_place::header_is(MapType::HttpRequestHeaders, ":path", JWKS_PATH)
        } else {
            hostcalls::get_map(MapType::HttpRequestHeaders)
                .unwrap_or_default()
                .iter()
                .any(|(name, value)| name == ":path" && value == JWKS_PATH)
        };
        if jwks {
            return NoopHttp.on_http_request_headers(0, false);
        }
        let _metadata = hostcalls::get_property(vec!["metadata"]);
        if self.clock {
            let _now = hostcalls::get_current_time();
        }
        if self.copies > 0 {
            // A length the compiler cannot see: a real `memory.copy`, not
            // unrolled loads and stores.
            let length = std::hint::black_box(48usize);
            let source = std::hint::black_box([7u8; 64]);
            let mut target = [0u8; 64];
            for _ in 0..self.copies {
                if let (Some(to), Some(from)) = (target.get_mut(..length), source.get(..length)) {
                    to.copy_from_slice(from);
                }
                std::hint::black_box(&mut target);
            }
        }
        let _ = hostcalls::set_map_value(
            MapType::HttpRequestHeaders,
            "x-pomerium-jwt-assertion",
            Some(FLOOR_ASSERTION),
        );
        Action::Continue
    }
}

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

/// The floor's headers read as signed-headers reads them: the host's one
/// serialized buffer, scanned where it lies. The import is declared again
/// here, not shared with the filter's `header_host`: the baseline must not
/// link any of the filter's code.
mod in_place {
    use proxy_wasm::types::MapType;

    #[link(wasm_import_module = "env")]
    unsafe extern "C" {
        fn proxy_get_header_map_pairs(
            map_type: u32,
            return_map_data: *mut *mut u8,
            return_map_size: *mut usize,
        ) -> u32;
    }

    /// Whether `name`'s first value in the host's map is `value`, read from
    /// the host's one buffer.
    pub fn header_is(map: MapType, name: &str, value: &str) -> bool {
        value_in_place(map, name, value).unwrap_or(false)
    }

    fn value_in_place(map: MapType, name: &str, value: &str) -> Option<bool> {
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size: usize = 0;
        // SAFETY: two out-pointers valid for the call.
        let status = unsafe { proxy_get_header_map_pairs(map as u32, &mut data, &mut size) };
        if status != 0 || data.is_null() {
            return Some(false);
        }
        // SAFETY: the host's buffer, allocated by the SDK's
        // `proxy_on_memory_allocate(size)` and owned by nobody else.
        let buffer: Box<[u8]> =
            unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(data, size)) };
        let u32_at = |at: usize| -> Option<usize> {
            let bytes = buffer.get(at..at + 4)?;
            Some(u32::from_le_bytes(bytes.try_into().ok()?) as usize)
        };
        let count = u32_at(0)?;
        let mut at = 4 + count * 8;
        for pair in 0..count {
            let name_length = u32_at(4 + pair * 8)?;
            let value_length = u32_at(8 + pair * 8)?;
            let found = buffer.get(at..at + name_length)? == name.as_bytes();
            at += name_length + 1;
            if found {
                return Some(buffer.get(at..at + value_length)? == value.as_bytes());
            }
            at += value_length + 1;
        }
        Some(false)
    }
}
