//! Sealed bundles: `generate-kek`, `envoy-config --seal` and `rotate
//! --seal`. The discovery file then holds the bundle encrypted under a
//! key-encryption key Envoy hands the VM from its environment. Envoy opening
//! it is tested end to end in `tests/tests/e2e/live_reload.rs`.

// Test code: panicking on an unexpected value is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use signed_headers_keys::{Bundle, KeyEncryptionKeys};

use common::{BIN, Run, cli, mode, path_str};

/// The plugin settings inside a discovery file.
fn plugin_settings(discovery: &str) -> Value {
    let document: Value = serde_json::from_str(discovery).unwrap();
    let config = &document["resources"][0]["typed_config"]["config"];
    serde_json::from_str(config["configuration"]["value"].as_str().unwrap()).unwrap()
}

fn host_env_keys(discovery: &str) -> Value {
    let document: Value = serde_json::from_str(discovery).unwrap();
    document["resources"][0]["typed_config"]["config"]["vm_config"]["environment_variables"]
        ["host_env_keys"]
        .clone()
}

/// Opens `sealed` with Node's OpenSSL (tests/scripts/open-sealed.mjs), not
/// with this crate.
fn open_with_node(kek: &str, sealed: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scripts/open-sealed.mjs");
    let output = Command::new("node")
        .arg(script)
        .arg(kek.trim())
        .arg(sealed)
        .output()
        .expect("node (Node.js 18+ must be on PATH)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn with_kek_env(args: &[&str], kek: &str) -> Run {
    let output = Command::new(BIN)
        .args(args)
        .env("SIGNED_HEADERS_KEK", kek)
        .output()
        .unwrap();
    Run::from(output)
}

/// A directory with a new bundle (`keys.pem`, one key) and a new KEK
/// (`kek`), both made by the CLI.
struct Sealing {
    dir: tempfile::TempDir,
    bundle: PathBuf,
    kek: PathBuf,
}

impl Sealing {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("keys.pem");
        let kek = dir.path().join("kek");
        cli(&["generate", "-o", path_str(&bundle)]).ok();
        cli(&["generate-kek", "-o", path_str(&kek)]).ok();
        Self { dir, bundle, kek }
    }

    fn kek_text(&self) -> String {
        fs::read_to_string(&self.kek).unwrap()
    }

    fn keks(&self) -> KeyEncryptionKeys {
        KeyEncryptionKeys::parse(&self.kek_text()).unwrap()
    }
}

#[test]
fn generate_kek_writes_32_random_bytes_readable_by_its_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let kek = dir.path().join("kek");
    let stderr = cli(&["generate-kek", "-o", path_str(&kek)]).fails(0);
    assert!(stderr.contains("kek id: "), "{stderr}");
    assert_eq!(mode(&kek), 0o600);
    let text = fs::read_to_string(&kek).unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(text.trim()).unwrap().len(), 32);
    let id = stderr.rsplit("kek id: ").next().unwrap().trim();
    assert_eq!(KeyEncryptionKeys::parse(&text).unwrap().sealing().id(), id);

    let err = cli(&["generate-kek", "-o", path_str(&kek)]).fails(2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(fs::read_to_string(&kek).unwrap(), text, "kept");
    cli(&["generate-kek", "-o", path_str(&kek), "--force"]).ok();
    assert_ne!(fs::read_to_string(&kek).unwrap(), text);
    assert_ne!(cli(&["generate-kek"]).ok(), cli(&["generate-kek"]).ok());
}

