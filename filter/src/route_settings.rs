//! Settings per route: named sets of overrides in the filter's own
//! configuration (`route_settings`), which a route or a virtual host picks
//! by name in its metadata (`metadata.filter_metadata.signed_headers.settings`).
//!
//! Why names in metadata rather than the values themselves: Envoy gives a
//! Wasm filter no per-route configuration of its own (a `Wasm` filter's
//! `typed_per_filter_config` can only disable it), while route and virtual
//! host metadata reach it as `xds.route_metadata` and
//! `xds.virtual_host_metadata`. Values there could only be checked per
//! request; names point at settings checked with the rest of the
//! configuration, so a bad value is refused before Envoy takes it. A name
//! the configuration lacks can only be seen per request: such a request is
//! answered 500 and never signed (see [`Selection::Unknown`]).

use crate::claim_headers::ClaimHeader;
use crate::config::{Audience, UnauthenticatedPolicy};
use crate::data::{Metadata, Value};
use crate::groups::GroupsPolicy;
use crate::identity::{ExtraValue, Identity};

/// The metadata namespace routes name their settings under, unless
/// `route_metadata_namespace` says otherwise.
pub const DEFAULT_ROUTE_METADATA_NAMESPACE: &str = "signed_headers";
/// The key in that namespace whose string value names the settings.
pub const ROUTE_METADATA_KEY: &str = "settings";
pub const MAX_ROUTE_SETTINGS: usize = 1024;
pub const MAX_NAME_BYTES: usize = 128;

/// One set of overrides: each field, when set, replaces the top-level
/// setting of the same name for the routes that name it.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSettings {
    pub name: String,
    pub audience: Option<Audience>,
    pub groups: Option<GroupsPolicy>,
    /// Extra claims this route sets (`Some`) or leaves out (`None`), over
    /// those the identity source maps.
    pub extra_claims: Vec<(String, Option<ExtraValue>)>,
    pub claim_headers: Option<Vec<ClaimHeader>>,
    pub unauthenticated: Option<UnauthenticatedPolicy>,
    /// The scope whose keys sign on these routes and whose JWKS their
    /// hosts serve; `None` keeps the top-level one.
    pub signing_scope: Option<SigningScope>,
}

/// Which bundle keys sign and are published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigningScope {
    /// `None`: the unscoped keys.
    pub name: Option<String>,
    /// The JWKS also publishes the unscoped keys.
    pub publish_unscoped_keys: bool,
}

impl RouteSettings {
    /// Applies this route's extra claims to an identity read from a source.
    pub fn apply_extra_claims(&self, identity: &mut Identity) {
        if self.extra_claims.is_empty() {
            return;
        }
        for (name, value) in &self.extra_claims {
            identity.extra.retain(|(existing, _)| existing != name);
            if let Some(value) = value {
                identity.extra.push((name.clone(), value.clone()));
            }
        }
        crate::sort::sort_unstable_by(&mut identity.extra, |(a, _), (b, _)| a.cmp(b));
    }
}

/// Every named set, and where routes name them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteProfiles {
    namespace: String,
    /// Sorted by name.
    profiles: Vec<RouteSettings>,
}

/// What a request's route says about its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The settings at this index of [`RouteProfiles::get`].
    Named(usize),
    /// The route names settings the configuration does not have (or names
    /// them with something other than a string): a configuration mistake
    /// only a request can reveal. Never signed with the top-level settings,
    /// which could carry another audience.
    Unknown(String),
}

impl RouteProfiles {
    /// `profiles` as validated by the configuration, under `namespace`.
    pub fn new(namespace: String, mut profiles: Vec<RouteSettings>) -> Self {
        crate::sort::sort_unstable_by(&mut profiles, |a, b| a.name.cmp(&b.name));
        Self {
            namespace,
            profiles,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&RouteSettings> {
        self.profiles.get(index)
    }

    /// Every named set, sorted by name (index `i` is [`Effective::key`]
    /// `i + 1`).
    pub fn all(&self) -> &[RouteSettings] {
        &self.profiles
    }

    /// Every header name any named settings set, so that a client's copy is
    /// stripped on every route.
    pub fn claim_header_names(&self) -> impl Iterator<Item = &str> {
        self.profiles
            .iter()
            .filter_map(|profile| profile.claim_headers.as_deref())
            .flatten()
            .map(|claim_header| claim_header.header.as_str())
    }

    /// What `metadata` (a serialized `envoy.config.core.v3.Metadata`: a
    /// route's or a virtual host's) says; `None` when it has nothing under
    /// the namespace, and the next level decides.
    pub fn named_in(&self, metadata: &[u8]) -> Option<Selection> {
        let namespace = Metadata::new(metadata).namespace(&self.namespace)?;
        Some(match namespace.get(ROUTE_METADATA_KEY) {
            Some(Value::String(name)) => match self
                .profiles
                .binary_search_by(|profile| profile.name.as_str().cmp(name))
            {
                Ok(index) => Selection::Named(index),
                Err(_) => Selection::Unknown(format!("\"{name}\"")),
            },
            Some(_) => Selection::Unknown(format!(
                "a {}.{ROUTE_METADATA_KEY} that is not a string",
                self.namespace
            )),
            None => Selection::Unknown(format!(
                "{} metadata without a {ROUTE_METADATA_KEY} key",
                self.namespace
            )),
        })
    }
}

/// The settings one request is served with: the top-level ones, with the
/// overrides its route (or virtual host) names.
#[derive(Debug, Clone, Copy)]
pub struct Effective<'a> {
    pub audience: Option<&'a Audience>,
    pub groups: &'a GroupsPolicy,
    pub claim_headers: &'a [ClaimHeader],
    pub unauthenticated: UnauthenticatedPolicy,
    pub route: Option<&'a RouteSettings>,
    /// 0 for the top-level settings, 1 + the index of named ones: part of
    /// the request cache's key, since each can set other headers.
    pub key: u32,
}

impl<'a> Effective<'a> {
    pub fn new(settings: &'a crate::config::Settings, selection: Option<usize>) -> Self {
        let route = selection.and_then(|index| settings.routes.get(index));
        let key = selection
            .filter(|_| route.is_some())
            .and_then(|index| u32::try_from(index).ok())
            .map_or(0, |index| index.saturating_add(1));
        Self {
            audience: route
                .and_then(|route| route.audience.as_ref())
                .or(settings.audience.as_ref()),
            groups: route
                .and_then(|route| route.groups.as_ref())
                .unwrap_or(&settings.groups),
            claim_headers: route
                .and_then(|route| route.claim_headers.as_deref())
                .unwrap_or(&settings.claim_headers),
            unauthenticated: route
                .and_then(|route| route.unauthenticated)
                .unwrap_or(settings.unauthenticated),
            route,
            key,
        }
    }

