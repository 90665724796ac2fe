//! Answers for the paths the filter serves itself (the JWKS, and OpenID
//! discovery), decided without touching the host.

use signed_headers_keys::JwksDocument;

/// A response the filter sends itself instead of forwarding the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u32,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

/// What the JWKS path serves for one configuration: the document, and the
/// kid of the key signing now, sent as `x-signing-kid` so that an operator
/// (or a rotation tool) can see which key is live, whatever Envoy's own
/// config dump claims.
#[derive(Debug, Clone)]
pub struct PublishedKeys {
    pub document: JwksDocument,
    pub signing_kid: String,
}

/// The header naming the signing key on JWKS responses.
pub const SIGNING_KID_HEADER: &str = "x-signing-kid";

/// How long a browser may keep a preflight's answer (Firefox's cap; Chrome
/// keeps at most 2 hours).
const PREFLIGHT_MAX_AGE_SECONDS: u32 = 86_400;

/// The path part of a `:path` pseudo-header (query and fragment dropped).
pub fn path_only(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

/// What a request for a served document asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentRequest<'a> {
    pub method: &'a str,
    pub if_none_match: Option<&'a str>,
    /// It carries `Access-Control-Request-Method`: with `OPTIONS`, a CORS
    /// preflight.
    pub preflight: bool,
}

/// A document served from memory: its body, strong `ETag`, and headers of
/// its own (named in `access-control-expose-headers` too, for browsers).
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    pub body: &'a str,
    pub etag: &'a str,
    pub own_header: Option<(&'static str, &'a str)>,
}

/// The answer to a request for a served document: `GET`/`HEAD` 200 (or 304
/// on a matching `If-None-Match`) with caching and CORS headers, a CORS
/// preflight 204, anything else 405. Envoy drops the body of a local reply
/// to `HEAD` itself while keeping its `content-length`, which is what a
/// `HEAD` should look like.
pub fn respond_document(
    served: Served<'_>,
    max_age_seconds: u64,
    request: DocumentRequest<'_>,
) -> LocalResponse {
    if request.method == "OPTIONS" && request.preflight {
        // A cross-origin revalidation (`If-None-Match` is no CORS-safelisted
        // request header) is preceded by one of these.
        return LocalResponse {
            status: 204,
            headers: vec![
                ("access-control-allow-origin", "*".to_owned()),
                ("access-control-allow-methods", "GET, HEAD".to_owned()),
                ("access-control-allow-headers", "If-None-Match".to_owned()),
                (
                    "access-control-max-age",
                    PREFLIGHT_MAX_AGE_SECONDS.to_string(),
                ),
            ],
            body: None,
        };
    }
    if request.method != "GET" && request.method != "HEAD" {
        return LocalResponse {
            status: 405,
            headers: vec![
                ("allow", "GET, HEAD".to_owned()),
                ("content-type", "text/plain".to_owned()),
            ],
            body: Some("method not allowed\n".to_owned()),
        };
    }
    // ETag is no CORS-safelisted response header: a browser verifier can
    // only revalidate with it if it is exposed.
    let exposed = match served.own_header {
        Some((name, _)) => format!("etag, {name}"),
        None => "etag".to_owned(),
    };
    let mut headers = vec![
        ("etag", served.etag.to_owned()),
        (
            "cache-control",
            format!("public, max-age={max_age_seconds}"),
        ),
        ("access-control-allow-origin", "*".to_owned()),
        ("access-control-expose-headers", exposed),
    ];
    if let Some((name, value)) = served.own_header {
        headers.push((name, value.to_owned()));
    }
    if request
        .if_none_match
        .is_some_and(|value| etag_matches(value, served.etag))
    {
        return LocalResponse {
            status: 304,
            headers,
            body: None,
        };
    }
    headers.push(("content-type", "application/json".to_owned()));
    LocalResponse {
        status: 200,
        headers,
        body: Some(served.body.to_owned()),
    }
}

