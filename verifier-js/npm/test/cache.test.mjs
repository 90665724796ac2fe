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

// The order of P-256: s and n - s are both valid ECDSA signatures.
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const bytesOf = (value) => Uint8Array.from(Buffer.from(value.toString(16).padStart(64, "0"), "hex"));

test("WebCrypto and the WebAssembly check give the same verdicts", async () => {
  const { jwks, token } = await keyAndToken();
  const [header, payload, signature] = token.split(".");
  const raw = Buffer.from(signature, "base64url");
  const s = BigInt(`0x${raw.subarray(32).toString("hex")}`);
  const highS = b64url(Buffer.concat([raw.subarray(0, 32), bytesOf(N - s)]));
  const claims = JSON.parse(Buffer.from(payload, "base64url"));
  const cases = {
    valid: token,
    "n - s": `${header}.${payload}.${highS}`,
    "payload altered": `${header}.${b64url(JSON.stringify({ ...claims, sub: "mallory" }))}.${signature}`,
    "r = 0": `${header}.${payload}.${b64url(Buffer.concat([Buffer.alloc(32), raw.subarray(32)]))}`,
    "s = n": `${header}.${payload}.${b64url(Buffer.concat([raw.subarray(0, 32), bytesOf(N)]))}`,
    "63 bytes": `${header}.${payload}.${b64url(raw.subarray(0, 63))}`,
    "not base64url": `${header}.${payload}.${signature.slice(0, -2)}*!`,
    "empty signature": `${header}.${payload}.`,
  };
  const outcome = async (v, t) => v.verify(t).then((c) => `ok ${c.sub}`, (e) => e.code);
  const webcrypto = new Verifier({ jwks, issuer: HOST, audience: HOST, signatures: "webcrypto", memoBytes: 0 });
  const wasm = new Verifier({ jwks, issuer: HOST, audience: HOST, signatures: "wasm", memoBytes: 0 });
  assert.equal(webcrypto.signatures, "webcrypto");
  assert.equal(wasm.signatures, "wasm");
  const verdicts = {};
  for (const [name, t] of Object.entries(cases)) {
    verdicts[name] = await outcome(webcrypto, t);
    assert.equal(verdicts[name], await outcome(wasm, t), name);
  }
  assert.deepEqual(verdicts, {
    valid: "ok alice",
    "n - s": "ok alice",
    "payload altered": "bad_signature",
    "r = 0": "bad_signature",
    "s = n": "bad_signature",
    "63 bytes": "bad_signature",
    "not base64url": "bad_signature",
    "empty signature": "bad_signature",
  });
});

test("a remembered token is reused until exp plus the skew, and not after its key is retired", async () => {
  const { jwks, token } = await keyAndToken();
  let published = jwks;
  const fetch = async () =>
    new Response(published, { status: 200, headers: { "cache-control": "max-age=60" } });
  let clock = Date.now();
  const v = new Verifier({ jwksUrl: "https://app.example/jwks", issuer: HOST, audience: HOST, fetch, now: () => clock });
  await v.verify(token);
  assert.equal(v.remembered(), 1);
  clock += 30_000;
  assert.equal((await v.verify(token)).sub, "alice");

  // exp is 300 s after issue, the skew 60 s.
  const { iat } = JSON.parse(Buffer.from(token.split(".")[1], "base64url"));
  clock = iat * 1000;
  const late = new Verifier({ jwks, issuer: HOST, audience: HOST, now: () => clock });
  await late.verify(token);
  clock += 360_000;
  assert.equal((await late.verify(token)).sub, "alice");
  clock += 1_000;
  await assert.rejects(late.verify(token), { code: "expired" });
  assert.equal(late.remembered(), 0);

  // The JWKS drops the key: once the cached set is revalidated, the
  // remembered token is refused.
  clock = Date.now() + 61_000;
  published = (await keyAndToken()).jwks.replace('"k1"', '"k2"');
  await assert.rejects(v.verify(token), { code: "unknown_key" });
  assert.equal(v.remembered(), 0);
});
