//! `signing-key`: creates P-256 signing keys, takes a PEM key bundle through
//! the three-step rotation (add, promote, retire), prints the JWKS it
//! publishes, encodes it for `SIGNING_KEY`, and verifies tokens.
//!
//! Data goes to stdout, messages to stderr. Exit codes: 0 success, 1 a token
//! failed verification, 2 bad usage or input (including a refused edit).

mod edit;
mod envoy_config;
mod error;
mod files;
mod history;
mod rotate;
mod safety;
mod seal;
mod status;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::{Parser, Subcommand};
use signed_headers_keys::{Bundle, JwksDocument, KidFormat};

use crate::error::{CliError, Result};
use crate::files::{display_name, load_bundle, read_text, write_stdout};

/// Manage the P-256 signing keys of the signed-headers Envoy filter.
///
/// A bundle is one or more PEM blocks (EC PRIVATE KEY, PRIVATE KEY or PUBLIC
/// KEY, P-256 only). The first private key signs; every key is published in
/// the JWKS. Rotate in three steps, deploying the bundle after each:
/// `add`, then `promote`, then `retire`.
///
/// Exit codes: 0 success, 1 verification failed, 2 usage or input error.
/// `-` stands for stdin or stdout where a file is expected.
#[derive(Debug, Parser)]
#[command(name = "signing-key", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a new P-256 private key (SEC1 "EC PRIVATE KEY", like
    /// `openssl ecparam -genkey -noout`). Prints the kid on stderr.
    Generate {
        /// Write the key to FILE (mode 0600) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
        /// Write a PKCS#8 "PRIVATE KEY" block instead (like `openssl genpkey`).
        #[arg(long)]
        pkcs8: bool,
        #[command(flatten)]
        scope: ScopeArg,
    },
    /// Rotation step 1: append a new key (published, not signing yet).
    /// Prints its kid on stdout.
    Add {
        /// The bundle file, edited in place (`-`: stdin to stdout).
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
        /// Write the new key as PKCS#8 "PRIVATE KEY" instead of SEC1.
        #[arg(long)]
        pkcs8: bool,
        #[command(flatten)]
        scope: ScopeArg,
    },
    /// Rotation step 2: move the newest (last) private key, or the one named
    /// by --kid, to the front: it signs from then on.
    Promote {
        /// The bundle file, edited in place (`-`: stdin to stdout).
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
        /// The key to promote (its kid, or a unique prefix of 8+ characters).
        #[arg(long, value_name = "KID")]
        kid: Option<String>,
        #[command(flatten)]
        scope: ScopeArg,
        #[command(flatten)]
        checks: StepChecks,
    },
    /// Rotation step 3: remove every key but the signing (first private) one.
    Retire {
        /// The bundle file, edited in place (`-`: stdin to stdout).
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
        /// Keep the other keys as PUBLIC KEY blocks: still published, so tokens
        /// they signed still verify, but no longer able to sign.
        #[arg(long)]
        keep_public: bool,
        #[command(flatten)]
        scope: ScopeArg,
        #[command(flatten)]
        checks: StepChecks,
    },
    /// Emergency removal of one key. Refuses to leave no key that can sign
    /// (unless --force) and never leaves an empty bundle.
    Revoke {
        /// The bundle file, edited in place (`-`: stdin to stdout).
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
        /// The key to remove (its kid, or a unique prefix of 8+ characters).
        #[arg(value_name = "KID")]
        kid: String,
        /// Allow leaving a bundle in which no key can sign.
        #[arg(long)]
        force: bool,
    },
    /// Each key's kid, kind and role, and the rotation step the bundle is in.
    #[command(visible_alias = "list")]
    Status {
        /// The bundle (raw PEM or base64 of PEM; `-`: stdin).
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
        /// Print a JSON object instead: {keys: [{position, kid, kind, role,
        /// format}], step, description, next: [{command, when}]}; for a
        /// bundle with scoped keys (and no --scope), {scopes: [{scope, ...}]}
        /// with one such object per scope (scope null: the unscoped keys).
        #[arg(long)]
        json: bool,
        /// Only this scope's keys (default: each scope in turn).
        #[arg(long, value_name = "NAME", value_parser = parse_scope)]
        scope: Option<String>,
    },
    /// Print the JWKS document the filter serves for this bundle; several
    /// bundles or public-key files are merged in order (as OpenShift builds
    /// its keys.json from the old and new public keys), a key in two of them
    /// is an error.
    Jwks {
        /// The bundles (raw PEM or base64 of PEM; `-`: stdin).
        #[arg(value_name = "BUNDLE", required = true, num_args = 1..)]
        bundles: Vec<PathBuf>,
        /// How kids are written: thumbprint-hex (lowercase hex RFC 7638, the
        /// default), thumbprint (base64url RFC 7638), kubernetes (base64url
        /// SHA-256 of the DER public key, as kube-apiserver and OpenShift).
        /// The filter's kid_format setting must say the same.
        #[arg(long, value_name = "FORMAT", default_value = "thumbprint-hex", value_parser = parse_kid_format)]
        kid_format: KidFormat,
        /// Only this scope's keys: what the filter publishes on the hosts of
        /// routes signing in that scope.
        #[arg(long, value_name = "NAME", value_parser = parse_scope)]
        scope: Option<String>,
    },
    /// Perform whichever rotation step is due, or nothing: for cron. Prints
    /// `add: ...`, `promote: ...`, `retire: ...` or `nothing: ...` (why, and
    /// when the next step is due). Safe to run every minute.
    Rotate {
        /// The bundle file, edited in place.
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
        /// Start a rotation (add) when the signing key has signed this long.
        #[arg(long, value_name = "DURATION", value_parser = safety::parse_duration)]
        every: std::time::Duration,
        /// Promote no sooner than this after add. Default: how long
        /// verifiers may cache the JWKS (jwks_max_age_seconds in --settings,
        /// 60 s without, or the largest max-age a --jwks-url serves). A
        /// shorter value is refused without --allow-shorter-wait.
        #[arg(long, value_name = "DURATION", value_parser = safety::parse_duration)]
        promote_after: Option<std::time::Duration>,
        /// Retire no sooner than this after promote. Default: the token
        /// lifetime (ttl_seconds in --settings, 300 s without) plus 60 s of
        /// clock skew. A shorter value is refused without
        /// --allow-shorter-wait.
        #[arg(long, value_name = "DURATION", value_parser = safety::parse_duration)]
        retire_after: Option<std::time::Duration>,
        /// Use a --promote-after or --retire-after shorter than the settings
        /// and the replicas call for.
        #[arg(long)]
        allow_shorter_wait: bool,
        /// The JWKS of every running filter: promote and retire wait until
        /// each shows the state they build on.
        #[arg(long, value_name = "URL")]
        jwks_url: Vec<String>,
        /// Also trust this CA certificate (PEM) for an https --jwks-url,
        /// besides the system's (SSL_CERT_FILE, SSL_CERT_DIR, /etc/ssl).
        #[arg(long, value_name = "FILE")]
        cacert: Option<PathBuf>,
        /// Also keep this discovery file in step with the bundle (see
        /// envoy-config); rewritten only when it differs.
        #[arg(long, value_name = "FILE")]
        envoy_config: Option<PathBuf>,
        #[command(flatten)]
        discovery: DiscoveryFile,
        /// Say what would be done, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Rotate only this scope's keys (default: each scope in the bundle,
        /// each on its own schedule).
        #[arg(long, value_name = "NAME", value_parser = parse_scope)]
        scope: Option<String>,
    },
    /// Write the file Envoy reads the filter's configuration from (extension
    /// config discovery): the plugin settings plus this bundle as
    /// `signing_key` (sealed, with --seal). Written atomically (a rename,
    /// which is what Envoy watches for), mode 0600.
    EnvoyConfig {
        /// The bundle (raw PEM or base64 of PEM; `-`: stdin).
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
        /// The discovery file to write (`-`: stdout).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        #[command(flatten)]
        discovery: DiscoveryFile,
    },
    /// Generate a key-encryption key (KEK) for sealed bundles: 32 random
    /// bytes as one line of base64url, for SIGNED_HEADERS_KEK in Envoy's
    /// environment and for `envoy-config --seal`. Prints its id on stderr.
    GenerateKek {
        /// Write the KEK to FILE (mode 0600) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Print the bundle sealed under a key-encryption key, for a
    /// `signing_key` in a configuration Envoy gets from a platform (an Istio
    /// WasmPlugin's pluginConfig, an Envoy Gateway EnvoyExtensionPolicy's
    /// config): the filter opens it with SIGNED_HEADERS_KEK from Envoy's
    /// environment.
    Seal {
        /// The bundle (raw PEM or base64 of PEM; `-`: stdin).
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
        /// The key-encryption key (as `generate-kek` writes it); default:
        /// SIGNED_HEADERS_KEK.
        #[arg(long, value_name = "FILE")]
        kek_file: Option<PathBuf>,
    },
    /// Print the bundle as one line of base64, for the SIGNING_KEY setting.
    Encode {
        /// The bundle (raw PEM or base64 of PEM; `-`: stdin).
        #[arg(value_name = "BUNDLE")]
        bundle: PathBuf,
    },
    /// Decode a base64 SIGNING_KEY value back to PEM (validated).
    Decode {
        /// The base64 text (default `-`: stdin).
        #[arg(value_name = "INPUT", default_value = "-")]
        input: PathBuf,
    },
    /// Verify an ES256 assertion against a JWKS: signature, exp and iat
    /// (60 s leeway), and iss / aud when given. Prints the claims.
    Verify {
        /// The token (`-`: read it from stdin).
        #[arg(value_name = "TOKEN")]
        token: String,
        /// The JWKS: a file, `-` for stdin, or an http(s) URL.
        #[arg(
            long,
            value_name = "FILE|URL",
            required_unless_present = "key",
            conflicts_with = "key"
        )]
        jwks: Option<String>,
        /// Instead of a JWKS: a PEM public key or bundle (P-256, or RSA for
        /// RS256 tokens).
        #[arg(long, value_name = "FILE")]
        key: Option<String>,
        /// Require this issuer.
        #[arg(long, value_name = "ISS")]
        iss: Option<String>,
        /// Require this audience (not checked when omitted).
        #[arg(long, value_name = "AUD")]
        aud: Option<String>,
        /// Also trust this CA certificate (PEM) for an https --jwks URL,
        /// besides the system's (SSL_CERT_FILE, SSL_CERT_DIR, /etc/ssl).
        #[arg(long, value_name = "FILE")]
        cacert: Option<PathBuf>,
    },
}

