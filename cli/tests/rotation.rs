//! The three-step rotation end to end through the real binary: generate,
//! add, promote, retire (and --keep-public), revoke, with `jwks` and
//! `status` checked at every step.

// Test code: panicking on an unexpected value is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::path_str;

use std::fs;
use std::path::Path;

use common::{cli, cli_in, find_kid, jwks_kids, mode, status_json, status_kids, step_now};

/// Checks the human `status` table: one row per key, in order, with its kind
/// and role, and the step and next command.
#[track_caller]
fn assert_table(bundle: &Path, rows: &[(&str, &str, &str)], step: &str, next: &str) {
    let out = cli(&["status", path_str(bundle)]).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("KID") && lines[0].contains("ROLE"),
        "{out}"
    );
    for (index, (kid, kind, role)) in rows.iter().enumerate() {
        let fields: Vec<&str> = lines[index + 1].split_whitespace().collect();
        assert_eq!(fields[0], (index + 1).to_string(), "{out}");
        assert_eq!(fields[1], *kid, "{out}");
        assert_eq!(fields[2], *kind, "{out}");
        assert_eq!(fields[5], *role, "{out}");
    }
    assert!(
        lines[rows.len() + 1].trim().is_empty(),
        "table has exactly {} rows: {out}",
        rows.len()
    );
    let step_line = lines.iter().find(|l| l.starts_with("step: ")).unwrap();
    assert!(step_line.contains(step), "{out}");
    let next_line = lines.iter().find(|l| l.starts_with("next: ")).unwrap();
    assert_eq!(next_line.trim_start_matches("next: "), next, "{out}");
    // `list` is the same command.
    assert_eq!(cli(&["list", path_str(bundle)]).ok(), out);
}

#[track_caller]
fn assert_json(bundle: &Path, rows: &[(&str, &str, &str)], step: &str, next: &[&str]) {
    let status = status_json(bundle);
    let keys = status["keys"].as_array().unwrap();
    assert_eq!(keys.len(), rows.len(), "{status:#}");
    for (index, (kid, kind, role)) in rows.iter().enumerate() {
        assert_eq!(keys[index]["position"], index + 1);
        assert_eq!(keys[index]["kid"], *kid);
        assert_eq!(keys[index]["kind"], *kind);
        assert_eq!(keys[index]["role"], *role);
    }
    assert_eq!(status["step"], step, "{status:#}");
    let commands: Vec<&str> = status["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, next, "{status:#}");
}

#[test]
fn generate_add_promote_retire_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    let b = path_str(&bundle);

    // generate: one key, single-key step.
    let run = cli(&["generate", "-o", b]);
    let old = find_kid(&run.fails(0));
    assert_eq!(mode(&bundle), 0o600);
    assert_eq!(jwks_kids(&bundle), [old.as_str()]);
    let rows = [(old.as_str(), "private", "signing")];
    assert_json(
        &bundle,
        &rows,
        "single-key",
        &[&format!("signing-key add {b}")],
    );
    assert_table(
        &bundle,
        &rows,
        "single key",
        &format!("signing-key add {b}"),
    );

    // add: the new key is appended, published, not signing; its kid on stdout.
    let new = cli(&["add", b]).ok().trim().to_owned();
    assert_eq!(new.len(), 64);
    assert_ne!(new, old);
    assert_eq!(jwks_kids(&bundle), [old.as_str(), new.as_str()]);
    let rows = [
        (old.as_str(), "private", "signing"),
        (new.as_str(), "private", "published"),
    ];
    let promote = format!("signing-key promote {b}");
    assert_json(&bundle, &rows, "added", &[&promote]);
    assert_table(&bundle, &rows, "new key added, not signing yet", &promote);
    // The status names the newest key as the one to promote.
    let status = status_json(&bundle);
    let when = status["next"][0]["when"].as_str().unwrap();
    assert!(
        when.contains("key 2") && when.contains(&new[..12]),
        "{when}"
    );

    // promote: the new key moves to the front and signs.
    step_now("promote", &[b]).ok();
    assert_eq!(jwks_kids(&bundle), [new.as_str(), old.as_str()]);
    let rows = [
        (new.as_str(), "private", "signing"),
        (old.as_str(), "private", "published"),
    ];
    let retire = format!("signing-key retire {b}");
    assert_json(&bundle, &rows, "promoted", &[&retire]);
    assert_table(
        &bundle,
        &rows,
        "new key signing, old keys still present",
        &retire,
    );
    let status = status_json(&bundle);
    let description = status["description"].as_str().unwrap();
    assert!(
        description.contains("key 1") && description.contains(&new[..12]),
        "{description}"
    );
    // Promoting again would hand signing back to the old key: refused.
    let before = fs::read(&bundle).unwrap();
    let err = step_now("promote", &[b]).fails(2);
    assert!(
        err.contains("already first") && err.contains("retire"),
        "{err}"
    );
    assert_eq!(fs::read(&bundle).unwrap(), before);

    // retire: only the new key is left.
    step_now("retire", &[b]).ok();
    assert_eq!(jwks_kids(&bundle), [new.as_str()]);
    let rows = [(new.as_str(), "private", "signing")];
    assert_json(
        &bundle,
        &rows,
        "single-key",
        &[&format!("signing-key add {b}")],
    );
    assert_table(
        &bundle,
        &rows,
        "single key",
        &format!("signing-key add {b}"),
    );
    let text = fs::read_to_string(&bundle).unwrap();
    assert_eq!(text.matches("-----BEGIN EC PRIVATE KEY-----").count(), 1);
    assert_eq!(text.matches("-----BEGIN").count(), 1);
    assert_eq!(mode(&bundle), 0o600);
}

#[test]
fn retire_keep_public_keeps_old_key_as_public_key_block() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    let b = path_str(&bundle);
    let old = find_kid(&cli(&["generate", "-o", b]).fails(0));
    let new = cli(&["add", b]).ok().trim().to_owned();
    step_now("promote", &[b]).ok();

    step_now("retire", &["--keep-public", b]).ok();
    let text = fs::read_to_string(&bundle).unwrap();
    let blocks = common::pem_blocks(&text);
    assert_eq!(blocks.len(), 2, "{text}");
    assert!(
        blocks[0].starts_with("-----BEGIN EC PRIVATE KEY-----"),
        "{text}"
    );
    assert!(
        blocks[1].starts_with("-----BEGIN PUBLIC KEY-----"),
        "{text}"
    );
    // Still published, in the same order.
    assert_eq!(jwks_kids(&bundle), [new.as_str(), old.as_str()]);
    let rows = [
        (new.as_str(), "private", "signing"),
        (old.as_str(), "public-only", "published"),
    ];
    assert_json(
        &bundle,
        &rows,
        "verify-only-kept",
        &[
            &format!("signing-key retire {b}"),
            &format!("signing-key add {b}"),
        ],
    );
    assert_table(
        &bundle,
        &rows,
        "verify-only",
        &format!("signing-key retire {b}"),
    );
    // The public block is openssl's idea of the old key's public half.
    let public = dir.path().join("old.pub");
    fs::write(&public, &blocks[1]).unwrap();
    assert_eq!(common::openssl_public_kid(&public), old);

    // Retiring again with --keep-public has nothing to do...
    let before = fs::read(&bundle).unwrap();
    let err = step_now("retire", &["--keep-public", b]).fails(2);
    assert!(err.contains("nothing to retire"), "{err}");
    assert_eq!(fs::read(&bundle).unwrap(), before);
    // ...but a plain retire removes the verify-only key.
    step_now("retire", &[b]).ok();
    assert_eq!(jwks_kids(&bundle), [new.as_str()]);
}

