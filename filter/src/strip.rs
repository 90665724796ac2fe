//! Which client-supplied headers never reach the upstream.

/// Header names and prefixes to remove, stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripRules {
    names: Vec<String>,
    prefixes: Vec<String>,
}

/// Always stripped, whatever the configuration: a client must never be able
/// to hand the upstream an assertion or claim of its own.
const BUILT_IN_NAMES: [&str; 2] = ["x-pomerium-jwt-assertion", "x-pomerium-jwt-assertion-for"];
const BUILT_IN_PREFIXES: [&str; 1] = ["x-pomerium-claim-"];

impl StripRules {
    /// The built-in rules plus the configured assertion header and extras
    /// (all already lowercase).
    pub fn new(assertion_header: &str, names: Vec<String>, prefixes: Vec<String>) -> Self {
        let mut all_names: Vec<String> = BUILT_IN_NAMES.iter().map(|n| (*n).to_owned()).collect();
        all_names.push(assertion_header.to_owned());
        all_names.extend(names);
        all_names.sort();
        all_names.dedup();
        let mut all_prefixes: Vec<String> =
            BUILT_IN_PREFIXES.iter().map(|p| (*p).to_owned()).collect();
        all_prefixes.extend(prefixes);
        all_prefixes.sort();
        all_prefixes.dedup();
        Self {
            names: all_names,
            prefixes: all_prefixes,
        }
    }

    /// True when a header of this name (any letter case) must be removed.
    pub fn should_strip(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
            || self.prefixes.iter().any(|prefix| {
                name.get(..prefix.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
            })
    }

    /// The distinct names among `header_names` that must be removed, in
    /// first-seen order; each is removed once with all its values.
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
            vec!["x-extra".into()],
            vec!["x-internal-".into()],
        )
    }

    #[test]
    fn strips_built_in_configured_and_prefixed_names_in_any_case() {
        let rules = rules();
        for name in [
            "x-pomerium-jwt-assertion",
            "X-Pomerium-Jwt-Assertion",
            "x-pomerium-jwt-assertion-for",
            "x-pomerium-claim-email",
            "X-POMERIUM-CLAIM-GROUPS",
            "x-signed",
            "X-Extra",
            "x-internal-anything",
        ] {
            assert!(rules.should_strip(name), "{name} should be stripped");
        }
        for name in [
            "x-pomerium-jwt-assertion-x",
            "x-pomerium-claim",
            "authorization",
            "x-internal",
            "x-extras",
            "",
            "é",
        ] {
            assert!(!rules.should_strip(name), "{name} should be kept");
        }
    }

    #[test]
    fn select_returns_each_name_once() {
        let headers = [
            "host",
            "x-pomerium-jwt-assertion",
            "X-Pomerium-Jwt-Assertion",
            "x-pomerium-claim-email",
            "x-pomerium-jwt-assertion",
        ];
        assert_eq!(
            rules().select(headers),
            vec!["x-pomerium-jwt-assertion", "x-pomerium-claim-email"]
        );
    }
}
