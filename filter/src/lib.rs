//! Envoy proxy-wasm filter: strips client-supplied assertion headers, mints
//! an ES256 assertion for the authenticated user, and serves the JWKS.
//!
//! The decisions live in plain modules tested natively; this file is the
//! proxy-wasm glue. The root context parses the configuration once per
//! `on_configure`; http contexts only act. Host calls go through
//! `proxy_wasm::hostcalls` (which return errors) rather than the trait
//! helpers that unwrap, because a panic would kill the worker's VM.

mod assertion;
mod authority;
mod claim_headers;
mod config;
mod cookies;
mod data;
mod discovery;
mod fresh_map;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod groups;
mod header_host;
mod identity;
mod jwks_endpoint;
mod nonce_host;
mod nonce_queue;
#[cfg(test)]
mod properties;
mod route_settings;
mod sort;
mod strip;
#[cfg(test)]
mod test_rng;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType, Status};
use signed_headers_keys::{Bundle, BundleKey, Es256Signer, JwksDocument, KeyFormat, KidFormat};

use assertion::{MintError, SharedTokens, TokenCache, TokenLimits, TokenSource};
use config::{Audience, KeySource, Settings, UnauthenticatedPolicy};
use data::header_map::{self, HeaderPair};
use discovery::Discovery;
use fresh_map::FreshMap;
use identity::Identity;
use jwks_endpoint::{DocumentRequest, LocalResponse, PublishedKeys, Served};
use nonce_host::{NonceProducer, NonceQueueClient};
use nonce_queue::ProducerSettings;
use route_settings::SigningScope;

/// How often a worker tops up its precomputed nonces, and how many at most
/// per tick: one base-point multiplication (about 0.1 ms in V8) every 10 ms,
/// so a request arriving during a tick waits no longer than for one
/// signature (8 per 100 ms doubled the p99 at low load).
const NONCE_TICK: std::time::Duration = std::time::Duration::from_millis(10);
const NONCES_PER_TICK: usize = 1;
/// The tick while a worker's nonce pool is full: there is nothing to do, so
/// a worker without traffic wakes once a second instead of a hundred times.
/// The first tick that finds nonces used goes back to [`NONCE_TICK`]; until
/// then signing takes the 64 that are ready (the queue's, with a producer),
/// and past them signs as it would without: at most the 100 nonces a second
/// of 10 ms ticks would have added are missed, once per burst after idle.
/// The producer, too, ticks once a second while its queue is full; workers
/// that take a batch wake it (`nonce_queue`'s wake-up queue), since
/// without that, a burst under load found the queue empty before a 100 ms
/// tick noticed (27 of 400 signatures in
/// `caches::nonces_from_the_main_thread_producer_*` in CI).
const IDLE_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Shared-data key of the ephemeral signing key, one per VM id, so every
/// worker and every configuration reload signs with the same key.
const EPHEMERAL_KEY_SHARED_DATA: &str = "signed-headers.ephemeral-signing-key.v1";

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(SignedHeadersRoot::default()) });
}}

/// Request headers to set: (name, value).
type HeadersToSet = Vec<(String, String)>;

/// Everything one configuration needs, built once in `on_configure`.
struct Plugin {
    settings: Settings,
    /// Who signs, and what the JWKS publishes, for the top-level settings
    /// (index 0) and each of `route_settings` (index 1 + its position):
    /// indexed by [`route_settings::Effective::key`]. Settings with one
    /// signing scope share one.
    scoped: Vec<Rc<ScopedKeys>>,
    /// OpenID discovery, when the issuer is an `https` URL.
    discovery: Discovery,
    /// Shared with [`LATEST_TOKEN_CACHES`], for the next configuration.
    tokens: Rc<RefCell<TokenCache>>,
    /// Whether any identity source reads the request's dynamic metadata.
    reads_metadata: bool,
    /// The headers set for a request, keyed by the raw bytes that decide
    /// them (the authority, and the mapped claims as the dynamic metadata
    /// holds them): a repeated request skips decoding claims and building
    /// the token cache's key from them.
    requests: RefCell<FreshMap<Vec<u8>, HeadersToSet>>,
    metrics: Metrics,
    /// Nonces the main thread precomputed, if a producer is configured.
    nonce_queue: NonceQueueClient,
    dropped_groups_logged: LoggedOnce,
    dropped_claims_logged: LoggedOnce,
    too_large_logged: LoggedOnce,
    unknown_route_settings_logged: LoggedOnce,
}

/// The keys of one signing scope, as a route uses them.
struct ScopedKeys {
    /// `""`: the unscoped keys.
    scope: String,
    signer: Es256Signer,
    published: PublishedKeys,
}

