//! `envoy/route-settings.yaml`: settings per route and per virtual host,
//! named in route metadata. The assertions it mints are checked twice over:
//! by `jsonwebtoken`, and by a second Envoy in front of the app (the app
//! side) whose `jwt_authn` requires, per route, the audience that route's
//! settings sign for, so a token minted for one route is refused on another.

use serde_json::{Value, json};
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{
    ASSERTION_HEADER, AssertionVerifier, EchoUpstream, EchoedRequest, Envoy, JWKS_PATH,
    ShippedConfig, generate_key,
};
use signed_headers_keys::{Bundle, BundleKey, JwksDocument, KeyFormat};
use tempfile::TempDir;

use crate::shipped::{ShippedIdp, load_shipped_with_upstream_port, shipped_idp_token};

const FILE: &str = "route-settings.yaml";
/// The scope of tenant-b's signing keys, as the file's route settings name it.
const TENANT_SCOPE: &str = "tenant-b";

/// The groups alice's IdP token carries: each route's settings keep a
/// different part of them.
const GROUPS: [&str; 5] = [
    "staff",
    "billing-admins",
    "billing-readers",
    "tenant-b:admins",
    "tenant-b:users",
];

/// The app side: an Envoy whose `jwt_authn` verifies the assertion with
/// the public keys of the app's scope (tenant-b's apps trust only tenant-b's
/// keys), requiring on each route the audience the filter's settings for
/// that route sign for, then forwards to the echo.
fn app_side_bootstrap(app_jwks: &str, tenant_jwks: &str, echo_port: u16) -> String {
    let provider = |audience: &str, issuer: &str, jwks: &str| {
        json!({
            "issuer": issuer,
            "audiences": [audience],
            "from_headers": [{"name": ASSERTION_HEADER}],
            "forward": true,
            "local_jwks": {"inline_string": jwks},
        })
    };
    let per_route = |requirement: &str| {
        json!({"envoy.filters.http.jwt_authn": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig",
            "requirement_name": requirement,
        }})
    };
    let route = |prefix: &str, requirement: &str| {
        json!({"match": {"prefix": prefix}, "route": {"cluster": "echo"},
               "typed_per_filter_config": per_route(requirement)})
    };
    let bootstrap = json!({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [{
                "name": "app_side",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "app_side",
                        "route_config": {"virtual_hosts": [
                            {"name": "app", "domains": ["app.example.com"], "routes": [
                                route("/billing", "billing"),
                                route("/public", "app_or_none"),
                                route("/", "app"),
                            ]},
                            {"name": "tenant-b", "domains": ["tenant-b.example.com"], "routes": [
                                route("/admin", "tenant_b_admin"),
                                route("/", "tenant_b"),
                            ]},
                        ]},
                        "http_filters": [
                            {"name": "envoy.filters.http.jwt_authn", "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
                                "providers": {
                                    "app": provider("app.example.com", "app.example.com", app_jwks),
                                    "billing": provider("billing.internal", "app.example.com", app_jwks),
                                    "tenant_b": provider("tenant-b", "tenant-b.example.com", tenant_jwks),
                                    "tenant_b_admin": provider("tenant-b-admin", "tenant-b.example.com", tenant_jwks),
                                },
                                "requirement_map": {
                                    "app": {"provider_name": "app"},
                                    "app_or_none": {"requires_any": {"requirements": [
                                        {"provider_name": "app"}, {"allow_missing": {}}]}},
                                    "billing": {"provider_name": "billing"},
                                    "tenant_b": {"provider_name": "tenant_b"},
                                    "tenant_b_admin": {"provider_name": "tenant_b_admin"},
                                },
                            }},
                            {"name": "envoy.filters.http.router", "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
                        ],
                    },
                }]}],
            }],
            "clusters": [{
                "name": "echo",
                "type": "STATIC",
                "connect_timeout": "5s",
                "load_assignment": {"cluster_name": "echo", "endpoints": [{"lb_endpoints": [{
                    "endpoint": {"address": {"socket_address":
                        {"address": "127.0.0.1", "port_value": echo_port}}}}]}]},
            }],
        },
    });
    bootstrap.to_string()
}

struct RouteSettingsBed {
    // Drop order: the filter's Envoy, the app side, then what they talk to.
    envoy: Envoy,
    app_side: Envoy,
    upstream: EchoUpstream,
    idp: ShippedIdp,
    /// The JWKS of the unscoped keys, and of tenant-b's.
    app_jwks: String,
    tenant_jwks: String,
    _dir: TempDir,
}