    /// Whether `iss` or `aud` names the request host, which must then be
    /// valid before anything is signed.
    pub fn names_request_host(&self, issuer: &crate::config::Issuer) -> bool {
        !matches!(issuer, crate::config::Issuer::Fixed(_)) || self.audience.is_none()
    }

    /// The route's extra claims over the identity's.
    pub fn apply_extra_claims(&self, identity: &mut Identity) {
        if let Some(route) = self.route {
            route.apply_extra_claims(identity);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::{Environment, Settings};
    use crate::data::value::encode;

    fn settings() -> Settings {
        let json = json!({"audience": "top", "route_settings": {
            "b": {"audience": "b-aud", "unauthenticated": "pass"},
            "a": {"groups": {"allow": ["x"]}, "extra_claims": {"tenant": {"value": "a"}}},
        }});
        Settings::parse(json.to_string().as_bytes(), Environment::default()).unwrap()
    }

    fn metadata(namespace: &str, fields: serde_json::Value) -> Vec<u8> {
        encode::metadata(&[(namespace, &fields)])
    }

    #[test]
    fn a_route_picks_settings_by_name_and_wins_over_its_virtual_host() {
        let settings = settings();
        let routes = &settings.routes;
        let named = |name: &str| metadata("signed_headers", json!({"settings": name}));
        assert_eq!(routes.named_in(&named("a")), Some(Selection::Named(0)));
        assert_eq!(routes.named_in(&named("b")), Some(Selection::Named(1)));
        assert_eq!(
            routes.named_in(&named("c")),
            Some(Selection::Unknown("\"c\"".into()))
        );
        // Another namespace, or none: the next level decides.
        assert_eq!(
            routes.named_in(&metadata("other", json!({"settings": "a"}))),
            None
        );
        assert_eq!(routes.named_in(&[]), None);
        // The namespace without a usable name: refused, never the top level.
        assert!(matches!(
            routes.named_in(&metadata("signed_headers", json!({"settings": 1}))),
            Some(Selection::Unknown(_))
        ));
        assert!(matches!(
            routes.named_in(&metadata("signed_headers", json!({}))),
            Some(Selection::Unknown(_))
        ));
    }

    #[test]
    fn effective_settings_replace_only_what_the_route_names() {
        let settings = settings();
        let top = Effective::new(&settings, None);
        assert_eq!(top.key, 0);
        assert_eq!(top.audience, Some(&Audience::One("top".into())));
        assert_eq!(top.unauthenticated, UnauthenticatedPolicy::Deny);

        let a = Effective::new(&settings, Some(0));
        assert_eq!(a.key, 1);
        assert_eq!(a.audience, Some(&Audience::One("top".into())), "kept");
        assert_eq!(a.groups.allow, ["x"]);
        let mut identity = Identity::anonymous();
        identity.extra = vec![
            ("tenant".into(), ExtraValue::Text("from the IdP".into())),
            ("zone".into(), ExtraValue::Bool(true)),
        ];
        a.apply_extra_claims(&mut identity);
        assert_eq!(
            identity.extra,
            vec![
                ("tenant".into(), ExtraValue::Text("a".into())),
                ("zone".into(), ExtraValue::Bool(true)),
            ]
        );

        let b = Effective::new(&settings, Some(1));
        assert_eq!(b.key, 2);
        assert_eq!(b.audience, Some(&Audience::One("b-aud".into())));
        assert_eq!(b.unauthenticated, UnauthenticatedPolicy::Pass);
        assert_eq!(b.groups, &GroupsPolicy::default());
    }
}
