//! `make bench`: what the filter costs one Envoy worker.
//!
//! Each scenario gets its own Envoy (`--concurrency 1`: one worker, so the
//! numbers are per-worker throughput, which is what signing cost limits),
//! the same build, in front of a minimal keep-alive upstream that answers a
//! fixed `200` (so the upstream is never what limits throughput; the harness's
//! JSON echo upstream is measured too, as a check). `wrk` drives it over
//! loopback for a bounded time, after a short warm-up, and only once the
//! machine is quiet: before each measurement the bench waits (bounded) for
//! the 1-minute load average to drop below a threshold, and prints it.
//!
//! Scenarios:
//! - `a`: `jwt_authn` + router, no wasm filter (baseline), with and without
//!   an IdP token;
//! - `b`: the filter with `unauthenticated: pass` and no token: it runs (strip,
//!   identity lookup) but never signs;
//! - `c`: the filter, one user, default token cache: the token is reused;
//! - `d`: the filter, one user, `token_cache_entries: 0`: every request signs;
//! - `e`: many users rotated by a wrk Lua script, cache on: fewer users than
//!   the cache holds, then more (the cache keeps what it holds and signs for
//!   the rest).
//!
//! Then the interleaved comparisons (issue 10's baselines): each pits this
//! filter against the no-op proxy-wasm filter (`noop-filter/`: reads
//! `:path`, sets one header, answers the JWKS path with a fixed body), both
//! Envoys running side by side, measured in alternating rounds (A B B A
//! A B ...) so that machine drift cancels out of the ratio:
//! - `hit`: one user, token cache hit;
//! - `jwks`: the JWKS path (the no-op answers a small fixed JSON body);
//! - `miss`: one user, `token_cache_entries: 0` (every request signs);
//! - `many`: `--concurrency 2`, many users, default caches; the filter's
//!   `tokens_signed` counter gives signatures per user.
//!
//! All with `jwt_authn`'s `jwt_cache_config` on, as the shipped configs.
//!
//! Besides wrk's throughput and latency it reads Envoy's CPU time from
//! `/proc`, so the per-request cost stays visible even when wrk and the
//! upstream share the machine's cores with Envoy.
//!
//! Environment (all optional): `BENCH_DURATION_SECONDS` (10),
//! `BENCH_WARMUP_SECONDS` (2), `BENCH_CONNECTIONS` (16), `BENCH_MAX_LOAD`
//! (0.7), `BENCH_LOAD_WAIT_SECONDS` (300), `BENCH_USERS` (1000, scenario e),
//! `BENCH_ONLY` (comma-separated scenario or comparison ids, e.g. `c,d` or
//! `hit,jwks`), `BENCH_ROUNDS` (6 per comparison side),
//! `BENCH_ROUND_SECONDS` (5), `BENCH_PIN` (1: one-worker Envoys on CPU 0,
//! wrk, the upstreams and this harness on CPU 1; 0: no pinning),
//! `BENCH_MEASURE` (`time`, or `instructions`: the comparisons only, each
//! Envoy under callgrind, instructions per request instead of timings;
//! `make bench-instructions`).

// Like the harness it drives, the bench reports failure by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use signed_headers_e2e::http::{self, Request, Response};
use signed_headers_e2e::{
    ASSERTION_HEADER, EchoUpstream, EchoedRequest, Envoy, EnvoyOptions, JWKS_PATH, LoopbackServer,
    TestIdp, noop_filter_wasm, signing_bundle,
};

/// The `Host` of every request: the filter's `iss` and `aud`.
const HOST: &str = "app.example.com";
/// The fast upstream copies the assertion it received into this response
/// header while probing (never during a measurement).
const PROBE_HEADER: &str = "x-bench-assertion";
/// wrk threads: one is plenty for one Envoy worker, and leaves the other core
/// to Envoy.
const WRK_THREADS: u32 = 1;
/// Cache capacity of the filter by default (`token_cache_entries`).
const DEFAULT_CACHE_ENTRIES: usize = 4096;

fn main() {
    let settings = Settings::from_env();
    let workdir = tempfile::Builder::new()
        .prefix("signed-headers-bench-")
        .tempdir()
        .expect("temporary directory");
    let machine = Machine::describe();
    let pem = signing_bundle().to_pem();
    let pinned = settings.pin
        && std::thread::available_parallelism().is_ok_and(|cpus| cpus.get() >= 2)
        && pin_to(std::process::id(), "1");
    let _ = PINNED.set(pinned);
    eprintln!(
        "CPU pinning: {}",
        if pinned {
            "one-worker Envoys on CPU 0; wrk, the upstreams and this harness on CPU 1 (BENCH_PIN=0 turns it off)"
        } else {
            "off"
        }
    );

    eprintln!("{}", machine.markdown());
    if settings.instructions {
        let mut counted = Vec::new();
        for comparison in comparisons(&settings, &pem) {
            if !settings.selected(comparison.id) {
                continue;
            }
            eprintln!(
                "\n== {} (instructions): {}",
                comparison.id, comparison.title
            );
            counted.push(count_comparison(&comparison, &settings, workdir.path()));
        }
        println!("{}", instructions_report(&settings, &counted));
        return;
    }

    eprintln!(
        "wrk -t{WRK_THREADS} -c{} -d{}s --latency (warm-up {}s), each measurement once the 1-minute load average is below {} (waiting at most {}s)",
        settings.connections,
        settings.duration.as_secs(),
        settings.warmup.as_secs(),
        settings.max_load,
        settings.load_wait.as_secs()
    );

    let mut results: Vec<Measured> = Vec::new();
    for scenario in scenarios(&settings, &pem) {
        if !settings.selected(scenario.id) {
            continue;
        }
        eprintln!("\n== {}: {}", scenario.id, scenario.title);
        let measured = run_scenario(&scenario, &settings, workdir.path());
        eprintln!("   {}", measured.one_line());
        results.push(measured);
    }

    let mut compared: Vec<Compared> = Vec::new();
    for comparison in comparisons(&settings, &pem) {
        if !settings.selected(comparison.id) {
            continue;
        }
        eprintln!("\n== {}: {}", comparison.id, comparison.title);
        let result = run_comparison(&comparison, &settings, workdir.path());
        eprintln!("   {}", result.one_line());
        compared.push(result);
    }

    let mut report = report(&machine, &settings, &results);
    if !compared.is_empty() {
        report.push_str(&comparison_report(&settings, &compared));
    }
    println!("{report}");
}

// ---------------------------------------------------------------- settings

struct Settings {
    duration: Duration,
    warmup: Duration,
    connections: u32,
    max_load: f64,
    load_wait: Duration,
    users: usize,
    only: Option<Vec<String>>,
    rounds: usize,
    round: Duration,
    /// One-worker Envoys on CPU 0, wrk and the upstreams on CPU 1.
    pin: bool,
    /// Count instructions under callgrind instead of timing (only the
    /// comparisons).
    instructions: bool,
}

