//! The module as an OCI image (`deploy/oci-image.sh`, which `make oci`
//! runs): written without a Docker daemon, pushed to a real registry
//! (Debian's `docker-registry`) with `skopeo`, pulled back, and its layer
//! unpacked to exactly the module's bytes. The format is the one Istio's
//! WasmPlugin and Envoy Gateway's EnvoyExtensionPolicy read (the Wasm image
//! specification's "compat" variant: one tar+gzip layer holding
//! `plugin.wasm`). `make test` installs `skopeo` and `docker-registry`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use signed_headers_e2e::filter_wasm;
use signed_headers_e2e::http::{Request, try_send};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Debian's `docker-registry` (the CNCF Distribution registry) on a
/// loopback port, its storage in `dir`; killed when dropped.
struct Registry {
    child: Child,
    address: SocketAddr,
}

impl Registry {
    fn start(dir: &Path) -> Self {
        let address = SocketAddr::from(([127, 0, 0, 1], signed_headers_e2e::free_loopback_port()));
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: {address}}}\n",
                dir.join("storage").display()
            ),
        )
        .expect("the registry's configuration");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (Debian's package; `make test` installs it)");
        let registry = Self { child, address };
        let deadline = Instant::now() + Duration::from_secs(20);
        while try_send(address, &Request::get("/v2/"))
            .map(|r| r.status)
            .ok()
            != Some(200)
        {
            assert!(
                Instant::now() < deadline,
                "the registry never answered /v2/"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command, panicking with its stderr unless it succeeds; returns
/// its stdout.
fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn write_image(module: &Path, layout: &Path) -> String {
    let script = signed_headers_e2e::repository_root().join("deploy/oci-image.sh");
    run(Command::new(script).arg(module).arg(VERSION).arg(layout))
        .trim()
        .to_owned()
}

#[test]
fn oci_image_round_trips_through_a_real_registry_byte_for_byte() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let module = filter_wasm();
    let layout = dir.path().join("layout");
    let digest = write_image(&module, &layout);
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert_eq!(
        write_image(&module, &dir.path().join("again")),
        digest,
        "the same module gives the same image"
    );

    let registry = Registry::start(dir.path());
    let reference = format!("docker://{}/signed-headers:{VERSION}", registry.address);
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        &format!("oci:{}:{VERSION}", layout.display()),
        &reference,
    ]));

    // What a platform's fetcher reads from the registry.
    let manifest =
        run(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", &reference]));
    let manifest: Value = serde_json::from_str(&manifest).expect("the manifest is JSON");
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["annotations"]["module.wasm.image/variant"],
        "compat"
    );
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    // The registry names the manifest by the digest the script printed,
    // which is what WasmPlugin's `sha256` checks for an oci:// URL.
    let served = try_send(
        registry.address,
        &Request::get(&format!("/v2/signed-headers/manifests/{VERSION}"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json"),
    )
    .expect("the registry answers");
    assert_eq!(
        served.header("docker-content-digest"),
        Some(digest.as_str())
    );

    // Pulled back, the layer holds exactly the module.
    let pulled = dir.path().join("pulled");
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        &reference,
        &format!("oci:{}:{VERSION}", pulled.display()),
    ]));
    let layer_digest = layers[0]["digest"].as_str().expect("a layer digest");
    let layer = pulled
        .join("blobs/sha256")
        .join(layer_digest.trim_start_matches("sha256:"));
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).expect("a directory to unpack into");
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&layer)
        .arg("-C")
        .arg(&unpacked));
    let files: Vec<String> = std::fs::read_dir(&unpacked)
        .expect("the unpacked layer")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(files, ["plugin.wasm"]);
    assert!(
        std::fs::read(unpacked.join("plugin.wasm")).expect("plugin.wasm")
            == std::fs::read(&module).expect("the module"),
        "the pulled layer's plugin.wasm is the module, byte for byte"
    );
}
