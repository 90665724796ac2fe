// The JWKS cache as the package drives it, with fetch and the clock
// injected (no Envoy needed): max-age, 304 revalidation, and a slow
// revalidation that does not hold up tokens the stale keys can verify.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Verifier } from "signed-headers-verifier";

const b64url = (data) => Buffer.from(data).toString("base64url");
const HOST = "app.example";

async function keyAndToken() {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const jwks = JSON.stringify({ keys: [{ kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, kid: "k1", use: "sig", alg: "ES256" }] });
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: HOST, aud: HOST, iat: now, exp: now + 300, sub: "alice" };
  const input = `${b64url(JSON.stringify({ alg: "ES256", typ: "JWT", kid: "k1" }))}.${b64url(JSON.stringify(claims))}`;
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, new TextEncoder().encode(input));
  return { jwks, token: `${input}.${b64url(new Uint8Array(signature))}` };
}

test("max-age is kept, a stale set revalidated with If-None-Match, a 304 renews it", async () => {
  const { jwks, token } = await keyAndToken();
  const seen = [];
  const fetch = async (url, init) => {
    seen.push(init.headers["if-none-match"] ?? null);
    const headers = new Headers({ etag: '"v1"', "cache-control": "public, max-age=60" });
    return seen.length === 1 ? new Response(jwks, { status: 200, headers }) : new Response(null, { status: 304, headers });
  };
  let clock = Date.now();
  const v = new Verifier({ jwksUrl: "https://app.example/jwks", issuer: HOST, audience: HOST, fetch, now: () => clock });
  await v.verify(token);
  clock += 59_000;
  await v.verify(token);
  assert.deepEqual(seen, [null]);
  clock += 1_000;
  assert.equal((await v.verify(token)).sub, "alice");
  assert.deepEqual(seen, [null, '"v1"']);
  assert.equal(v.stats().notModified, 1);
  clock += 59_000;
  await v.verify(token);
  assert.equal(seen.length, 2);
});

test("a slow revalidation does not hold up tokens the stale keys verify", { timeout: 10_000 }, async () => {
  const { jwks, token } = await keyAndToken();
  let calls = 0;
  let open;
  const gate = new Promise((resolve) => {
    open = resolve;
  });
  const fetch = async () => {
    calls += 1;
    if (calls > 1) await gate;
    return new Response(jwks, { status: 200, headers: { "cache-control": "max-age=60" } });
  };
  let clock = Date.now();
  const v = new Verifier({ jwksUrl: "https://app.example/jwks", issuer: HOST, audience: HOST, fetch, now: () => clock });
  await v.verify(token);
  clock += 61_000;
  const revalidating = v.verify(token);
  // Meanwhile: verified with the stale keys, while the refresh is pending.
  assert.equal((await v.verify(token)).sub, "alice");
  assert.equal(calls, 2);
  open();
  assert.equal((await revalidating).sub, "alice");
  assert.equal(v.stats().fetches, 2);
});
