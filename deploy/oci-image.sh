#!/bin/sh
# Writes the module as an OCI image layout, the "compat" variant of the Wasm
# image specification that Istio's WasmPlugin and Envoy Gateway's
# EnvoyExtensionPolicy both pull (their fetchers share one origin): one
# `application/vnd.oci.image.layer.v1.tar+gzip` layer holding `plugin.wasm`,
# and the manifest annotation `module.wasm.image/variant: compat`. No Docker
# daemon: tar, gzip and sha256sum, with fixed timestamps and owners, so the
# same module gives the same image digest. Push it with skopeo:
#
#   skopeo copy oci:dist/signed-headers-<version>/oci:<version> \
#       docker://registry.example.com/signed-headers:<version>
#
# Usage: deploy/oci-image.sh MODULE VERSION OUTPUT_DIRECTORY
set -eu

module=$1
version=$2
out=$3

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out/blobs/sha256"

# Moves FILE into the layout's blobs; prints its digest (hex).
blob() {
	digest=$(sha256sum "$1" | cut -d' ' -f1)
	mv "$1" "$out/blobs/sha256/$digest"
	echo "$digest"
}
size() {
	stat -c %s "$out/blobs/sha256/$1"
}

cp "$module" "$work/plugin.wasm"
chmod 0644 "$work/plugin.wasm"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
	-C "$work" -cf "$work/layer.tar" plugin.wasm
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -9 -c "$work/layer.tar" > "$work/layer.tar.gz"
layer=$(blob "$work/layer.tar.gz")

printf '{"architecture":"wasm","os":"wasip1","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
	"$diff_id" > "$work/config.json"
config=$(blob "$work/config.json")

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}],"annotations":{"module.wasm.image/variant":"compat","org.opencontainers.image.title":"signed-headers","org.opencontainers.image.version":"%s"}}' \
	"$config" "$(size "$config")" "$layer" "$(size "$layer")" "$version" > "$work/manifest.json"
manifest=$(blob "$work/manifest.json")

printf '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
	"$manifest" "$(size "$manifest")" "$version" > "$out/index.json"
echo "sha256:$manifest"
