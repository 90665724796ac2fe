// Runs checks.mjs on Node, Deno or Bun: inputs from SIGNED_HEADERS_CHECKS
// (a JSON object, see checks.mjs); prints one line per check and exits 1
// on the first failure.
import { Verifier, VerificationError } from "../../index.js";
import { runChecks } from "./checks.mjs";

// Node 18 has WebCrypto only as node:crypto's `webcrypto`; the checks use
// it to sign forgeries (the package itself needs no WebCrypto).
if (!globalThis.crypto && globalThis.process?.versions?.node) {
  globalThis.crypto = (await import("node:crypto")).webcrypto;
}

const env = globalThis.Deno ? globalThis.Deno.env.toObject() : globalThis.process.env;
const runtime = globalThis.Deno
  ? `deno ${globalThis.Deno.version.deno}`
  : globalThis.Bun
    ? `bun ${globalThis.Bun.version}`
    : `node ${globalThis.process.versions.node}`;
const exit = (code) => (globalThis.Deno ? globalThis.Deno.exit(code) : globalThis.process.exit(code));

try {
  const passed = await runChecks({ Verifier, VerificationError }, JSON.parse(env.SIGNED_HEADERS_CHECKS));
  for (const name of passed) console.log(`ok - ${name}`);
  console.log(`${runtime}: ${passed.length} checks passed`);
  exit(0);
} catch (error) {
  console.log(`${runtime}: FAILED: ${error?.stack ?? error}`);
  exit(1);
}
