//! One real Envoy process per test: bootstrap generation, start-up with
//! readiness polling, port discovery through the admin interface, log and
//! stats access, and clean-up on drop.
//!
//! Everything binds port 0 and every instance uses `--use-dynamic-base-id`, so
//! tests can run in parallel threads without clashing on ports or on hot
//! restart shared memory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::http::{self, Request, Response};
use crate::idp::TestIdp;

/// Worker threads per Envoy: two, so that the per-worker VMs of the filter
/// (one per worker) are both exercised.
pub const CONCURRENCY: usize = 2;

/// How long Envoy gets to become ready (or to fail) before the test fails.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The listener's name and stat prefix: its stats are
/// `listener.signed_headers.worker_<n>.*` (with port 0 in the address, an
/// address-based prefix would read `127.0.0.1_0`).
const LISTENER_NAME: &str = "signed_headers";
/// The filter's VM id; the nonce producer must share it (its queue lives
/// there).
const VM_ID: &str = "signed_headers";

/// The `jwt_authn` provider that trusts the [`TestIdp`].
const IDP_PROVIDER: &str = "test_idp";

/// Where `jwt_authn` puts the verified payload (namespace
/// `envoy.filters.http.jwt_authn`), the filter's default `payload_key`.
const PAYLOAD_METADATA_KEY: &str = "jwt_payload";

/// What Envoy logs (at info) when admin `/logging` sets the log level.
const LOG_LEVEL_MARKER: &str = "change all log levels";

const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// `version_info` of a reloadable listener's first LDS file.
const FIRST_LISTENER_VERSION: u64 = 1;
/// Counters of listener updates from the LDS file.
const LDS_ACCEPTED: &str = "listener_manager.lds.update_success";
const LDS_REJECTED: &str = "listener_manager.lds.update_rejected";
const LISTENERS_WARMING: &str = "listener_manager.total_listeners_warming";

/// Which HTTP filter sits between `jwt_authn` and the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterSetup {
    /// The signed-headers wasm filter with this plugin configuration, an
    /// `Any` as Envoy's JSON writes it: normally a `StringValue` of JSON
    /// text (any text, so malformed configurations can be tested).
    Wasm { configuration: Value },
    /// No filter: only for checking the harness itself.
    None,
}

/// How to configure an Envoy instance.
#[derive(Debug, Clone)]
pub struct EnvoyOptions {
    filter: FilterSetup,
    /// Extra environment variables of the Envoy process.
    env: Vec<(String, String)>,
    /// Host environment variables the wasm VM may read.
    host_env_keys: Vec<String>,
    log_level: String,
    /// Envoy's `--concurrency` (worker threads).
    concurrency: usize,
    /// The listener comes from a file (LDS over the filesystem), so it can
    /// be changed while Envoy runs.
    reloadable: bool,
    /// Another `.wasm` than the filter (the no-op baseline).
    wasm: Option<PathBuf>,
    /// `jwt_authn` remembers verified tokens (`jwt_cache_config`).
    jwt_cache: bool,
    /// The configuration (an `Any`) of a nonce producer on the main thread
    /// (the same module as a singleton `WasmService` with the filter's VM
    /// id).
    nonce_producer: Option<Value>,
    /// How Envoy talks to the upstream, and whether request trailers pass.
    upstream: UpstreamProtocol,
    /// Virtual hosts per domain instead of one catch-all, and the
    /// connection manager's `strip_trailing_host_dot` (see
    /// [`EnvoyOptions::per_host_routes`]).
    per_host_routes: Option<bool>,
    /// `jwt_authn`'s configuration instead of the harness's (see
    /// [`EnvoyOptions::jwt_authn_config`]).
    jwt_authn: Option<Value>,
    /// A program Envoy runs under (see [`EnvoyOptions::run_under`]).
    launcher: Option<Launcher>,
}

/// A program that runs Envoy (its command line ends with Envoy's), and how
/// long Envoy may take to start under it.
#[derive(Debug, Clone)]
struct Launcher {
    command: Vec<String>,
    startup_timeout: Duration,
}

/// Where [`EnvoyOptions::jwt_authn_config`] puts the test IdP's JWKS.
pub const IDP_JWKS_PLACEHOLDER: &str = "${IDP_JWKS}";

/// How requests travel on from Envoy to the echo upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// HTTP/1.1; request trailers are dropped (Envoy's default).
    Http1,
    /// HTTP/1.1 with `enable_trailers` on the listener and the upstream
    /// cluster: chunked requests' trailers are forwarded.
    Http1WithTrailers,
    /// HTTP/2 to the upstream (which forwards trailers with no opt-in): a
    /// relay listener of the same Envoy, without the filter, takes the
    /// HTTP/2 request and hands it to the echo over HTTP/1.1 with trailers.
    Http2,
}

impl EnvoyOptions {
    /// The filter with `configuration` (a JSON object) as its plugin configuration.
    pub fn with_filter_config(configuration: &Value) -> Self {
        Self::with_raw_filter_config(&configuration.to_string())
    }

    /// The filter with this exact plugin configuration text.
    pub fn with_raw_filter_config(configuration: &str) -> Self {
        Self::new(FilterSetup::Wasm {
            configuration: string_value(configuration),
        })
    }

