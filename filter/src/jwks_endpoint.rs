//! Answers for the JWKS path, decided without touching the host.

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

/// The path part of a `:path` pseudo-header (query and fragment dropped).
pub fn path_only(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

/// The answer to `method` on the JWKS path. Envoy drops the body of a local
/// reply to `HEAD` itself while keeping its `content-length`, which is what
/// a `HEAD` should look like.
pub fn respond(
    published: &PublishedKeys,
    max_age_seconds: u64,
    method: &str,
    if_none_match: Option<&str>,
) -> LocalResponse {
    let cache_control = format!("public, max-age={max_age_seconds}");
    if method != "GET" && method != "HEAD" {
        return LocalResponse {
            status: 405,
            headers: vec![
                ("allow", "GET, HEAD".to_owned()),
                ("content-type", "text/plain".to_owned()),
            ],
            body: Some("method not allowed\n".to_owned()),
        };
    }
    let document = &published.document;
    let mut headers = vec![
        ("etag", document.etag().to_owned()),
        ("cache-control", cache_control),
        ("access-control-allow-origin", "*".to_owned()),
        // Readable from browsers too (CORS hides non-safelisted headers).
        (
            "access-control-expose-headers",
            SIGNING_KID_HEADER.to_owned(),
        ),
        (SIGNING_KID_HEADER, published.signing_kid.clone()),
    ];
    if if_none_match.is_some_and(|value| etag_matches(value, document.etag())) {
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
        body: Some(document.body().to_owned()),
    }
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
        let response = respond(&document, 120, "GET", None);
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
        assert_eq!(respond(&document, 120, "HEAD", None), response);
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
            let response = respond(&document, 60, "GET", Some(&value));
            assert_eq!(response.status, 304, "{value}");
            assert_eq!(response.body, None);
            assert_eq!(header(&response, "etag"), Some(etag.as_str()));
            assert_eq!(
                header(&response, "x-signing-kid"),
                Some(document.signing_kid.as_str())
            );
        }
        assert_eq!(respond(&document, 60, "GET", Some("\"stale\"")).status, 200);
    }

    #[test]
    fn other_methods_get_405_with_allow() {
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "get"] {
            let response = respond(&document(), 60, method, None);
            assert_eq!(response.status, 405);
            assert_eq!(header(&response, "allow"), Some("GET, HEAD"));
        }
    }

    #[test]
    fn path_only_drops_query_and_fragment() {
        assert_eq!(path_only("/a/b?x=1"), "/a/b");
        assert_eq!(path_only("/a#f"), "/a");
        assert_eq!(path_only(""), "");
    }
}
