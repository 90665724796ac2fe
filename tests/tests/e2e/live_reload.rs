//! `envoy/live-reload.yaml`: the filter's configuration, signing keys
//! included, comes from a discovery file `signing-key envoy-config` writes;
//! Envoy applies each new file without a restart. Rotation steps are run
//! with the real CLI against a running Envoy.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use signed_headers_e2e::http::Request;
use signed_headers_e2e::{
    ASSERTION_HEADER, AssertionVerifier, EchoUpstream, EchoedRequest, Envoy, JWKS_PATH,
    ShippedConfig, filter_wasm, run_signing_key, try_signing_key,
};
use signed_headers_keys::KEK_ENV;
use tempfile::TempDir;

use crate::shipped::{ShippedIdp, load_shipped_without_filter};
use crate::support::{assert_no_key_material, private_key_fragments};

const FILE: &str = "live-reload.yaml";
const DISCOVERY_FILE: &str = "filter.json";
/// How long a new discovery file may take to be served everywhere. Envoy
/// needs about 10 ms; this only bounds a hang.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(15);
/// Consecutive JWKS answers (each on a new connection, so both workers are
/// asked) that must agree before a reload counts as done everywhere.
const AGREEING_ANSWERS: usize = 12;

/// What the JWKS path says about the live key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKeys {
    pub signing_kid: String,
    pub etag: String,
    pub kids: Vec<String>,
    pub body: String,
}

/// Envoy running `envoy/live-reload.yaml`, its discovery file written from a
/// bundle by the CLI.
pub struct LiveReloadBed {
    pub envoy: Envoy,
    pub upstream: EchoUpstream,
    idp: ShippedIdp,
    config: ShippedConfig,
    dir: TempDir,
    sealed: bool,
}

impl LiveReloadBed {
    /// Starts Envoy with `discovery_dir`/filter.json already written from a
    /// new one-key bundle (`keys.pem` in the test directory). With
    /// `kubernetes`, the directory is laid out as kubelet mounts a Secret
    /// (`filter.json -> ..data/filter.json`, `..data -> ..<timestamp>`).
    pub fn start(kubernetes: bool) -> Self {
        Self::start_with_settings(kubernetes, &json!({}))
    }

    /// [`Self::start`] with these plugin settings in the discovery file.
    pub fn start_with_settings(kubernetes: bool, settings: &Value) -> Self {
        Self::start_with(kubernetes, settings, false)
    }

    /// [`Self::start`], the bundle sealed in the discovery file (`envoy-config
    /// --seal`) under a new KEK (`kek` in the test directory) that Envoy
    /// has in its environment.
    pub fn start_sealed() -> Self {
        Self::start_with(false, &json!({}), true)
    }

    fn start_with(kubernetes: bool, settings: &Value, sealed: bool) -> Self {
        let upstream = EchoUpstream::start();
        let idp = ShippedIdp::start();
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        let discovery_dir = dir.path().join("signed-headers");
        std::fs::create_dir(&discovery_dir).expect("cannot create the discovery directory");
        let bed_paths = Paths {
            root: dir.path().to_path_buf(),
            sealed,
        };
        if sealed {
            run_signing_key(&[
                "generate-kek".as_ref(),
                "-o".as_ref(),
                bed_paths.kek().as_os_str(),
            ]);
        }
        std::fs::write(bed_paths.settings(), settings.to_string())
            .expect("cannot write the plugin settings");
        run_signing_key(&[
            "generate".as_ref(),
            "-o".as_ref(),
            bed_paths.bundle().as_os_str(),
        ]);
        if kubernetes {
            bed_paths.publish_kubernetes_style(1);
        } else {
            bed_paths.write_discovery_file();
        }

        let (config, _) = idp.configure(load_shipped_without_filter(FILE, &upstream), dir.path());
        let config = config
            .substitute(
                "path: /etc/envoy/signed-headers/filter.json",
                &format!("path: {}", discovery_dir.join(DISCOVERY_FILE).display()),
            )
            .substitute(
                "{path: /etc/envoy/signed-headers}",
                &format!("{{path: {}}}", discovery_dir.display()),
            );
        let config = if sealed {
            config.env(KEK_ENV, bed_paths.kek_text().trim())
        } else {
            config
        };
        let envoy = Envoy::start_shipped(&config, "ingress");
        Self {
            envoy,
            upstream,
            idp,
            config,
            dir,
            sealed,
        }
    }

