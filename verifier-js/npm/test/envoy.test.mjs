// The package against a real Envoy running the filter: assertions Envoy
// mints verify; forged, expired and wrong-audience tokens do not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";

import { Verifier, VerificationError } from "signed-headers-verifier";
import {
  EXPIRED_ASSERTION, HOST, JWKS_URL, SUBJECT, assertionThroughEnvoy, b64url, countingFetch, segment,
  signWithFreshKey,
} from "./support.mjs";

function verifier(fetch, options = {}) {
  return new Verifier({ jwksUrl: JWKS_URL, issuer: HOST, audience: HOST, fetch, ...options });
}

async function refusal(promise) {
  const error = await promise.then(
    (claims) => assert.fail(`accepted: ${JSON.stringify(claims)}`),
    (error) => error,
  );
  assert.ok(error instanceof VerificationError, `a VerificationError, got ${error}`);
  return error.code;
}

test("an assertion Envoy minted verifies, with the JWKS fetched once", async () => {
  const counting = countingFetch();
  const events = [];
  const v = verifier(counting.fetch, { onEvent: (event) => events.push(event) });
  const token = await assertionThroughEnvoy();
  const claims = await v.verify(token);
  assert.equal(claims.sub, SUBJECT);
  assert.equal(claims.email, `${SUBJECT}@example.com`);
  assert.deepEqual(claims.aud, [HOST]);
  assert.equal(claims.iss, HOST);
  assert.ok(Array.isArray(claims.groups));
  assert.equal(claims.exp - claims.iat, 300);

  // Concurrent verifications share the cached keys: no more fetches.
  await Promise.all(Array.from({ length: 20 }, () => v.verify(token)));
  assert.equal(counting.calls.length, 1);
  assert.deepEqual(v.stats(), { fetches: 1, updates: 1, notModified: 0, failures: 0, suppressedRefetches: 0 });
  assert.equal(events.length, 1);
  assert.equal(events[0].type, "updated");
  assert.deepEqual(events[0].kids, [segment(token, 0).kid]);
});

test("concurrent first verifications share one fetch", async () => {
  const counting = countingFetch();
  const v = verifier(counting.fetch);
  const token = await assertionThroughEnvoy();
  const all = await Promise.all(Array.from({ length: 10 }, () => v.verify(token)));
  assert.equal(all.length, 10);
  assert.equal(counting.calls.length, 1);
});

test("forged tokens are refused", async () => {
  const counting = countingFetch();
  let clock = Date.now();
  const v = verifier(counting.fetch, { now: () => clock });
  const token = await assertionThroughEnvoy();
  const [header, payload, signature] = token.split(".");
  const claims = segment(token, 1);

  const promoted = b64url(JSON.stringify({ ...claims, groups: ["admins"] }));
  assert.equal(await refusal(v.verify(`${header}.${promoted}.${signature}`)), "bad_signature");

  // Another key, claiming the filter's kid.
  const impostor = await signWithFreshKey(segment(token, 0), claims);
  assert.equal(await refusal(v.verify(impostor)), "bad_signature");

  const none = `${b64url(JSON.stringify({ alg: "none", typ: "JWT", kid: segment(token, 0).kid }))}.${payload}.`;
  assert.equal(await refusal(v.verify(none)), "unsupported_algorithm");

  // HS256 keyed with the published public key (the algorithm-confusion attack).
  const jwks = await (await fetch(JWKS_URL)).text();
  const hsHeader = b64url(JSON.stringify({ alg: "HS256", typ: "JWT", kid: segment(token, 0).kid }));
  const mac = createHmac("sha256", jwks).update(`${hsHeader}.${payload}`).digest("base64url");
  assert.equal(await refusal(v.verify(`${hsHeader}.${payload}.${mac}`)), "unsupported_algorithm");

  const noKid = `${b64url(JSON.stringify({ alg: "ES256", typ: "JWT" }))}.${payload}.${signature}`;
  assert.equal(await refusal(v.verify(noKid)), "missing_kid");

  assert.equal(await refusal(v.verify("not.a-token")), "malformed");

  // A kid nobody published: one refetch (once 10 s have passed since the
  // last fetch), then no more within the interval.
  clock += 10_000;
  const before = counting.calls.length;
  const stranger = await signWithFreshKey({ alg: "ES256", typ: "JWT", kid: "forged-kid" }, claims);
  for (let i = 0; i < 25; i++) assert.equal(await refusal(v.verify(stranger)), "unknown_key");
  assert.equal(counting.calls.length, before + 1);
  assert.equal(v.stats().suppressedRefetches, 24);
});

test("an expired assertion is refused", async () => {
  const v = verifier(countingFetch().fetch);
  assert.equal(segment(EXPIRED_ASSERTION, 0).kid, segment(await assertionThroughEnvoy(), 0).kid);
  assert.equal(await refusal(v.verify(EXPIRED_ASSERTION)), "expired");
  // With a skew wider than its age it would pass: the signature is good.
  const lenient = verifier(countingFetch().fetch, { clockSkewSeconds: 3600 });
  assert.equal((await lenient.verify(EXPIRED_ASSERTION)).sub, SUBJECT);
});

test("an assertion for another host is refused", async () => {
  const v = verifier(countingFetch().fetch);
  const other = await assertionThroughEnvoy("other.example");
  assert.deepEqual(segment(other, 1).aud, "other.example");
  assert.equal(await refusal(v.verify(other)), "wrong_audience");
  const either = verifier(countingFetch().fetch, { issuer: [HOST, "other.example"], audience: [HOST, "other.example"] });
  assert.equal((await either.verify(other)).sub, SUBJECT);
  const wrongIssuer = verifier(countingFetch().fetch, { issuer: "https://app.example/" });
  assert.equal(await refusal(wrongIssuer.verify(await assertionThroughEnvoy())), "wrong_issuer");
});

test("a static JWKS verifies without fetching", async () => {
  const jwks = await (await fetch(JWKS_URL)).json();
  const v = new Verifier({ jwks, issuer: HOST, audience: HOST, fetch: () => assert.fail("fetched") });
  assert.equal((await v.verify(await assertionThroughEnvoy())).sub, SUBJECT);
});

test("an unreachable JWKS gives keys_unavailable, not a crash", async () => {
  const v = new Verifier({ jwksUrl: "http://127.0.0.1:9/jwks.json", issuer: HOST, audience: HOST });
  assert.equal(await refusal(v.verify(await assertionThroughEnvoy())), "keys_unavailable");
  assert.equal(v.stats().failures, 1);
});
