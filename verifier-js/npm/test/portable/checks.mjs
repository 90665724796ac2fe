// The package's checks that run on every runtime it names (Node, Deno, Bun,
// Cloudflare's workerd): web APIs only (fetch, WebCrypto, TextEncoder,
// atob/btoa), no node: modules, no test runner. `cli.mjs` runs them on
// Node, Deno and Bun, `worker.mjs` in workerd; the Rust end-to-end test
// (tests/tests/e2e/verifier.rs) hands them assertions a real Envoy minted.

const b64url = (bytes) =>
  btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
const text = (value) => b64url(new TextEncoder().encode(JSON.stringify(value)));
const segment = (token, index) => {
  const padded = token.split(".")[index].replaceAll("-", "+").replaceAll("_", "/");
  return JSON.parse(atob(padded + "=".repeat((4 - (padded.length % 4)) % 4)));
};

async function signWithFreshKey(header, claims) {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const input = `${text(header)}.${text(claims)}`;
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    pair.privateKey,
    new TextEncoder().encode(input),
  );
  return `${input}.${b64url(new Uint8Array(signature))}`;
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/**
 * Runs every check; returns their names, or throws naming the one that
 * failed. `inputs`: jwksUrl, host, subject, assertion (for `host`),
 * otherHostAssertion (for another host), expiredAssertion.
 */
export async function runChecks({ Verifier, VerificationError }, inputs) {
  const { jwksUrl, host, subject, assertion, otherHostAssertion, expiredAssertion } = inputs;
  const passed = [];
  let fetches = 0;
  const counting = (url, init) => {
    fetches += 1;
    return fetch(url, init);
  };
  let clock = Date.now();
  const verifier = new Verifier({ jwksUrl, issuer: host, audience: host, fetch: counting, now: () => clock });
  const refusal = async (token, expected, v = verifier) => {
    let error;
    try {
      const claims = await v.verify(token);
      throw new Error(`accepted (${expected} expected): ${JSON.stringify(claims)}`);
    } catch (caught) {
      error = caught;
    }
    check(error instanceof VerificationError, `${expected}: not a VerificationError: ${error}`);
    check(error.code === expected, `expected ${expected}, got ${error.code}: ${error.message}`);
  };

  const claims = await verifier.verify(assertion);
  check(claims.sub === subject, `sub ${claims.sub}`);
  check(claims.iss === host && JSON.stringify(claims.aud) === JSON.stringify([host]), "iss/aud");
  await Promise.all(Array.from({ length: 5 }, () => verifier.verify(assertion)));
  check(fetches === 1, `the JWKS was fetched ${fetches} times, not once`);
  passed.push("an Envoy-minted assertion verifies against the live JWKS, fetched once");
  check(verifier.remembered() === 1, `the memo holds ${verifier.remembered()} tokens, not 1`);
  passed.push("a repeated assertion is remembered once");

  const [header, , signature] = assertion.split(".");
  await refusal(`${header}.${text({ ...segment(assertion, 1), groups: ["admins"] })}.${signature}`, "bad_signature");
  passed.push("an altered payload is refused");
  await refusal(`${text({ alg: "none", typ: "JWT", kid: segment(assertion, 0).kid })}.${assertion.split(".")[1]}.`, "unsupported_algorithm");
  passed.push("alg none is refused");
  await refusal("not.a-token", "malformed");
  passed.push("a malformed token is refused");
  await refusal(expiredAssertion, "expired");
  passed.push("an expired assertion is refused");
  await refusal(otherHostAssertion, "wrong_audience");
  passed.push("an assertion for another host is refused");

  // A kid nobody published: one refetch, then refused; no refetch storm.
  clock += 10_000;
  const before = fetches;
  const stranger = await signWithFreshKey({ alg: "ES256", typ: "JWT", kid: "forged-kid" }, segment(assertion, 1));
  for (let i = 0; i < 5; i++) await refusal(stranger, "unknown_key");
  check(fetches === before + 1, `an unknown kid refetched ${fetches - before} times, not once`);
  passed.push("an unknown kid refetches the JWKS once, then is refused");

  const jwks = await (await fetch(jwksUrl)).json();
  const offline = new Verifier({ jwks, issuer: host, audience: host, fetch: () => check(false, "fetched") });
  check((await offline.verify(assertion)).sub === subject, "static JWKS");
  passed.push("a static JWKS verifies without fetching");

  // Signatures by WebCrypto where the runtime has it, by the WebAssembly
  // otherwise; the two agree.
  const by = globalThis.crypto?.subtle ? "webcrypto" : "wasm";
  check(verifier.signatures === by, `signatures by ${verifier.signatures}, not ${by}`);
  const inWasm = new Verifier({ jwks, issuer: host, audience: host, signatures: "wasm", memoBytes: 0 });
  check((await inWasm.verify(assertion)).sub === subject, "the WebAssembly check refused the assertion");
  await refusal(`${header}.${text({ ...segment(assertion, 1), sub: "mallory" })}.${signature}`, "bad_signature", inWasm);
  check(inWasm.remembered() === 0, "memoBytes: 0 remembered a token");
  passed.push(`signatures checked by ${by}; the WebAssembly check agrees`);
  return passed;
}