    /// Another Envoy with the same configuration and discovery file: a
    /// second replica serving the same bundle.
    pub fn start_replica(&self) -> Envoy {
        Envoy::start_shipped(&self.config, "ingress")
    }

    /// The plugin settings file the discovery file is written with.
    pub fn settings(&self) -> PathBuf {
        self.paths().settings()
    }

    /// The discovery file.
    pub fn discovery_file(&self) -> PathBuf {
        self.paths().discovery_file()
    }

    /// An IdP token for `subject` that the shipped `jwt_authn` accepts.
    pub fn idp_token(&self, subject: &str) -> String {
        self.idp.token(subject)
    }

    fn paths(&self) -> Paths {
        Paths {
            root: self.dir.path().to_path_buf(),
            sealed: self.sealed,
        }
    }

    /// The bundle the rotation edits.
    pub fn bundle(&self) -> PathBuf {
        self.paths().bundle()
    }

    /// Runs a `signing-key` edit of the bundle (`add`, `promote`, ...).
    pub fn edit_bundle(&self, command: &str, extra: &[&str]) -> String {
        let bundle = self.bundle();
        let mut args: Vec<&std::ffi::OsStr> = vec![command.as_ref(), bundle.as_os_str()];
        args.extend(extra.iter().map(|arg| std::ffi::OsStr::new(*arg)));
        run_signing_key(&args)
    }

    /// Like [`Self::edit_bundle`], for a step that must be refused: returns
    /// its message, and checks the bundle was left as it was.
    pub fn refused_edit(&self, command: &str, extra: &[&str]) -> String {
        let bundle = self.bundle();
        let before = std::fs::read(&bundle).expect("the bundle");
        let mut args: Vec<&std::ffi::OsStr> = vec![command.as_ref(), bundle.as_os_str()];
        args.extend(extra.iter().map(|arg| std::ffi::OsStr::new(*arg)));
        let output = try_signing_key(&args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{command} {extra:?}: {stderr}"
        );
        assert_eq!(std::fs::read(&bundle).expect("the bundle"), before);
        stderr
    }

    /// The filter's JWKS URL, for `--jwks-url`.
    pub fn jwks_url(&self) -> String {
        format!("{}{JWKS_PATH}", self.envoy.base_url())
    }

    /// Writes the discovery file from the bundle (renamed into place).
    pub fn write_discovery_file(&self) {
        self.paths().write_discovery_file();
    }

    /// Replaces the discovery file, by rename, with exactly `contents`.
    pub fn replace_discovery_file(&self, contents: &str) {
        let discovery = self.paths().discovery_file();
        let temp = discovery.with_extension("json.new");
        std::fs::write(&temp, contents).expect("cannot write the new discovery file");
        std::fs::rename(&temp, &discovery).expect("cannot rename the discovery file");
    }

    /// Publishes the bundle as kubelet updates a mounted Secret: a new
    /// timestamped directory, then an atomic swap of the `..data` link.
    pub fn publish_kubernetes_style(&self, generation: u32) {
        self.paths().publish_kubernetes_style(generation);
    }

