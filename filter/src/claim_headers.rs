//! Unsigned claim headers (`x-pomerium-claim-<claim>`, Pomerium's
//! `jwt_claims_headers`) for applications that read identity without
//! verifying the assertion.

use crate::identity::Identity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Sub,
    User,
    Email,
    Groups,
    Name,
    Sid,
}

impl Claim {
    pub const NAMES: [&'static str; 6] = ["sub", "user", "email", "groups", "name", "sid"];

    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "sub" => Claim::Sub,
            "user" => Claim::User,
            "email" => Claim::Email,
            "groups" => Claim::Groups,
            "name" => Claim::Name,
            "sid" => Claim::Sid,
            _ => return None,
        })
    }
}

/// One configured claim header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimHeader {
    pub claim: Claim,
    pub header: String,
}

impl ClaimHeader {
    /// The header's value for `identity`, whose groups the assertion carries
    /// unless `groups_dropped`. `None` when the claim is empty, or when the
    /// value holds a control character that would corrupt the header (the
    /// signed assertion still carries it, JSON-escaped).
    pub fn value(&self, identity: &Identity, groups_dropped: bool) -> Option<String> {
        let value = match self.claim {
            Claim::Sub => identity.sub.clone(),
            Claim::User => identity.user.clone(),
            Claim::Email => identity.email.clone(),
            Claim::Groups if groups_dropped => String::new(),
            Claim::Groups => identity.groups.join(","),
            Claim::Name => identity.name.clone(),
            Claim::Sid => identity.sid.clone(),
        };
        let safe = |c: char| c == '\t' || !c.is_control();
        (!value.is_empty() && value.chars().all(safe)).then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(claim: Claim) -> ClaimHeader {
        ClaimHeader {
            claim,
            header: "x-h".into(),
        }
    }

    fn alice() -> Identity {
        Identity {
            sub: "u-1".into(),
            user: "alice".into(),
            email: "alice@example.com".into(),
            groups: vec!["admins".into(), "dev".into()],
            name: "Alice \"Al\" Smith".into(),
            sid: String::new(),
            groups_truncated: false,
        }
    }

    #[test]
    fn values_per_claim_with_lists_comma_joined() {
        let alice = alice();
        assert_eq!(
            header(Claim::Sub).value(&alice, false).as_deref(),
            Some("u-1")
        );
        assert_eq!(
            header(Claim::User).value(&alice, false).as_deref(),
            Some("alice")
        );
        assert_eq!(
            header(Claim::Groups).value(&alice, false).as_deref(),
            Some("admins,dev")
        );
        assert_eq!(
            header(Claim::Name).value(&alice, false).as_deref(),
            Some("Alice \"Al\" Smith")
        );
        assert_eq!(header(Claim::Sid).value(&alice, false), None);
        assert_eq!(header(Claim::Groups).value(&alice, true), None);
    }

    #[test]
    fn control_characters_never_reach_a_header() {
        for name in ["a\r\nx-evil: 1", "a\nb", "a\0b", "a\u{7f}", "a\u{85}b"] {
            let identity = Identity {
                name: name.into(),
                ..alice()
            };
            assert_eq!(
                header(Claim::Name).value(&identity, false),
                None,
                "{name:?}"
            );
        }
        let tab = Identity {
            name: "a\tb".into(),
            ..alice()
        };
        assert_eq!(
            header(Claim::Name).value(&tab, false).as_deref(),
            Some("a\tb")
        );
    }

    #[test]
    fn every_name_parses() {
        for name in Claim::NAMES {
            assert!(Claim::from_name(name).is_some(), "{name}");
        }
        assert_eq!(Claim::from_name("Email"), None);
    }
}