impl Settings {
    fn from_env() -> Self {
        Self {
            duration: Duration::from_secs(env_number("BENCH_DURATION_SECONDS", 10)),
            warmup: Duration::from_secs(env_number("BENCH_WARMUP_SECONDS", 2)),
            connections: env_number("BENCH_CONNECTIONS", 16),
            max_load: env_number("BENCH_MAX_LOAD", 0.7),
            load_wait: Duration::from_secs(env_number("BENCH_LOAD_WAIT_SECONDS", 300)),
            users: env_number("BENCH_USERS", 1000),
            rounds: env_number("BENCH_ROUNDS", 6),
            round: Duration::from_secs(env_number("BENCH_ROUND_SECONDS", 5)),
            pin: env_number("BENCH_PIN", 1) == 1,
            instructions: std::env::var("BENCH_MEASURE").is_ok_and(|measure| {
                match measure.as_str() {
                    "instructions" => true,
                    "time" => false,
                    other => panic!("BENCH_MEASURE={other:?}: `time` or `instructions`"),
                }
            }),
            only: std::env::var("BENCH_ONLY").ok().map(|list| {
                list.split(',')
                    .map(|id| id.trim().to_owned())
                    .filter(|id| !id.is_empty())
                    .collect()
            }),
        }
    }

    fn selected(&self, id: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == id))
    }
}

/// Sets the CPU affinity of every thread of process `pid` to `cpus` (a
/// `taskset` list); false when it cannot (no `taskset`, one CPU).
fn pin_to(pid: u32, cpus: &str) -> bool {
    Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether this run pins (see [`pin_envoy`]); decided once in `main`.
static PINNED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// A one-worker Envoy onto CPU 0, away from wrk and the upstreams (on CPU
/// 1 since `main`): which core a worker shared with wrk otherwise changed
/// from one Envoy to the next, enough to skew two identical Envoys by 10 %.
fn pin_envoy(envoy: &Envoy) {
    if PINNED.get().copied().unwrap_or(false) && envoy.concurrency() == 1 {
        assert!(pin_to(envoy.pid(), "0"), "cannot pin Envoy to CPU 0");
    }
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("${name} = {text:?} is not a number")),
        Err(_) => default,
    }
}

// ---------------------------------------------------------------- scenarios

/// What drives the requests.
enum Load {
    /// No `Authorization` header.
    Anonymous,
    /// One user's IdP token on every request.
    OneUser,
    /// `n` users' IdP tokens, rotated by a wrk Lua script.
    Users(usize),
}

/// Where Envoy routes, or what wrk hits directly.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UpstreamKind {
    /// The bench's fixed-response keep-alive server.
    Fast,
    /// The harness's JSON echo server.
    Echo,
}

/// What a probe request through Envoy must show before measuring.
#[derive(Clone, Copy)]
enum Expect {
    /// No assertion reaches the upstream.
    NoAssertion,
    /// Two requests of the same user carry the same assertion.
    Reused,
    /// Two requests of the same user carry different assertions.
    Fresh,
}

struct Scenario {
    id: &'static str,
    title: String,
    /// `None`: wrk hits the upstream directly, no Envoy.
    envoy: Option<EnvoyOptions>,
    upstream: UpstreamKind,
    load: Load,
    expect: Expect,
}

fn scenarios(settings: &Settings, pem: &str) -> Vec<Scenario> {
    let filter = |extra: Value| {
        let mut config = json!({"signing_key": pem});
        if let (Value::Object(config), Value::Object(extra)) = (&mut config, extra) {
            config.extend(extra);
        }
        EnvoyOptions::with_filter_config(&config)
            .concurrency(1)
            .log_level("warn")
    };
    let baseline = || {
        EnvoyOptions::without_filter()
            .concurrency(1)
            .log_level("warn")
    };
    let users = settings.users;
    let too_many = DEFAULT_CACHE_ENTRIES + DEFAULT_CACHE_ENTRIES / 4;
    vec![
        Scenario {
            id: "up-fast",
            title: "upstream check: wrk straight to the bench's fixed-response upstream".into(),
            envoy: None,
            upstream: UpstreamKind::Fast,
            load: Load::Anonymous,
            expect: Expect::NoAssertion,
        },
        Scenario {
            id: "up-echo",
            title: "upstream check: wrk straight to the harness's JSON echo upstream".into(),
            envoy: None,
            upstream: UpstreamKind::Echo,
            load: Load::Anonymous,
            expect: Expect::NoAssertion,
        },
        Scenario {
            id: "a-echo",
            title: "upstream check: baseline a, but routed to the harness's echo upstream".into(),
            envoy: Some(baseline()),
            upstream: UpstreamKind::Echo,
            load: Load::OneUser,
            expect: Expect::NoAssertion,
        },
        Scenario {
            id: "a0",
            title: "baseline: jwt_authn + router, no wasm filter, no token".into(),
            envoy: Some(baseline()),
            upstream: UpstreamKind::Fast,
            load: Load::Anonymous,
            expect: Expect::NoAssertion,
        },
        Scenario {
            id: "a",
            title: "baseline: jwt_authn (verifies the IdP token) + router, no wasm filter".into(),
            envoy: Some(baseline()),
            upstream: UpstreamKind::Fast,
            load: Load::OneUser,
            expect: Expect::NoAssertion,
        },
        Scenario {
            id: "b",
            title: "filter, unauthenticated: pass, no token (strip + identity lookup, no signing)"
                .into(),
            envoy: Some(filter(json!({"unauthenticated": "pass"}))),
            upstream: UpstreamKind::Fast,
            load: Load::Anonymous,
            expect: Expect::NoAssertion,
        },
        Scenario {
            id: "c",
            title: "filter, one user, default token cache (token reused)".into(),
            envoy: Some(filter(json!({}))),
            upstream: UpstreamKind::Fast,
            load: Load::OneUser,
            expect: Expect::Reused,
        },
        Scenario {
            id: "d",
            title: "filter, one user, token_cache_entries: 0 (signs every request)".into(),
            envoy: Some(filter(json!({"token_cache_entries": 0}))),
            upstream: UpstreamKind::Fast,
            load: Load::OneUser,
            expect: Expect::Fresh,
        },
        Scenario {
            id: "e",
            title: format!("filter, {users} users in rotation, default token cache"),
            envoy: Some(filter(json!({}))),
            upstream: UpstreamKind::Fast,
            load: Load::Users(users),
            expect: Expect::Reused,
        },
        Scenario {
            id: "e-over",
            title: format!(
                "filter, {too_many} users in rotation, default token cache ({DEFAULT_CACHE_ENTRIES} entries: more users than it holds)"
            ),
            envoy: Some(filter(json!({}))),
            upstream: UpstreamKind::Fast,
            load: Load::Users(too_many),
            expect: Expect::Reused,
        },
    ]
}

// ---------------------------------------------------------------- one run

struct Measured {
    id: &'static str,
    title: String,
    wrk: WrkResult,
    /// Envoy's CPU time (all threads) over the measurement, if Envoy ran.
    envoy_cpu: Option<Duration>,
    /// The bench process's CPU time (the upstream's threads) over the measurement.
    upstream_cpu: Duration,
    load_before: f64,
    waited: Duration,
    quiet: bool,
}

impl Measured {
    fn rps(&self) -> f64 {
        self.wrk.rps()
    }

    fn per_request(&self, cpu: Duration) -> f64 {
        if self.wrk.requests == 0 {
            return f64::NAN;
        }
        cpu.as_secs_f64() * 1e6 / self.wrk.requests as f64
    }

    fn envoy_us_per_request(&self) -> Option<f64> {
        self.envoy_cpu.map(|cpu| self.per_request(cpu))
    }

    fn envoy_cores(&self) -> Option<f64> {
        self.envoy_cpu
            .map(|cpu| cpu.as_secs_f64() / self.wrk.duration.as_secs_f64())
    }

