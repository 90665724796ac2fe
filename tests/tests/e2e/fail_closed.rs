//! What happens when the filter's VM dies. signed-headers never panics, so
//! the shipped `envoy/envoy.yaml` is run with the no-op baseline module in
//! its place (a path substitution), which panics on `/crash`; every other
//! request gets `x-noop: 1` from it, so the upstream can tell a filtered
//! request from one that skipped the filter.
//!
//! - `FAIL_RELOAD` (shipped): the request that crashed the VM gets 503; the
//!   next gets a fresh VM. Nothing passes unfiltered.
//! - `FAIL_CLOSED` (Envoy's default): 503, and the worker keeps answering
//!   503 until Envoy restarts.
//! - `FAIL_OPEN`: requests pass without the filter: never for a filter that
//!   strips forged identity headers.

use std::time::{Duration, Instant};

use signed_headers_e2e::http::Request;
use signed_headers_e2e::{EchoUpstream, EchoedRequest, Envoy, ShippedConfig, noop_filter_wasm};

use crate::shipped::{load_shipped_without_filter, loopback_port};

/// Enough `/crash` requests that both workers' VMs die (each request is a
/// new connection, balanced by the kernel).
const CRASHES: usize = 30;

fn shipped_with_crashing_filter(upstream: &EchoUpstream, policy: &str) -> Envoy {
    let config: ShippedConfig = load_shipped_without_filter("envoy.yaml", upstream)
        .substitute(
            "filename: target/wasm32-wasip1/release/signed_headers.wasm",
            &format!("filename: {}", noop_filter_wasm().display()),
        )
        // The IdP is never asked: no request carries a token.
        .substitute(
            "{address: idp.example.com, port_value: 443}",
            &loopback_port(9),
        );
    let config = if policy == "FAIL_RELOAD" {
        config
    } else {
        config.substitute(
            "failure_policy: FAIL_RELOAD",
            &format!("failure_policy: {policy}"),
        )
    };
    Envoy::start_shipped(&config, "ingress")
}

/// Sends the requests that crash the VMs; returns their statuses.
fn crash_every_worker(envoy: &Envoy) -> Vec<u16> {
    (0..CRASHES)
        .map(|_| {
            envoy
                .send(&Request::get("/crash").host("app.example"))
                .status
        })
        .collect()
}

/// Every crash request was refused, none forwarded.
fn assert_crashes_refused(statuses: &[u16], upstream: &EchoUpstream) {
    assert!(statuses.iter().all(|status| *status == 503), "{statuses:?}");
    assert!(
        upstream.requests().iter().all(|r| r.path != "/crash"),
        "a request that crashed the filter reached the upstream"
    );
}

/// Every request that reached the upstream went through the filter.
fn assert_nothing_unfiltered(upstream: &EchoUpstream) {
    for request in upstream.requests() {
        assert_eq!(
            request.header_values("x-noop"),
            ["1"],
            "a request reached the upstream without the filter: {request:?}"
        );
    }
}

#[test]
fn shipped_failure_policy_reloads_a_dead_vm_and_never_passes_a_request_unfiltered() {
    let upstream = EchoUpstream::start();
    let envoy = shipped_with_crashing_filter(&upstream, "FAIL_RELOAD");
    let before = envoy.send(&Request::get("/").host("app.example"));
    assert_eq!(
        EchoedRequest::from_response(&before).header_values("x-noop"),
        ["1"]
    );

    assert_crashes_refused(&crash_every_worker(&envoy), &upstream);
    // Reloads back off after repeated crashes: until then a worker answers
    // 503; after, every request is filtered again.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut consecutive_ok = 0;
    while consecutive_ok < 20 {
        assert!(
            Instant::now() < deadline,
            "the VMs were never reloaded\n--- Envoy log ---\n{}",
            envoy.flushed_log()
        );
        let response = envoy.send(&Request::get("/").host("app.example"));
        match response.status {
            200 => consecutive_ok += 1,
            503 => {
                consecutive_ok = 0;
                std::thread::sleep(Duration::from_millis(100));
            }
            other => panic!("status {other}: {}", response.text()),
        }
    }
    assert_nothing_unfiltered(&upstream);
    let reloads: u64 = envoy
        .stats()
        .iter()
        .filter(|(name, _)| name.ends_with(".vm_reload_success"))
        .map(|(_, count)| count)
        .sum();
    assert!(reloads >= 1, "Envoy counted no VM reload");
}

#[test]
fn fail_closed_keeps_refusing_and_fail_open_lets_requests_skip_the_filter() {
    let upstream = EchoUpstream::start();
    let closed = shipped_with_crashing_filter(&upstream, "FAIL_CLOSED");
    assert_crashes_refused(&crash_every_worker(&closed), &upstream);
    std::thread::sleep(Duration::from_millis(1500));
    for _ in 0..10 {
        let response = closed.send(&Request::get("/").host("app.example"));
        assert_eq!(response.status, 503, "a dead VM stays dead");
    }
    assert_nothing_unfiltered(&upstream);
    drop(closed);

    let open_upstream = EchoUpstream::start();
    let open = shipped_with_crashing_filter(&open_upstream, "FAIL_OPEN");
    let statuses = crash_every_worker(&open);
    // Once a worker's VM is dead, even `/crash` goes through, unfiltered.
    assert!(statuses.contains(&200), "{statuses:?}");
    let response = open.send(&Request::get("/").host("app.example"));
    let echoed = EchoedRequest::from_response(&response);
    assert!(
        echoed.header_values("x-noop").is_empty(),
        "FAIL_OPEN forwards requests the filter never saw: {:?}",
        echoed.headers
    );
}