impl RouteSettingsBed {
    /// `envoy/route-settings.yaml`, with `edit` applied to it before start.
    fn start(edit: impl FnOnce(ShippedConfig) -> ShippedConfig) -> Self {
        let upstream = EchoUpstream::start();
        let idp = ShippedIdp::start();
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        // An unscoped key for most routes, and tenant-b's own.
        let bundle = Bundle::from_keys(vec![
            generate_key(KeyFormat::Sec1),
            generate_key(KeyFormat::Sec1).in_scope(Some(TENANT_SCOPE)),
        ])
        .expect("a bundle");
        let jwks_of = |scope| {
            let keys: Vec<_> = bundle.keys_in_scope(scope).map(BundleKey::jwk).collect();
            JwksDocument::new(&keys).body().to_owned()
        };
        let (app_jwks, tenant_jwks) = (jwks_of(None), jwks_of(Some(TENANT_SCOPE)));
        let app_side = Envoy::start_shipped(
            &ShippedConfig::written(
                "app-side.json",
                app_side_bootstrap(&app_jwks, &tenant_jwks, upstream.address().port()),
            ),
            "app_side",
        );
        let config = load_shipped_with_upstream_port(FILE, app_side.listener_address().port());
        let (config, _) = idp.configure(config, dir.path());
        let config = config.env(
            "SIGNING_KEY",
            &base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bundle.to_pem()),
        );
        let envoy = Envoy::start_shipped(&edit(config), "ingress");
        Self {
            envoy,
            app_side,
            upstream,
            idp,
            app_jwks,
            tenant_jwks,
            _dir: dir,
        }
    }

    fn alice(&self) -> String {
        shipped_idp_token(
            &self.idp.idp,
            "alice",
            &json!({"groups": GROUPS, "email_verified": true}),
        )
    }

    /// GET `path` on `host` with `token`: the status, and what reached the
    /// app when it got there.
    fn get(&self, host: &str, path: &str, token: Option<&str>) -> (u16, Option<EchoedRequest>) {
        let mut request = Request::get(path)
            .host(host)
            .header("x-billing-user", "forged@example.com")
            .header("x-pomerium-claim-email", "forged@example.com");
        if let Some(token) = token {
            request = request.bearer(token);
        }
        let response = self.envoy.send(&request);
        let echoed = (response.status == 200).then(|| EchoedRequest::from_response(&response));
        (response.status, echoed)
    }

    /// The assertion the app gets for alice's request to `path` on `host`.
    fn minted(&self, host: &str, path: &str) -> String {
        let (status, echoed) = self.get(host, path, Some(&self.alice()));
        assert_eq!(status, 200, "{host}{path}");
        echoed
            .expect("reached the app")
            .single_header(ASSERTION_HEADER)
            .to_owned()
    }

    /// The JWKS the filter serves on `host`.
    fn jwks(&self, host: &str) -> String {
        let response = self.envoy.send(&Request::get(JWKS_PATH).host(host));
        assert_eq!(response.status, 200, "{}", response.text());
        response.text()
    }

    fn verifier(&self, host: &str) -> AssertionVerifier {
        AssertionVerifier::from_jwks(&self.jwks(host))
    }
}

fn groups(claims: &serde_json::Map<String, Value>) -> Vec<String> {
    serde_json::from_value(claims["groups"].clone()).expect("groups is a list of strings")
}

