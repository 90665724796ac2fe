// Validates every manifest under deploy/ against the published schema of
// its kind: Kubernetes' own types (kubernetes-models, generated from the
// Kubernetes OpenAPI document), Istio's CRDs (@kubernetes-models/istio,
// generated from Istio's CRD schemas) and the Gateway API's CRDs
// (@kubernetes-models/gateway-api). Envoy Gateway's own kinds have no such
// package in any registry this project can install from: they are listed
// as unchecked, and the filter configuration inside them is run by the
// end-to-end tests instead (tests/tests/e2e/platforms.rs).
//
// Exits 1 on the first invalid document, naming the file and the field.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const deploy = join(dirname(fileURLToPath(import.meta.url)), "..");

// apiVersion -> the module whose exports are that version's kinds.
const MODELS = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "batch/v1": "kubernetes-models/batch/v1",
  "rbac.authorization.k8s.io/v1": "kubernetes-models/rbac.authorization.k8s.io/v1",
  "security.istio.io/v1": "@kubernetes-models/istio/security.istio.io/v1",
  "extensions.istio.io/v1alpha1": "@kubernetes-models/istio/extensions.istio.io/v1alpha1",
  "gateway.networking.k8s.io/v1": "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1",
};
// Kinds no installable package publishes a schema for.
const UNCHECKED = new Set([
  "gateway.envoyproxy.io/v1alpha1/SecurityPolicy",
  "gateway.envoyproxy.io/v1alpha1/EnvoyExtensionPolicy",
  "gateway.envoyproxy.io/v1alpha1/EnvoyProxy",
]);

function manifests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : manifests(path);
    return entry.name.endsWith(".yaml") ? [path] : [];
  });
}

let checked = 0;
const unchecked = [];
for (const file of manifests(deploy).sort()) {
  const name = relative(deploy, file);
  const documents = parseAllDocuments(readFileSync(file, "utf8"));
  for (const document of documents) {
    if (document.errors.length > 0) {
      console.error(`${name}: not YAML: ${document.errors[0].message}`);
      process.exit(1);
    }
    const object = document.toJS();
    const id = `${object.apiVersion}/${object.kind}`;
    if (UNCHECKED.has(id)) {
      unchecked.push(`${name}: ${object.kind} ${object.metadata?.name}`);
      continue;
    }
    const module = MODELS[object.apiVersion];
    const Model = module && (await import(module))[object.kind];
    if (!Model) {
      console.error(`${name}: no schema known for ${id}`);
      process.exit(1);
    }
    try {
      new Model(object).validate();
    } catch (error) {
      console.error(`${name}: ${object.kind} ${object.metadata?.name}: ${error.message}`);
      process.exit(1);
    }
    checked += 1;
  }
}
console.log(`deploy/: ${checked} manifests valid against their published schemas`);
for (const line of unchecked) console.log(`  not checked (no published schema installable here): ${line}`);