#[test]
fn envoy_config_seal_writes_no_usable_key_and_names_the_kek_variable() {
    let sealing = Sealing::new();
    let (kek_text, keks) = (sealing.kek_text(), sealing.keks());
    let Sealing { dir, bundle, kek } = sealing;
    let output = dir.path().join("filter.json");
    cli(&["add", path_str(&bundle)]).ok();
    let pem = Bundle::parse(&fs::read_to_string(&bundle).unwrap())
        .unwrap()
        .to_pem();

    let seal = |output: &Path| {
        cli(&[
            "envoy-config",
            path_str(&bundle),
            "--seal",
            "--kek-file",
            path_str(&kek),
            "-o",
            path_str(output),
        ])
        .fails(0)
    };
    let stderr = seal(&output);
    let id = keks.sealing().id();
    assert!(
        stderr.contains(&format!("sealed under key-encryption key {id}")),
        "{stderr}"
    );
    let discovery = fs::read_to_string(&output).unwrap();
    let sealed = plugin_settings(&discovery)["signing_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sealed.starts_with(&format!("signed-headers-sealed.v1.{id}.")));
    // Neither the PEM nor its base64 (the plain form) nor any line of the
    // key's body is in the file.
    assert!(!discovery.contains("PRIVATE KEY"));
    assert!(!discovery.contains(&STANDARD.encode(&pem)));
    for line in pem.lines().filter(|line| !line.starts_with("-----")) {
        assert!(!discovery.contains(line), "{line}");
    }
    assert!(!discovery.contains(kek_text.trim()), "nor the KEK");
    assert_eq!(
        host_env_keys(&discovery),
        serde_json::json!(["SIGNED_HEADERS_KEK"])
    );

    // It opens to the bundle, in this crate and in Node's OpenSSL.
    assert_eq!(*keks.open(&sealed).unwrap().text, pem);
    assert_eq!(open_with_node(&kek_text, &sealed), pem);

    // Deterministic: the same bundle gives the same file, so rewriting it
    // makes Envoy reload nothing. The KEK from the environment is the same.
    let again = dir.path().join("again.json");
    seal(&again);
    assert_eq!(fs::read_to_string(&again).unwrap(), discovery);
    let from_env = with_kek_env(
        &["envoy-config", path_str(&bundle), "--seal", "-o", "-"],
        kek_text.trim(),
    )
    .ok();
    assert_eq!(from_env, discovery);
}

#[test]
fn envoy_config_seal_without_a_usable_kek_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("keys.pem");
    let output = dir.path().join("filter.json");
    cli(&["generate", "-o", path_str(&bundle)]).ok();
    fs::write(&output, "previous").unwrap();
    let bad_kek = dir.path().join("kek");
    let secret_looking = STANDARD.encode([9u8; 31]);
    fs::write(&bad_kek, &secret_looking).unwrap();

    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut args: Vec<String> = ["envoy-config", path_str(&bundle), "-o", path_str(&output)]
            .map(str::to_owned)
            .to_vec();
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        args
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = Command::new(BIN)
            .args(&args)
            .env_remove("SIGNED_HEADERS_KEK")
            .output()
            .unwrap();
        Run::from(output)
    };
    let err = run(args(&["--seal"])).fails(2);
    assert!(
        err.contains("sealing needs the key-encryption key"),
        "{err}"
    );
    let mut bad = args(&["--seal", "--kek-file"]);
    bad.push(path_str(&bad_kek).to_owned());
    let err = run(bad).fails(2);
    assert!(err.contains("is not base64 of 32 bytes"), "{err}");
    assert!(!err.contains(&secret_looking), "{err}");
    let mut without_seal = args(&["--kek-file"]);
    without_seal.push(path_str(&bad_kek).to_owned());
    let err = run(without_seal).fails(2);
    assert!(err.contains("--seal"), "{err}");
    assert_eq!(fs::read_to_string(&output).unwrap(), "previous");

    // rotate reads the KEK before the step: a due add is not made.
    let bundle_before = fs::read_to_string(&bundle).unwrap();
    let rotate: Vec<String> = [
        "rotate",
        path_str(&bundle),
        "--every",
        "0",
        "--envoy-config",
        path_str(&output),
        "--seal",
    ]
    .map(str::to_owned)
    .to_vec();
    let err = run(rotate).fails(2);
    assert!(
        err.contains("sealing needs the key-encryption key"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&bundle).unwrap(), bundle_before);
    assert_eq!(fs::read_to_string(&output).unwrap(), "previous");
}

#[test]
fn rotate_seal_keeps_the_sealed_discovery_file_in_step_and_rewrites_only_on_change() {
    let sealing = Sealing::new();
    let keks = sealing.keks();
    let Sealing { dir, bundle, kek } = sealing;
    let discovery = dir.path().join("filter.json");
    let rotate = |every: &str| {
        cli(&[
            "rotate",
            path_str(&bundle),
            "--every",
            every,
            "--envoy-config",
            path_str(&discovery),
            "--seal",
            "--kek-file",
            path_str(&kek),
        ])
    };
    let opened = || {
        let text = fs::read_to_string(&discovery).unwrap();
        let sealed = plugin_settings(&text)["signing_key"]
            .as_str()
            .unwrap()
            .to_owned();
        Bundle::parse(&keks.open(&sealed).unwrap().text).unwrap()
    };

    let first = rotate("1h");
    assert!(first.stdout.starts_with("nothing: "), "{}", first.stdout);
    assert!(first.stderr.contains("wrote "), "{}", first.stderr);
    let written = fs::read_to_string(&discovery).unwrap();
    let second = rotate("1h");
    assert!(!second.stderr.contains("wrote "), "{}", second.stderr);
    assert_eq!(fs::read_to_string(&discovery).unwrap(), written);

    let add = rotate("0");
    assert!(add.stdout.starts_with("add: "), "{}", add.stdout);
    assert!(add.stderr.contains("wrote "), "{}", add.stderr);
    let bundle_now = Bundle::parse(&fs::read_to_string(&bundle).unwrap()).unwrap();
    assert_eq!(opened().to_pem(), bundle_now.to_pem());
    assert_eq!(opened().keys().len(), 2);
}

#[test]
fn seal_prints_what_envoy_config_seal_embeds() {
    let Sealing { dir, bundle, kek } = Sealing::new();
    let sealed = cli(&["seal", path_str(&bundle), "--kek-file", path_str(&kek)]).ok();
    let discovery = cli(&[
        "envoy-config",
        path_str(&bundle),
        "--seal",
        "--kek-file",
        path_str(&kek),
        "-o",
        "-",
    ])
    .ok();
    assert_eq!(plugin_settings(&discovery)["signing_key"], sealed.trim());
    let kek_text = fs::read_to_string(&kek).unwrap();
    let pem = Bundle::parse(&fs::read_to_string(&bundle).unwrap())
        .unwrap()
        .to_pem();
    assert_eq!(open_with_node(&kek_text, sealed.trim()), pem);

    let public = dir.path().join("public.pem");
    let key = Bundle::parse(&pem).unwrap();
    fs::write(&public, key.keys()[0].to_public_only().unwrap().to_pem()).unwrap();
    let err = cli(&["seal", path_str(&public), "--kek-file", path_str(&kek)]).fails(2);
    assert!(err.contains("nothing in the bundle can sign"), "{err}");
}