#[test]
fn each_route_and_virtual_host_signs_with_the_settings_it_names() {
    let bed = RouteSettingsBed::start(|config| config);
    let verifier = bed.verifier("app.example.com");
    let tenant_verifier = bed.verifier("tenant-b.example.com");
    let token = bed.alice();

    // Twice over, interleaved: the caches must not hand one route's
    // headers or token to another.
    for round in 0..2 {
        // The top level: aud the host, every group, the source's extra
        // claim, the top-level claim header.
        let (status, echoed) = bed.get("app.example.com", "/", Some(&token));
        assert_eq!(status, 200, "round {round}");
        let echoed = echoed.expect("reached the app");
        let top = verifier.verify(
            echoed.single_header(ASSERTION_HEADER),
            "app.example.com",
            "app.example.com",
        );
        assert_eq!(groups(&top.claims), GROUPS);
        assert_eq!(top.claims["email_verified"], json!(true));
        assert!(!top.claims.contains_key("service"));
        assert_eq!(
            echoed.single_header("x-pomerium-claim-email"),
            "alice@example.com"
        );
        assert!(
            echoed.header_values("x-billing-user").is_empty(),
            "{:#?}",
            echoed.headers
        );

        // /billing: its own audience, its groups, its claims and headers.
        let (status, echoed) = bed.get("app.example.com", "/billing/invoices", Some(&token));
        assert_eq!(status, 200, "round {round}");
        let echoed = echoed.expect("reached the app");
        let billing = verifier.verify(
            echoed.single_header(ASSERTION_HEADER),
            "app.example.com",
            "billing.internal",
        );
        assert_eq!(
            groups(&billing.claims),
            ["billing-admins", "billing-readers"]
        );
        assert_eq!(billing.claims["service"], json!("billing"));
        assert!(
            !billing.claims.contains_key("email_verified"),
            "left out by null"
        );
        assert_eq!(echoed.single_header("x-billing-user"), "alice@example.com");
        assert_eq!(echoed.single_header("x-billing-service"), "billing");
        assert!(echoed.header_values("x-pomerium-claim-email").is_empty());

        // The virtual host's settings, and a route's over them.
        let (status, echoed) = bed.get("tenant-b.example.com", "/", Some(&token));
        assert_eq!(status, 200, "round {round}");
        let tenant = tenant_verifier.verify(
            echoed
                .expect("reached the app")
                .single_header(ASSERTION_HEADER),
            "tenant-b.example.com",
            "tenant-b",
        );
        assert_eq!(
            groups(&tenant.claims),
            ["tenant-b:admins", "tenant-b:users"]
        );
        assert_eq!(tenant.claims["tenant"], json!("b"));
        let (status, echoed) = bed.get("tenant-b.example.com", "/admin/users", Some(&token));
        assert_eq!(status, 200, "round {round}");
        let admin = tenant_verifier.verify(
            echoed
                .expect("reached the app")
                .single_header(ASSERTION_HEADER),
            "tenant-b.example.com",
            "tenant-b-admin",
        );
        assert_eq!(groups(&admin.claims), ["tenant-b:admins"]);
    }

    // unauthenticated: /public passes without a token, / denies.
    let (status, echoed) = bed.get("app.example.com", "/public/about", None);
    assert_eq!(status, 200);
    let echoed = echoed.expect("reached the app");
    assert!(echoed.header_values(ASSERTION_HEADER).is_empty());
    assert!(
        echoed.header_values("x-billing-user").is_empty(),
        "stripped on every route"
    );
    let (status, _) = bed.get("app.example.com", "/", None);
    assert_eq!(status, 401);
    let (status, _) = bed.get("tenant-b.example.com", "/", None);
    assert_eq!(status, 401, "tenant-b's settings keep the top-level deny");
}

/// The app side's `jwt_authn` answer for `assertion` on `path`: 403 for a
/// token whose audience the route does not accept.
fn app_side_status(bed: &RouteSettingsBed, host: &str, path: &str, assertion: &str) -> u16 {
    bed.app_side
        .send(
            &Request::get(path)
                .host(host)
                .header(ASSERTION_HEADER, assertion),
        )
        .status
}

#[test]
fn a_token_minted_for_one_route_is_refused_on_another_by_envoy_jwt_authn() {
    let bed = RouteSettingsBed::start(|config| config);
    let top = bed.minted("app.example.com", "/");
    let billing = bed.minted("app.example.com", "/billing/");
    let tenant = bed.minted("tenant-b.example.com", "/");
    let admin = bed.minted("tenant-b.example.com", "/admin/");

    let cases = [
        ("app.example.com", "/", &top, 200),
        ("app.example.com", "/", &billing, 403),
        ("app.example.com", "/billing/", &billing, 200),
        ("app.example.com", "/billing/", &top, 403),
        ("tenant-b.example.com", "/", &tenant, 200),
        ("tenant-b.example.com", "/", &admin, 403),
        ("tenant-b.example.com", "/admin/", &admin, 200),
        ("tenant-b.example.com", "/admin/", &tenant, 403),
        // Another issuer too (the host it was minted on).
        ("tenant-b.example.com", "/admin/", &top, 401),
    ];
    for (host, path, assertion, expected) in cases {
        assert_eq!(
            app_side_status(&bed, host, path, assertion),
            expected,
            "{host}{path}"
        );
    }
}

#[test]
fn a_route_naming_settings_the_filter_lacks_is_refused_and_logged() {
    let bed = RouteSettingsBed::start(|config| {
        config.substitute(
            "signed_headers: {settings: public}",
            "signed_headers: {settings: pubic}",
        )
    });
    let before = bed.upstream.request_count();
    for token in [Some(bed.alice()), None] {
        let (status, _) = bed.get("app.example.com", "/public/", token.as_deref());
        assert_eq!(status, 500);
    }
    assert_eq!(
        bed.upstream.request_count(),
        before,
        "nothing reached the app"
    );
    // Other routes are unaffected.
    let (status, _) = bed.get("app.example.com", "/", Some(&bed.alice()));
    assert_eq!(status, 200);
    bed.envoy.wait_for_log_line(
        &["route_settings does not define", "\"pubic\""],
        std::time::Duration::from_secs(10),
    );
}