impl ScopedKeys {
    /// `scope`'s first private key signs; its keys (and the unscoped ones,
    /// if it says so) are published.
    fn of(bundle: &Bundle, format: KidFormat, scope: &SigningScope) -> Result<Self, String> {
        let name = scope.name.as_deref();
        let signer = bundle
            .signing_key_in_scope(name)
            .and_then(|key| key.signer_in(format))
            .ok_or_else(|| match name {
                Some(name) => format!("signing_key: no private key has `# scope: {name}`"),
                None => "signing_key: no private key: nothing in the bundle can sign".to_owned(),
            })?;
        let mut jwks: Vec<_> = bundle
            .keys_in_scope(name)
            .map(|key| key.jwk_in(format))
            .collect();
        if name.is_some() && scope.publish_unscoped_keys {
            jwks.extend(bundle.keys_in_scope(None).map(|key| key.jwk_in(format)));
        }
        Ok(Self {
            scope: name.unwrap_or_default().to_owned(),
            published: PublishedKeys {
                signing_kid: signer.kid().to_owned(),
                document: JwksDocument::new(&jwks),
            },
            signer,
        })
    }
}

impl Plugin {
    fn new(settings: Settings, configuration: &[u8]) -> Result<Self, String> {
        // Index 0: the top level; then each named route settings' scope.
        let scopes: Vec<&SigningScope> = std::iter::once(&settings.signing_scope)
            .chain(settings.routes.all().iter().map(|route| {
                route
                    .signing_scope
                    .as_ref()
                    .unwrap_or(&settings.signing_scope)
            }))
            .collect();
        // Who signs per settings, the (scope, kid) of every key, and the kids.
        let (scoped, reusable, published_kids) = match &settings.key_source {
            KeySource::Bundle { bundle, .. } => {
                let format = settings.kid_format;
                // Each distinct scope once: its signer and JWKS document.
                let mut built: Vec<(&SigningScope, Rc<ScopedKeys>)> = Vec::new();
                let mut scoped = Vec::with_capacity(scopes.len());
                for scope in &scopes {
                    let keys = match built.iter().find(|(known, _)| known == scope) {
                        Some((_, keys)) => Rc::clone(keys),
                        None => {
                            let keys = Rc::new(ScopedKeys::of(bundle, format, scope)?);
                            built.push((scope, Rc::clone(&keys)));
                            keys
                        }
                    };
                    scoped.push(keys);
                }
                let reusable: Vec<(String, String)> = bundle
                    .keys()
                    .iter()
                    .map(|key| {
                        (
                            key.scope().unwrap_or_default().to_owned(),
                            key.kid_in(format),
                        )
                    })
                    .collect();
                let kids: Vec<String> =
                    bundle.keys().iter().map(|key| key.kid_in(format)).collect();
                (scoped, reusable, kids)
            }
            KeySource::Ephemeral => {
                let key = shared_ephemeral_key()?;
                let signer = key.signer().ok_or("ephemeral key has no private half")?;
                // Nothing is published for a key nobody configured;
                // operators who need verification configure a key.
                let ephemeral = Rc::new(ScopedKeys {
                    scope: String::new(),
                    published: PublishedKeys {
                        signing_kid: signer.kid().to_owned(),
                        document: JwksDocument::empty(),
                    },
                    signer,
                });
                let scoped: Vec<Rc<ScopedKeys>> =
                    scopes.iter().map(|_| Rc::clone(&ephemeral)).collect();
                (scoped, Vec::new(), Vec::new())
            }
        };
        let top = scoped.first().ok_or("no signing keys")?;
        // The one line that says which keys this configuration serves: Envoy's
        // own stats and config dump also report configurations it rejected.
        let sealed = match &settings.key_source {
            KeySource::Bundle {
                sealed_under: Some(kek),
                ..
            } => format!(" sealed_under_kek={kek}"),
            _ => String::new(),
        };
        let mut scope_signers: Vec<String> = scoped
            .iter()
            .filter(|keys| !keys.scope.is_empty())
            .map(|keys| format!("{}:{}", keys.scope, keys.signer.kid()))
            .collect();
        sort::sort_unstable(&mut scope_signers);
        scope_signers.dedup();
        let scopes_logged = if scope_signers.is_empty() {
            String::new()
        } else {
            format!(" scope_signing_kids=[{}]", scope_signers.join(","))
        };
        log::info!(
            "signed-headers: configured: version={} signing_kid={} published_kids=[{}] jwks_etag={}{scopes_logged}{sealed}",
            env!("CARGO_PKG_VERSION"),
            top.signer.kid(),
            published_kids.join(","),
            top.published.document.etag()
        );
        let limits = TokenLimits {
            ttl_seconds: settings.ttl_seconds,
            // The header line is `name: token`.
            max_token_bytes: settings
                .max_header_bytes
                .saturating_sub(settings.header.len() + 2),
        };
        let tokens = TokenCache::new(settings.token_cache_entries, limits)
            .with_shared_slots(settings.shared_token_cache_slots)
            .with_reusable_keys(
                reusable
                    .iter()
                    .map(|(scope, kid)| (scope.as_str(), kid.as_str())),
            );
        Ok(Self {
            tokens: Rc::new(RefCell::new(tokens)),
            requests: RefCell::new(FreshMap::new(settings.token_cache_entries)),
            reads_metadata: settings
                .identity
                .iter()
                .any(identity::Source::reads_metadata),
            metrics: Metrics::define(),
            nonce_queue: NonceQueueClient::new(),
            dropped_groups_logged: LoggedOnce::new("dropped-groups", configuration),
            dropped_claims_logged: LoggedOnce::new("dropped-claims", configuration),
            too_large_logged: LoggedOnce::new("too-large", configuration),
            unknown_route_settings_logged: LoggedOnce::new("unknown-route-settings", configuration),
            discovery: Discovery::new(&settings.issuer, &settings.jwks_path),
            settings,
            scoped,
        })
    }
}

