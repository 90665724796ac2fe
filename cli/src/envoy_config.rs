//! `signing-key envoy-config`: the file Envoy reads the filter's
//! configuration from through extension config discovery (ECDS,
//! `config_discovery` with a `path_config_source`). Envoy applies a new
//! version when the file is renamed into place (or, with
//! `watched_directory`, when Kubernetes swaps its `..data` link), without a
//! restart; an invalid one is rejected and the previous one keeps serving.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use signed_headers_keys::{Bundle, JwksDocument, KEK_ENV, KeyEncryptionKey};

use crate::error::{CliError, Result};
use crate::files::{
    Overwrite, display_name, is_stdio, load_bundle, read_text, write_atomic, write_stdout,
};

/// What goes around the plugin settings in the discovery file.
pub struct Options<'a> {
    pub bundle: &'a Path,
    pub output: &'a Path,
    /// A JSON object of plugin settings (everything but `signing_key`).
    pub settings: Option<&'a Path>,
    /// The `.wasm` as Envoy will find it.
    pub wasm: &'a str,
    /// The HTTP filter's name in the listener (`config_discovery`), which
    /// the discovery file must repeat.
    pub name: &'a str,
    pub vm_id: &'a str,
    /// Seal the bundle under this key-encryption key.
    pub seal: Option<&'a KeyEncryptionKey>,
}

const WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const EXTENSION_TYPE: &str = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";

pub fn settings_object(path: Option<&Path>) -> Result<Map<String, Value>> {
    let Some(path) = path else {
        return Ok(Map::new());
    };
    let name = display_name(path);
    let text = read_text(path)?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(settings)) if settings.contains_key("signing_key") => {
            Err(CliError::input(format!(
                "{name}: has a signing_key: the key comes from the bundle; remove it from the settings"
            )))
        }
        Ok(Value::Object(settings)) => Ok(settings),
        Ok(_) => Err(CliError::input(format!(
            "{name}: the plugin settings must be a JSON object"
        ))),
        Err(err) => Err(CliError::input(format!("{name}: not JSON: {err}"))),
    }
}

/// The discovery response for `bundle` and `settings`.
pub fn document(
    bundle: &Bundle,
    settings: Map<String, Value>,
    options: &Options<'_>,
) -> Result<String> {
    let signing_kid = bundle
        .signing_key()
        .map(|key| key.kid().to_owned())
        .ok_or_else(|| {
            CliError::input(format!(
                "{}: no private key: nothing in the bundle can sign",
                display_name(options.bundle)
            ))
        })?;
    let mut settings = settings;
    let signing_key = match options.seal {
        Some(kek) => kek
            .seal(&bundle.to_pem())
            .map_err(|err| CliError::input(format!("sealing the bundle: {err}")))?,
        None => STANDARD.encode(bundle.to_pem()),
    };
    settings.insert("signing_key".to_owned(), Value::String(signing_key));
    let mut vm_config = Map::new();
    vm_config.insert("vm_id".to_owned(), json!(options.vm_id));
    vm_config.insert("runtime".to_owned(), json!("envoy.wasm.runtime.v8"));
    vm_config.insert(
        "code".to_owned(),
        json!({"local": {"filename": options.wasm}}),
    );
    if options.seal.is_some() {
        // The VM reads the KEK from Envoy's environment, which
        // /config_dump does not print.
        vm_config.insert(
            "environment_variables".to_owned(),
            json!({"host_env_keys": [KEK_ENV]}),
        );
    }
    let configuration = serde_json::to_string(&settings)
        .map_err(|err| CliError::input(format!("serializing the settings: {err}")))?;
    let etag = JwksDocument::new(&bundle.jwks())
        .etag()
        .trim_matches('"')
        .to_owned();
    let document = json!({
        // Informational for Envoy; here it names the key set and signer.
        "version_info": format!("{etag}-{}", signing_kid.get(..12).unwrap_or(&signing_kid)),
        "resources": [{
            "@type": EXTENSION_TYPE,
            "name": options.name,
            "typed_config": {
                "@type": WASM_TYPE,
                "config": {
                    "name": options.name,
                    // A dead VM costs the request it was handling, never
                    // lets one through unfiltered (see SECURITY.md).
                    "failure_policy": "FAIL_RELOAD",
                    "vm_config": vm_config,
                    "configuration": {
                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                        "value": configuration
                    }
                }
            }
        }]
    });
    serde_json::to_string_pretty(&document)
        .map(|text| format!("{text}\n"))
        .map_err(|err| CliError::input(format!("serializing the discovery file: {err}")))
}

pub fn run(options: &Options<'_>) -> Result<()> {
    let bundle = load_bundle(options.bundle)?;
    let settings = settings_object(options.settings)?;
    let text = document(&bundle, settings, options)?;
    if is_stdio(options.output) {
        return write_stdout(&text);
    }
    write(options.output, &text)?;
    let sealed = options
        .seal
        .map(|kek| format!(", sealed under key-encryption key {}", kek.id()))
        .unwrap_or_default();
    eprintln!(
        "wrote {}: {} key(s) published, signing with {}{sealed}",
        display_name(options.output),
        bundle.keys().len(),
        bundle.signing_key().map_or("?", |key| key.kid())
    );
    Ok(())
}

/// Replaces the discovery file atomically (a rename: what Envoy watches).
pub fn write(output: &Path, text: &str) -> Result<()> {
    write_atomic(output, text, Overwrite::Replace)
}
