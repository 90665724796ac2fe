//! Scoped signing keys through the real binary: each scope (a tenant, an
//! app) rotates on its own, and an edit of one scope never touches the
//! keys of another.

// Test code: panicking on an unexpected value is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;
use std::path::Path;

use common::{cli, openssl_run, path_str, pem_blocks, step_now};
use serde_json::Value;

fn kid_of_output(out: &str) -> String {
    out.trim().to_owned()
}

fn jwks_kids_in(bundle: &Path, scope: Option<&str>) -> Vec<String> {
    let mut args = vec!["jwks", path_str(bundle)];
    if let Some(scope) = scope {
        args.extend(["--scope", scope]);
    }
    common::jwks_kids_with(&args)
}

/// `status --json --scope SCOPE`: the scope's step and its kids in order.
fn scope_status(bundle: &Path, scope: &str) -> (String, Vec<String>) {
    let out = cli(&["status", "--json", "--scope", scope, path_str(bundle)]).ok();
    let status: Value = serde_json::from_str(&out).unwrap();
    let kids = status["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect();
    (status["step"].as_str().unwrap().to_owned(), kids)
}

/// The PEM blocks of the unscoped keys, byte for byte.
fn unscoped_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut scoped = false;
    let mut current = String::new();
    for line in text.lines() {
        if line.starts_with("# scope:") {
            scoped = true;
        }
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END ") {
            if !scoped {
                blocks.extend(pem_blocks(&current));
            }
            current.clear();
            scoped = false;
        }
    }
    blocks
}

#[test]
fn each_scope_rotates_on_its_own_and_leaves_the_others_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("keys.pem");
    let b = path_str(&bundle);
    cli(&["generate", "-o", b]).ok();
    let shared = jwks_kids_in(&bundle, None);
    let tenant_1 = kid_of_output(&cli(&["add", "--scope", "tenant-b", b]).ok());
    // The tenant's first key signs for it at once; the unscoped key still
    // signs for everyone else.
    let text = fs::read_to_string(&bundle).unwrap();
    assert!(text.contains("# scope: tenant-b\n"), "{text}");
    assert_eq!(
        jwks_kids_in(&bundle, Some("tenant-b")),
        std::slice::from_ref(&tenant_1)
    );
    assert_eq!(
        jwks_kids_in(&bundle, None).len(),
        2,
        "every key, without --scope"
    );
    let (step, kids) = scope_status(&bundle, "tenant-b");
    assert_eq!(
        (step.as_str(), kids),
        ("single-key", vec![tenant_1.clone()])
    );

    // openssl reads the bundle, scope comments and all.
    let output = openssl_run(&["pkey", "-in", b, "-noout"], None);
    assert!(output.status.success(), "{output:?}");

    // A rotation of tenant-b: add, promote, retire, each with --scope.
    let unscoped_before = unscoped_blocks(&text);
    let tenant_2 = kid_of_output(&cli(&["add", "--scope", "tenant-b", b]).ok());
    assert_eq!(scope_status(&bundle, "tenant-b").0, "added");
    step_now("promote", &["--scope", "tenant-b", b]).ok();
    let (step, kids) = scope_status(&bundle, "tenant-b");
    assert_eq!(
        (step.as_str(), kids),
        ("promoted", vec![tenant_2.clone(), tenant_1.clone()])
    );
    step_now("retire", &["--scope", "tenant-b", b]).ok();
    assert_eq!(
        jwks_kids_in(&bundle, Some("tenant-b")),
        std::slice::from_ref(&tenant_2)
    );
    let after = fs::read_to_string(&bundle).unwrap();
    assert_eq!(
        unscoped_blocks(&after),
        unscoped_before,
        "the unscoped key untouched"
    );
    assert_eq!(
        cli(&["status", "--json", b]).ok().parse::<Value>().unwrap()["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|scope| scope["scope"].clone())
            .collect::<Vec<_>>(),
        [Value::Null, Value::from("tenant-b")]
    );

    // The unscoped rotation ignores tenant-b's keys, and the other way.
    cli(&["add", b]).ok();
    assert_eq!(
        scope_status(&bundle, "tenant-b").1,
        std::slice::from_ref(&tenant_2)
    );
    let err = step_now("promote", &["--scope", "tenant-b", b]).fails(2);
    assert!(err.contains("nothing to promote"), "{err}");
    let unscoped: Vec<String> = jwks_kids_in(&bundle, None)
        .into_iter()
        .filter(|kid| *kid != tenant_2)
        .collect();
    assert_eq!(unscoped.len(), 2);
    assert_eq!(unscoped[0], shared[0]);
    let text = cli(&["status", b]).ok();
    assert!(text.contains("== scope tenant-b"), "{text}");
    assert!(text.contains("--scope tenant-b"), "{text}");

    // Revoking the tenant's only key would leave it nothing to sign with.
    let err = cli(&["revoke", b, &tenant_2]).fails(2);
    assert!(
        err.contains("[scope tenant-b]") && err.contains("no key left could sign"),
        "{err}"
    );
    // Revoking an unscoped key leaves tenant-b's alone.
    cli(&["revoke", b, &unscoped[1]]).ok();
    assert_eq!(jwks_kids_in(&bundle, Some("tenant-b")), [tenant_2]);
}

#[test]
fn rotate_handles_each_scope_and_needs_one_scope_per_jwks_url() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("keys.pem");
    let b = path_str(&bundle);
    cli(&["generate", "-o", b]).ok();
    cli(&["add", "--scope", "tenant-b", b]).ok();
    // Both keys have just started signing: nothing is due in either scope.
    let out = cli(&["rotate", "--every", "30d", b]).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("nothing: "), "{out}");
    assert!(lines[1].starts_with("[scope tenant-b] nothing: "), "{out}");
    // Due at once: each scope starts its own rotation.
    let out = cli(&["rotate", "--every", "0s", b]).ok();
    assert!(out.contains("\nadd: ") || out.starts_with("add: "), "{out}");
    assert!(out.contains("[scope tenant-b] add: "), "{out}");
    assert_eq!(scope_status(&bundle, "tenant-b").0, "added");
    let err = cli(&[
        "rotate",
        "--every",
        "30d",
        "--jwks-url",
        "http://127.0.0.1:9/jwks.json",
        b,
    ])
    .fails(2);
    assert!(err.contains("--scope"), "{err}");
}