thread_local! {
    /// Each filter's latest token cache in this VM, by the filter's name
    /// (`plugin_name`). A new configuration of the filter (a key rotation
    /// step, a settings change) takes over its tokens and nonces rather
    /// than sign for every active user again (see `TokenCache::take_over`).
    /// Held here, not only by the plugin, so that the handover works
    /// whichever of the two root contexts Envoy drops or creates first.
    static LATEST_TOKEN_CACHES: RefCell<std::collections::HashMap<Vec<u8>, Rc<RefCell<TokenCache>>>> =
        RefCell::new(std::collections::HashMap::new());
}

/// Makes `plugin`'s token cache this filter's latest and hands it what the
/// previous one holds.
fn inherit_tokens(plugin: &Plugin) {
    let name = hostcalls::get_property(vec!["plugin_name"])
        .ok()
        .flatten()
        .unwrap_or_default();
    let previous = LATEST_TOKEN_CACHES.with(|latest| {
        latest
            .try_borrow_mut()
            .ok()
            .and_then(|mut latest| latest.insert(name, Rc::clone(&plugin.tokens)))
    });
    let Some(previous) = previous.filter(|previous| !Rc::ptr_eq(previous, &plugin.tokens)) else {
        return;
    };
    let now = hostcalls::get_current_time()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map(|since| since.as_secs());
    if let (Some(now), Ok(mut tokens), Ok(mut previous)) = (
        now,
        plugin.tokens.try_borrow_mut(),
        previous.try_borrow_mut(),
    ) {
        let taken = tokens.take_over(&mut previous, now);
        if taken > 0 {
            log::info!(
                "signed-headers: kept {taken} cached tokens from the previous configuration (signed by keys still published)"
            );
        }
    }
}

/// A warning logged once per configuration across every worker VM: the
/// first VM to set its shared-data flag logs it.
struct LoggedOnce {
    shared_data_key: String,
    /// This VM has tried already (logged, or seen another VM's flag).
    tried: Cell<bool>,
}

impl LoggedOnce {
    fn new(what: &str, configuration: &[u8]) -> Self {
        Self {
            shared_data_key: format!("signed-headers.logged.{what}.{:016x}", fnv1a(configuration)),
            tried: Cell::new(false),
        }
    }

    fn warn(&self, message: impl FnOnce() -> String) {
        if self.tried.replace(true) {
            return;
        }
        let first = match hostcalls::get_shared_data(&self.shared_data_key) {
            Ok((None, cas)) => {
                hostcalls::set_shared_data(&self.shared_data_key, Some(b"1"), cas).is_ok()
            }
            _ => false,
        };
        if first {
            log::warn!("{}", message());
        }
    }
}

/// Counters in Envoy's stats (`wasmcustom.signed_headers.*`), summed over
/// every worker: how many tokens were signed, how many came from another
/// worker through the shared slots instead, and how many requests had their
/// identity's claims read (the others repeated an earlier request's input).
struct Metrics {
    tokens_signed: Option<u32>,
    precomputed_signatures: Option<u32>,
    shared_cache_hits: Option<u32>,
    identity_reads: Option<u32>,
}

impl Metrics {
    fn define() -> Self {
        Self {
            tokens_signed: define_counter("signed_headers.tokens_signed"),
            precomputed_signatures: define_counter("signed_headers.precomputed_signatures"),
            shared_cache_hits: define_counter("signed_headers.shared_cache_hits"),
            identity_reads: define_counter("signed_headers.identity_reads"),
        }
    }

    fn count(&self, source: TokenSource) {
        match source {
            TokenSource::Local => {}
            TokenSource::Shared => Self::increment(self.shared_cache_hits),
            TokenSource::Signed => Self::increment(self.tokens_signed),
            TokenSource::SignedPrecomputed => {
                Self::increment(self.tokens_signed);
                Self::increment(self.precomputed_signatures);
            }
        }
    }