    /// The filter with its configuration written as a
    /// `google.protobuf.Struct` instead of JSON text.
    pub fn with_struct_filter_config(configuration: &Value) -> Self {
        Self::new(FilterSetup::Wasm {
            configuration: struct_value(configuration),
        })
    }

    /// Envoy without the filter: `jwt_authn` straight to the router.
    pub fn without_filter() -> Self {
        Self::new(FilterSetup::None)
    }

    fn new(filter: FilterSetup) -> Self {
        Self {
            filter,
            env: Vec::new(),
            host_env_keys: Vec::new(),
            log_level: "info".to_owned(),
            concurrency: CONCURRENCY,
            reloadable: false,
            wasm: None,
            jwt_cache: false,
            nonce_producer: None,
            upstream: UpstreamProtocol::Http1,
            per_host_routes: None,
            jwt_authn: None,
            launcher: None,
        }
    }

    /// Runs Envoy as the last arguments of `command` (e.g. `valgrind
    /// --tool=callgrind`), allowing `startup_timeout` to become ready.
    pub fn run_under(mut self, command: Vec<String>, startup_timeout: Duration) -> Self {
        self.launcher = Some(Launcher {
            command,
            startup_timeout,
        });
        self
    }

    /// Routes `good.example` through its own virtual host and everything
    /// else through a catch-all one; each tells the upstream which it was
    /// (`x-routed-as: good` or `catch-all`). `strip_trailing_host_dot` sets
    /// the connection manager's option of that name.
    /// `jwt_authn` configured as `typed_config` (a `JwtAuthentication`),
    /// as a platform generates it: any string equal to
    /// [`IDP_JWKS_PLACEHOLDER`] becomes the test IdP's JWKS.
    pub fn jwt_authn_config(mut self, typed_config: Value) -> Self {
        self.jwt_authn = Some(typed_config);
        self
    }

    pub fn per_host_routes(mut self, strip_trailing_host_dot: bool) -> Self {
        self.per_host_routes = Some(strip_trailing_host_dot);
        self
    }

    /// How Envoy forwards to the upstream (default: HTTP/1.1, no trailers).
    pub fn upstream_protocol(mut self, upstream: UpstreamProtocol) -> Self {
        self.upstream = upstream;
        self
    }

    /// Also loads the module as a singleton `WasmService` on Envoy's main
    /// thread with this configuration (`{"nonce_producer": {...}}`).
    pub fn nonce_producer(mut self, configuration: &Value) -> Self {
        self.nonce_producer = Some(string_value(&configuration.to_string()));
        self
    }

    /// [`Self::nonce_producer`] with the configuration written as a
    /// `google.protobuf.Struct`.
    pub fn nonce_producer_as_struct(mut self, configuration: &Value) -> Self {
        self.nonce_producer = Some(struct_value(configuration));
        self
    }

    /// Loads this `.wasm` instead of the filter (the configuration is passed
    /// to it unchanged): the benchmark's no-op baseline.
    pub fn wasm_module(mut self, wasm: &Path) -> Self {
        self.wasm = Some(wasm.to_path_buf());
        self
    }

    /// Turns on `jwt_authn`'s `jwt_cache_config`, as the shipped
    /// configurations do: a repeated IdP token is verified once per worker.
    pub fn jwt_cache(mut self) -> Self {
        self.jwt_cache = true;
        self
    }

    /// Serves the listener from a file (LDS over the filesystem) instead of
    /// the static bootstrap, so [`Envoy::reload_filter_config`] can change
    /// the filter's configuration while Envoy runs, as a control plane would.
    pub fn reloadable(mut self) -> Self {
        self.reloadable = true;
        self
    }

    /// Sets an environment variable of the Envoy process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Lets the wasm VM read this host environment variable
    /// (`vm_config.environment_variables.host_env_keys`).
    pub fn host_env_key(mut self, key: &str) -> Self {
        self.host_env_keys.push(key.to_owned());
        self
    }

