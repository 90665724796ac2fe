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
// Envoy Gateway's kinds: no installable package publishes their schemas, so
// they are checked against the fields of its API types as read for these
// manifests (api/v1alpha1: SecurityPolicy's jwt, EnvoyExtensionPolicy's
// wasm, EnvoyProxy's Kubernetes provider): every key must be one the type
// has, every listed value one it allows. Weaker than the schema (types of
// leaves are not checked), but a misspelled field is caught.
const ANY = null;
const targetRef = { group: ANY, kind: ANY, name: ANY, sectionName: ANY };
const secretRef = { group: ANY, kind: ANY, name: ANY, namespace: ANY };
const ENVOY_GATEWAY = {
  "gateway.envoyproxy.io/v1alpha1/SecurityPolicy": {
    targetRefs: [targetRef],
    targetSelectors: ANY,
    jwt: {
      optional: ANY,
      providers: [
        {
          name: ANY,
          issuer: ANY,
          audiences: ANY,
          remoteJWKS: { uri: ANY, backendRefs: ANY, backendSettings: ANY },
          localJWKS: { type: ["Inline", "ValueRef"], inline: ANY, valueRef: ANY },
          claimToHeaders: [{ header: ANY, claim: ANY }],
          recomputeRoute: ANY,
          extractFrom: { headers: ANY, cookies: ANY, params: ANY },
        },
      ],
    },
    cors: ANY,
    basicAuth: ANY,
    apiKeyAuth: ANY,
    oidc: ANY,
    extAuth: ANY,
    authorization: ANY,
  },
  "gateway.envoyproxy.io/v1alpha1/EnvoyExtensionPolicy": {
    targetRefs: [targetRef],
    targetSelectors: ANY,
    extProc: ANY,
    lua: ANY,
    wasm: [
      {
        name: ANY,
        rootID: ANY,
        code: {
          type: ["HTTP", "Image"],
          http: { url: ANY, sha256: ANY, tls: ANY },
          image: { url: ANY, sha256: ANY, pullSecretRef: secretRef, tls: ANY },
          pullPolicy: ["IfNotPresent", "Always"],
        },
        config: ANY,
        failOpen: ANY,
        env: { hostKeys: ANY },
      },
    ],
  },
  "gateway.envoyproxy.io/v1alpha1/EnvoyProxy": {
    provider: {
      type: ["Kubernetes", "Host", "Custom"],
      kubernetes: {
        envoyDeployment: { replicas: ANY, strategy: ANY, pod: ANY, container: { env: ANY, image: ANY, resources: ANY, securityContext: ANY, volumeMounts: ANY }, initContainers: ANY, patch: ANY, name: ANY },
        envoyService: ANY,
        envoyDaemonSet: ANY,
        envoyHpa: ANY,
        envoyPDB: ANY,
      },
    },
    logging: ANY,
    telemetry: ANY,
    bootstrap: ANY,
    concurrency: ANY,
    routingType: ANY,
    extraArgs: ANY,
    mergeGateways: ANY,
    shutdown: ANY,
    filterOrder: ANY,
    backendTLS: ANY,
    ipFamily: ANY,
  },
};

/// Problems of `value` against `shape` (an object of allowed keys, a list
/// of one element shape, a list of allowed strings, or ANY), at `path`.
function shapeErrors(value, shape, path) {
  if (shape === ANY) return [];
  if (Array.isArray(shape) && shape.every((item) => typeof item === "string")) {
    return shape.includes(value) ? [] : [`${path}: ${JSON.stringify(value)} is not one of ${shape.join(", ")}`];
  }
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return [`${path}: must be a list`];
    return value.flatMap((item, index) => shapeErrors(item, shape[0], `${path}[${index}]`));
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return [`${path}: must be an object`];
  return Object.entries(value).flatMap(([key, member]) =>
    key in shape ? shapeErrors(member, shape[key], `${path}.${key}`) : [`${path}.${key}: no such field`],
  );
}

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
    if (id in ENVOY_GATEWAY) {
      const errors = shapeErrors(object.spec, ENVOY_GATEWAY[id], "spec");
      if (errors.length > 0) {
        console.error(`${name}: ${object.kind} ${object.metadata?.name}: ${errors.join("; ")}`);
        process.exit(1);
      }
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
for (const line of unchecked) {
  console.log(`  checked against Envoy Gateway's API fields only (no published schema installable here): ${line}`);
}