#[test]
fn promote_refusals_and_kid_selection() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    let b = path_str(&bundle);
    let first = find_kid(&cli(&["generate", "-o", b]).fails(0));

    // A single key is already first.
    let before = fs::read(&bundle).unwrap();
    let err = step_now("promote", &[b]).fails(2);
    assert!(err.contains("already first"), "{err}");
    assert_eq!(fs::read(&bundle).unwrap(), before);
    // Retiring a single key has nothing to do.
    let err = step_now("retire", &[b]).fails(2);
    assert!(err.contains("nothing to retire"), "{err}");
    assert_eq!(fs::read(&bundle).unwrap(), before);

    let second = cli(&["add", b]).ok().trim().to_owned();
    let third = cli(&["add", "--pkcs8", b]).ok().trim().to_owned();
    assert!(
        fs::read_to_string(&bundle)
            .unwrap()
            .contains("-----BEGIN PRIVATE KEY-----")
    );
    // --kid picks the named key, by a unique prefix too.
    step_now("promote", &[b, "--kid", &second[..10]]).ok();
    assert_eq!(
        status_kids(&bundle),
        [&second, &first, &third].map(|k| k.as_str())
    );
    // Unknown kid: exit 2, unchanged.
    let before = fs::read(&bundle).unwrap();
    let err = step_now("promote", &[b, "--kid", &"0".repeat(64)]).fails(2);
    assert!(err.contains("no key with kid"), "{err}");
    assert_eq!(fs::read(&bundle).unwrap(), before);
    // Already signing by name.
    let err = step_now("promote", &[b, "--kid", &second]).fails(2);
    assert!(err.contains("already first"), "{err}");
    // Without --kid the newest (last) private key is promoted.
    step_now("promote", &[b]).ok();
    assert_eq!(
        status_kids(&bundle),
        [&third, &second, &first].map(|k| k.as_str())
    );
    // A public-only key cannot be promoted.
    step_now("retire", &["--keep-public", b]).ok();
    let before = fs::read(&bundle).unwrap();
    let err = step_now("promote", &[b, "--kid", &first]).fails(2);
    assert!(err.contains("cannot sign"), "{err}");
    assert_eq!(fs::read(&bundle).unwrap(), before);
}