/// The answer to a request on the JWKS path.
pub fn respond(
    published: &PublishedKeys,
    max_age_seconds: u64,
    request: DocumentRequest<'_>,
) -> LocalResponse {
    respond_document(
        Served {
            body: published.document.body(),
            etag: published.document.etag(),
            own_header: Some((SIGNING_KID_HEADER, &published.signing_kid)),
        },
        max_age_seconds,
        request,
    )
}

/// RFC 9110 `If-None-Match`: a list of entity tags or `*`, weak comparison.
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let strip_weak = |tag: &str| tag.strip_prefix("W/").unwrap_or(tag).to_owned();
    let ours = strip_weak(etag);
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || strip_weak(candidate) == ours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signed_headers_keys::{BundleKey, KeyFormat};

    fn document() -> PublishedKeys {
        let key = BundleKey::generate(KeyFormat::Sec1).unwrap();
        PublishedKeys {
            document: JwksDocument::new(&[key.jwk()]),
            signing_kid: key.kid().to_owned(),
        }
    }

    fn request<'a>(method: &'a str, if_none_match: Option<&'a str>) -> DocumentRequest<'a> {
        DocumentRequest {
            method,
            if_none_match,
            preflight: false,
        }
    }

    fn header<'a>(response: &'a LocalResponse, name: &str) -> Option<&'a str> {
        response
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn get_serves_the_document_with_caching_and_cors_headers() {
        let document = document();
        let response = respond(&document, 120, request("GET", None));
        assert_eq!(response.status, 200);
        assert_eq!(response.body.as_deref(), Some(document.document.body()));
        assert_eq!(header(&response, "content-type"), Some("application/json"));
        assert_eq!(
            header(&response, "cache-control"),
            Some("public, max-age=120")
        );
        assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
        assert_eq!(header(&response, "etag"), Some(document.document.etag()));
        assert_eq!(
            header(&response, "x-signing-kid"),
            Some(document.signing_kid.as_str())
        );
        assert_eq!(respond(&document, 120, request("HEAD", None)), response);
    }

    #[test]
    fn matching_if_none_match_gives_304_without_body() {
        let document = document();
        let etag = document.document.etag().to_owned();
        for value in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", {etag}"),
            "*".to_owned(),
        ] {
            let response = respond(&document, 60, request("GET", Some(&value)));
            assert_eq!(response.status, 304, "{value}");
            assert_eq!(response.body, None);
            assert_eq!(header(&response, "etag"), Some(etag.as_str()));
            assert_eq!(
                header(&response, "x-signing-kid"),
                Some(document.signing_kid.as_str())
            );
        }
        assert_eq!(
            respond(&document, 60, request("GET", Some("\"stale\""))).status,
            200
        );
    }

    #[test]
    fn other_methods_get_405_with_allow() {
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "get"] {
            let response = respond(&document(), 60, request(method, None));
            assert_eq!(response.status, 405);
            assert_eq!(header(&response, "allow"), Some("GET, HEAD"));
        }
    }

    #[test]
    fn a_preflight_gets_204_allowing_if_none_match_and_responses_expose_the_etag() {
        let document = document();
        let preflight = DocumentRequest {
            method: "OPTIONS",
            if_none_match: None,
            preflight: true,
        };
        let response = respond(&document, 60, preflight);
        assert_eq!(response.status, 204);
        assert_eq!(response.body, None);
        assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
        assert_eq!(
            header(&response, "access-control-allow-headers"),
            Some("If-None-Match")
        );
        assert_eq!(
            header(&response, "access-control-allow-methods"),
            Some("GET, HEAD")
        );
        // A preflight header on another method changes nothing.
        let get = respond(
            &document,
            60,
            DocumentRequest {
                method: "GET",
                ..preflight
            },
        );
        assert_eq!(get.status, 200);
        assert_eq!(
            header(&get, "access-control-expose-headers"),
            Some("etag, x-signing-kid")
        );
    }

    #[test]
    fn path_only_drops_query_and_fragment() {
        assert_eq!(path_only("/a/b?x=1"), "/a/b");
        assert_eq!(path_only("/a#f"), "/a");
        assert_eq!(path_only(""), "");
    }
}