/// The kids of a JWKS document.
fn kids(jwks: &str) -> Vec<String> {
    let document: Value = serde_json::from_str(jwks).expect("a JWKS");
    document["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("a kid").to_owned())
        .collect()
}

/// What each verifier we ship says of `token` against `jwks`: "ok" or the
/// refusal's code. Rust, JavaScript (Node) and Python, with `issuer` and
/// `audience` the token's own, so only the key decides.
fn every_verifier(jwks: &str, token: &str, issuer: &str, audience: &str) -> [(String, String); 3] {
    let rust = signed_headers_verifier::Verifier::from_jwks(
        signed_headers_verifier::Policy::new(issuer, audience),
        jwks,
    )
    .expect("a JWKS")
    .verify(token)
    .map_or_else(|error| error.code().to_owned(), |_| "ok".to_owned());
    let root = signed_headers_e2e::repository_root();
    let script = |program: &str, args: &[&str]| {
        let output = std::process::Command::new(program)
            .args(args)
            .env("JWKS", jwks)
            .env("TOKEN", token)
            .env("ISSUER", issuer)
            .env("AUDIENCE", audience)
            .output()
            .unwrap_or_else(|err| panic!("cannot run {program}: {err}"));
        assert!(
            output.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let package = root.join("verifier-js/npm/index.js");
    let javascript = script(
        "node",
        &[
            "--input-type=module",
            "-e",
            &format!(
                "import {{ Verifier }} from {:?};
                 const {{ JWKS, TOKEN, ISSUER, AUDIENCE }} = process.env;
                 const v = new Verifier({{ jwks: JWKS, issuer: ISSUER, audience: AUDIENCE }});
                 console.log(await v.verify(TOKEN).then(() => 'ok', (e) => e.code));",
                package.display().to_string()
            ),
        ],
    );
    let python = script(
        &root.join(".venv/bin/python").display().to_string(),
        &[
            "-c",
            "import os\n\
             from signed_headers_verifier import Verifier, VerificationError\n\
             e = os.environ\n\
             v = Verifier(jwks=e['JWKS'], issuer=e['ISSUER'], audience=e['AUDIENCE'])\n\
             try:\n    v.verify(e['TOKEN']); print('ok')\n\
             except VerificationError as error:\n    print(error.code)\n",
        ],
    );
    [
        ("Rust".to_owned(), rust),
        ("JavaScript".to_owned(), javascript),
        ("Python".to_owned(), python),
    ]
}

#[test]
fn a_tenant_key_signs_only_for_its_tenant_and_no_other_host_trusts_it() {
    let bed = RouteSettingsBed::start(|config| config);
    // Each host publishes its scope's keys, and only those.
    let (app_jwks, tenant_jwks) = (
        bed.jwks("app.example.com"),
        bed.jwks("tenant-b.example.com"),
    );
    assert_eq!(kids(&app_jwks), kids(&bed.app_jwks));
    assert_eq!(kids(&tenant_jwks), kids(&bed.tenant_jwks));
    assert!(
        kids(&app_jwks)
            .iter()
            .all(|kid| !kids(&tenant_jwks).contains(kid))
    );

    let app_token = bed.minted("app.example.com", "/");
    let tenant_token = bed.minted("tenant-b.example.com", "/");
    let kid_of = |token: &str| {
        signed_headers_e2e::decode_segment(token, 0)["kid"]
            .as_str()
            .expect("a kid")
            .to_owned()
    };
    assert!(kids(&tenant_jwks).contains(&kid_of(&tenant_token)));
    assert!(kids(&app_jwks).contains(&kid_of(&app_token)));

    // Every verifier: a token passes against its own host's JWKS, and is
    // refused as signed by an unknown key against the other host's, even
    // with the issuer and audience it was minted for.
    for (token, issuer, audience, own, other) in [
        (
            &app_token,
            "app.example.com",
            "app.example.com",
            &app_jwks,
            &tenant_jwks,
        ),
        (
            &tenant_token,
            "tenant-b.example.com",
            "tenant-b",
            &tenant_jwks,
            &app_jwks,
        ),
    ] {
        for (language, verdict) in every_verifier(own, token, issuer, audience) {
            assert_eq!(verdict, "ok", "{language} on its own host's JWKS");
        }
        for (language, verdict) in every_verifier(other, token, issuer, audience) {
            assert_eq!(
                verdict, "unknown_key",
                "{language} on the other host's JWKS"
            );
        }
        // jsonwebtoken, as any JWT library an app might use: no key.
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(other).expect("a JWKS");
        assert!(set.find(&kid_of(token)).is_none());
    }
    // And Envoy's jwt_authn on the app side, trusting tenant-b's keys on
    // tenant-b's routes: the app host's token is refused there.
    assert_eq!(
        app_side_status(&bed, "tenant-b.example.com", "/", &app_token),
        401
    );
}