/// What the discovery file holds besides the bundle (`envoy-config`, and
/// `rotate --envoy-config`).
#[derive(Debug, clap::Args)]
struct DiscoveryFile {
    /// A JSON object of plugin settings, as in a static configuration,
    /// without `signing_key` (default: `{}`, every default).
    #[arg(long, value_name = "FILE")]
    settings: Option<PathBuf>,
    /// The filter's `.wasm`, as Envoy finds it.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "target/wasm32-wasip1/release/signed_headers.wasm"
    )]
    wasm: String,
    /// The filter's name in the listener's `config_discovery`.
    #[arg(long, default_value = "signed_headers")]
    name: String,
    /// The VM id (VMs with one id share the ephemeral key and caches).
    #[arg(long, default_value = "signed_headers")]
    vm_id: String,
    /// Seal the bundle under a key-encryption key (--kek-file, else
    /// SIGNED_HEADERS_KEK): the file then holds no usable key, so neither
    /// it nor Envoy's /config_dump gives the key away. Envoy needs the same
    /// SIGNED_HEADERS_KEK in its environment; the file names it in
    /// host_env_keys.
    #[arg(long)]
    seal: bool,
    /// The key-encryption key for --seal (as `generate-kek` writes it;
    /// several, comma-separated: the first seals).
    #[arg(long, value_name = "FILE", requires = "seal")]
    kek_file: Option<PathBuf>,
}

