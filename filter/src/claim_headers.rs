//! Unsigned claim headers (`x-pomerium-claim-<claim>`, Pomerium's
//! `jwt_claims_headers`) for applications that read identity without
//! verifying the assertion.

use crate::assertion::{Minted, OptionalClaim};
use crate::identity::{ExtraValue, Identity};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Sub,
    User,
    Email,
    Groups,
    Name,
    Sid,
    /// An extra claim a source maps (`claims.extra`), by name.
    Extra(String),
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

/// Whether a header parser would read `value` back as sent: no control
/// character (one could end the header), and no space or tab at either end
/// (RFC 9110 parsers trim them).
fn reads_back(value: &str) -> bool {
    let control = |c: char| c != '\t' && c.is_control();
    let trimmed = |c: char| c == ' ' || c == '\t';
    !value.chars().any(control) && !value.starts_with(trimmed) && !value.ends_with(trimmed)
}

impl ClaimHeader {
    /// The header's value for `identity`, whose token is `minted`; `None`
    /// leaves the header out. Left out: an empty claim; a claim the token
    /// left out for size; a value a header parser would not read back as
    /// sent (see [`reads_back`]); groups when one of them holds a comma
    /// (the list is joined with commas, so `["a,b", "c"]` would read as
    /// three groups); and a header line (`name: value`) longer than
    /// `max_line_bytes`. The signed assertion is always the source of truth.
    pub fn value(
        &self,
        identity: &Identity,
        minted: &Minted,
        max_line_bytes: usize,
    ) -> Option<String> {
        let text = |claim: OptionalClaim, value: &str| {
            (!minted.dropped_claims.contains(claim)).then(|| value.to_owned())
        };
        let list = |items: &[String]| {
            items
                .iter()
                .all(|item| !item.is_empty() && !item.contains(',') && reads_back(item))
                .then(|| items.join(","))
        };
        let value = match &self.claim {
            Claim::Sub => Some(identity.sub.clone()),
            Claim::User => Some(identity.user.clone()),
            Claim::Email => text(OptionalClaim::Email, &identity.email),
            Claim::Name => text(OptionalClaim::Name, &identity.name),
            Claim::Sid => text(OptionalClaim::Sid, &identity.sid),
            Claim::Groups if minted.groups_dropped() => None,
            Claim::Groups => list(&identity.groups),
            Claim::Extra(name) => {
                let (index, (_, value)) = identity
                    .extra
                    .iter()
                    .enumerate()
                    .find(|(_, (extra, _))| extra == name)?;
                if minted.dropped_claims.contains_extra(index) {
                    return None;
                }
                match value {
                    ExtraValue::Text(text) => Some(text.clone()),
                    ExtraValue::Number(number) => Some(number.to_string()),
                    ExtraValue::Bool(flag) => Some(flag.to_string()),
                    ExtraValue::List(items) => list(items),
                }
            }
        }?;
        let line_bytes = self.header.len() + 2 + value.len();
        (!value.is_empty() && reads_back(&value) && line_bytes <= max_line_bytes).then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assertion::DroppedClaims;

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
            extra: Vec::new(),
        }
    }

    /// A token minted with nothing left out.
    fn whole() -> Minted {
        Minted {
            token: String::new(),
            kid: "kid".into(),
            dropped_groups: 0,
            dropped_claims: DroppedClaims::default(),
        }
    }

    fn value(claim: Claim, identity: &Identity) -> Option<String> {
        header(claim).value(identity, &whole(), 8000)
    }

    #[test]
    fn values_per_claim_with_lists_comma_joined() {
        let alice = alice();
        assert_eq!(value(Claim::Sub, &alice).as_deref(), Some("u-1"));
        assert_eq!(value(Claim::User, &alice).as_deref(), Some("alice"));
        assert_eq!(value(Claim::Groups, &alice).as_deref(), Some("admins,dev"));
        assert_eq!(
            value(Claim::Name, &alice).as_deref(),
            Some("Alice \"Al\" Smith")
        );
        assert_eq!(value(Claim::Sid, &alice), None);
        let groups_dropped = Minted {
            dropped_groups: 2,
            ..whole()
        };
        assert_eq!(
            header(Claim::Groups).value(&alice, &groups_dropped, 8000),
            None
        );
    }

    #[test]
    fn extra_claims_render_by_type() {
        let mut alice = alice();
        alice.extra = vec![
            ("level".into(), ExtraValue::Number(3.into())),
            ("admin".into(), ExtraValue::Bool(false)),
            (
                "teams".into(),
                ExtraValue::List(vec!["a".into(), "b".into()]),
            ),
            ("dn".into(), ExtraValue::List(vec!["cn=x,o=y".into()])),
            ("dept".into(), ExtraValue::Text("R&D".into())),
        ];
        let extra = |name: &str, minted: &Minted| {
            header(Claim::Extra(name.into())).value(&alice, minted, 8000)
        };
        let whole = whole();
        assert_eq!(extra("level", &whole).as_deref(), Some("3"));
        assert_eq!(extra("admin", &whole).as_deref(), Some("false"));
        assert_eq!(extra("teams", &whole).as_deref(), Some("a,b"));
        assert_eq!(extra("dn", &whole), None, "a comma inside an item");
        assert_eq!(extra("dept", &whole).as_deref(), Some("R&D"));
        assert_eq!(extra("absent", &whole), None);
        let mut dropped = whole.clone();
        dropped.dropped_claims = crate::assertion::DroppedClaims::default();
        assert_eq!(extra("dept", &dropped).as_deref(), Some("R&D"));
    }

    #[test]
    fn claims_the_token_left_out_for_size_are_left_out_here_too() {
        let alice = alice();
        let minted = Minted {
            dropped_claims: DroppedClaims::of(&[OptionalClaim::Email]),
            ..whole()
        };
        assert_eq!(header(Claim::Email).value(&alice, &minted, 8000), None);
        assert_eq!(
            header(Claim::Name).value(&alice, &minted, 8000).as_deref(),
            Some("Alice \"Al\" Smith")
        );
    }

    #[test]
    fn a_line_longer_than_the_limit_is_left_out() {
        let identity = Identity {
            email: "e".repeat(100),
            ..alice()
        };
        // "x-h: " plus 100 bytes.
        assert!(
            header(Claim::Email)
                .value(&identity, &whole(), 105)
                .is_some()
        );
        assert_eq!(header(Claim::Email).value(&identity, &whole(), 104), None);
    }

    #[test]
    fn values_a_parser_would_misread_are_left_out() {
        let groups = |groups: &[&str]| {
            let identity = Identity {
                groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                ..alice()
            };
            value(Claim::Groups, &identity)
        };
        assert_eq!(groups(&["a,b", "c"]), None);
        assert_eq!(groups(&["a", "b", "c"]).as_deref(), Some("a,b,c"));
        assert_eq!(groups(&[" admins", "dev "]), None);
        assert_eq!(groups(&["admins", "dev "]), None);
        assert_eq!(groups(&["team a", "b"]).as_deref(), Some("team a,b"));
        assert_eq!(groups(&["CN=Admins,OU=Groups,DC=example"]), None);
        for name in [
            " Alice",
            "Alice ",
            "\tAlice",
            "a\r\nx-evil: 1",
            "a\nb",
            "a\0b",
            "a\u{7f}",
            "a\u{85}b",
        ] {
            let identity = Identity {
                name: name.into(),
                ..alice()
            };
            assert_eq!(value(Claim::Name, &identity), None, "{name:?}");
        }
        let tab = Identity {
            name: "a\tb".into(),
            ..alice()
        };
        assert_eq!(value(Claim::Name, &tab).as_deref(), Some("a\tb"));
    }

    #[test]
    fn every_name_parses() {
        for name in Claim::NAMES {
            assert!(Claim::from_name(name).is_some(), "{name}");
        }
        assert_eq!(Claim::from_name("Email"), None);
    }
}