    /// Waits until Envoy has rejected `count` discovery files in all.
    pub fn wait_for_rejections(&self, count: u64) {
        let deadline = Instant::now() + RELOAD_TIMEOUT;
        loop {
            let rejected = self
                .envoy
                .stats()
                .into_iter()
                .filter(|(name, _)| {
                    name.starts_with("extension_config_discovery.")
                        && (name.ends_with(".update_rejected") || name.ends_with(".update_failure"))
                })
                .map(|(_, count)| count)
                .sum::<u64>();
            if rejected >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Envoy never rejected discovery file {count}\n--- Envoy log ---\n{}",
                self.envoy.flushed_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The live key set, as one JWKS answer says.
    pub fn live_keys(&self) -> LiveKeys {
        live_keys(&self.envoy)
    }

    /// Waits until every answer (on new connections, so from every worker)
    /// agrees on a key set that satisfies `wanted`; returns it.
    pub fn wait_for_keys(&self, what: &str, wanted: impl Fn(&LiveKeys) -> bool) -> LiveKeys {
        wait_for_keys(&self.envoy, what, wanted)
    }

    /// An assertion for `subject`, through Envoy.
    pub fn assertion_for(&self, subject: &str) -> String {
        let token = self.idp_token(subject);
        let response = self
            .envoy
            .send(&Request::get("/").host("app.example").bearer(&token));
        EchoedRequest::from_response(&response)
            .single_header(ASSERTION_HEADER)
            .to_owned()
    }
}

/// The live key set, as one JWKS answer of `envoy` says.
pub fn live_keys(envoy: &Envoy) -> LiveKeys {
    let response = envoy.send(&Request::get(JWKS_PATH));
    assert_eq!(response.status, 200, "{}", response.text());
    let jwks = response.json();
    LiveKeys {
        signing_kid: response
            .header("x-signing-kid")
            .expect("the JWKS names its signing kid")
            .to_owned(),
        etag: response.header("etag").expect("an ETag").to_owned(),
        kids: jwks["keys"]
            .as_array()
            .expect("a key list")
            .iter()
            .map(|key| key["kid"].as_str().expect("a kid").to_owned())
            .collect(),
        body: response.text(),
    }
}

/// Waits until every answer of `envoy` (on new connections, so from every
/// worker) agrees on a key set that satisfies `wanted`; returns it.
pub fn wait_for_keys(envoy: &Envoy, what: &str, wanted: impl Fn(&LiveKeys) -> bool) -> LiveKeys {
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    let mut agreeing = 0;
    loop {
        let keys = live_keys(envoy);
        agreeing = if wanted(&keys) { agreeing + 1 } else { 0 };
        if agreeing >= AGREEING_ANSWERS {
            return keys;
        }
        assert!(
            Instant::now() < deadline,
            "Envoy never served {what}; last answer {keys:?}\n--- Envoy log ---\n{}",
            envoy.flushed_log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The bed's files.
struct Paths {
    root: PathBuf,
    /// The discovery file holds the bundle sealed under `kek`.
    sealed: bool,
}

impl Paths {
    fn kek(&self) -> PathBuf {
        self.root.join("kek")
    }

    fn kek_text(&self) -> String {
        std::fs::read_to_string(self.kek()).expect("the KEK generate-kek wrote")
    }

    fn bundle(&self) -> PathBuf {
        self.root.join("keys.pem")
    }

    fn discovery_dir(&self) -> PathBuf {
        self.root.join("signed-headers")
    }

    fn discovery_file(&self) -> PathBuf {
        self.discovery_dir().join(DISCOVERY_FILE)
    }

    fn settings(&self) -> PathBuf {
        self.root.join("settings.json")
    }

    fn envoy_config_into(&self, output: &Path) {
        let kek = self.kek();
        self.envoy_config_sealed_with(output, self.sealed.then_some(kek.as_path()));
    }

    fn envoy_config_sealed_with(&self, output: &Path, kek: Option<&Path>) {
        let wasm = filter_wasm();
        let settings = self.settings();
        let bundle = self.bundle();
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "envoy-config".as_ref(),
            bundle.as_os_str(),
            "--settings".as_ref(),
            settings.as_os_str(),
            "--wasm".as_ref(),
            wasm.as_os_str(),
            "-o".as_ref(),
            output.as_os_str(),
        ];
        if let Some(kek) = kek {
            args.extend(["--seal".as_ref(), "--kek-file".as_ref(), kek.as_os_str()]);
        }
        run_signing_key(&args);
    }

    fn write_discovery_file(&self) {
        self.envoy_config_into(&self.discovery_file());
    }

    fn publish_kubernetes_style(&self, generation: u32) {
        let dir = self.discovery_dir();
        let version = format!("..2026_11_24_{generation:06}");
        std::fs::create_dir(dir.join(&version)).expect("cannot create a Secret version");
        self.envoy_config_into(&dir.join(&version).join(DISCOVERY_FILE));
        let link = dir.join("..data_tmp");
        std::os::unix::fs::symlink(&version, &link).expect("cannot create ..data_tmp");
        std::fs::rename(&link, dir.join("..data")).expect("cannot swap ..data");
        let visible = self.discovery_file();
        if std::fs::symlink_metadata(&visible).is_err() {
            std::os::unix::fs::symlink(format!("..data/{DISCOVERY_FILE}"), &visible)
                .expect("cannot link filter.json");
        }
    }
}

/// Every assertion in `tokens` verifies against `jwks` (a JWKS document
/// body): `verify` panics with the reason otherwise.
fn assert_all_verify(tokens: &[String], jwks: &str) {
    let verifier = AssertionVerifier::from_jwks(jwks);
    for token in tokens {
        verifier.verify(token, "app.example", "app.example");
    }
}

pub fn kid_of(token: &str) -> String {
    signed_headers_e2e::decode_segment(token, 0)["kid"]
        .as_str()
        .expect("a kid")
        .to_owned()
}

/// add, promote, retire, each followed by a new discovery file; checks what
/// a verifier holding the JWKS of each moment sees.
fn rotate_through_three_steps(bed: &LiveReloadBed, publish: &dyn Fn()) {
    let pid = bed.envoy.pid();
    let first = bed.wait_for_keys("the first key", |keys| keys.kids.len() == 1);
    let old_kid = first.signing_kid.clone();
    let mut tokens = vec![bed.assertion_for("alice")];
    assert_eq!(kid_of(&tokens[0]), old_kid);

    // 1. add: the new key is published, the old one still signs. Promoting
    //    it before Envoy publishes it is refused by the live check.
    let new_kid = bed.edit_bundle("add", &[]).trim().to_owned();
    let url = bed.jwks_url();
    let refused = bed.refused_edit(
        "promote",
        &["--min-age", "0", "--allow-shorter-wait", "--jwks-url", &url],
    );
    assert!(refused.contains("is not published at"), "{refused}");
    publish();
    let added = bed.wait_for_keys("the added key", |keys| keys.kids.len() == 2);
    assert_eq!(added.signing_kid, old_kid);
    assert_eq!(added.kids, [old_kid.clone(), new_kid.clone()]);
    assert_ne!(added.etag, first.etag);
    assert_all_verify(&tokens, &added.body);
    tokens.push(bed.assertion_for("bob"));
    assert_eq!(kid_of(&tokens[1]), old_kid);

    // 2. promote: the new key signs; the old one is still published. The
    //    live JWKS must already publish it.
    let url = bed.jwks_url();
    let checked = [
        "--min-age",
        "0",
        "--allow-shorter-wait",
        "--jwks-url",
        url.as_str(),
    ];
    bed.edit_bundle("promote", &checked);
    let refused = bed.refused_edit("retire", &checked);
    assert!(
        refused.contains(&format!("still signs with {old_kid}")),
        "{refused}"
    );
    publish();
    let promoted = bed.wait_for_keys("the promoted key", |keys| keys.signing_kid == new_kid);
    assert_eq!(promoted.kids, [new_kid.clone(), old_kid.clone()]);
    assert_all_verify(&tokens, &promoted.body);
    let fresh = bed.assertion_for("carol");
    assert_eq!(kid_of(&fresh), new_kid);
    // A verifier still holding the JWKS from before the promotion already
    // knows the new key.
    assert_all_verify(std::slice::from_ref(&fresh), &added.body);
    tokens.push(fresh);

    // 3. retire: only the new key is left (now that it signs live).
    bed.edit_bundle("retire", &checked);
    publish();
    let retired = bed.wait_for_keys("the retired key set", |keys| keys.kids.len() == 1);
    assert_eq!(retired.kids, std::slice::from_ref(&new_kid));
    assert_eq!(kid_of(&bed.assertion_for("dave")), new_kid);

    assert_eq!(bed.envoy.pid(), pid, "Envoy was never restarted");
    assert_eq!(bed.upstream.request_count(), 4, "every request got through");
}

#[test]
fn live_reload_rotates_keys_through_a_renamed_discovery_file() {
    let bed = LiveReloadBed::start(false);
    rotate_through_three_steps(&bed, &|| bed.write_discovery_file());
    assert_eq!(
        bed.envoy.log().matches("signed-headers: invalid").count(),
        0
    );
}

#[test]
fn live_reload_follows_a_kubernetes_data_link_swap() {
    let bed = LiveReloadBed::start(true);
    let generation = std::cell::Cell::new(1);
    rotate_through_three_steps(&bed, &|| {
        generation.set(generation.get() + 1);
        bed.publish_kubernetes_style(generation.get());
    });
}

#[test]
fn live_reload_keeps_the_last_good_keys_when_a_broken_file_arrives() {
    let bed = LiveReloadBed::start(false);
    let before = bed.wait_for_keys("the first key", |keys| keys.kids.len() == 1);
    let discovery = std::fs::read_to_string(bed.paths().discovery_file())
        .expect("the discovery file the CLI wrote");

    // A bundle the filter refuses, and a file that is not even JSON.
    let mut broken: Value = serde_json::from_str(&discovery).expect("JSON");
    let settings = &mut broken["resources"][0]["typed_config"]["config"]["configuration"]["value"];
    *settings = json!(
        r#"{"signing_key": "-----BEGIN EC PRIVATE KEY-----\ngarbage\n-----END EC PRIVATE KEY-----\n"}"#
    );
    for (round, contents) in [broken.to_string(), "{ not json".to_owned()]
        .into_iter()
        .enumerate()
    {
        bed.replace_discovery_file(&contents);
        bed.wait_for_rejections(round as u64 + 1);
        // The previous keys keep serving, on every worker.
        let after = bed.wait_for_keys("the previous keys", |keys| *keys == before);
        assert_eq!(after.signing_kid, before.signing_kid);
        assert_eq!(kid_of(&bed.assertion_for("alice")), before.signing_kid);
    }
    assert!(
        bed.envoy
            .flushed_log()
            .contains("signed-headers: invalid configuration: signing_key:"),
        "the filter says why it refused the bundle"
    );
}

/// Tokens signed by the filter so far, summed over the workers.
fn tokens_signed(envoy: &Envoy) -> u64 {
    envoy
        .stats()
        .get("wasmcustom.signed_headers.tokens_signed")
        .copied()
        .unwrap_or(0)
}

#[test]
fn a_promote_reuses_the_tokens_of_keys_still_published_so_users_do_not_all_sign_again() {
    const USERS: usize = 150;
    let bed = LiveReloadBed::start(false);
    bed.edit_bundle("add", &[]);
    bed.write_discovery_file();
    let added = bed.wait_for_keys("the added key", |keys| keys.kids.len() == 2);
    let (old_kid, new_kid) = (added.kids[0].clone(), added.kids[1].clone());
    let idp_tokens: Vec<String> = (0..USERS)
        .map(|user| bed.idp_token(&format!("user-{user:03}")))
        .collect();
    // Every user once, each request on a new connection (both workers).
    let round = || -> Vec<String> {
        idp_tokens
            .iter()
            .map(|token| {
                let response = bed
                    .envoy
                    .send(&Request::get("/").host("app.example").bearer(token));
                EchoedRequest::from_response(&response)
                    .single_header(ASSERTION_HEADER)
                    .to_owned()
            })
            .collect()
    };
    let warm = round();
    assert_eq!(round(), warm);
    let warm_signatures = tokens_signed(&bed.envoy);
    assert_eq!(warm_signatures, USERS as u64, "one signature per user");
    assert!(warm.iter().all(|token| kid_of(token) == old_kid));

    // Promote: the new key signs what is minted from now on, and every user
    // keeps the token the old key signed, which every verifier holding the
    // JWKS of any moment since `add` accepts.
    bed.edit_bundle("promote", &["--min-age", "0", "--allow-shorter-wait"]);
    bed.write_discovery_file();
    let promoted = bed.wait_for_keys("the promoted key", |keys| keys.signing_kid == new_kid);
    let workers = bed.envoy.worker_connection_counts();
    let after_promote = round();
    let promote_signatures = tokens_signed(&bed.envoy) - warm_signatures;
    eprintln!(
        "{USERS} active users over {workers:?} connections per worker: {warm_signatures} signatures to warm up, {promote_signatures} in the round after the promote"
    );
    assert!(
        workers.iter().all(|&count| count > 0),
        "both workers took connections: {workers:?}"
    );
    assert_eq!(promote_signatures, 0, "no user signed again");
    assert_eq!(after_promote, warm, "each user kept their token");
    assert_all_verify(&after_promote, &promoted.body);
    assert_all_verify(&after_promote, &added.body);
    let newcomer = bed.assertion_for("newcomer");
    assert_eq!(
        kid_of(&newcomer),
        new_kid,
        "a token minted now uses the new key"
    );
    assert!(
        bed.envoy
            .log()
            .contains("cached tokens from the previous configuration"),
        "the take-over is logged"
    );

    // Retire: the old key is gone from the JWKS, and so are its tokens:
    // each user signs once, with the new key.
    bed.edit_bundle("retire", &["--min-age", "0", "--allow-shorter-wait"]);
    bed.write_discovery_file();
    let retired = bed.wait_for_keys("the retired key set", |keys| keys.kids.len() == 1);
    let before_retire = tokens_signed(&bed.envoy);
    let after_retire = round();
    assert_eq!(tokens_signed(&bed.envoy) - before_retire, USERS as u64);
    assert!(after_retire.iter().all(|token| kid_of(token) == new_kid));
    assert_all_verify(&after_retire, &retired.body);
}

/// Everything that would give a private key away: the SEC1 scalar's base64
/// in the PEM, and the same in the base64 of the whole PEM (the plain
/// discovery file's form).
fn key_material(pem: &str) -> Vec<String> {
    let mut fragments = private_key_fragments(pem);
    let encoded = STANDARD.encode(pem);
    fragments.extend(
        (0..encoded.len().saturating_sub(24))
            .step_by(12)
            .map(|at| encoded[at..at + 24].to_owned())
            // The encoded BEGIN line is the same for every key.
            .filter(|fragment| {
                !STANDARD
                    .encode("-----BEGIN EC PRIVATE KEY-----\n")
                    .contains(fragment.as_str())
            }),
    );
    fragments
}

#[test]
fn live_reload_rotates_a_sealed_bundle_and_admin_shows_no_key_material() {
    let bed = LiveReloadBed::start_sealed();
    let kek = bed.paths().kek_text();
    let mut bundles = vec![std::fs::read_to_string(bed.bundle()).expect("the bundle")];
    rotate_through_three_steps(&bed, &|| bed.write_discovery_file());
    bundles.push(std::fs::read_to_string(bed.bundle()).expect("the bundle"));
    let discovery = std::fs::read_to_string(bed.discovery_file()).expect("the discovery file");
    assert!(discovery.contains("signed-headers-sealed.v1."));

    let dump = bed.envoy.admin_get("/config_dump").text();
    let log = bed.envoy.flushed_log();
    assert!(
        dump.contains("signed-headers-sealed.v1."),
        "the dump shows the sealed bundle"
    );
    assert!(dump.contains(KEK_ENV), "and names the variable");
    assert!(
        log.contains("sealed_under_kek="),
        "the filter says the bundle was sealed:\n{log}"
    );
    for (what, text) in [("/config_dump", &dump), ("Envoy's log", &log)] {
        assert!(!text.contains(kek.trim()), "the KEK is in {what}");
        for pem in &bundles {
            assert_no_key_material(text, &key_material(pem));
        }
    }
}

#[test]
fn live_reload_refuses_a_bundle_sealed_under_another_kek_and_keeps_its_keys() {
    let bed = LiveReloadBed::start_sealed();
    let before = bed.wait_for_keys("the first key", |keys| keys.kids.len() == 1);
    // A new key sealed under a KEK Envoy does not hold: refused, the old
    // key keeps signing on every worker.
    bed.edit_bundle("add", &[]);
    let other = bed.paths().root.join("other-kek");
    let generated = try_signing_key(&["generate-kek".as_ref(), "-o".as_ref(), other.as_os_str()]);
    assert!(generated.status.success());
    let other_id = String::from_utf8_lossy(&generated.stderr)
        .rsplit("kek id: ")
        .next()
        .expect("an id")
        .trim()
        .to_owned();
    bed.paths()
        .envoy_config_sealed_with(&bed.discovery_file(), Some(&other));
    bed.wait_for_rejections(1);
    let after = bed.wait_for_keys("the previous keys", |keys| *keys == before);
    assert_eq!(kid_of(&bed.assertion_for("alice")), after.signing_kid);
    let log = bed.envoy.flushed_log();
    assert!(
        log.contains(&format!(
            "signed-headers: invalid configuration: signing_key: sealed under key-encryption key {other_id}, but SIGNED_HEADERS_KEK holds "
        )),
        "{log}"
    );

    // Sealed under the KEK Envoy holds, the same bundle is taken.
    bed.write_discovery_file();
    bed.wait_for_keys("the added key", |keys| keys.kids.len() == 2);
}

#[test]
fn live_reload_config_dump_shows_the_key_so_admin_stays_on_loopback() {
    // Envoy prints the plugin configuration, key included, in /config_dump:
    // no field of the Wasm filter's configuration is redacted (checked:
    // `configuration` and `vm_config.environment_variables.key_values` are
    // both printed; `host_env_keys` values are not, but they cannot change
    // without a restart). The docs say so, and every shipped configuration
    // keeps admin on loopback.
    let bed = LiveReloadBed::start(false);
    let bundle = std::fs::read_to_string(bed.bundle()).expect("the bundle");
    let encoded = run_signing_key(&["encode".as_ref(), bed.bundle().as_os_str()]);
    let dump = bed.envoy.admin_get("/config_dump").text();
    assert!(
        dump.contains(encoded.trim()),
        "the discovery file's key is in /config_dump (as documented)"
    );
    // What the sealed test looks for is found here, where it is.
    assert!(
        key_material(&bundle)
            .iter()
            .any(|fragment| dump.contains(fragment.as_str()))
    );
    assert!(bundle.contains("PRIVATE KEY"));

    let root = signed_headers_e2e::repository_root();
    let docs = std::fs::read_to_string(root.join("envoy/live-reload.yaml")).expect("the config");
    assert!(
        docs.contains("admin access is key access"),
        "the warning is in the file"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    assert!(
        readme.contains("admin access is key access"),
        "and in the README"
    );
    for entry in std::fs::read_dir(root.join("envoy")).expect("envoy/") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|ext| ext != "yaml")
            || path
                .file_name()
                .is_some_and(|name| name == "docker-compose.yaml")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a shipped config");
        let admin = text
            .split("\nadmin:")
            .nth(1)
            .and_then(|rest| rest.split("\nstatic_resources:").next())
            .unwrap_or_else(|| panic!("{} has no admin section", path.display()));
        assert!(
            admin.contains("address: 127.0.0.1,"),
            "{}: admin must listen on loopback only: {admin}",
            path.display()
        );
    }
}