impl DiscoveryFile {
    /// The KEK --seal asks for, read before anything is changed.
    fn sealing_keys(&self) -> Result<Option<signed_headers_keys::KeyEncryptionKeys>> {
        self.seal
            .then(|| seal::load(self.kek_file.as_deref()))
            .transpose()
    }
}

/// `--scope NAME`: which keys of the bundle an edit works on.
#[derive(Debug, clap::Args)]
struct ScopeArg {
    /// The scope whose keys to work on (a tenant, an app: the filter's
    /// signing_scope), written as a `# scope: NAME` line above each key.
    /// Default: the unscoped keys. Other scopes' keys are left untouched.
    #[arg(long, value_name = "NAME", value_parser = parse_scope)]
    scope: Option<String>,
}

/// A scope name as the filter's `signing_scope` takes it.
fn parse_scope(name: &str) -> std::result::Result<String, String> {
    if !signed_headers_keys::is_scope_name(name) {
        return Err(format!(
            "1 to {} letters, digits, '.', '_' or '-'",
            signed_headers_keys::MAX_SCOPE_NAME_BYTES
        ));
    }
    Ok(name.to_owned())
}

fn parse_kid_format(name: &str) -> std::result::Result<KidFormat, String> {
    KidFormat::from_name(name).ok_or_else(|| format!("one of {}", KidFormat::NAMES.join(", ")))
}

