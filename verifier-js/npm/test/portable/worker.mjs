// Runs checks.mjs in Cloudflare's workerd, loading the module the way a
// Worker must (runtimes that refuse to compile bytes at run time): the
// package's .wasm imported as a WebAssembly.Module and handed to
// initVerifier. The inputs come in the CHECKS binding (see checks.mjs).
import { Verifier, VerificationError, initVerifier } from "../../index.js";
import wasm from "../../wasm/verifier_bg.wasm";
import { runChecks } from "./checks.mjs";

initVerifier(wasm);

export default {
  async fetch(_request, env) {
    try {
      const passed = await runChecks({ Verifier, VerificationError }, JSON.parse(env.CHECKS));
      return Response.json({ passed });
    } catch (error) {
      return Response.json({ error: String(error?.stack ?? error) }, { status: 500 });
    }
  },
};