    /// Envoy's `--log-level` (default `info`).
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = level.to_owned();
        self
    }

    /// Envoy's `--concurrency`: how many worker threads (default
    /// [`CONCURRENCY`]). The benchmark uses one, to measure what a single
    /// worker sustains.
    pub fn concurrency(mut self, workers: usize) -> Self {
        self.concurrency = workers;
        self
    }

    pub fn filter(&self) -> &FilterSetup {
        &self.filter
    }

    /// The Envoy bootstrap: one listener on `127.0.0.1:0` with
    /// HCM -> `jwt_authn` -> signed-headers wasm -> router, every route to
    /// the `upstream` cluster, and the admin interface on `127.0.0.1:0`.
    pub fn bootstrap(&self, upstream: SocketAddr, idp_jwks: &str, wasm: Option<&Path>) -> Value {
        let jwt_authn = match &self.jwt_authn {
            Some(typed_config) => {
                let mut typed_config = typed_config.clone();
                replace_strings(&mut typed_config, IDP_JWKS_PLACEHOLDER, idp_jwks);
                json!({"name": "envoy.filters.http.jwt_authn", "typed_config": typed_config})
            }
            None => jwt_authn_filter(idp_jwks, self.jwt_cache),
        };
        let mut http_filters = vec![jwt_authn];
        if let FilterSetup::Wasm { configuration } = &self.filter {
            let wasm = wasm.expect("the wasm filter needs the path of the built .wasm");
            http_filters.push(wasm_filter(wasm, configuration, &self.host_env_keys));
        }
        http_filters.push(json!({
            "name": "envoy.filters.http.router",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
            }
        }));
        let bootstrap_extensions: Vec<Value> = match (&self.nonce_producer, wasm) {
            (Some(configuration), Some(wasm)) => vec![nonce_producer_service(wasm, configuration)],
            _ => Vec::new(),
        };
        let mut bootstrap = json!({
            "admin": {"address": loopback_port_zero()},
            "bootstrap_extensions": bootstrap_extensions,
            "static_resources": {
                "listeners": [{
                    "name": LISTENER_NAME,
                    "stat_prefix": LISTENER_NAME,
                    "address": loopback_port_zero(),
                    "filter_chains": [{
                        "filters": [{
                            "name": "envoy.filters.network.http_connection_manager",
                            "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                                "stat_prefix": "ingress",
                                "codec_type": "AUTO",
                                "route_config": {
                                    "name": "local",
                                    "virtual_hosts": [{
                                        "name": "all",
                                        "domains": ["*"],
                                        "routes": [{
                                            "match": {"prefix": "/"},
                                            "route": {"cluster": "upstream"}
                                        }]
                                    }]
                                },
                                "http_filters": http_filters
                            }
                        }]
                    }]
                }],
                "clusters": [{
                    "name": "upstream",
                    "type": "STATIC",
                    "connect_timeout": "5s",
                    "load_assignment": {
                        "cluster_name": "upstream",
                        "endpoints": [{
                            "lb_endpoints": [{
                                "endpoint": {
                                    "address": {
                                        "socket_address": {
                                            "address": upstream.ip().to_string(),
                                            "port_value": upstream.port()
                                        }
                                    }
                                }
                            }]
                        }]
                    }
                }]
            }
        });
        if self.upstream != UpstreamProtocol::Http1 {
            forward_trailers(&mut bootstrap, self.upstream);
        }
        if let Some(strip_trailing_host_dot) = self.per_host_routes {
            set(
                &mut bootstrap,
                CONNECTION_MANAGER,
                "strip_trailing_host_dot",
                json!(strip_trailing_host_dot),
            );
            let virtual_host = |name: &str, domains: Value| {
                json!({
                    "name": name,
                    "domains": domains,
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}],
                    "request_headers_to_add": [{"header": {"key": "x-routed-as", "value": name}}]
                })
            };
            let routes = json!([
                virtual_host("good", json!(["good.example"])),
                virtual_host("catch-all", json!(["*"])),
            ]);
            set(
                &mut bootstrap,
                &format!("{CONNECTION_MANAGER}/route_config"),
                "virtual_hosts",
                routes,
            );
        }
        bootstrap
    }
}

/// Where the listener's HTTP connection manager is in the bootstrap.
const CONNECTION_MANAGER: &str =
    "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config";

/// The part of `value` at the JSON `pointer`, which must exist.
fn at<'a>(value: &'a mut Value, pointer: &str) -> &'a mut Value {
    value
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("the bootstrap has no {pointer}"))
}

/// Sets `key` of the object at the JSON `pointer`.
fn set(value: &mut Value, pointer: &str, key: &str, new: Value) {
    object(at(value, pointer)).insert(key.to_owned(), new);
}

/// Changes the bootstrap to forward request trailers to the echo: over
/// HTTP/1.1, or over HTTP/2 through a relay listener on an abstract Unix
/// socket (no port to discover).
fn forward_trailers(bootstrap: &mut Value, upstream: UpstreamProtocol) {
    let protocol_options = |config: Value| {
        json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": config
            }
        })
    };
    let http1_trailers =
        protocol_options(json!({"http_protocol_options": {"enable_trailers": true}}));
    set(
        bootstrap,
        CONNECTION_MANAGER,
        "http_protocol_options",
        json!({"enable_trailers": true}),
    );
    if upstream == UpstreamProtocol::Http1WithTrailers {
        set(
            bootstrap,
            "/static_resources/clusters/0",
            "typed_extension_protocol_options",
            http1_trailers,
        );
        return;
    }
    let echo_endpoints = at(
        bootstrap,
        "/static_resources/clusters/0/load_assignment/endpoints",
    )
    .take();
    static RELAYS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let socket = format!(
        "@signed-headers-e2e-relay-{}-{}",
        std::process::id(),
        RELAYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let relay = json!({
        "name": "relay",
        "address": {"pipe": {"path": socket}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": "relay",
                "codec_type": "HTTP2",
                "route_config": {"virtual_hosts": [{
                    "name": "relay",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "echo"}}]
                }]},
                "http_filters": [{
                    "name": "envoy.filters.http.router",
                    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
                }]
            }
        }]}]
    });
    if let Value::Array(listeners) = at(bootstrap, "/static_resources/listeners") {
        listeners.push(relay);
    }
    let echo = json!({
        "name": "echo",
        "type": "STATIC",
        "connect_timeout": "5s",
        "load_assignment": {"cluster_name": "echo", "endpoints": echo_endpoints},
        "typed_extension_protocol_options": http1_trailers
    });
    let to_relay = json!({
        "name": "upstream",
        "type": "STATIC",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": "upstream",
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": socket}}}}]}]
        },
        "typed_extension_protocol_options": protocol_options(json!({"http2_protocol_options": {}}))
    });
    *at(bootstrap, "/static_resources/clusters") = json!([to_relay, echo]);
}