/// The safety checks of `promote` and `retire`.
#[derive(Debug, clap::Args)]
struct StepChecks {
    /// Refuse the step sooner than this after the previous one (seconds, or
    /// `90s`, `6m`...). Default, derived from --settings and --jwks-url:
    /// for promote, how long verifiers may cache the JWKS (the filter's
    /// jwks_max_age_seconds, 60 s without settings, or the largest max-age
    /// a --jwks-url serves); for retire, the token lifetime (ttl_seconds,
    /// 300 s without) plus 60 s of clock skew. A shorter value (`0` skips
    /// the wait) is refused without --allow-shorter-wait.
    #[arg(long, value_name = "DURATION", value_parser = safety::parse_duration)]
    min_age: Option<std::time::Duration>,
    /// Use a --min-age shorter than the settings and the replicas call for.
    #[arg(long)]
    allow_shorter_wait: bool,
    /// The filter's plugin settings (JSON, as envoy-config takes them): the
    /// waits follow their jwks_max_age_seconds and ttl_seconds.
    #[arg(long, value_name = "FILE")]
    settings: Option<PathBuf>,
    /// The JWKS of a running filter (repeat for every replica): promote
    /// refuses unless the key is published there, retire unless the new key
    /// signs there (its x-signing-kid header).
    #[arg(long, value_name = "URL")]
    jwks_url: Vec<String>,
    /// Also trust this CA certificate (PEM) for an https --jwks-url,
    /// besides the system's (SSL_CERT_FILE, SSL_CERT_DIR, /etc/ssl).
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
}