    fn count_identity_read(&self) {
        Self::increment(self.identity_reads);
    }

    fn increment(metric: Option<u32>) {
        increment_counter(metric, 1);
    }
}

/// A counter in Envoy's stats (`wasmcustom.<name>`); `None` (logged) if
/// Envoy refuses it, and counting then does nothing.
fn define_counter(name: &str) -> Option<u32> {
    match hostcalls::define_metric(MetricType::Counter, name) {
        Ok(id) => Some(id),
        Err(status) => {
            log::warn!("signed-headers: cannot define the metric {name}: {status:?}");
            None
        }
    }
}

fn increment_counter(metric: Option<u32>, by: usize) {
    if let Some(id) = metric {
        // A lost increment is not worth failing a request for.
        let _ = hostcalls::increment_metric(id, i64::try_from(by).unwrap_or(i64::MAX));
    }
}

/// What every VM with this VM id shares: Envoy's shared data, and the main
/// thread's nonce queue.
struct HostSharedData<'a> {
    nonce_queue: &'a NonceQueueClient,
}

impl SharedTokens for HostSharedData<'_> {
    fn get(&self, slot: &str) -> Option<Vec<u8>> {
        hostcalls::get_shared_data(slot)
            .ok()
            .and_then(|(value, _)| value)
    }

    fn put(&self, slot: &str, value: &[u8]) {
        // Last writer wins: two workers signing for one user at the same
        // moment each keep a valid token.
        let _ = hostcalls::set_shared_data(slot, Some(value), None);
    }

    fn take_nonces(&self) -> Vec<signed_headers_keys::PrecomputedNonce> {
        self.nonce_queue.take()
    }
}

/// Appends `bytes` with its length first, so that a sequence of fields
/// encodes unambiguously: the cache keys are compared byte for byte.
pub(crate) fn push_field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// FNV-1a: a stable fingerprint of the configuration, not a security hash.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The ephemeral key every VM with this VM id shares: read it, or make one
/// and store it with compare-and-swap, then re-read and adopt whatever won.
///
/// Envoy configures the main thread's VM before any worker's (at start-up
/// and on reload), so in practice one VM stores the key and every other one
/// reads it. Proxy-wasm has no "set if absent": two VMs that both found the
/// key missing at the same instant could each store one, which that
/// ordering rules out.
fn shared_ephemeral_key() -> Result<BundleKey, String> {
    let host_error = |status: Status| format!("shared data unavailable: {status:?}");
    for _attempt in 0..8 {
        let (stored, cas) =
            hostcalls::get_shared_data(EPHEMERAL_KEY_SHARED_DATA).map_err(host_error)?;
        if let Some(pem) = stored.filter(|bytes| !bytes.is_empty()) {
            return ephemeral_from_pem(&pem);
        }
        let fresh = BundleKey::generate(KeyFormat::Sec1).map_err(|e| e.to_string())?;
        let fresh_pem = fresh.to_pem();
        match hostcalls::set_shared_data(EPHEMERAL_KEY_SHARED_DATA, Some(fresh_pem.as_bytes()), cas)
        {
            Ok(()) => {}
            Err(Status::CasMismatch) => continue,
            Err(status) => return Err(host_error(status)),
        }
        let (stored, _) =
            hostcalls::get_shared_data(EPHEMERAL_KEY_SHARED_DATA).map_err(host_error)?;
        if stored.as_deref() == Some(fresh_pem.as_bytes()) {
            log::warn!(
                "signed-headers: ephemeral signing key (no signing_key configured; tokens will not verify after a restart): kid={} public_key={}",
                fresh.kid(),
                fresh.public_spki_base64()
            );
            return Ok(fresh);
        }
    }
    Err("could not agree on a shared ephemeral key".to_owned())
}

fn ephemeral_from_pem(pem: &[u8]) -> Result<BundleKey, String> {
    let text = std::str::from_utf8(pem).map_err(|e| e.to_string())?;
    let bundle = Bundle::parse_signing(text).map_err(|e| format!("shared ephemeral key: {e}"))?;
    bundle
        .into_keys()
        .into_iter()
        .next()
        .ok_or_else(|| "shared ephemeral key is empty".to_owned())
}

#[derive(Default)]
struct SignedHeadersRoot {
    plugin: Option<Rc<Plugin>>,
    /// Set instead of `plugin` when this root is the nonce producer (a
    /// singleton `WasmService` on the main thread, see `nonce_queue`).
    nonce_producer: Option<NonceProducer>,
    /// The tick period last set on the host, if any.
    tick: Option<std::time::Duration>,
}

impl Context for SignedHeadersRoot {}