    fn one_line(&self) -> String {
        format!(
            "{:.0} req/s, mean {}, p99 {}, Envoy CPU {} per request ({} cores), upstream CPU {:.1} µs per request, load {:.2}{}",
            self.rps(),
            micros(self.wrk.mean_us),
            micros(self.wrk.p99_us),
            self.envoy_us_per_request()
                .map_or("-".to_owned(), |us| format!("{us:.1} µs")),
            self.envoy_cores()
                .map_or("-".to_owned(), |c| format!("{c:.2}")),
            self.per_request(self.upstream_cpu),
            self.load_before,
            self.wrk.error_note(),
        )
    }
}

fn run_scenario(scenario: &Scenario, settings: &Settings, workdir: &Path) -> Measured {
    let fast = FastUpstream::start();
    let echo = EchoUpstream::start();
    let upstream = match scenario.upstream {
        UpstreamKind::Fast => fast.address(),
        UpstreamKind::Echo => echo.address(),
    };
    let idp = TestIdp::new();
    let envoy = scenario
        .envoy
        .as_ref()
        .map(|options| Envoy::start(options, upstream, &idp));
    if let Some(envoy) = &envoy {
        pin_envoy(envoy);
    }
    let target = envoy
        .as_ref()
        .map_or(upstream, |envoy| envoy.listener_address());

    let (load_before, waited, quiet) = wait_for_quiet_machine(settings);

    // Minted after the wait, so no token is near its expiry during the run.
    let tokens: Vec<String> = match scenario.load {
        Load::Anonymous => Vec::new(),
        Load::OneUser => vec![idp.token_for("alice")],
        Load::Users(n) => (0..n)
            .map(|i| idp.token_for(&format!("user-{i:05}")))
            .collect(),
    };
    if envoy.is_some() {
        probe(scenario, &fast, target, &tokens);
    }

    let script = wrk_script(workdir, scenario.id, &scenario.load, &tokens);
    let mut wrk = WrkCommand {
        target,
        path: "/",
        connections: settings.connections,
        duration: settings.warmup,
        script,
        bearer: match scenario.load {
            Load::OneUser => tokens.first().cloned(),
            Load::Anonymous | Load::Users(_) => None,
        },
    };
    if !settings.warmup.is_zero() {
        wrk.run();
    }
    wrk.duration = settings.duration;
    let envoy_before = envoy.as_ref().map(|envoy| process_cpu(envoy.pid()));
    let own_before = process_cpu(std::process::id());
    let result = wrk.run();
    let upstream_cpu = process_cpu(std::process::id()).saturating_sub(own_before);
    let envoy_cpu = envoy
        .as_ref()
        .zip(envoy_before)
        .map(|(envoy, before)| process_cpu(envoy.pid()).saturating_sub(before));

    Measured {
        id: scenario.id,
        title: scenario.title.clone(),
        wrk: result,
        envoy_cpu,
        upstream_cpu,
        load_before,
        waited,
        quiet,
    }
}

/// Requests through Envoy, before measuring, proving the scenario does what
/// it claims (an assertion or none; reused or fresh).
fn probe(scenario: &Scenario, fast: &FastUpstream, envoy: SocketAddr, tokens: &[String]) {
    let send = |token: Option<&String>| -> Response {
        let mut request = Request::get("/").host(HOST);
        if let Some(token) = token {
            request = request.bearer(token);
        }
        let response = http::send(envoy, &request);
        assert_eq!(
            response.status,
            200,
            "{}: probe request failed: {:?} {}",
            scenario.id,
            response.headers,
            response.text()
        );
        response
    };
    let assertion = |response: &Response| -> Option<String> {
        match scenario.upstream {
            UpstreamKind::Fast => response.header(PROBE_HEADER).map(str::to_owned),
            UpstreamKind::Echo => EchoedRequest::from_response(response)
                .header_values(ASSERTION_HEADER)
                .first()
                .map(|v| (*v).to_owned()),
        }
    };

    fast.set_probing(true);
    let first_user = tokens.first();
    let first = assertion(&send(first_user));
    let second = assertion(&send(first_user));
    let other_user = tokens.get(1).map(|token| assertion(&send(Some(token))));
    fast.set_probing(false);

    match scenario.expect {
        Expect::NoAssertion => assert!(
            first.is_none() && second.is_none(),
            "{}: expected no assertion upstream, got {first:?}",
            scenario.id
        ),
        Expect::Reused | Expect::Fresh => {
            let (Some(first), Some(second)) = (first, second) else {
                panic!("{}: the upstream received no assertion", scenario.id);
            };
            let reused = first == second;
            let want_reused = matches!(scenario.expect, Expect::Reused);
            assert_eq!(
                reused, want_reused,
                "{}: two requests of one user: reused = {reused}, expected {want_reused}",
                scenario.id
            );
            if let Some(other) = other_user {
                assert!(
                    other.is_some_and(|other| other != first),
                    "{}: a second user must get an assertion of their own",
                    scenario.id
                );
            }
        }
    }
}

// ---------------------------------------------------------------- load average

fn load_average() -> f64 {
    let text = std::fs::read_to_string("/proc/loadavg").expect("read /proc/loadavg");
    text.split_whitespace()
        .next()
        .and_then(|first| first.parse().ok())
        .unwrap_or_else(|| panic!("unexpected /proc/loadavg: {text:?}"))
}

/// Waits until the 1-minute load average is below the threshold, at most
/// `settings.load_wait`. Returns the load average when it stopped waiting,
/// how long it waited, and whether the machine was quiet.
fn wait_for_quiet_machine(settings: &Settings) -> (f64, Duration, bool) {
    let start = Instant::now();
    let mut last_report = start;
    loop {
        let load = load_average();
        if load < settings.max_load {
            return (load, start.elapsed(), true);
        }
        if start.elapsed() >= settings.load_wait {
            eprintln!(
                "   load average still {load:.2} after {}s: measuring anyway (marked in the results)",
                start.elapsed().as_secs()
            );
            return (load, start.elapsed(), false);
        }
        if last_report.elapsed() >= Duration::from_secs(15) || last_report == start {
            eprintln!(
                "   waiting for the load average ({load:.2}) to drop below {}",
                settings.max_load
            );
            last_report = Instant::now();
        }
        thread::sleep(Duration::from_secs(2));
    }
}

// ---------------------------------------------------------------- CPU time

/// User + system CPU time of a process (all its threads), from `/proc`.
fn process_cpu(pid: u32) -> Duration {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    // Fields after the command name (which may contain spaces) in parentheses:
    // state is field 3, utime 14, stime 15.
    let after_name = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("unexpected {path}: {text:?}"));
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> u64 {
        fields
            .get(index)
            .and_then(|f| f.parse().ok())
            .unwrap_or_else(|| panic!("unexpected {path}: {text:?}"))
    };
    let total = ticks(11) + ticks(12);
    Duration::from_secs_f64(total as f64 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

// ---------------------------------------------------------------- wrk

struct WrkCommand {
    target: SocketAddr,
    /// The request path (`/`, or the JWKS path).
    path: &'static str,
    connections: u32,
    duration: Duration,
    script: PathBuf,
    bearer: Option<String>,
}

impl WrkCommand {
    fn run(&self) -> WrkResult {
        let mut command = Command::new("wrk");
        command
            .arg(format!("-t{WRK_THREADS}"))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.duration.as_secs().max(1)))
            .args(["--timeout", "5s", "--latency"])
            .arg("--script")
            .arg(&self.script)
            .args(["-H", &format!("Host: {HOST}")]);
        if let Some(token) = &self.bearer {
            command.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        command.arg(format!("http://{}{}", self.target, self.path));
        let output = command.output().unwrap_or_else(|e| {
            panic!(
                "cannot run wrk ({e}): install it (`apt-get install -y wrk`) or run `make bench`"
            )
        });
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "wrk failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        WrkResult::parse(&stdout)
            .unwrap_or_else(|| panic!("no BENCH_RESULT line in wrk's output:\n{stdout}"))
    }
}