impl StepChecks {
    fn checks(self) -> Result<safety::Checks> {
        Ok(safety::Checks {
            min_age: self.min_age.map(|wait| (wait, "--min-age")),
            allow_shorter_wait: self.allow_shorter_wait,
            times: safety::FilterTimes::from_settings(self.settings.as_deref())?,
            jwks_urls: self.jwks_url,
            cacert: self.cacert,
            now: std::time::SystemTime::now(),
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Generate {
            output,
            force,
            pkcs8,
            scope,
        } => edit::generate(output.as_deref(), force, pkcs8, scope.scope.as_deref()),
        Command::Add {
            bundle,
            pkcs8,
            scope,
        } => edit::add(&bundle, pkcs8, scope.scope.as_deref()),
        Command::Promote {
            bundle,
            kid,
            scope,
            checks,
        } => edit::promote(
            &bundle,
            kid.as_deref(),
            &checks.checks()?,
            scope.scope.as_deref(),
        ),
        Command::Retire {
            bundle,
            keep_public,
            scope,
            checks,
        } => edit::retire(
            &bundle,
            keep_public,
            &checks.checks()?,
            scope.scope.as_deref(),
        ),
        Command::Revoke { bundle, kid, force } => edit::revoke(&bundle, &kid, force),
        Command::Status {
            bundle,
            json,
            scope,
        } => show_status(&bundle, json, scope.as_deref()),
        Command::Jwks {
            bundles,
            kid_format,
            scope,
        } => merged_jwks(&bundles, kid_format, scope.as_deref()),
        Command::GenerateKek { output, force } => seal::generate(output.as_deref(), force),
        Command::Seal { bundle, kek_file } => seal::seal_bundle(&bundle, kek_file.as_deref()),
        Command::Encode { bundle } => {
            let bundle = load_bundle(&bundle)?;
            write_stdout(&format!("{}\n", STANDARD.encode(bundle.to_pem())))
        }
        Command::Rotate {
            bundle,
            every,
            promote_after,
            retire_after,
            allow_shorter_wait,
            jwks_url,
            cacert,
            envoy_config,
            discovery,
            dry_run,
            scope,
        } => {
            let keks = discovery.sealing_keys()?;
            rotate::run(&rotate::Options {
                scope: scope.as_deref(),
                bundle: &bundle,
                every,
                promote_min_age: promote_after,
                retire_min_age: retire_after,
                allow_shorter_wait,
                times: safety::FilterTimes::from_settings(discovery.settings.as_deref())?,
                jwks_urls: jwks_url,
                cacert: cacert.as_deref(),
                envoy: envoy_config.as_deref().map(|output| rotate::EnvoyTarget {
                    output,
                    settings: discovery.settings.as_deref(),
                    wasm: &discovery.wasm,
                    name: &discovery.name,
                    vm_id: &discovery.vm_id,
                    seal: keks.as_ref().map(|keks| keks.sealing()),
                }),
                dry_run,
            })
        }
        Command::EnvoyConfig {
            bundle,
            output,
            discovery,
        } => {
            let keks = discovery.sealing_keys()?;
            envoy_config::run(&envoy_config::Options {
                bundle: &bundle,
                output: &output,
                settings: discovery.settings.as_deref(),
                wasm: &discovery.wasm,
                name: &discovery.name,
                vm_id: &discovery.vm_id,
                seal: keks.as_ref().map(|keks| keks.sealing()),
            })
        }
        Command::Decode { input } => decode(&input),
        Command::Verify {
            token,
            jwks,
            key,
            iss,
            aud,
            cacert,
        } => verify::run(&verify::Options {
            token: &token,
            keys: match (&jwks, &key) {
                (_, Some(key)) => verify::KeySource::Key(key),
                (Some(jwks), None) => verify::KeySource::Jwks(jwks),
                (None, None) => return Err(CliError::input("--jwks or --key is required")),
            },
            iss: iss.as_deref(),
            aud: aud.as_deref(),
            cacert: cacert.as_deref(),
        }),
    }
}

/// One JWKS document from several bundles, in order; a key in two of them
/// is refused (a verifier would see it twice).
fn merged_jwks(paths: &[PathBuf], kid_format: KidFormat, scope: Option<&str>) -> Result<()> {
    if paths.iter().filter(|path| files::is_stdio(path)).count() > 1 {
        return Err(CliError::input("stdin (-) can be read once"));
    }
    let mut jwks = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    for path in paths {
        let bundle = load_bundle(path)?;
        let name = display_name(path);
        let in_scope = |key: &&signed_headers_keys::BundleKey| {
            scope.is_none_or(|scope| key.scope() == Some(scope))
        };
        for key in bundle.keys().iter().filter(in_scope) {
            if let Some((_, first)) = seen.iter().find(|(kid, _)| kid == key.kid()) {
                return Err(CliError::input(format!(
                    "key {} is in both {first} and {name}",
                    key.kid()
                )));
            }
            seen.push((key.kid().to_owned(), name.clone()));
            jwks.push(key.jwk_in(kid_format));
        }
    }
    write_stdout(&format!("{}\n", JwksDocument::new(&jwks).body()))
}

fn show_status(path: &Path, json: bool, only: Option<&str>) -> Result<()> {
    let bundle = load_bundle(path)?;
    let name = if files::is_stdio(path) {
        "BUNDLE".to_owned()
    } else {
        display_name(path)
    };
    let scopes: Vec<Option<&str>> = match only {
        Some(scope) => vec![Some(scope)],
        None => bundle.scopes(),
    };
    let mut statuses = Vec::with_capacity(scopes.len());
    for scope in &scopes {
        let keys: Vec<_> = bundle.keys_in_scope(*scope).cloned().collect();
        let sub = Bundle::from_keys(keys).map_err(|_| {
            CliError::input(format!(
                "{name}: no keys in scope {}",
                scope.unwrap_or_default()
            ))
        })?;
        statuses.push((*scope, status::status(&sub, &name, *scope)));
    }
    // A bundle of unscoped keys only (or one scope asked for): one status,
    // as it always was.
    let one = only.is_some() || scopes == [None];
    if json {
        let value = if one {
            serde_json::to_value(statuses.first().map(|(_, status)| status))
        } else {
            serde_json::to_value(serde_json::json!({"scopes": statuses
                .iter()
                .map(|(scope, status)| {
                    let mut object = serde_json::to_value(status).unwrap_or_default();
                    if let Some(fields) = object.as_object_mut() {
                        fields.insert("scope".to_owned(), serde_json::json!(scope));
                    }
                    object
                })
                .collect::<Vec<_>>()}))
        };
        let text = value
            .and_then(|value| serde_json::to_string_pretty(&value))
            .map_err(|err| CliError::input(format!("printing the status: {err}")))?;
        write_stdout(&format!("{text}\n"))
    } else if one {
        write_stdout(
            &statuses
                .first()
                .map(|(_, status)| status::render(status))
                .unwrap_or_default(),
        )
    } else {
        let text: Vec<String> = statuses
            .iter()
            .map(|(scope, status)| {
                let title = match scope {
                    Some(scope) => format!("scope {scope}"),
                    None => "unscoped keys".to_owned(),
                };
                format!("== {title}\n{}", status::render(status))
            })
            .collect();
        write_stdout(&text.join("\n"))
    }
}

fn decode(input: &Path) -> Result<()> {
    let text = read_text(input)?;
    let bundle = Bundle::parse(&text)
        .map_err(|err| CliError::input(format!("{}: {err}", display_name(input))))?;
    write_stdout(&bundle.to_pem())
}