fn loopback_port_zero() -> Value {
    json!({"socket_address": {"address": "127.0.0.1", "port_value": 0}})
}

/// `jwt_authn` trusting the test IdP. A valid token puts its payload in
/// dynamic metadata; a missing token is allowed through (so the filter's
/// `unauthenticated` policy decides, and the JWKS path needs no token); an
/// invalid token is rejected with 401.
/// Every string in `value` equal to `from` becomes `to`.
fn replace_strings(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(text) if text == from => *text = to.to_owned(),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| replace_strings(item, from, to)),
        Value::Object(members) => members
            .values_mut()
            .for_each(|member| replace_strings(member, from, to)),
        _ => {}
    }
}

fn jwt_authn_filter(idp_jwks: &str, jwt_cache: bool) -> Value {
    let mut provider = json!({
        "issuer": TestIdp::ISSUER,
        "audiences": [TestIdp::AUDIENCE],
        "forward": false,
        "payload_in_metadata": PAYLOAD_METADATA_KEY,
        "local_jwks": {"inline_string": idp_jwks}
    });
    if jwt_cache {
        object(&mut provider).insert(
            "jwt_cache_config".to_owned(),
            json!({"jwt_cache_size": 1000}),
        );
    }
    json!({
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {IDP_PROVIDER: provider},
            "rules": [{
                "match": {"prefix": "/"},
                "requires": {
                    "requires_any": {
                        "requirements": [
                            {"provider_name": IDP_PROVIDER},
                            {"allow_missing": {}}
                        ]
                    }
                }
            }]
        }
    })
}

/// A `google.protobuf.StringValue` holding `text`, as an `Any`.
fn string_value(text: &str) -> Value {
    json!({"@type": "type.googleapis.com/google.protobuf.StringValue", "value": text})
}

/// A `google.protobuf.Struct` of the JSON object `fields`, as an `Any`.
fn struct_value(fields: &Value) -> Value {
    json!({"@type": "type.googleapis.com/google.protobuf.Struct", "value": fields})
}

fn wasm_filter(wasm: &Path, configuration: &Value, host_env_keys: &[String]) -> Value {
    let code = json!({"local": {"filename": wasm.display().to_string()}});
    let vm_config = if host_env_keys.is_empty() {
        json!({"vm_id": VM_ID, "runtime": "envoy.wasm.runtime.v8", "code": code})
    } else {
        json!({
            "vm_id": VM_ID,
            "runtime": "envoy.wasm.runtime.v8",
            "code": code,
            "environment_variables": {"host_env_keys": host_env_keys}
        })
    };
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "signed_headers",
                "failure_policy": "FAIL_RELOAD",
                "vm_config": vm_config,
                "configuration": configuration
            }
        }
    })
}

/// The module as a singleton on the main thread, in the filter's VM id.
fn nonce_producer_service(wasm: &Path, configuration: &Value) -> Value {
    json!({
        "name": "envoy.bootstrap.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.wasm.v3.WasmService",
            "singleton": true,
            "config": {
                "name": "signed_headers_nonces",
                "vm_config": {
                    "vm_id": VM_ID,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": wasm.display().to_string()}}
                },
                "configuration": configuration
            }
        }
    })
}

/// A configuration file shipped under `envoy/`, as a user copies it, with
/// only what a test must change: ports, addresses and paths. Each
/// substitution must match exactly once, so a test never silently runs a
/// configuration other than the one it names.
#[derive(Debug, Clone)]
pub struct ShippedConfig {
    file_name: String,
    text: String,
    env: Vec<(String, String)>,
}

