//! A browser, as far as a login flow needs one: HTTPS only, a cookie jar per
//! host, and redirects followed. Host names resolve through a table the test
//! fills (the app's name to Envoy's listener, the IdP's to its server).

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::http::{Request, Response};
use crate::tls::{TestCa, try_send_https};
use crate::url::HttpsUrl;

/// Enough for any login flow; more means a redirect loop.
const MAX_REDIRECTS: usize = 10;

/// One step of a navigation.
#[derive(Debug, Clone)]
pub struct Visit {
    pub url: String,
    pub response: Response,
}

pub struct Browser<'ca> {
    ca: &'ca TestCa,
    hosts: HashMap<String, SocketAddr>,
    /// Cookies by host, in the order they were set.
    cookies: HashMap<String, Vec<(String, String)>>,
}

impl<'ca> Browser<'ca> {
    /// A browser trusting only `ca`.
    pub fn new(ca: &'ca TestCa) -> Self {
        Self {
            ca,
            hosts: HashMap::new(),
            cookies: HashMap::new(),
        }
    }

    /// Resolves `host` to `address`.
    pub fn resolve(mut self, host: &str, address: SocketAddr) -> Self {
        self.hosts.insert(host.to_owned(), address);
        self
    }

    /// The cookies the browser holds for `host`.
    pub fn cookies(&self, host: &str) -> &[(String, String)] {
        self.cookies.get(host).map_or(&[], Vec::as_slice)
    }

    /// Sets (or replaces) a cookie, as a script or an attacker could.
    pub fn set_cookie(&mut self, host: &str, name: &str, value: &str) {
        let jar = self.cookies.entry(host.to_owned()).or_default();
        jar.retain(|(existing, _)| existing != name);
        jar.push((name.to_owned(), value.to_owned()));
    }

    /// GETs `url` and follows redirects; returns every step, the final
    /// response last. Panics on a redirect loop.
    pub fn navigate(&mut self, url: &str) -> Vec<Visit> {
        let visits = self.navigate_at_most(url, MAX_REDIRECTS + 1);
        let last = visits.last().map(|visit| visit.response.status);
        if visits.len() > MAX_REDIRECTS && last.is_some_and(|status| (300..400).contains(&status)) {
            panic!("more than {MAX_REDIRECTS} redirects: {visits:#?}");
        }
        visits
    }

    /// Like [`Self::navigate`], but stops after `max_visits` requests, for
    /// flows that loop (a login whose session never takes).
    pub fn navigate_at_most(&mut self, url: &str, max_visits: usize) -> Vec<Visit> {
        let mut visits: Vec<Visit> = Vec::new();
        let mut next = url.to_owned();
        for _ in 0..max_visits {
            let response = self.get(&next);
            let location = (300..400)
                .contains(&response.status)
                .then(|| response.header("location").map(str::to_owned))
                .flatten();
            visits.push(Visit {
                url: next.clone(),
                response,
            });
            match location {
                Some(location) if location.starts_with('/') => {
                    let base = HttpsUrl::parse(&next).expect("the last URL was https");
                    next = format!("https://{}{location}", base.authority);
                }
                Some(location) => next = location,
                None => break,
            }
        }
        visits
    }

    /// One GET, storing the cookies the response sets.
    pub fn get(&mut self, url: &str) -> Response {
        let parsed = HttpsUrl::parse(url).unwrap_or_else(|| panic!("not an https URL: {url}"));
        let address = *self
            .hosts
            .get(&parsed.host)
            .unwrap_or_else(|| panic!("the test did not resolve {} ({url})", parsed.host));
        let mut request = Request::get(&parsed.target).host(&parsed.authority);
        let jar = self.cookies(&parsed.host);
        if !jar.is_empty() {
            let cookie = jar
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header("Cookie", &cookie);
        }
        let response = try_send_https(address, &parsed.host, self.ca, None, &request)
            .unwrap_or_else(|err| panic!("GET {url} failed: {err}"));
        for set_cookie in response.header_values("set-cookie") {
            self.store_cookie(&parsed.host, set_cookie);
        }
        response
    }

    fn store_cookie(&mut self, host: &str, set_cookie: &str) {
        let mut parts = set_cookie.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let expired = parts.any(|attribute| {
            let attribute = attribute.to_ascii_lowercase();
            attribute == "max-age=0" || attribute.starts_with("expires=thu, 01 jan 1970")
        });
        if expired {
            if let Some(jar) = self.cookies.get_mut(host) {
                jar.retain(|(existing, _)| existing != name);
            }
        } else {
            self.set_cookie(host, name, value);
        }
    }
}
