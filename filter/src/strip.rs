//! Which client-supplied headers never reach the upstream.
//!
//! Names are compared with `-` and `_` as the same character, in any letter
//! case: CGI, WSGI, PHP and Rack turn both `x-pomerium-jwt-assertion` and
//! `x_pomerium_jwt_assertion` into `HTTP_X_POMERIUM_JWT_ASSERTION`, and
//! Envoy forwards underscore names unless `headers_with_underscores_action`
//! says otherwise. A forged underscore spelling must go like the real one.

/// Header names and prefixes to remove, stored in canonical form (lowercase,
/// `_` as `-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripRules {
    names: Vec<String>,
    prefixes: Vec<String>,
}

/// Always stripped, whatever the configuration: a client must never be able
/// to hand the upstream an assertion or claim of its own.
const BUILT_IN_NAMES: [&str; 2] = ["x-pomerium-jwt-assertion", "x-pomerium-jwt-assertion-for"];
const BUILT_IN_PREFIXES: [&str; 1] = ["x-pomerium-claim-"];

/// The byte as the strip rules compare it.
fn canonical_byte(byte: u8) -> u8 {
    match byte {
        b'_' => b'-',
        other => other.to_ascii_lowercase(),
    }
}

fn canonical(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// Whether `name` starts with `canonical_prefix` once canonicalized.
fn has_canonical_prefix(name: &[u8], canonical_prefix: &[u8]) -> bool {
    name.len() >= canonical_prefix.len()
        && name
            .iter()
            .zip(canonical_prefix)
            .all(|(byte, expected)| canonical_byte(*byte) == *expected)
}

impl StripRules {
    /// The built-in rules plus the configured assertion header and extras.
    pub fn new(assertion_header: &str, names: Vec<String>, prefixes: Vec<String>) -> Self {
        let collect = |built_in: &[&str], extra: Vec<String>| {
            let mut all: Vec<String> = built_in
                .iter()
                .map(|name| canonical(name))
                .chain(extra.iter().map(|name| canonical(name)))
                .collect();
            crate::sort::sort_unstable(&mut all);
            all.dedup();
            all
        };
        let mut names = names;
        names.push(assertion_header.to_owned());
        Self {
            names: collect(&BUILT_IN_NAMES, names),
            prefixes: collect(&BUILT_IN_PREFIXES, prefixes),
        }
    }

    /// True when a header of this name must be removed: it matches a name or
    /// starts with a prefix, in any letter case and either spelling of `-`.
    pub fn should_strip(&self, name: &str) -> bool {
        let name = name.as_bytes();
        self.names.iter().any(|stripped| {
            stripped.len() == name.len() && has_canonical_prefix(name, stripped.as_bytes())
        }) || self
            .prefixes
            .iter()
            .any(|prefix| has_canonical_prefix(name, prefix.as_bytes()))
    }

    /// The distinct names among `header_names` that must be removed, in
    /// first-seen order. Each is removed once with all its values (Envoy's
    /// header map ignores letter case, but `x-a` and `x_a` are two names).
    pub fn select<'a>(&self, header_names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let mut selected: Vec<&str> = Vec::new();
        for name in header_names {
            if self.should_strip(name) && !selected.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                selected.push(name);
            }
        }
        selected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> StripRules {
        StripRules::new(
            "x-signed",
            vec!["x-extra".into(), "x_under".into()],
            vec!["x-internal-".into()],
        )
    }

    #[test]
    fn strips_built_in_configured_and_prefixed_names_in_any_case_and_spelling() {
        let rules = rules();
        for name in [
            "x-pomerium-jwt-assertion",
            "X-Pomerium-Jwt-Assertion",
            "x_pomerium_jwt_assertion",
            "X_Pomerium-Jwt_ASSERTION",
            "x-pomerium-jwt-assertion-for",
            "x_pomerium_jwt_assertion_for",
            "x-pomerium-claim-email",
            "X-POMERIUM-CLAIM-GROUPS",
            "X_Pomerium_Claim_Email",
            "x_pomerium_claim_",
            "x-signed",
            "x_SIGNED",
            "X-Extra",
            "x_extra",
            "x-under",
            "x_under",
            "x-internal-anything",
            "x_internal_anything",
        ] {
            assert!(rules.should_strip(name), "{name} should be stripped");
        }
        for name in [
            "x-pomerium-jwt-assertion-x",
            "x_pomerium_jwt_assertion_x",
            "x-pomerium-claim",
            "x_pomerium_claim",
            "xpomerium-jwt-assertion",
            "x-pomerium-jwt-assertio",
            "authorization",
            "x-internal",
            "x-extras",
            "",
            "é",
            "x-pomerium-jwt-assertioné",
        ] {
            assert!(!rules.should_strip(name), "{name} should be kept");
        }
    }

    #[test]
    fn select_returns_each_name_once_and_both_spellings() {
        let headers = [
            "host",
            "x-pomerium-jwt-assertion",
            "X-Pomerium-Jwt-Assertion",
            "x_pomerium_jwt_assertion",
            "x-pomerium-claim-email",
            "X_POMERIUM_JWT_ASSERTION",
            "x-pomerium-jwt-assertion",
        ];
        assert_eq!(
            rules().select(headers),
            vec![
                "x-pomerium-jwt-assertion",
                "x_pomerium_jwt_assertion",
                "x-pomerium-claim-email"
            ]
        );
    }
}
