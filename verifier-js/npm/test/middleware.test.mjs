// The Express middleware and verifyRequest, with assertions from a real Envoy.
import { test } from "node:test";
import assert from "node:assert/strict";
import express from "express";

import { Verifier, middleware } from "signed-headers-verifier";
import { HOST, JWKS_URL, SUBJECT, assertionThroughEnvoy, get } from "./support.mjs";

async function listen(app) {
  return new Promise((resolve) => {
    const server = app.listen(0, "127.0.0.1", () => resolve(server));
  });
}

test("Express: req.identity on a valid assertion, 401 otherwise", async (t) => {
  const verifier = new Verifier({ jwksUrl: JWKS_URL, issuer: HOST, audience: HOST });
  const app = express();
  app.use(middleware(verifier));
  app.get("/", (req, res) => res.json(req.identity));
  const server = await listen(app);
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.address().port}/`;

  const token = await assertionThroughEnvoy();
  const ok = await get(url, { "x-pomerium-jwt-assertion": token });
  assert.equal(ok.status, 200, ok.body);
  assert.equal(JSON.parse(ok.body).sub, SUBJECT);

  const missing = await get(url);
  assert.equal(missing.status, 401);
  assert.deepEqual(JSON.parse(missing.body), { error: "missing_header" });

  const [header, , signature] = token.split(".");
  const forgedPayload = Buffer.from(JSON.stringify({ sub: "admin" })).toString("base64url");
  const forged = await get(url, { "x-pomerium-jwt-assertion": `${header}.${forgedPayload}.${signature}` });
  assert.equal(forged.status, 401);
  assert.deepEqual(JSON.parse(forged.body), { error: "bad_signature" });
});

test("verifyRequest reads Fetch API Headers, Node headers and pairs", async () => {
  const verifier = new Verifier({ jwksUrl: JWKS_URL, issuer: HOST, audience: HOST });
  const token = await assertionThroughEnvoy();
  const fromHeaders = await verifier.verifyRequest(new Headers({ "X-Pomerium-Jwt-Assertion": token }));
  assert.equal(fromHeaders.sub, SUBJECT);
  assert.equal((await verifier.verifyRequest({ "x-pomerium-jwt-assertion": token })).sub, SUBJECT);
  assert.equal((await verifier.verifyRequest([["X-POMERIUM-JWT-ASSERTION", token]])).sub, SUBJECT);
  const twice = await verifier.verifyRequest({ "x-pomerium-jwt-assertion": [token, token] }).catch((error) => error.code);
  assert.equal(twice, "duplicate_header");
});
