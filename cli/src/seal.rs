//! Key-encryption keys for sealed bundles: `signing-key generate-kek`, and
//! where `envoy-config --seal` and `rotate --seal` find the KEK (a file,
//! or `SIGNED_HEADERS_KEK` as Envoy has it).

use std::path::Path;

use signed_headers_keys::{KEK_ENV, KeyEncryptionKey, KeyEncryptionKeys};
use zeroize::Zeroizing;

use crate::error::{CliError, Result};
use crate::files::{
    Overwrite, display_name, is_stdio, load_bundle, read_text, write_atomic, write_stdout,
};

/// The KEKs from `--kek-file`, else from `SIGNED_HEADERS_KEK`.
pub fn load(kek_file: Option<&Path>) -> Result<KeyEncryptionKeys> {
    let (text, origin) = match kek_file {
        Some(path) => (Zeroizing::new(read_text(path)?), display_name(path)),
        None => match std::env::var(KEK_ENV) {
            Ok(text) => (Zeroizing::new(text), KEK_ENV.to_owned()),
            Err(_) => {
                return Err(CliError::input(format!(
                    "sealing needs the key-encryption key: --kek-file FILE, or {KEK_ENV} in the environment (`signing-key generate-kek` makes one)"
                )));
            }
        },
    };
    KeyEncryptionKeys::parse(&text).map_err(|err| CliError::input(format!("{origin}: {err}")))
}

/// `generate-kek [-o FILE] [--force]`.
pub fn generate(output: Option<&Path>, force: bool) -> Result<()> {
    let kek = KeyEncryptionKey::generate()
        .map_err(|_| CliError::input("the system's random source failed"))?;
    let line = Zeroizing::new(format!("{}\n", kek.to_text().as_str()));
    match output {
        Some(path) if !is_stdio(path) => {
            if !force && path.exists() {
                return Err(CliError::input(format!(
                    "{} already exists: use --force to overwrite it",
                    path.display()
                )));
            }
            let overwrite = if force {
                Overwrite::Replace
            } else {
                Overwrite::Refuse
            };
            write_atomic(path, &line, overwrite)?;
            eprintln!(
                "wrote {} (mode 0600): new key-encryption key",
                path.display()
            );
        }
        _ => write_stdout(&line)?,
    }
    eprintln!("kek id: {}", kek.id());
    Ok(())
}

/// `seal BUNDLE [--kek-file FILE]`: the sealed text, for a `signing_key`
/// in a configuration other than a discovery file (an Istio WasmPlugin's
/// `pluginConfig`, an Envoy Gateway EnvoyExtensionPolicy's `config`).
pub fn seal_bundle(bundle: &Path, kek_file: Option<&Path>) -> Result<()> {
    let keks = load(kek_file)?;
    let bundle = load_bundle(bundle)?;
    if bundle.signing_key().is_none() {
        return Err(CliError::input(
            "no private key: nothing in the bundle can sign",
        ));
    }
    let sealed = keks
        .sealing()
        .seal(&bundle.to_pem())
        .map_err(|err| CliError::input(format!("sealing the bundle: {err}")))?;
    write_stdout(&format!("{sealed}\n"))?;
    eprintln!(
        "sealed {} key(s) under key-encryption key {}",
        bundle.keys().len(),
        keks.sealing().id()
    );
    Ok(())
}