impl SignedHeadersRoot {
    /// Asks the host for ticks every `period`, unless that is already set.
    fn set_tick(&mut self, period: std::time::Duration) -> Result<(), Status> {
        if self.tick != Some(period) {
            hostcalls::set_tick_period(period)?;
            self.tick = Some(period);
        }
        Ok(())
    }

    /// [`Self::set_tick`] for a worker, where a missing timer only costs
    /// precomputed nonces.
    fn set_worker_tick(&mut self, period: std::time::Duration) {
        if let Err(status) = self.set_tick(period) {
            log::warn!("signed-headers: no timer for precomputing nonces: {status:?}");
        }
    }

    /// [`Self::set_tick`] for the running producer: without a new period
    /// it keeps the one it had (a 1 s tick still tops the queue up).
    fn set_producer_tick(&mut self, period: std::time::Duration) {
        if let Err(status) = self.set_tick(period) {
            log::warn!("signed-headers: nonce producer: cannot set the timer: {status:?}");
        }
    }

    fn start_nonce_producer(&mut self, settings: ProducerSettings) -> bool {
        match NonceProducer::start(settings) {
            Ok(producer) => {
                self.plugin = None;
                self.nonce_producer = Some(producer);
                if let Err(status) = self.set_tick(NONCE_TICK) {
                    log::error!("signed-headers: nonce producer: no timer: {status:?}");
                    return false;
                }
                true
            }
            Err(error) => {
                log::error!("signed-headers: nonce producer: {error}");
                false
            }
        }
    }
}

impl RootContext for SignedHeadersRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let configuration =
            match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX) {
                Ok(bytes) => bytes.unwrap_or_default(),
                Err(status) => {
                    log::error!("signed-headers: cannot read the plugin configuration: {status:?}");
                    return false;
                }
            };
        // Both may hold the private keys: wiped once parsed.
        let configuration = zeroize::Zeroizing::new(configuration);
        match ProducerSettings::parse(&configuration) {
            Ok(None) => {}
            Ok(Some(settings)) => return self.start_nonce_producer(settings),
            Err(error) => {
                log::error!("signed-headers: invalid configuration: {error}");
                return false;
            }
        }
        let environment_key = std::env::var(config::SIGNING_KEY_ENV)
            .ok()
            .map(zeroize::Zeroizing::new);
        let kek = std::env::var(signed_headers_keys::KEK_ENV)
            .ok()
            .map(zeroize::Zeroizing::new);
        let environment = config::Environment {
            signing_key: environment_key.as_deref().map(String::as_str),
            kek: kek.as_deref().map(String::as_str),
        };
        let plugin = Settings::parse(&configuration, environment)
            .map_err(|e| e.to_string())
            .and_then(|settings| Plugin::new(settings, &configuration));
        match plugin {
            Ok(plugin) => {
                inherit_tokens(&plugin);
                self.plugin = Some(Rc::new(plugin));
                self.set_worker_tick(NONCE_TICK);
                true
            }
            Err(error) => {
                log::error!("signed-headers: invalid configuration: {error}");
                false
            }
        }
    }

    /// The producer fills the nonce queue. A worker takes a batch from that
    /// queue when it runs low, else precomputes one nonce itself, so that no
    /// tick holds it up for longer than one signature would.
    fn on_tick(&mut self) {
        if let Some(producer) = &mut self.nonce_producer {
            let period = if producer.on_tick(NONCE_TICK) {
                IDLE_TICK
            } else {
                NONCE_TICK
            };
            self.set_producer_tick(period);
            return;
        }
        let Some(plugin) = &self.plugin else {
            return;
        };
        plugin.nonce_queue.on_tick();
        let Ok(mut tokens) = plugin.tokens.try_borrow_mut() else {
            return;
        };
        // The main thread's nonces first: they cost this worker nothing.
        let queued = if tokens.wants_nonces() {
            plugin.nonce_queue.take()
        } else {
            Vec::new()
        };
        if queued.is_empty() {
            tokens.refill_nonces(NONCES_PER_TICK);
        } else {
            tokens.add_nonces(queued);
        }
        let period = if tokens.nonces_full() {
            IDLE_TICK
        } else {
            NONCE_TICK
        };
        drop(tokens);
        self.set_worker_tick(period);
    }

    /// A worker took nonces from the producer's queue: top it up at the
    /// 10 ms tick again.
    fn on_queue_ready(&mut self, queue_id: u32) {
        let Some(producer) = &mut self.nonce_producer else {
            return;
        };
        if producer.on_wake(queue_id) {
            self.set_producer_tick(NONCE_TICK);
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(SignedHeadersHttp {
            plugin: self.plugin.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct SignedHeadersHttp {
    /// `None` only if Envoy ran the filter without a successful
    /// configuration; such requests fail closed.
    plugin: Option<Rc<Plugin>>,
}

impl Context for SignedHeadersHttp {}

impl HttpContext for SignedHeadersHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(plugin) = self.plugin.clone() else {
            return send(&plain_response(
                500,
                "signed-headers: filter not configured\n",
            ));
        };
        match handle_request(&plugin) {
            Ok(Some(response)) => send(&response),
            Ok(None) => Action::Continue,
            Err(error) => {
                log::error!("signed-headers: {error}");
                send(&plain_response(
                    500,
                    "signed-headers: cannot sign the request\n",
                ))
            }
        }
    }

    /// Trailers reach the upstream too (HTTP/2 upstreams take them, and
    /// HTTP/1.1 with `enable_trailers`): the same names go.
    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        let Some(plugin) = &self.plugin else {
            return Action::Continue;
        };
        let stripped = read_header_map(MapType::HttpRequestTrailers, "request trailers").and_then(
            |serialized| {
                let trailers = parse_header_map(&serialized, "request trailers")?;
                strip(
                    MapType::HttpRequestTrailers,
                    &plugin.settings.strip,
                    &trailers,
                )
            },
        );
        match stripped {
            Ok(()) => Action::Continue,
            Err(error) => {
                log::error!("signed-headers: {error}");
                send(&plain_response(
                    500,
                    "signed-headers: cannot strip the request trailers\n",
                ))
            }
        }
    }
}

/// The host's serialized `map` (`what` names it in the error).
fn read_header_map(map: MapType, what: &str) -> Result<Box<[u8]>, String> {
    header_host::serialized_header_map(map)
        .map_err(|status| format!("cannot read the {what}: host status {status}"))
}

fn parse_header_map<'a>(serialized: &'a [u8], what: &str) -> Result<Vec<HeaderPair<'a>>, String> {
    header_map::parse(serialized)
        .map_err(|malformed| format!("cannot read the {what}: {malformed}"))
}

