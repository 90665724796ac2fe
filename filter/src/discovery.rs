//! OpenID Connect discovery (`/.well-known/openid-configuration`): with an
//! issuer that is an `https` URL, libraries that start from the issuer
//! (`openid-client`, Kubernetes-style service-account discovery, tooling
//! that configures `jwt_authn` from an issuer) find the JWKS from it.
//!
//! Per OpenID Connect Discovery 1.0 section 4, the document lives at the
//! issuer's path plus `/.well-known/openid-configuration`, and names the
//! issuer exactly as tokens carry it.

use signed_headers_keys::strong_etag;

use crate::config::{Issuer, IssuerFormat};

const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// Where discovery is answered, for one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// The issuer is not a URL (`issuer_format: host`, or a fixed issuer
    /// that is not `https://`): nothing to discover; the path is forwarded.
    Off,
    /// `issuer_format: uri`: each host is its own issuer,
    /// `https://<host>/`, discovered at the root.
    PerHost { jwks_path: String },
    /// A fixed `https` issuer: one document, at the issuer's path.
    Fixed { path: String, document: Document },
}

/// A discovery document and its strong `ETag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub body: String,
    pub etag: String,
}

impl Document {
    fn new(issuer: &str, jwks_uri: &str) -> Self {
        // The fields OpenID Connect Discovery requires of a provider, the
        // few that describe signed assertions: no authorization endpoint,
        // since nothing here issues tokens to clients.
        let body = serde_json::json!({
            "issuer": issuer,
            "jwks_uri": jwks_uri,
            "id_token_signing_alg_values_supported": ["ES256"],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
        })
        .to_string();
        let etag = strong_etag(body.as_bytes());
        Self { body, etag }
    }
}

/// `https://authority` and the path of an `https` URL, if it is one (no
/// query or fragment, which an issuer must not have).
fn https_origin_and_path(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("https://")?;
    if rest.contains(['?', '#']) {
        return None;
    }
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some((url.get(..url.len() - rest.len() + authority.len())?, path))
}

impl Discovery {
    pub fn new(issuer: &Issuer, jwks_path: &str) -> Self {
        match issuer {
            Issuer::FromHost(IssuerFormat::Uri) => Discovery::PerHost {
                jwks_path: jwks_path.to_owned(),
            },
            Issuer::FromHost(IssuerFormat::Host) => Discovery::Off,
            Issuer::Fixed(fixed) => match https_origin_and_path(fixed) {
                Some((origin, path)) => Discovery::Fixed {
                    path: format!("{}{WELL_KNOWN}", path.trim_end_matches('/')),
                    document: Document::new(fixed, &format!("{origin}{jwks_path}")),
                },
                None => Discovery::Off,
            },
        }
    }

    /// Whether `path` (without query) is where discovery is answered.
    pub fn answers(&self, path: &str) -> bool {
        match self {
            Discovery::Off => false,
            Discovery::PerHost { .. } => path == WELL_KNOWN,
            Discovery::Fixed { path: fixed, .. } => path == fixed,
        }
    }

    /// The document for a request to `host` (as the issuer names it).
    pub fn document(&self, host: &str) -> Option<Document> {
        match self {
            Discovery::Off => None,
            Discovery::PerHost { jwks_path } => Some(Document::new(
                &crate::assertion::issuer(&Issuer::FromHost(IssuerFormat::Uri), host),
                &format!("https://{host}{jwks_path}"),
            )),
            Discovery::Fixed { document, .. } => Some(document.clone()),
        }
    }

    /// Whether the document depends on the request's host.
    pub fn per_host(&self) -> bool {
        matches!(self, Discovery::PerHost { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(document: &Document) -> serde_json::Value {
        serde_json::from_str(&document.body).unwrap()
    }

    #[test]
    fn a_uri_issuer_is_discovered_on_each_host() {
        let discovery = Discovery::new(
            &Issuer::FromHost(IssuerFormat::Uri),
            "/.well-known/pomerium/jwks.json",
        );
        assert!(discovery.answers("/.well-known/openid-configuration"));
        assert!(!discovery.answers("/x/.well-known/openid-configuration"));
        let document = discovery.document("app.example").unwrap();
        let json = parsed(&document);
        assert_eq!(json["issuer"], "https://app.example/");
        assert_eq!(
            json["jwks_uri"],
            "https://app.example/.well-known/pomerium/jwks.json"
        );
        assert_eq!(
            json["id_token_signing_alg_values_supported"],
            serde_json::json!(["ES256"])
        );
        assert_ne!(
            discovery.document("other.example").unwrap().etag,
            document.etag
        );
        assert_eq!(discovery.document("app.example"), Some(document));
    }

    #[test]
    fn a_fixed_https_issuer_is_discovered_at_its_path() {
        for (issuer, path, jwks_uri) in [
            (
                "https://auth.example.com",
                "/.well-known/openid-configuration",
                "https://auth.example.com/jwks",
            ),
            (
                "https://auth.example.com/",
                "/.well-known/openid-configuration",
                "https://auth.example.com/jwks",
            ),
            (
                "https://auth.example.com:8443/tenants/a",
                "/tenants/a/.well-known/openid-configuration",
                "https://auth.example.com:8443/jwks",
            ),
        ] {
            let discovery = Discovery::new(&Issuer::Fixed(issuer.into()), "/jwks");
            assert!(discovery.answers(path), "{issuer}");
            let json = parsed(&discovery.document("any.example").unwrap());
            assert_eq!(json["issuer"], issuer);
            assert_eq!(json["jwks_uri"], jwks_uri);
        }
        for not_a_url in [
            "my-issuer",
            "http://auth.example.com",
            "https://",
            "https://user@auth.example.com",
            "https://auth.example.com/?q",
        ] {
            assert_eq!(
                Discovery::new(&Issuer::Fixed(not_a_url.into()), "/jwks"),
                Discovery::Off,
                "{not_a_url}"
            );
        }
        assert_eq!(
            Discovery::new(&Issuer::FromHost(IssuerFormat::Host), "/jwks"),
            Discovery::Off
        );
    }
}
