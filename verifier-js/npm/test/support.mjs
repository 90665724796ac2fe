// What the Rust end-to-end test (cargo test -p signed-headers-e2e verifier_js)
// hands these tests: a running Envoy with the filter, and tokens.
import http from "node:http";
import assert from "node:assert/strict";

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: these tests run against a real Envoy; run them with make test`);
  }
  return value;
}

export const ENVOY_URL = required("SIGNED_HEADERS_ENVOY_URL");
export const IDP_TOKEN = required("SIGNED_HEADERS_IDP_TOKEN");
export const SUBJECT = required("SIGNED_HEADERS_SUBJECT");
export const EXPIRED_ASSERTION = required("SIGNED_HEADERS_EXPIRED_ASSERTION");
export const JWKS_URL = `${ENVOY_URL}/.well-known/pomerium/jwks.json`;
export const HOST = "app.example";

/** A GET with exactly these headers (Host included), over node:http. */
export function get(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers, agent: false }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () =>
        resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    request.on("error", reject);
  });
}

/** The assertion Envoy's filter adds for the IdP token's user, as the echo upstream saw it. */
export async function assertionThroughEnvoy(host = HOST) {
  const response = await get(`${ENVOY_URL}/`, { host, authorization: `Bearer ${IDP_TOKEN}` });
  assert.equal(response.status, 200, response.body);
  const echo = JSON.parse(response.body);
  const values = echo.headers
    .filter(([name]) => name.toLowerCase() === "x-pomerium-jwt-assertion")
    .map(([, value]) => value);
  assert.equal(values.length, 1, `one assertion header: ${response.body}`);
  return values[0];
}

/** The global fetch, counting the requests it makes. */
export function countingFetch() {
  const calls = [];
  const counted = (url, init) => {
    calls.push({ url: String(url), init });
    return fetch(url, init);
  };
  return { fetch: counted, calls };
}

export const b64url = (data) => Buffer.from(data).toString("base64url");
export const segment = (token, index) => JSON.parse(Buffer.from(token.split(".")[index], "base64url").toString());

/** An ES256 token over `claims` with header `header`, signed by a fresh WebCrypto key. */
export async function signWithFreshKey(header, claims) {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, new TextEncoder().encode(input));
  return `${input}.${b64url(new Uint8Array(signature))}`;
}