/// wrk's summary, as printed by the `done` hook of [`wrk_script`].
struct WrkResult {
    requests: u64,
    duration: Duration,
    mean_us: f64,
    p50_us: f64,
    p99_us: f64,
    /// Responses other than 2xx/3xx.
    status_errors: u64,
    /// Connect, read, write and timeout errors.
    socket_errors: u64,
}

impl WrkResult {
    fn parse(output: &str) -> Option<Self> {
        let line = output
            .lines()
            .find_map(|line| line.strip_prefix("BENCH_RESULT "))?;
        let field = |name: &str| -> Option<f64> {
            line.split_whitespace()
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))?
                .parse()
                .ok()
        };
        let count = |name: &str| field(name).map(|v| v as u64);
        Some(Self {
            requests: count("requests")?,
            duration: Duration::from_micros(count("duration_us")?),
            mean_us: field("mean_us")?,
            p50_us: field("p50_us")?,
            p99_us: field("p99_us")?,
            status_errors: count("status")?,
            socket_errors: count("connect")? + count("read")? + count("write")? + count("timeout")?,
        })
    }

    fn rps(&self) -> f64 {
        self.requests as f64 / self.duration.as_secs_f64()
    }

    fn error_note(&self) -> String {
        let mut note = String::new();
        if self.status_errors > 0 {
            let _ = write!(note, ", {} non-2xx responses", self.status_errors);
        }
        if self.socket_errors > 0 {
            let _ = write!(note, ", {} socket errors", self.socket_errors);
        }
        note
    }
}