impl ShippedConfig {
    /// Reads `envoy/<file_name>` from the repository.
    pub fn load(file_name: &str) -> Self {
        let path = crate::repository_root().join("envoy").join(file_name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
        Self {
            file_name: file_name.to_owned(),
            text,
            env: Vec::new(),
        }
    }

    /// A configuration the test writes itself, not one users copy (e.g. the
    /// app side of a chain of two Envoys), started the same way.
    pub fn written(file_name: &str, text: String) -> Self {
        Self {
            file_name: file_name.to_owned(),
            text,
            env: Vec::new(),
        }
    }

    /// Replaces the one occurrence of `from` with `to`; panics when `from`
    /// occurs zero or several times.
    pub fn substitute(mut self, from: &str, to: &str) -> Self {
        let count = self.text.matches(from).count();
        assert_eq!(
            count, 1,
            "envoy/{}: {from:?} occurs {count} times, the test expects exactly one",
            self.file_name
        );
        self.text = self.text.replacen(from, to, 1);
        self
    }

    /// Sets an environment variable of the Envoy process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// A running Envoy. Killed, and its directory removed, on drop.
pub struct Envoy {
    child: Child,
    files: EnvoyFiles,
    admin: SocketAddr,
    listener: SocketAddr,
    /// The listener whose port is discovered and whose stats are read.
    listener_name: String,
    log_level: String,
    concurrency: usize,
    /// What a reload needs to rebuild the listener, when it is reloadable.
    reload: Option<ReloadInputs>,
    // Last field: dropped after the process is gone.
    _dir: TempDir,
}

/// The inputs of the listener, kept to rebuild it with a new filter
/// configuration.
struct ReloadInputs {
    options: EnvoyOptions,
    upstream: SocketAddr,
    idp_jwks: String,
    wasm: Option<PathBuf>,
    version: u64,
}

/// An Envoy that did not start, as expected by an invalid-configuration test.
#[derive(Debug)]
pub struct FailedStart {
    /// The exit status, or `None` when Envoy neither exited nor became ready
    /// within the timeout (it was then killed).
    pub exit_status: Option<ExitStatus>,
    /// Envoy's log and standard error.
    pub log: String,
}

impl FailedStart {
    /// Whether the log has a line containing every one of `needles`.
    pub fn log_has_line_with(&self, needles: &[&str]) -> bool {
        log_has_line_with(&self.log, needles)
    }
}

/// The files of one Envoy instance, all in its temporary directory.
struct EnvoyFiles {
    bootstrap: PathBuf,
    /// The LDS file of a reloadable listener.
    listeners: PathBuf,
    admin_address: PathBuf,
    log: PathBuf,
    stderr: PathBuf,
}

impl EnvoyFiles {
    fn in_dir(dir: &Path) -> Self {
        Self {
            // JSON is YAML, and serde_json builds it without a YAML dependency.
            bootstrap: dir.join("envoy.json"),
            listeners: dir.join("listeners.json"),
            admin_address: dir.join("admin-address"),
            log: dir.join("envoy.log"),
            stderr: dir.join("stderr.log"),
        }
    }

    fn log(&self) -> String {
        let mut text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text = readable_log(&text);
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        if !stderr.trim().is_empty() {
            text.push_str("\n--- stderr ---\n");
            text.push_str(&stderr);
        }
        text
    }

    fn admin_address(&self) -> Option<SocketAddr> {
        std::fs::read_to_string(&self.admin_address)
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

enum Startup {
    Ready(SocketAddr),
    Exited(ExitStatus),
    TimedOut,
}

impl Envoy {
    /// Starts Envoy in front of `upstream`, trusting `idp`, and waits until it
    /// is ready. Panics with Envoy's log when it exits or is not ready within
    /// [`STARTUP_TIMEOUT`].
    pub fn start(options: &EnvoyOptions, upstream: SocketAddr, idp: &TestIdp) -> Self {
        let (child, files, dir) = launch(options, upstream, idp);
        let startup_timeout = options
            .launcher
            .as_ref()
            .map_or(STARTUP_TIMEOUT, |launcher| launcher.startup_timeout);
        let mut envoy = Self::when_ready(
            child,
            files,
            dir,
            LISTENER_NAME,
            &options.log_level,
            options.concurrency,
            startup_timeout,
        );
        envoy.reload = options.reloadable.then(|| ReloadInputs {
            options: options.clone(),
            upstream,
            idp_jwks: idp.jwks().to_owned(),
            wasm: filter_wasm_of(options),
            version: FIRST_LISTENER_VERSION,
        });
        envoy
    }

    /// Starts Envoy with a configuration shipped under `envoy/` (with the
    /// test's substitutions), from the repository root as its comments say,
    /// and waits until its listener `listener_name` is ready.
    pub fn start_shipped(config: &ShippedConfig, listener_name: &str) -> Self {
        let dir = envoy_dir();
        let files = EnvoyFiles::in_dir(dir.path());
        let bootstrap = dir.path().join(&config.file_name);
        std::fs::write(&bootstrap, &config.text).expect("cannot write the Envoy configuration");
        let child = spawn(
            &files,
            &bootstrap,
            CONCURRENCY,
            "info",
            &config.env,
            Some(&crate::repository_root()),
            None,
        );
        Self::when_ready(
            child,
            files,
            dir,
            listener_name,
            "info",
            CONCURRENCY,
            STARTUP_TIMEOUT,
        )
    }

    /// Waits for a launched Envoy to be ready. Panics with Envoy's log when
    /// it exits or is not ready within `timeout`.
    fn when_ready(
        mut child: Child,
        files: EnvoyFiles,
        dir: TempDir,
        listener_name: &str,
        log_level: &str,
        concurrency: usize,
        timeout: Duration,
    ) -> Self {
        match wait_for_startup(&mut child, &files, timeout) {
            Startup::Ready(admin) => {
                let listener = discover_listener(admin, &files, listener_name);
                Self {
                    child,
                    files,
                    admin,
                    listener,
                    listener_name: listener_name.to_owned(),
                    log_level: log_level.to_owned(),
                    concurrency,
                    reload: None,
                    _dir: dir,
                }
            }
            Startup::Exited(status) => panic!(
                "Envoy exited during start-up ({status}).\n--- Envoy log ---\n{}",
                files.log()
            ),
            Startup::TimedOut => {
                kill(&mut child);
                panic!(
                    "Envoy was not ready within {timeout:?}.\n--- Envoy log ---\n{}",
                    files.log()
                )
            }
        }
    }

    /// Starts Envoy with a configuration it must refuse. Returns how it
    /// failed; panics (with the log) if it becomes ready instead.
    pub fn start_expecting_failure(
        options: &EnvoyOptions,
        upstream: SocketAddr,
        idp: &TestIdp,
        timeout: Duration,
    ) -> FailedStart {
        let (mut child, files, _dir) = launch(options, upstream, idp);
        match wait_for_startup(&mut child, &files, timeout) {
            Startup::Ready(_) => {
                kill(&mut child);
                panic!(
                    "Envoy became ready although its configuration should be refused.\n\
                     --- Envoy log ---\n{}",
                    files.log()
                )
            }
            Startup::Exited(status) => FailedStart {
                exit_status: Some(status),
                log: files.log(),
            },
            Startup::TimedOut => {
                kill(&mut child);
                FailedStart {
                    exit_status: None,
                    log: files.log(),
                }
            }
        }
    }

    /// The listener's address (`127.0.0.1:<discovered port>`).
    pub fn listener_address(&self) -> SocketAddr {
        self.listener
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.listener)
    }

    pub fn admin_address(&self) -> SocketAddr {
        self.admin
    }

    /// Replaces the filter's plugin configuration while Envoy runs: writes
    /// the listener file anew (atomically, as Envoy's file watch expects),
    /// waits until Envoy has accepted it and the new listener is serving,
    /// and picks up its port. Needs [`EnvoyOptions::reloadable`].
    pub fn reload_filter_config(&mut self, configuration: &Value) {
        let before = self.stats();
        let reload = self
            .reload
            .as_mut()
            .expect("reload_filter_config needs EnvoyOptions::reloadable()");
        reload.version += 1;
        let mut options = reload.options.clone();
        options.filter = FilterSetup::Wasm {
            configuration: string_value(&configuration.to_string()),
        };
        let mut bootstrap =
            options.bootstrap(reload.upstream, &reload.idp_jwks, reload.wasm.as_deref());
        let listener = take_listener(&mut bootstrap);
        write_listener_file(&self.files.listeners, reload.version, listener);

        let counter = |stats: &BTreeMap<String, u64>, name: &str| -> u64 {
            stats.get(name).copied().unwrap_or(0)
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let stats = self.stats();
            if counter(&stats, LDS_REJECTED) > counter(&before, LDS_REJECTED) {
                panic!(
                    "Envoy rejected the new listener.\n--- Envoy log ---\n{}",
                    self.log()
                );
            }
            if counter(&stats, LDS_ACCEPTED) > counter(&before, LDS_ACCEPTED)
                && counter(&stats, LISTENERS_WARMING) == 0
            {
                break;
            }
            if Instant::now() > deadline {
                panic!(
                    "Envoy did not take the new listener within {STARTUP_TIMEOUT:?}.\n--- Envoy log ---\n{}",
                    self.log()
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
        self.listener = discover_listener(self.admin, &self.files, &self.listener_name);
    }

    /// The Envoy process id (to read its CPU time from `/proc`, for example).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Envoy's `--concurrency`: how many worker threads it runs.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Sends a request to the listener on a new connection.
    pub fn send(&self, request: &Request) -> Response {
        http::send(self.listener, request)
    }

    /// Envoy's log so far (and its standard error, if any).
    pub fn log(&self) -> String {
        self.files.log()
    }

    /// The log, including every line logged before this call. Envoy writes
    /// its log file from a buffer; this asks the admin interface to log a
    /// marker line (by re-setting the log level, which Envoy logs at info)
    /// and waits for it, so lines logged earlier by any thread are in the file.
    pub fn flushed_log(&self) -> String {
        assert!(
            matches!(self.log_level.as_str(), "trace" | "debug" | "info"),
            "flushed_log needs --log-level info or more verbose (Envoy logs the marker at info), not {}",
            self.log_level
        );
        let count_markers = |log: &str| log.matches(LOG_LEVEL_MARKER).count();
        let before = count_markers(&self.log());
        let response = http::send(
            self.admin,
            &Request::post(&format!("/logging?level={}", self.log_level)),
        );
        assert_eq!(response.status, 200, "admin /logging: {}", response.text());
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let log = self.log();
            if count_markers(&log) > before {
                return log;
            }
            if Instant::now() > deadline {
                panic!("Envoy never logged {LOG_LEVEL_MARKER:?}.\n--- Envoy log ---\n{log}");
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits (bounded) until the log has a line containing every one of
    /// `needles`, and returns that line. Envoy flushes its log every 50 ms
    /// (`--file-flush-interval-msec`), so a line can lag an event a little.
    pub fn wait_for_log_line(&self, needles: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if let Some(line) = log
                .lines()
                .find(|line| needles.iter().all(|n| line.contains(n)))
            {
                return line.to_owned();
            }
            if Instant::now() > deadline {
                panic!(
                    "no log line contains all of {needles:?} within {timeout:?}.\n--- Envoy log ---\n{log}"
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// A GET on the admin interface.
    pub fn admin_get(&self, path: &str) -> Response {
        http::send(self.admin, &Request::get(path))
    }

    /// Every counter and gauge from admin `/stats` (histograms left out).
    pub fn stats(&self) -> BTreeMap<String, u64> {
        let response = self.admin_get("/stats");
        assert_eq!(response.status, 200, "admin /stats: {}", response.text());
        response
            .text()
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(": ")?;
                Some((name.to_owned(), value.trim().parse().ok()?))
            })
            .collect()
    }

    /// `listener.<stat prefix>.worker_<n>.downstream_cx_total` for each
    /// worker: how many downstream connections each worker accepted. A
    /// shipped configuration's listener has no stat prefix: its stats are
    /// named after its address, and every listener but admin's counts.
    pub fn worker_connection_counts(&self) -> Vec<u64> {
        let stats = self.stats();
        (0..self.concurrency)
            .map(|worker| {
                let suffix = format!(".worker_{worker}.downstream_cx_total");
                let named = format!("listener.{}{suffix}", self.listener_name);
                if let Some(count) = stats.get(&named) {
                    return *count;
                }
                let counts: Vec<u64> = stats
                    .iter()
                    .filter(|(name, _)| {
                        name.starts_with("listener.")
                            && !name.starts_with("listener.admin.")
                            && name.ends_with(&suffix)
                    })
                    .map(|(_, count)| *count)
                    .collect();
                assert!(
                    !counts.is_empty(),
                    "Envoy has no stat {named}; listener stats: {:?}",
                    stats
                        .keys()
                        .filter(|k| k.starts_with("listener."))
                        .collect::<Vec<_>>()
                );
                counts.iter().sum()
            })
            .collect()
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        kill(&mut self.child);
        if thread::panicking() {
            // The test failed: show what Envoy said (the harness captures
            // stderr and prints it with the failure).
            eprintln!("--- Envoy log ({}) ---\n{}", self.listener, self.log());
        }
    }
}

/// The built filter, when the options use it.
fn filter_wasm_of(options: &EnvoyOptions) -> Option<PathBuf> {
    match options.filter {
        FilterSetup::Wasm { .. } => Some(options.wasm.clone().unwrap_or_else(crate::filter_wasm)),
        FilterSetup::None => None,
    }
}

/// Writes the LDS file: the listener as a discovery response, replaced
/// atomically (Envoy watches for the file being moved into place).
fn write_listener_file(path: &Path, version: u64, mut listener: Value) {
    object(&mut listener).insert(
        "@type".to_owned(),
        json!("type.googleapis.com/envoy.config.listener.v3.Listener"),
    );
    let response = json!({"version_info": version.to_string(), "resources": [listener]});
    let staging = path.with_extension("staging");
    std::fs::write(&staging, response.to_string()).expect("cannot write the listener file");
    std::fs::rename(&staging, path).expect("cannot move the listener file into place");
}

/// Moves the bootstrap's listener into an LDS file and points Envoy at it.
fn make_listener_dynamic(bootstrap: &mut Value, listeners_file: &Path) {
    let listener = take_listener(bootstrap);
    if let Some(resources) = bootstrap
        .pointer_mut("/static_resources")
        .and_then(Value::as_object_mut)
    {
        resources.remove("listeners");
    }
    write_listener_file(listeners_file, FIRST_LISTENER_VERSION, listener);
    let bootstrap = object(bootstrap);
    // Envoy requires a node identity for any xDS subscription, even a file.
    bootstrap.insert(
        "node".to_owned(),
        json!({"id": "signed-headers-e2e", "cluster": "signed-headers-e2e"}),
    );
    bootstrap.insert(
        "dynamic_resources".to_owned(),
        json!({
            "lds_config": {
                "resource_api_version": "V3",
                "path_config_source": {"path": listeners_file.display().to_string()}
            }
        }),
    );
}

/// The (only) listener of a bootstrap built by [`EnvoyOptions::bootstrap`].
fn take_listener(bootstrap: &mut Value) -> Value {
    bootstrap
        .pointer_mut("/static_resources/listeners/0")
        .map(Value::take)
        .expect("the bootstrap has a static listener")
}

fn object(value: &mut Value) -> &mut serde_json::Map<String, Value> {
    value.as_object_mut().expect("a JSON object")
}

fn envoy_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("signed-headers-e2e-")
        .tempdir()
        .expect("cannot create a temporary directory for Envoy")
}

fn launch(
    options: &EnvoyOptions,
    upstream: SocketAddr,
    idp: &TestIdp,
) -> (Child, EnvoyFiles, TempDir) {
    let wasm = filter_wasm_of(options);
    let dir = envoy_dir();
    let files = EnvoyFiles::in_dir(dir.path());
    let mut bootstrap = options.bootstrap(upstream, idp.jwks(), wasm.as_deref());
    if options.reloadable {
        make_listener_dynamic(&mut bootstrap, &files.listeners);
    }
    let bootstrap_text =
        serde_json::to_string_pretty(&bootstrap).expect("the bootstrap is plain JSON");
    std::fs::write(&files.bootstrap, bootstrap_text).expect("cannot write the Envoy bootstrap");
    let child = spawn(
        &files,
        &files.bootstrap,
        options.concurrency,
        &options.log_level,
        &options.env,
        None,
        options
            .launcher
            .as_ref()
            .map(|launcher| launcher.command.as_slice()),
    );
    (child, files, dir)
}

/// Runs Envoy on `bootstrap`, logging into `files`; under `launcher` if
/// given.
fn spawn(
    files: &EnvoyFiles,
    bootstrap: &Path,
    concurrency: usize,
    log_level: &str,
    env: &[(String, String)],
    working_dir: Option<&Path>,
    launcher: Option<&[String]>,
) -> Child {
    let envoy = crate::envoy_binary();
    let stderr = std::fs::File::create(&files.stderr).expect("cannot create Envoy's stderr file");
    let mut command = match launcher {
        Some([program, arguments @ ..]) => {
            let mut command = Command::new(program);
            command.args(arguments).arg(&envoy);
            command
        }
        _ => Command::new(&envoy),
    };
    command
        .arg("--config-path")
        .arg(bootstrap)
        .args(["--concurrency", &concurrency.to_string()])
        .arg("--use-dynamic-base-id")
        .arg("--admin-address-path")
        .arg(&files.admin_address)
        .args(["--log-level", log_level])
        .arg("--log-path")
        .arg(&files.log)
        // The default (10 s) would keep lines out of the file long after the
        // event a test is looking for.
        .args(["--file-flush-interval-msec", "50"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        // A developer's own SIGNING_KEY must not leak into a test that
        // expects an ephemeral key.
        .env_remove("SIGNING_KEY");
    if let Some(dir) = working_dir {
        command.current_dir(dir);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {}: {err}", envoy.display()))
}

fn wait_for_startup(child: &mut Child, files: &EnvoyFiles, timeout: Duration) -> Startup {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Startup::Exited(status);
        }
        if let Some(admin) = files.admin_address() {
            let ready = http::try_send(admin, &Request::get("/ready"));
            if ready.is_ok_and(|response| response.status == 200) {
                return Startup::Ready(admin);
            }
        }
        if Instant::now() > deadline {
            return Startup::TimedOut;
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// The port the kernel gave the listener, from admin `/listeners`.
fn discover_listener(admin: SocketAddr, files: &EnvoyFiles, listener_name: &str) -> SocketAddr {
    let response = http::send(admin, &Request::get("/listeners?format=json"));
    let listeners = response.json();
    let port = listeners
        .get("listener_statuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|status| status.get("name").and_then(Value::as_str) == Some(listener_name))
        .and_then(|status| status.pointer("/local_address/socket_address/port_value"))
        .and_then(Value::as_u64)
        .and_then(|port| u16::try_from(port).ok())
        .filter(|port| *port != 0)
        .unwrap_or_else(|| {
            panic!(
                "admin /listeners has no bound port for {listener_name}: {listeners}\n--- Envoy log ---\n{}",
                files.log()
            )
        });
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn kill(child: &mut Child) {
    // Nothing to flush: the log file is flushed every 50 ms anyway.
    let _ = child.kill();
    let _ = child.wait();
}

/// The log without Envoy's start-up list of statically linked extensions
/// (over a hundred lines that bury what a failing test needs to see).
fn readable_log(log: &str) -> String {
    log.lines().filter(|line| !is_extension_listing(line)).fold(
        String::with_capacity(log.len()),
        |mut out, line| {
            out.push_str(line);
            out.push('\n');
            out
        },
    )
}

/// `[...][main] [source/server/server.cc:467]   envoy.clusters: ...`: the
/// message after the source location is indented.
fn is_extension_listing(line: &str) -> bool {
    line.contains("[main]")
        && line
            .split_once(".cc:")
            .and_then(|(_, rest)| rest.split_once("] "))
            .is_some_and(|(_, message)| message.starts_with(' '))
}

/// Whether `log` has a line containing every one of `needles`.
pub(crate) fn log_has_line_with(log: &str, needles: &[&str]) -> bool {
    log.lines()
        .any(|line| needles.iter().all(|needle| line.contains(needle)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_listing_is_left_out_of_the_readable_log() {
        let log = "\
[2026-01-01 00:00:00.000][1][info][main] [source/server/server.cc:465] statically linked extensions:
[2026-01-01 00:00:00.000][1][info][main] [source/server/server.cc:467]   envoy.clusters: envoy.cluster.static
[2026-01-01 00:00:00.000][1][error][wasm] [source/extensions/common/wasm/context.cc:1157] wasm log x: signed-headers: invalid configuration
";
        let readable = readable_log(log);
        assert!(readable.contains("statically linked extensions:"));
        assert!(!readable.contains("envoy.cluster.static"));
        assert!(readable.contains("signed-headers: invalid configuration"));
    }

    #[test]
    fn bootstrap_orders_jwt_authn_wasm_router() {
        let options = EnvoyOptions::with_filter_config(&json!({"ttl_seconds": 5}))
            .host_env_key("SIGNING_KEY");
        let upstream = SocketAddr::from(([127, 0, 0, 1], 8080));
        let bootstrap = options.bootstrap(upstream, "{\"keys\":[]}", Some(Path::new("/f.wasm")));
        let hcm = &bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
            ["typed_config"];
        let names: Vec<&str> = hcm["http_filters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "envoy.filters.http.jwt_authn",
                "envoy.filters.http.wasm",
                "envoy.filters.http.router"
            ]
        );
        let config = &hcm["http_filters"][1]["typed_config"]["config"];
        assert_eq!(config["configuration"]["value"], "{\"ttl_seconds\":5}");
        assert_eq!(
            config["vm_config"]["environment_variables"]["host_env_keys"],
            json!(["SIGNING_KEY"])
        );
    }
}