/// A request header's value as text, borrowed unless it is not UTF-8.
fn header_text<'a>(headers: &[HeaderPair<'a>], name: &str) -> Option<Cow<'a, str>> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, value)| String::from_utf8_lossy(value))
}

/// Acts on one request: `Some(response)` to answer locally, `None` to forward.
fn handle_request(plugin: &Plugin) -> Result<Option<LocalResponse>, String> {
    let settings = &plugin.settings;
    let serialized_headers = read_header_map(MapType::HttpRequestHeaders, "request headers")?;
    let headers = parse_header_map(&serialized_headers, "request headers")?;

    let path = header_text(&headers, ":path").unwrap_or_default();
    let path = jwks_endpoint::path_only(&path);
    let authority = header_text(&headers, ":authority").unwrap_or_default();

    // The route's settings pick the signing scope, and so the JWKS too.
    let effective = match route_selection(settings) {
        Ok(selection) => route_settings::Effective::new(settings, selection),
        Err(unknown) => {
            plugin.unknown_route_settings_logged.warn(|| {
                format!(
                    "signed-headers: 500: a route names {unknown} under route_metadata_namespace, which route_settings does not define; such requests are refused, never signed with other settings. Logged once per configuration."
                )
            });
            log::debug!("signed-headers: 500: unknown route settings {unknown}");
            return Ok(Some(plain_response(
                500,
                "signed-headers: this route names settings the filter does not have\n",
            )));
        }
    };
    let keys = plugin
        .scoped
        .get(effective.key as usize)
        .ok_or("no keys for these route settings")?;
    if path == settings.jwks_path || plugin.discovery.answers(path) {
        return Ok(Some(serve_document(
            plugin, keys, path, &headers, &authority,
        )));
    }

    // Strip before anything reads the request further.
    strip(MapType::HttpRequestHeaders, &settings.strip, &headers)?;
    strip_cookies(&settings.strip_cookies, &headers)?;

    let now = hostcalls::get_current_time()
        .map_err(|status| format!("cannot read the clock: {status:?}"))?
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "the host clock is before 1970".to_owned())?
        .as_secs();

    // The request's dynamic metadata, read once and whole, with its types:
    // it keys the request cache and answers every metadata claim.
    let metadata_bytes = if plugin.reads_metadata {
        hostcalls::get_property(vec!["metadata"])
            .map_err(|status| format!("cannot read the dynamic metadata: {status:?}"))?
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let metadata = data::Metadata::new(&metadata_bytes);
    let first_source = settings.identity.first();

    // The same claims on the same authority as an earlier request: the same
    // headers, while its token may be reused.
    let request_key = match first_source {
        Some(source) if settings.token_cache_entries > 0 => {
            request_key(source, metadata, &authority, effective.key)
        }
        _ => None,
    };
    if let Some(key) = &request_key
        && let Some((cached, _)) = plugin
            .requests
            .try_borrow()
            .map_err(|_| "request cache busy".to_owned())?
            .get(key.as_slice(), now)
    {
        return set_headers(cached).map(|()| None);
    }
    plugin.metrics.count_identity_read();

    // Before anything is signed: an empty or doubled Host would be signed
    // as the audience (RFC 9110 asks for a 400 either way).
    let host = if effective.names_request_host(&settings.issuer) {
        match authority::request_host(&authority) {
            Ok(host) => host,
            Err(invalid) => {
                log::debug!("signed-headers: 400: {invalid}");
                return Ok(Some(plain_response(
                    400,
                    &format!("signed-headers: {invalid}\n"),
                )));
            }
        }
    } else {
        String::new()
    };

    let identity = identity::read_indexed(
        &settings.identity,
        &identity::Inputs {
            metadata,
            connection: |attribute: &str| {
                hostcalls::get_property(vec!["connection", attribute])
                    .ok()
                    .flatten()
            },
        },
    );
    let (source_index, mut identity) = match (identity, effective.unauthenticated) {
        (Some(found), _) => found,
        (None, UnauthenticatedPolicy::Deny) => {
            let mut response = plain_response(401, "signed-headers: authentication required\n");
            for challenge in &settings.challenges {
                response
                    .headers
                    .push(("www-authenticate", challenge.clone()));
            }
            return Ok(Some(response));
        }
        (None, UnauthenticatedPolicy::Anonymous) => (usize::MAX, Identity::anonymous()),
        (None, UnauthenticatedPolicy::Pass) => return Ok(None),
    };
    effective.groups.apply(&mut identity);
    effective.apply_extra_claims(&mut identity);

    let issuer = assertion::issuer(&settings.issuer, &host);
    let audience = match effective.audience {
        Some(fixed) => fixed.clone(),
        None => Audience::One(host),
    };
    let token = plugin
        .tokens
        .try_borrow_mut()
        .map_err(|_| "token cache busy".to_owned())?
        .token_in_scope(
            &assertion::Signing {
                scope: &keys.scope,
                signer: &keys.signer,
            },
            &identity,
            issuer,
            audience,
            now,
            &HostSharedData {
                nonce_queue: &plugin.nonce_queue,
            },
        );
    let token = match token {
        Ok(token) => token,
        // Nothing the upstream would accept can be signed for this user.
        Err(too_large @ MintError::TooLarge { .. }) => {
            plugin.too_large_logged.warn(|| {
                format!("signed-headers: 431: {too_large}; such requests are refused before reaching the upstream. Logged once per configuration.")
            });
            return Ok(Some(plain_response(
                431,
                "signed-headers: the user's identity is too large for the assertion header\n",
            )));
        }
        Err(other) => return Err(other.to_string()),
    };
    plugin.metrics.count(token.source);
    let minted = &token.minted;
    if minted.groups_dropped() {
        plugin.dropped_groups_logged.warn(|| {
            format!(
                "signed-headers: groups dropped from an assertion (groups_truncated set): {} groups would make the {} header longer than max_header_bytes ({}); narrow them with groups.allow or groups.allow_prefixes. Logged once per configuration.",
                minted.dropped_groups, settings.header, settings.max_header_bytes
            )
        });
    }
    if !minted.dropped_claims.is_empty() {
        plugin.dropped_claims_logged.warn(|| {
            format!(
                "signed-headers: claims dropped from an assertion (claims_truncated set): a user's email, name or sid would make the {} header longer than max_header_bytes ({}). Logged once per configuration.",
                settings.header, settings.max_header_bytes
            )
        });
    }
    let claim_headers: HeadersToSet = effective
        .claim_headers
        .iter()
        .filter_map(|claim_header| {
            let value = claim_header.value(&identity, minted, settings.max_header_bytes)?;
            Some((claim_header.header.clone(), value))
        })
        .collect();
    let mut to_set = vec![(settings.header.clone(), token.minted.token)];
    to_set.extend(claim_headers);
    set_headers(&to_set)?;
    // Only an identity from the first source is decided by its key alone.
    if let Some(key) = request_key
        && source_index == 0
    {
        plugin
            .requests
            .try_borrow_mut()
            .map_err(|_| "request cache busy".to_owned())?
            .insert(key, to_set, token.reuse_until, now);
    }
    Ok(None)
}