/// The wrk Lua script of a scenario: a `done` hook printing one
/// machine-readable line and, for many users, a `request` hook rotating
/// among pre-built requests (one per user's IdP token).
fn wrk_script(workdir: &Path, id: &str, load: &Load, tokens: &[String]) -> PathBuf {
    let mut script = String::new();
    if let Load::Users(_) = load {
        let token_file = workdir.join(format!("{id}-tokens.txt"));
        std::fs::write(&token_file, tokens.join("\n") + "\n").expect("write the token file");
        let _ = write!(
            script,
            r#"local requests = {{}}
local next_request = 0

init = function(args)
  for token in io.lines([==[{}]==]) do
    local headers = {{}}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    headers["Authorization"] = "Bearer " .. token
    requests[#requests + 1] = wrk.format(nil, nil, headers)
  end
end

request = function()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
"#,
            token_file.display()
        );
    }
    script.push_str(
        r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d mean_us=%.1f p50_us=%d p99_us=%d connect=%d read=%d write=%d timeout=%d status=%d\n",
    summary.requests, summary.duration, latency.mean,
    latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
"#,
    );
    let path = workdir.join(format!("{id}.lua"));
    std::fs::write(&path, script).expect("write the wrk script");
    path
}

// ---------------------------------------------------------------- upstream

/// The upstream for measurements: HTTP/1.1 keep-alive, one thread per
/// connection (Envoy pools a handful), a fixed `200 ok` for every request,
/// no parsing beyond finding where each request ends. While probing it
/// copies the assertion header it received into [`PROBE_HEADER`].
struct FastUpstream {
    server: LoopbackServer,
    shared: Arc<FastShared>,
}

#[derive(Default)]
struct FastShared {
    probing: AtomicBool,
}

const FIXED_RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\nok\n";

impl FastUpstream {
    fn start() -> Self {
        let shared = Arc::new(FastShared::default());
        let connection_shared = Arc::clone(&shared);
        let server = LoopbackServer::start("bench-upstream", move |stream| {
            serve_fixed(stream, &connection_shared);
        });
        Self { server, shared }
    }

    fn address(&self) -> SocketAddr {
        self.server.address()
    }

    fn set_probing(&self, on: bool) {
        self.shared.probing.store(on, Ordering::SeqCst);
    }
}

fn serve_fixed(mut stream: TcpStream, shared: &FastShared) {
    let _ = stream.set_nodelay(true);
    let mut buffer: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = [0_u8; 16 * 1024];
    loop {
        // One request: its head, then as many body bytes as it declares.
        let head_end = loop {
            if let Some(end) = find(&buffer, b"\r\n\r\n") {
                break end + 4;
            }
            if buffer.len() > 1 << 20 {
                return;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
        };
        let head = String::from_utf8_lossy(buffer.get(..head_end).unwrap_or_default()).into_owned();
        let request_end = head_end + content_length(&head);
        while buffer.len() < request_end {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
        }
        buffer.drain(..request_end);

        let written = if shared.probing.load(Ordering::Relaxed) {
            let assertion = header_value(&head, ASSERTION_HEADER);
            let extra = assertion.map_or(String::new(), |value| {
                format!("{PROBE_HEADER}: {value}\r\n")
            });
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n{extra}\r\nok\n"
            );
            stream.write_all(response.as_bytes())
        } else {
            stream.write_all(FIXED_RESPONSE)
        };
        if written.is_err() {
            return;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, value) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn content_length(head: &str) -> usize {
    header_value(head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------- machine

struct Machine {
    cpus: usize,
    cpu_model: String,
    kernel: String,
    envoy_version: String,
    wrk_version: String,
}

impl Machine {
    fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let envoy = signed_headers_e2e::envoy_binary();
        let envoy_version = command_text(Command::new(&envoy).arg("--version"))
            .split_once("version:")
            .map(|(_, version)| version.trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let wrk_version = command_text(Command::new("wrk").arg("-v"))
            .lines()
            .next()
            .unwrap_or("unknown")
            .trim()
            .to_owned();
        Self {
            cpus: thread::available_parallelism().map_or(0, usize::from),
            cpu_model,
            kernel: command_text(Command::new("uname").arg("-r"))
                .trim()
                .to_owned(),
            envoy_version,
            wrk_version,
        }
    }

    fn markdown(&self) -> String {
        format!(
            "- CPUs (nproc): {}\n- CPU model: {}\n- kernel: {}\n- Envoy: {}\n- wrk: {}",
            self.cpus, self.cpu_model, self.kernel, self.envoy_version, self.wrk_version
        )
    }
}

/// A command's stdout and stderr (wrk -v exits non-zero), or empty.
fn command_text(command: &mut Command) -> String {
    command.output().map_or(String::new(), |out| {
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        text
    })
}

// ---------------------------------------------------------------- report

fn micros(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn report(machine: &Machine, settings: &Settings, results: &[Measured]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Machine\n\n{}\n", machine.markdown());
    let _ = writeln!(
        out,
        "Envoy `--concurrency 1`; `wrk -t{WRK_THREADS} -c{} -d{}s --latency` on loopback after a {}s warm-up; \
         each measurement started once the 1-minute load average was below {} (or after {}s).\n",
        settings.connections,
        settings.duration.as_secs(),
        settings.warmup.as_secs(),
        settings.max_load,
        settings.load_wait.as_secs()
    );

    let (checks, main): (Vec<&Measured>, Vec<&Measured>) = results
        .iter()
        .partition(|m| m.id.starts_with("up-") || m.id.ends_with("-echo"));

    if !main.is_empty() {
        let _ = writeln!(out, "## Results\n");
        let _ = writeln!(
            out,
            "| scenario | requests/s | mean latency | p50 | p99 | Envoy CPU per request | Envoy CPU (cores) | load avg before |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for m in &main {
            let _ = writeln!(
                out,
                "| {} — {}{} | {:.0} | {} | {} | {} | {} | {} | {:.2}{} |",
                m.id,
                m.title,
                m.wrk.error_note(),
                m.rps(),
                micros(m.wrk.mean_us),
                micros(m.wrk.p50_us),
                micros(m.wrk.p99_us),
                m.envoy_us_per_request()
                    .map_or("-".to_owned(), |us| format!("{us:.1} µs")),
                m.envoy_cores()
                    .map_or("-".to_owned(), |c| format!("{c:.2}")),
                m.load_before,
                if m.quiet {
                    String::new()
                } else {
                    format!(" (not quiet after {}s)", m.waited.as_secs())
                },
            );
        }
        let _ = writeln!(out);
    }

    let by_id = |id: &str| results.iter().find(|m| m.id == id);
    if let (Some(c), Some(d)) = (by_id("c"), by_id("d")) {
        let wall = (1.0 / d.rps() - 1.0 / c.rps()) * 1e6;
        let _ = write!(
            out,
            "Signing cost per request, d vs c: 1/rps_d − 1/rps_c = **{wall:.0} µs**"
        );
        if let (Some(cd), Some(cc)) = (d.envoy_us_per_request(), c.envoy_us_per_request()) {
            let _ = write!(
                out,
                "; Envoy CPU per request, d − c = **{:.0} µs**",
                cd - cc
            );
        }
        let _ = writeln!(out, ".\n");
    }

    if !checks.is_empty() {
        let _ = writeln!(out, "## Upstream check\n");
        let _ = writeln!(
            out,
            "| run | requests/s | mean latency | p99 | upstream CPU per request | load avg before |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        let mut rows: Vec<&Measured> = checks;
        if let Some(a) = by_id("a") {
            rows.push(a);
        }
        for m in rows {
            let _ = writeln!(
                out,
                "| {} — {}{} | {:.0} | {} | {} | {:.1} µs | {:.2} |",
                m.id,
                m.title,
                m.wrk.error_note(),
                m.rps(),
                micros(m.wrk.mean_us),
                micros(m.wrk.p99_us),
                m.per_request(m.upstream_cpu),
                m.load_before,
            );
        }
    }
    out
}

// ---------------------------------------------------------------- comparisons

/// This filter against the no-op filter, measured in alternating rounds.
struct Comparison {
    id: &'static str,
    title: String,
    /// The no-op filter's Envoy.
    baseline: EnvoyOptions,
    /// This filter's Envoy.
    candidate: EnvoyOptions,
    path: &'static str,
    load: Load,
    /// What the probe must see from the candidate before measuring.
    expect: Expect,
    /// What the issue asks of the result.
    target: Target,
    /// Envoy's `--concurrency`, both sides.
    workers: usize,
}

#[derive(Clone, Copy)]
enum Target {
    /// Candidate / baseline requests per second at least this.
    Ratio(f64),
    /// Candidate requests per second per worker at least this.
    PerWorker(f64),
    /// Signatures per user over the run at most this.
    SignaturesPerUser(f64),
    /// None: a baseline measured for what it is (the floor).
    Reference,
}

fn comparisons(settings: &Settings, pem: &str) -> Vec<Comparison> {
    let noop = noop_filter_wasm();
    let options = |workers: usize, configuration: Value| {
        EnvoyOptions::with_filter_config(&configuration)
            .concurrency(workers)
            .log_level("warn")
            .jwt_cache()
    };
    let filter = |workers: usize, extra: Value| {
        let mut config = json!({"signing_key": pem});
        if let (Value::Object(config), Value::Object(extra)) = (&mut config, extra) {
            config.extend(extra);
        }
        options(workers, config)
    };
    let baseline = |workers: usize| options(workers, json!({})).wasm_module(&noop);
    // The no-op module doing only the hit path's unavoidable host calls.
    let floor_with = |configuration: Value| options(1, configuration).wasm_module(&noop);
    let floor = |workers: usize| options(workers, json!({"mode": "floor"})).wasm_module(&noop);
    // The floor without the SDK's copy of every header: what the filter's
    // own reading of the headers is measured against.
    let floor_in_place = || floor_with(json!({"mode": "floor", "in_place": true}));
    // One worker, one user's token, reused.
    let one_user = |id, title: &str, baseline, candidate, target| Comparison {
        id,
        title: title.to_owned(),
        baseline,
        candidate,
        path: "/",
        load: Load::OneUser,
        expect: Expect::Reused,
        target,
        workers: 1,
    };
    // A reference measured for what it is.
    let reference = |id, title: &str, baseline, candidate| {
        one_user(id, title, baseline, candidate, Target::Reference)
    };
    // The filter's token cache hit against `baseline`.
    let hit = |id, against: &str, baseline| {
        let title = format!("one user, token cache hit: filter vs {against} (1 worker)");
        one_user(
            id,
            &title,
            baseline,
            filter(1, json!({})),
            Target::Ratio(0.97),
        )
    };
    vec![
        reference(
            "floor",
            "the floor (all request headers, the metadata, one 671-byte header set) vs no-op filter (1 worker)",
            baseline(1),
            floor(1),
        ),
        reference(
            "floor-floor",
            "the floor vs itself: what the comparison reads with no difference (1 worker)",
            floor(1),
            floor(1),
        ),
        reference(
            "floor-clock",
            "the floor plus one get_current_time vs the floor (1 worker)",
            floor(1),
            floor_with(json!({"mode": "floor", "clock": true})),
        ),
        reference(
            "floor-in-place",
            "the floor reading the headers in place (the host's one buffer, as the filter does) vs the floor (1 worker)",
            floor(1),
            floor_in_place(),
        ),
        reference(
            "floor-copies",
            "the floor plus 500 copies of 48 bytes (memory.copy) vs the floor (1 worker)",
            floor(1),
            floor_with(json!({"mode": "floor", "copies": 500})),
        ),
        hit("hit-floor", "the floor", floor(1)),
        hit(
            "hit-floor-in-place",
            "the floor reading the headers in place",
            floor_in_place(),
        ),
        hit("hit", "no-op filter", baseline(1)),
        Comparison {
            id: "jwks",
            title: "the JWKS path: filter vs no-op filter answering a fixed JWKS (1 worker)".into(),
            baseline: baseline(1),
            candidate: filter(1, json!({})),
            path: JWKS_PATH,
            load: Load::Anonymous,
            expect: Expect::NoAssertion,
            target: Target::Ratio(1.0),
            workers: 1,
        },
        Comparison {
            id: "miss",
            title: "one user, token_cache_entries: 0 (signs every request): filter vs no-op filter (1 worker)".into(),
            baseline: baseline(1),
            candidate: filter(1, json!({"token_cache_entries": 0})),
            path: "/",
            load: Load::OneUser,
            expect: Expect::Fresh,
            target: Target::PerWorker(8000.0),
            workers: 1,
        },
        Comparison {
            id: "miss-producer",
            title: "as `miss`, with the nonce producer on Envoy's main thread (1 worker)".into(),
            baseline: baseline(1),
            candidate: filter(1, json!({"token_cache_entries": 0}))
                .nonce_producer(&json!({"nonce_producer": {}})),
            path: "/",
            load: Load::OneUser,
            expect: Expect::Fresh,
            target: Target::PerWorker(8000.0),
            workers: 1,
        },
        Comparison {
            id: "many",
            title: format!("{} users, default caches: filter vs no-op filter (2 workers)", settings.users),
            baseline: baseline(2),
            candidate: filter(2, json!({})),
            path: "/",
            load: Load::Users(settings.users),
            expect: Expect::Reused,
            target: Target::SignaturesPerUser(1.05),
            workers: 2,
        },
    ]
}

/// One side's rounds.
#[derive(Default)]
struct SideResult {
    rps: Vec<f64>,
    requests: u64,
    cpu: Duration,
    errors: String,
    startup: Duration,
}

impl SideResult {
    fn mean_rps(&self) -> f64 {
        self.rps.iter().sum::<f64>() / self.rps.len().max(1) as f64
    }

    fn cpu_per_request_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.requests.max(1) as f64
    }
}

/// The median (the mean of the middle two of an even count); NaN for none.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut sorted: Vec<f64> = values.collect();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The smallest and the largest.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
        (low.min(value), high.max(value))
    })
}

struct Compared {
    id: &'static str,
    title: String,
    target: Target,
    workers: usize,
    baseline: SideResult,
    candidate: SideResult,
    /// Candidate / baseline requests per second, per round.
    ratios: Vec<f64>,
    load_before: f64,
    quiet: bool,
    /// Tokens the candidate signed over the whole run, and the users.
    signatures: Option<(u64, usize)>,
    /// How many of the candidate's signatures took a precomputed nonce.
    nonces: NonceShare,
}

impl Compared {
    fn median_ratio(&self) -> f64 {
        median(self.ratios.iter().copied())
    }

    fn ratio_range(&self) -> (f64, f64) {
        range(self.ratios.iter().copied())
    }

    fn signatures_per_user(&self) -> Option<f64> {
        self.signatures
            .map(|(signed, users)| signed as f64 / users.max(1) as f64)
    }

    fn verdict(&self) -> (String, bool) {
        match self.target {
            Target::Ratio(at_least) => (
                format!("ratio ≥ {at_least:.2}"),
                self.median_ratio() >= at_least,
            ),
            Target::PerWorker(at_least) => {
                let per_worker = self.candidate.mean_rps() / self.workers as f64;
                (
                    format!("≥ {at_least:.0} req/s per worker"),
                    per_worker >= at_least,
                )
            }
            Target::SignaturesPerUser(at_most) => (
                format!("≤ {at_most:.2} signatures per user"),
                self.signatures_per_user()
                    .is_some_and(|per_user| per_user <= at_most),
            ),
            Target::Reference => ("none (a reference)".to_owned(), true),
        }
    }

    fn one_line(&self) -> String {
        let (low, high) = self.ratio_range();
        let (target, met) = self.verdict();
        format!(
            "no-op {:.0} req/s, filter {:.0} req/s, ratio {:.3} (rounds {:.3}..{:.3}), CPU per request {:.1} vs {:.1} µs{}{}; target {target}: {}",
            self.baseline.mean_rps(),
            self.candidate.mean_rps(),
            self.median_ratio(),
            low,
            high,
            self.baseline.cpu_per_request_us(),
            self.candidate.cpu_per_request_us(),
            self.signatures_per_user()
                .map_or(String::new(), |per_user| format!(
                    ", {per_user:.3} signatures per user"
                )),
            self.nonces.note(),
            if met { "met" } else { "missed" },
        )
    }
}

/// Of the tokens a filter signed over a run (warm-up included), how many
/// took a precomputed nonce: whether the nonce producer kept up, which
/// throughput and instruction counts alone do not say.
#[derive(Debug, Clone, Copy, Default)]
struct NonceShare {
    /// `None` where the candidate has no such counter (not the filter).
    signed: Option<u64>,
    precomputed: u64,
}

impl NonceShare {
    fn of(envoy: &Envoy) -> Self {
        let stats = envoy.stats();
        let counter = |name: &str| {
            stats
                .get(&format!("wasmcustom.signed_headers.{name}"))
                .copied()
        };
        Self {
            signed: counter("tokens_signed"),
            precomputed: counter("precomputed_signatures").unwrap_or(0),
        }
    }

    /// For the report's comparison cell: nothing unless some signatures
    /// took a precomputed nonce.
    fn note(&self) -> String {
        let signed = self.signed.unwrap_or(0);
        if self.precomputed == 0 {
            return String::new();
        }
        format!(
            " ({:.1} % of {signed} signatures with a precomputed nonce)",
            100.0 * self.precomputed as f64 / signed.max(1) as f64,
        )
    }
}

/// Starts Envoy and times it from launch to the first answered request.
fn start_timed(
    options: &EnvoyOptions,
    upstream: SocketAddr,
    idp: &TestIdp,
    path: &str,
) -> (Envoy, Duration) {
    let started = Instant::now();
    let envoy = Envoy::start(options, upstream, idp);
    pin_envoy(&envoy);
    let address = envoy.listener_address();
    loop {
        if let Ok(response) = http::try_send(address, &Request::get(path).host(HOST))
            && response.status < 500
        {
            return (envoy, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "Envoy never answered"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Checks what both sides answer (the probe), writes the wrk script, warms
/// both up, and returns how to drive one side for a while.
fn prepare_load(
    comparison: &Comparison,
    settings: &Settings,
    workdir: &Path,
    fast: &FastUpstream,
    idp: &TestIdp,
    envoys: [&Envoy; 2],
) -> impl Fn(SocketAddr, Duration) -> WrkCommand {
    let tokens: Vec<String> = match comparison.load {
        Load::Anonymous => Vec::new(),
        Load::OneUser => vec![idp.token_for("alice")],
        Load::Users(n) => (0..n)
            .map(|i| idp.token_for(&format!("user-{i:05}")))
            .collect(),
    };
    let probe_as = Scenario {
        id: comparison.id,
        title: comparison.title.clone(),
        envoy: None,
        upstream: UpstreamKind::Fast,
        load: Load::Anonymous,
        expect: comparison.expect,
    };
    let [_, candidate] = envoys;
    if comparison.path == "/" {
        probe(&probe_as, fast, candidate.listener_address(), &tokens);
    } else {
        for envoy in envoys {
            let response = http::send(
                envoy.listener_address(),
                &Request::get(comparison.path).host(HOST),
            );
            assert_eq!(response.status, 200, "{}: the JWKS path", comparison.id);
            assert!(response.text().contains("\"keys\""), "{}", response.text());
        }
    }

    let script = wrk_script(workdir, comparison.id, &comparison.load, &tokens);
    let path = comparison.path;
    let connections = settings.connections;
    let bearer = match comparison.load {
        Load::OneUser => tokens.first().cloned(),
        Load::Anonymous | Load::Users(_) => None,
    };
    let wrk = move |target: SocketAddr, duration: Duration| WrkCommand {
        target,
        path,
        connections,
        duration,
        script: script.clone(),
        bearer: bearer.clone(),
    };
    for envoy in envoys {
        if !settings.warmup.is_zero() {
            wrk(envoy.listener_address(), settings.warmup).run();
        }
    }
    wrk
}

fn run_comparison(comparison: &Comparison, settings: &Settings, workdir: &Path) -> Compared {
    let fast = FastUpstream::start();
    let idp = TestIdp::new();
    let (baseline, baseline_startup) =
        start_timed(&comparison.baseline, fast.address(), &idp, comparison.path);
    let (candidate, candidate_startup) =
        start_timed(&comparison.candidate, fast.address(), &idp, comparison.path);

    let (load_before, _, quiet) = wait_for_quiet_machine(settings);
    let wrk = prepare_load(
        comparison,
        settings,
        workdir,
        &fast,
        &idp,
        [&baseline, &candidate],
    );

    let mut sides = [
        SideResult {
            startup: baseline_startup,
            ..SideResult::default()
        },
        SideResult {
            startup: candidate_startup,
            ..SideResult::default()
        },
    ];
    let envoys = [&baseline, &candidate];
    for round in 0..settings.rounds {
        // A B, then B A: a drift within a pair of rounds cancels too.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let envoy = envoys[side];
            let cpu_before = process_cpu(envoy.pid());
            let result = wrk(envoy.listener_address(), settings.round).run();
            let cpu = process_cpu(envoy.pid()).saturating_sub(cpu_before);
            let record = &mut sides[side];
            record.rps.push(result.rps());
            record.requests += result.requests;
            record.cpu += cpu;
            record.errors.push_str(&result.error_note());
        }
    }
    let ratios = sides[0]
        .rps
        .iter()
        .zip(&sides[1].rps)
        .map(|(baseline, candidate)| candidate / baseline)
        .collect();
    let nonces = NonceShare::of(&candidate);
    let signatures = match comparison.load {
        Load::Users(users) => {
            let signed = nonces.signed.expect("the filter's tokens_signed counter");
            Some((signed, users))
        }
        Load::Anonymous | Load::OneUser => None,
    };
    let [baseline_side, candidate_side] = sides;
    Compared {
        id: comparison.id,
        title: comparison.title.clone(),
        target: comparison.target,
        workers: comparison.workers,
        baseline: baseline_side,
        candidate: candidate_side,
        ratios,
        load_before,
        quiet,
        signatures,
        nonces,
    }
}

fn comparison_report(settings: &Settings, compared: &[Compared]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## Interleaved comparisons with the no-op filter\n\n\
         Both Envoys run side by side (`jwt_authn` with `jwt_cache_config`, then the wasm filter, then the router); \
         {} rounds of `wrk -t{WRK_THREADS} -c{} -d{}s` on each, alternating A B, B A, ...; \
         the ratio is the median over rounds of filter / no-op requests per second.\n",
        settings.rounds,
        settings.connections,
        settings.round.as_secs()
    );
    let _ = writeln!(
        out,
        "| comparison | no-op req/s | filter req/s | ratio (median) | ratio range | Envoy CPU per request, no-op / filter | start-up to first answer, no-op / filter | target | met |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|---|");
    for result in compared {
        let (low, high) = result.ratio_range();
        let (target, met) = result.verdict();
        let errors = format!("{}{}", result.baseline.errors, result.candidate.errors);
        let _ = writeln!(
            out,
            "| {} — {}{}{}{} | {:.0} | {:.0} | {:.3} | {:.3} – {:.3} | {:.1} / {:.1} µs | {} / {} | {target}{} | {} |",
            result.id,
            result.title,
            result.nonces.note(),
            errors,
            if result.quiet {
                String::new()
            } else {
                format!(" (load {:.2}, not quiet)", result.load_before)
            },
            result.baseline.mean_rps(),
            result.candidate.mean_rps(),
            result.median_ratio(),
            low,
            high,
            result.baseline.cpu_per_request_us(),
            result.candidate.cpu_per_request_us(),
            micros(result.baseline.startup.as_secs_f64() * 1e6),
            micros(result.candidate.startup.as_secs_f64() * 1e6),
            result
                .signatures_per_user()
                .map_or(String::new(), |per_user| format!(
                    " (measured: {per_user:.3})"
                )),
            if met { "yes" } else { "no" },
        );
    }
    out
}

// ---------------------------------------------------------------- instruction counts

/// How long an Envoy under callgrind may take to start (about a minute on
/// this machine, most of it compiling the module).
const CALLGRIND_STARTUP: Duration = Duration::from_secs(300);
/// What an Envoy under callgrind is given to finish the requests wrk left
/// in flight before the counters are read.
const CALLGRIND_SETTLE: Duration = Duration::from_millis(500);
/// The listener's request counter (`stat_prefix: ingress`).
const REQUESTS_STAT: &str = "http.ingress.downstream_rq_total";

/// Instructions Envoy executed per request on one side, over the rounds.
#[derive(Default)]
struct CountedSide {
    /// Per round, net of what the side runs when idle.
    per_request: Vec<Instructions>,
    /// Per round, everything.
    gross: Vec<Instructions>,
    /// What the side runs with no requests, per second.
    idle_per_second: Instructions,
}

/// Instructions (per request, per second, or counted), split by the code
/// that executed them.
#[derive(Debug, Clone, Copy, Default)]
struct Instructions {
    total: f64,
    /// Code callgrind cannot place in a file: the module's compiled code
    /// and V8's builtins.
    generated: f64,
    /// The Envoy binary (V8's runtime and Wasm glue included).
    envoy: f64,
    /// Shared libraries (libc's memcpy and memset, the loader).
    libraries: f64,
}

impl Instructions {
    fn scaled(&self, factor: f64) -> Self {
        Self {
            total: self.total * factor,
            generated: self.generated * factor,
            envoy: self.envoy * factor,
            libraries: self.libraries * factor,
        }
    }

    fn minus(&self, other: &Self) -> Self {
        self.plus(&other.scaled(-1.0))
    }

    fn plus(&self, other: &Self) -> Self {
        Self {
            total: self.total + other.total,
            generated: self.generated + other.generated,
            envoy: self.envoy + other.envoy,
            libraries: self.libraries + other.libraries,
        }
    }
}

impl CountedSide {
    fn median(&self, field: impl Fn(&Instructions) -> f64) -> f64 {
        median(self.per_request.iter().map(field))
    }

    fn range(&self) -> (f64, f64) {
        range(self.per_request.iter().map(|counted| counted.total))
    }
}

struct Counted {
    id: &'static str,
    title: String,
    sides: [CountedSide; 2],
    /// How many of the candidate's signatures took a precomputed nonce.
    nonces: NonceShare,
}

/// The comparison's two Envoys under `valgrind --tool=callgrind`: for each
/// round, the counters are zeroed, wrk drives one side, the counters are
/// dumped, and the dump's instructions are divided by the requests Envoy
/// counted. Deterministic where timings are not: it needs no quiet machine.
fn count_comparison(comparison: &Comparison, settings: &Settings, workdir: &Path) -> Counted {
    let envoy = signed_headers_e2e::envoy_binary();
    let mut start = [0_u8; 2];
    let script = std::fs::File::open(&envoy)
        .and_then(|mut file| file.read_exact(&mut start))
        .is_ok_and(|()| &start == b"#!");
    assert!(
        !script,
        "{} is a script: valgrind would count its interpreter; point ENVOY_BIN at the Envoy binary (make bench-instructions does)",
        envoy.display()
    );
    let fast = FastUpstream::start();
    let idp = TestIdp::new();
    let dumps = workdir.join(format!("callgrind-{}", comparison.id));
    std::fs::create_dir_all(&dumps).expect("directory for callgrind's dumps");
    let under_callgrind = |side: &str, options: &EnvoyOptions| {
        options.clone().run_under(
            vec![
                "valgrind".to_owned(),
                "--tool=callgrind".to_owned(),
                // V8 writes the module's machine code at run time.
                "--smc-check=all-non-file".to_owned(),
                format!("--callgrind-out-file={}/{side}.%p", dumps.display()),
                format!("--log-file={}/{side}.%p.log", dumps.display()),
            ],
            CALLGRIND_STARTUP,
        )
    };
    let baseline_options = under_callgrind("baseline", &comparison.baseline);
    let candidate_options = under_callgrind("candidate", &comparison.candidate);
    // One after the other from this thread: Envoy ends when the thread that
    // started it does (a start from a scoped thread was stopped at its end).
    let (baseline, _) = start_timed(&baseline_options, fast.address(), &idp, comparison.path);
    let (candidate, _) = start_timed(&candidate_options, fast.address(), &idp, comparison.path);
    let wrk = prepare_load(
        comparison,
        settings,
        workdir,
        &fast,
        &idp,
        [&baseline, &candidate],
    );

    let mut sides = [CountedSide::default(), CountedSide::default()];
    let envoys = [&baseline, &candidate];
    // What each side runs with no requests (timer ticks, the stats flush),
    // per second: under valgrind a second holds about a hundred times fewer
    // requests than natively, so time-driven work would weigh a hundred
    // times more per request than it does in production. It is taken out.
    for (side, envoy) in envoys.iter().enumerate() {
        let (idle, elapsed) = count_while(envoy, &dumps, || thread::sleep(settings.round));
        sides[side].idle_per_second = idle.scaled(1.0 / elapsed.as_secs_f64());
    }
    for _ in 0..settings.rounds {
        for (side, envoy) in envoys.iter().enumerate() {
            let requests_before = envoy.stats().get(REQUESTS_STAT).copied().unwrap_or(0);
            let (counted, elapsed) = count_while(envoy, &dumps, || {
                wrk(envoy.listener_address(), settings.round).run();
            });
            let requests = envoy
                .stats()
                .get(REQUESTS_STAT)
                .copied()
                .unwrap_or(0)
                .saturating_sub(requests_before);
            assert!(requests > 0, "{}: no requests counted", comparison.id);
            let record = &mut sides[side];
            let idle = record.idle_per_second.scaled(elapsed.as_secs_f64());
            let per_request = 1.0 / requests as f64;
            record.gross.push(counted.scaled(per_request));
            record
                .per_request
                .push(counted.minus(&idle).scaled(per_request));
        }
    }
    Counted {
        id: comparison.id,
        title: comparison.title.clone(),
        sides,
        nonces: NonceShare::of(&candidate),
    }
}

/// What `envoy` executes while `run` runs (and briefly after, for what wrk
/// left in flight), and how long that took.
fn count_while(envoy: &Envoy, dumps: &Path, run: impl FnOnce()) -> (Instructions, Duration) {
    callgrind_control("--zero", envoy.pid());
    let started = Instant::now();
    run();
    thread::sleep(CALLGRIND_SETTLE);
    callgrind_control("--dump", envoy.pid());
    let elapsed = started.elapsed();
    (read_dump(&latest_dump(dumps, envoy.pid())), elapsed)
}

fn callgrind_control(action: &str, pid: u32) {
    let output = Command::new("callgrind_control")
        .args([action, &pid.to_string()])
        .output()
        .expect("cannot run callgrind_control (valgrind is needed: make bench-instructions)");
    assert!(
        output.status.success(),
        "callgrind_control {action} {pid}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The newest of callgrind's numbered dumps of process `pid`.
fn latest_dump(dumps: &Path, pid: u32) -> PathBuf {
    std::fs::read_dir(dumps)
        .expect("the dump directory")
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let (_, rest) = name.split_once(&format!(".{pid}."))?;
            Some((rest.parse::<u32>().ok()?, entry.path()))
        })
        .max_by_key(|(part, _)| *part)
        .map(|(_, path)| path)
        .unwrap_or_else(|| panic!("no callgrind dump of process {pid} in {}", dumps.display()))
}

/// Reads callgrind's output format: each cost line is charged to the object
/// (`ob=`) of the function it belongs to; the line after a `calls=` line is
/// the call's inclusive cost, already counted in the callee, so it is
/// skipped. Objects are named once (in `ob=` or `cob=`), then referred to
/// by number. The cost lines add up to the `totals:` line.
fn read_dump(path: &Path) -> Instructions {
    let text = std::fs::read_to_string(path).expect("a callgrind dump");
    let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut name_of = |reference: &str| match reference.split_once(' ') {
        Some((id, name)) => {
            names.insert(id.to_owned(), name.to_owned());
            name.to_owned()
        }
        None => names
            .get(reference)
            .cloned()
            .unwrap_or_else(|| reference.to_owned()),
    };
    let mut object = String::new();
    let mut after_call = false;
    let mut totals = Instructions::default();
    let mut stated_total = None;
    for line in text.lines() {
        if let Some(reference) = line.strip_prefix("ob=") {
            object = name_of(reference);
        } else if let Some(reference) = line.strip_prefix("cob=") {
            name_of(reference);
        } else if line.starts_with("calls=") {
            after_call = true;
        } else if line.starts_with(|c: char| c.is_ascii_digit() || "+-*".contains(c)) {
            if std::mem::take(&mut after_call) {
                continue;
            }
            let cost: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|cost| cost.parse().ok())
                .unwrap_or(0);
            let cost = cost as f64;
            totals.total += cost;
            if object == "???" {
                totals.generated += cost;
            } else if object.ends_with("/envoy") {
                totals.envoy += cost;
            } else {
                totals.libraries += cost;
            }
        } else if let Some(total) = line.strip_prefix("totals: ") {
            stated_total = total.trim().parse::<u64>().ok();
        }
    }
    assert_eq!(
        stated_total,
        Some(totals.total as u64),
        "{}: the cost lines do not add up to the totals line",
        path.display()
    );
    totals
}

fn instructions_report(settings: &Settings, counted: &[Counted]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## Instructions per request (callgrind)\n\n\
         Each Envoy under `valgrind --tool=callgrind`; {} rounds of `wrk -t{WRK_THREADS} -c{} -d{}s` per side, \
         counters zeroed before and dumped after each; instructions of the whole process (every thread) \
         less what the same Envoy runs idle in that time (measured once per side, {}s with no requests), \
         divided by the requests the listener counted; median over rounds. \
         `generated` is code with no file (the module's compiled code and V8's builtins), `envoy` the binary, \
         `libraries` the shared libraries; `gross` keeps the idle work in.\n",
        settings.rounds,
        settings.connections,
        settings.round.as_secs(),
        settings.round.as_secs()
    );
    let _ = writeln!(
        out,
        "| comparison | baseline | candidate | difference | range (baseline; candidate) | difference: generated / envoy / libraries | gross difference | idle per second, baseline / candidate |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|---|---:|---:|");
    for result in counted {
        let [baseline, candidate] = &result.sides;
        let difference =
            |field: fn(&Instructions) -> f64| candidate.median(field) - baseline.median(field);
        let (baseline_low, baseline_high) = baseline.range();
        let (candidate_low, candidate_high) = candidate.range();
        let gross = median(candidate.gross.iter().map(|counted| counted.total))
            - median(baseline.gross.iter().map(|counted| counted.total));
        let _ = writeln!(
            out,
            "| {} — {}{} | {:.0} | {:.0} | {:+.0} | {:.0} – {:.0}; {:.0} – {:.0} | {:+.0} / {:+.0} / {:+.0} | {:+.0} | {:.0} / {:.0} |",
            result.id,
            result.title,
            result.nonces.note(),
            baseline.median(|counted| counted.total),
            candidate.median(|counted| counted.total),
            difference(|counted| counted.total),
            baseline_low,
            baseline_high,
            candidate_low,
            candidate_high,
            difference(|counted| counted.generated),
            difference(|counted| counted.envoy),
            difference(|counted| counted.libraries),
            gross,
            baseline.idle_per_second.total,
            candidate.idle_per_second.total,
        );
    }
    out
}
