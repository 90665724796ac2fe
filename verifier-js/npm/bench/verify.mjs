// The JavaScript half of `make bench-verifier` (see
// tests/src/bin/bench_verifier.rs): verifications per second on one core of
// this package next to jose's jwtVerify with a local JWK set, on the
// fixture's tokens. Prints its measurements as one JSON array.

import { readFileSync } from "node:fs";
import { createLocalJWKSet, jwtVerify } from "jose";
import { Verifier } from "../index.js";

const fixture = JSON.parse(readFileSync(process.argv[2], "utf8"));
const joseVersion = JSON.parse(readFileSync(new URL("../node_modules/jose/package.json", import.meta.url), "utf8")).version;

async function ours() {
  const verifier = new Verifier({ jwksUrl: fixture.jwksUrl, issuer: fixture.issuer, audience: fixture.audience });
  await verifier.verify(fixture.warmup);
  return (token) => verifier.verify(token);
}

async function jose() {
  const keys = createLocalJWKSet(fixture.jwks);
  const options = { issuer: fixture.issuer, audience: fixture.audience, algorithms: ["ES256"], clockTolerance: 60 };
  const verify = async (token) => (await jwtVerify(token, keys, options)).payload;
  await verify(fixture.warmup);
  return verify;
}

const mixes = {
  distinct: fixture.distinct,
  repeat: Array.from({ length: fixture.repeats }, () => fixture.users).flat(),
};
const libraries = [
  ["signed-headers-verifier (npm)", ours],
  [`jose ${joseVersion}`, jose],
];
const rows = new Map();
for (let round = 0; round < fixture.rounds; round++) {
  for (const [mix, tokens] of Object.entries(mixes)) {
    for (const [library, make] of libraries) {
      const verify = await make();
      const cpu = process.cpuUsage();
      const started = process.hrtime.bigint();
      for (const token of tokens) await verify(token);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const used = process.cpuUsage(cpu);
      const key = `${library}\n${mix}`;
      if (!rows.has(key)) {
        rows.set(key, { language: `JavaScript (Node ${process.versions.node})`, library, mix, rounds: [], cpuMicros: [] });
      }
      rows.get(key).rounds.push(tokens.length / seconds);
      rows.get(key).cpuMicros.push((used.user + used.system) / tokens.length);
    }
  }
}
console.log(JSON.stringify([...rows.values()]));