/// The answer on the JWKS path or the discovery path (the JWKS wins if
/// both are one).
fn serve_document(
    plugin: &Plugin,
    keys: &ScopedKeys,
    path: &str,
    headers: &[HeaderPair<'_>],
    authority: &str,
) -> LocalResponse {
    let settings = &plugin.settings;
    let method = header_text(headers, ":method").unwrap_or_default();
    let if_none_match = header_text(headers, "if-none-match");
    let request = DocumentRequest {
        method: &method,
        if_none_match: if_none_match.as_deref(),
        preflight: header_text(headers, "access-control-request-method").is_some(),
    };
    let max_age = settings.jwks_max_age_seconds;
    if path == settings.jwks_path {
        return jwks_endpoint::respond(&keys.published, max_age, request);
    }
    // A per-host document names the host as the issuer does: only a valid one.
    let host = if plugin.discovery.per_host() {
        match authority::request_host(authority) {
            Ok(host) => host,
            Err(invalid) => return plain_response(400, &format!("signed-headers: {invalid}\n")),
        }
    } else {
        String::new()
    };
    match plugin.discovery.document(&host) {
        Some(document) => jwks_endpoint::respond_document(
            Served {
                body: &document.body,
                etag: &document.etag,
                own_header: None,
            },
            max_age,
            request,
        ),
        None => plain_response(404, "signed-headers: no discovery document\n"),
    }
}

/// Bytes that decide a request's headers: the authority, and the claims
/// `source` maps as the request's metadata holds them.
fn request_key(
    source: &identity::Source,
    metadata: data::Metadata<'_>,
    authority: &str,
    route_settings: u32,
) -> Option<Vec<u8>> {
    let mut key = Vec::with_capacity(authority.len() + 256);
    push_field(&mut key, &route_settings.to_be_bytes());
    push_field(&mut key, authority.as_bytes());
    source.input_key(metadata, &mut key)?;
    Some(key)
}

/// The named settings the request's route (else its virtual host) picks in
/// its metadata: `Ok(None)` for the top-level ones, `Err` with what it
/// named when the configuration has no such settings. Reads nothing when
/// no settings are named in the configuration.
fn route_selection(settings: &Settings) -> Result<Option<usize>, String> {
    if settings.routes.is_empty() {
        return Ok(None);
    }
    for level in ["route_metadata", "virtual_host_metadata"] {
        // A host that cannot say which settings apply fails the request
        // rather than sign it with others.
        let metadata = hostcalls::get_property(vec!["xds", level])
            .map_err(|status| format!("(the {level} unreadable: {status:?})"))?
            .unwrap_or_default();
        match settings.routes.named_in(&metadata) {
            None => continue,
            Some(route_settings::Selection::Named(index)) => return Ok(Some(index)),
            Some(route_settings::Selection::Unknown(named)) => return Err(named),
        }
    }
    Ok(None)
}

fn set_headers(headers: &[(String, String)]) -> Result<(), String> {
    for (name, value) in headers {
        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
            .map_err(|status| format!("cannot set {name}: {status:?}"))?;
    }
    Ok(())
}

/// Removes every name of `map` (the request's headers or trailers, as read
/// into `entries`) that the strip rules select.
fn strip(
    map: MapType,
    rules: &strip::StripRules,
    entries: &[HeaderPair<'_>],
) -> Result<(), String> {
    for name in rules.select(entries.iter().map(|(name, _)| *name)) {
        hostcalls::set_map_value_bytes(map, name, None)
            .map_err(|status| format!("cannot remove {name}: {status:?}"))?;
    }
    Ok(())
}

/// Rewrites the `Cookie` header(s) without the configured cookies.
fn strip_cookies(names: &[String], headers: &[HeaderPair<'_>]) -> Result<(), String> {
    if names.is_empty() {
        return Ok(());
    }
    let cookie_headers: Vec<&[u8]> = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("cookie"))
        .map(|(_, value)| *value)
        .collect();
    let rewritten: Vec<Option<Vec<u8>>> = cookie_headers
        .iter()
        .map(|header| cookies::without_cookies(header, names))
        .collect();
    if rewritten.iter().all(Option::is_none) {
        return Ok(());
    }
    let cannot = |status| format!("cannot rewrite the cookie header: {status:?}");
    hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, "cookie", None).map_err(cannot)?;
    for (original, rewritten) in cookie_headers.iter().zip(&rewritten) {
        let kept = rewritten.as_deref().unwrap_or(original);
        if !kept.is_empty() {
            hostcalls::add_map_value_bytes(MapType::HttpRequestHeaders, "cookie", kept)
                .map_err(cannot)?;
        }
    }
    Ok(())
}

fn plain_response(status: u32, body: &str) -> LocalResponse {
    LocalResponse {
        status,
        headers: vec![("content-type", "text/plain".to_owned())],
        body: Some(body.to_owned()),
    }
}

fn send(response: &LocalResponse) -> Action {
    let headers: Vec<(&str, &str)> = response
        .headers
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    if let Err(status) = hostcalls::send_http_response(
        response.status,
        headers,
        response.body.as_deref().map(str::as_bytes),
    ) {
        log::error!("signed-headers: cannot send a local response: {status:?}");
    }
    Action::Pause
}