#[test]
fn revoke_removes_one_key_and_refuses_to_leave_nothing_that_signs() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    let b = path_str(&bundle);
    let old = find_kid(&cli(&["generate", "-o", b]).fails(0));
    let new = cli(&["add", b]).ok().trim().to_owned();

    // Revoking the signing key hands signing to the next private key.
    let err = cli(&["revoke", b, &old]).fails(0);
    assert!(err.contains(&new), "{err}");
    assert_eq!(status_kids(&bundle), [&new].map(|k| k.as_str()));
    assert_eq!(status_json(&bundle)["keys"][0]["role"], "signing");

    // The only key: refused, even with --force.
    let before = fs::read(&bundle).unwrap();
    for args in [vec!["revoke", b, &new], vec!["revoke", b, &new, "--force"]] {
        let err = cli(&args).fails(2);
        assert!(err.contains("only key"), "{err}");
        assert_eq!(fs::read(&bundle).unwrap(), before);
    }

    // Leaving only a public key: refused without --force, done with it.
    let third = cli(&["add", b]).ok().trim().to_owned();
    step_now("promote", &[b]).ok();
    step_now("retire", &["--keep-public", b]).ok();
    assert_eq!(status_kids(&bundle), [&third, &new].map(|k| k.as_str()));
    let before = fs::read(&bundle).unwrap();
    let err = cli(&["revoke", b, &third]).fails(2);
    assert!(err.contains("no key left could sign"), "{err}");
    assert_eq!(fs::read(&bundle).unwrap(), before);
    let err = cli(&["revoke", b, &third, "--force"]).fails(0);
    assert!(err.contains("warning"), "{err}");
    assert_eq!(status_kids(&bundle), [&new].map(|k| k.as_str()));
    let status = status_json(&bundle);
    assert_eq!(status["step"], "no-signing-key");
    assert_eq!(status["keys"][0]["kind"], "public-only");
    // Promote and retire need a private key.
    let before = fs::read(&bundle).unwrap();
    for args in [
        vec!["promote", "--min-age", "0", "--allow-shorter-wait", b],
        vec!["retire", "--min-age", "0", "--allow-shorter-wait", b],
    ] {
        let err = cli(&args).fails(2);
        assert!(err.contains("no private key"), "{err}");
        assert_eq!(fs::read(&bundle).unwrap(), before);
    }
    // `add` recovers: the new key signs at once.
    let fourth = cli(&["add", b]).ok().trim().to_owned();
    let status = status_json(&bundle);
    assert_eq!(status["keys"][1]["kid"], fourth.as_str());
    assert_eq!(status["keys"][1]["role"], "signing");
    assert_eq!(status["step"], "verify-only-kept");
}

#[test]
fn dash_bundle_filters_stdin_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let key = cli(&["generate"]).ok();
    assert!(key.contains("\n-----BEGIN EC PRIVATE KEY-----\n"), "{key}");
    let run = cli_in(&["add", "-"], Some(dir.path()), Some(key.as_bytes()));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let kid = find_kid(&run.stderr);
    assert_eq!(common::pem_blocks(&run.stdout).len(), 2);
    let path = dir.path().join("out.pem");
    fs::write(&path, &run.stdout).unwrap();
    assert_eq!(status_kids(&path)[1], kid);
    // Nothing was written into the working directory but our own file.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn history_comments_tell_added_from_promoted_and_openssl_ignores_them() {
    let dir = tempfile::tempdir().unwrap();
    // A key made by openssl has no history comment: it counts as the oldest.
    let bundle = common::openssl_ec_key(dir.path(), "bundle.pem");
    let b = path_str(&bundle);
    assert_eq!(status_json(&bundle)["step"], "single-key");
    let new = cli(&["add", b]).ok().trim().to_owned();
    let text = fs::read_to_string(&bundle).unwrap();
    let history: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("# signing-key: serial="))
        .collect();
    assert_eq!(history.len(), 1, "{text}");
    assert!(
        history[0].starts_with("# signing-key: serial=2 added=20"),
        "{text}"
    );
    assert_eq!(status_json(&bundle)["step"], "added");

    // openssl reads each block of the annotated bundle.
    for (index, block) in common::pem_blocks(&text).iter().enumerate() {
        let path = dir.path().join(format!("block{index}.pem"));
        fs::write(&path, block).unwrap();
        let check = std::process::Command::new("openssl")
            .args(["ec", "-check", "-noout", "-in", path_str(&path)])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    // The whole annotated file, comment line first, too.
    let whole = std::process::Command::new("openssl")
        .args(["pkey", "-noout", "-in", b])
        .output()
        .unwrap();
    assert!(
        whole.status.success(),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );

    step_now("promote", &[b]).ok();
    assert_eq!(status_kids(&bundle)[0], new);
    assert_eq!(status_json(&bundle)["step"], "promoted");
    // The comment travels with its key.
    let text = fs::read_to_string(&bundle).unwrap();
    assert!(text.starts_with("# signing-key: serial=2 "), "{text}");
}
