//! Helpers shared by the CLI's integration tests: run the real binary, run the
//! real `openssl`, and compute RFC 7638 thumbprints independently.

#![allow(dead_code)]

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

pub const BIN: &str = env!("CARGO_BIN_EXE_signing-key");
pub const OPENSSL: &str = "/usr/bin/openssl";

/// The result of one run of the CLI.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Asserts the exit code and returns stderr.
    #[track_caller]
    pub fn fails(self, code: i32) -> String {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.stderr
    }
}

/// `promote` or `retire` without the wait the settings call for (the tests'
/// clock is not production's), then `args`.
pub fn step_now(step: &str, args: &[&str]) -> Run {
    let mut all = vec![step, "--min-age", "0", "--allow-shorter-wait"];
    all.extend_from_slice(args);
    cli(&all)
}

/// Runs `signing-key ARGS` with no stdin.
pub fn cli(args: &[&str]) -> Run {
    cli_in(args, None, None)
}

/// Runs `signing-key ARGS` in `dir` (when given), feeding `stdin` (when given).
pub fn cli_in(args: &[&str], dir: Option<&Path>, stdin: Option<&[u8]>) -> Run {
    let mut command = Command::new(BIN);
    command.args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    Run::from(run_with_stdin(command, stdin))
}

fn run_with_stdin(mut command: Command, stdin: Option<&[u8]>) -> Output {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(input).expect("write stdin");
    }
    child.wait_with_output().expect("wait")
}

/// Runs `openssl ARGS`, asserting success; returns stdout bytes.
#[track_caller]
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let output = openssl_run(args, None);
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Runs `openssl ARGS` with optional stdin and returns the raw output.
pub fn openssl_run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new(OPENSSL);
    command.args(args);
    run_with_stdin(command, stdin)
}

/// RFC 7638 thumbprint (lowercase hex) of a P-256 key given as SPKI DER, whose
/// last 64 bytes are the affine x and y coordinates.
pub fn kid_from_spki_der(der: &[u8]) -> String {
    assert!(der.len() > 65, "SPKI DER too short");
    let point = &der[der.len() - 65..];
    assert_eq!(point[0], 0x04, "uncompressed point expected");
    let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
    let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The kid of a key file according to openssl's own view of its public key.
pub fn openssl_kid(key_file: &Path) -> String {
    let der = openssl(&[
        "pkey",
        "-in",
        key_file.to_str().unwrap(),
        "-pubout",
        "-outform",
        "DER",
    ]);
    kid_from_spki_der(&der)
}

/// Same, for a PUBLIC KEY file.
pub fn openssl_public_kid(key_file: &Path) -> String {
    let der = openssl(&[
        "pkey",
        "-pubin",
        "-in",
        key_file.to_str().unwrap(),
        "-pubout",
        "-outform",
        "DER",
    ]);
    kid_from_spki_der(&der)
}

/// `status --json` of a bundle, parsed.
pub fn status_json(bundle: &Path) -> serde_json::Value {
    let out = cli(&["status", "--json", bundle.to_str().unwrap()]).ok();
    serde_json::from_str(&out).expect("status --json is JSON")
}

/// The kids a bundle's status lists, in order.
pub fn status_kids(bundle: &Path) -> Vec<String> {
    status_json(bundle)["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The kids `signing-key jwks` publishes, in order.
pub fn jwks_kids(bundle: &Path) -> Vec<String> {
    jwks_kids_with(&["jwks", bundle.to_str().unwrap()])
}

/// The kids `signing-key ARGS` (a `jwks` command) prints, in order.
pub fn jwks_kids_with(args: &[&str]) -> Vec<String> {
    let out = cli(args).ok();
    let doc: serde_json::Value = serde_json::from_str(&out).expect("jwks is JSON");
    doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// A P-256 key made by openssl (SEC1, `-noout`), in `dir/name`.
pub fn openssl_ec_key(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    openssl(&[
        "ecparam",
        "-genkey",
        "-name",
        "prime256v1",
        "-noout",
        "-out",
        path.to_str().unwrap(),
    ]);
    path
}

pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Splits PEM text into its blocks (BEGIN to END, inclusive, LF).
pub fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("-----BEGIN ") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
        if line.starts_with("-----END ") {
            blocks.extend(current.take());
        }
    }
    blocks
}

/// The 64-hex kid printed somewhere in a message.
pub fn find_kid(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .find(|word| word.len() == 64)
        .unwrap_or_else(|| panic!("no kid in {text:?}"))
        .to_owned()
}

/// A path as a command-line argument (test paths are always UTF-8).
pub fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}
