// signed-headers-verifier: verifies the x-pomerium-jwt-assertion header that
// the signed-headers Envoy filter (or Pomerium) adds to requests. The checks
// and the JWKS cache policy are the Rust crate signed-headers-verifier,
// compiled to WebAssembly; this file does the I/O: fetch and the clock.

import { initSync, VerifierCore } from "./wasm/verifier.js";
import { wasmBase64 } from "./wasm/bytes.js";

let initialized = false;

function decodeBase64(text) {
  if (typeof Buffer !== "undefined") return Buffer.from(text, "base64");
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Loads the WebAssembly module. Called on first use with the module built
 * into the package; call it first with a `WebAssembly.Module` on runtimes
 * that refuse to compile bytes at run time (Cloudflare Workers: import the
 * package's `wasm/verifier_bg.wasm`).
 */
export function initVerifier(module) {
  if (initialized) return;
  initSync({ module: module ?? decodeBase64(wasmBase64) });
  initialized = true;
}

/** A refused token: `code` is stable ("expired", "wrong_audience", ...). */
export class VerificationError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "VerificationError";
    this.code = code;
  }
}

const FETCH_TIMEOUT_MS = 10_000;

/** The claims of a verification result from the core, or its error thrown. */
function claimsOf(result) {
  if (!result.ok) throw new VerificationError(result.error.code, result.error.message);
  return result.claims;
}

function headerValues(headers, name) {
  if (!headers) return [];
  if (typeof headers.get === "function" && typeof headers.entries === "function") {
    // Fetch API Headers join repeated values with ", "; an assertion never
    // contains a comma, so a comma means the header came more than once.
    const value = headers.get(name);
    return value === null ? [] : value.split(",").map((part) => part.trim());
  }
  const pairs = Array.isArray(headers) ? headers : Object.entries(headers);
  const values = [];
  for (const [key, value] of pairs) {
    if (String(key).toLowerCase() !== name) continue;
    if (Array.isArray(value)) values.push(...value.map(String));
    else if (value !== undefined) values.push(...String(value).split(",").map((part) => part.trim()));
  }
  return values;
}

export class Verifier {
  /**
   * @param {import("./index.js").VerifierOptions} options
   */
  constructor(options = {}) {
    initVerifier();
    const { jwksUrl, jwks, fetch: fetchImpl, onEvent, now, ...rest } = options;
    if (!jwksUrl && !jwks) throw new TypeError("jwksUrl or jwks is required");
    if (jwksUrl && jwks) throw new TypeError("give jwksUrl or jwks, not both");
    this.#core = new VerifierCore(
      JSON.stringify({ ...rest, jwks: jwks === undefined ? null : typeof jwks === "string" ? jwks : JSON.stringify(jwks) }),
    );
    this.#jwksUrl = jwksUrl;
    this.#fetch = fetchImpl ?? globalThis.fetch?.bind(globalThis);
    if (jwksUrl && typeof this.#fetch !== "function") {
      throw new TypeError("no fetch: pass options.fetch on this runtime");
    }
    this.#onEvent = onEvent ?? (() => {});
    this.#now = now ?? Date.now;
    this.headerName = this.#core.headerName();
  }

  #core;
  #jwksUrl;
  #fetch;
  #onEvent;
  #now;
  /** The fetch in flight, shared by every verification that needs it. */
  #inflight = null;

  /** Verifies one token; resolves to its claims or rejects with a VerificationError. */
  async verify(token) {
    if (typeof token !== "string") throw new VerificationError("malformed", "the token is not a string");
    for (let attempt = 0; attempt < 2; attempt++) {
      const plan = JSON.parse(this.#core.plan(token, this.#now()));
      if (plan.action === "refuse") throw new VerificationError(plan.error.code, plan.error.message);
      if (plan.action === "suppressed") this.#emit(plan.event);
      // The keys held decided: the plan carries the verification.
      if (plan.result) return claimsOf(plan.result);
      if (plan.action !== "fetch" && plan.action !== "revalidate") break;
      if (this.#inflight) {
        // Stale keys that can verify this token: do not wait for the
        // refresh another verification started.
        if (plan.action === "revalidate") break;
        // Keys that cannot: wait for it, then plan again.
        await this.#inflight;
        continue;
      }
      this.#inflight = this.#refresh(plan.ifNoneMatch);
      try {
        await this.#inflight;
      } finally {
        this.#inflight = null;
      }
      break;
    }
    return claimsOf(JSON.parse(this.#core.verify(token, this.#now())));
  }

  /**
   * Verifies the assertion header among a request's headers: a Fetch API
   * `Headers`, Node's `req.headers`, or `[name, value]` pairs.
   */
  async verifyRequest(headers) {
    const values = headerValues(headers, this.headerName);
    if (values.length === 0) throw new VerificationError("missing_header", `no ${this.headerName} header`);
    if (values.length > 1) throw new VerificationError("duplicate_header", `more than one ${this.headerName} header`);
    return this.verify(values[0]);
  }

  /** The JWKS cache's counters: fetches, updates, notModified, failures, suppressedRefetches. */
  stats() {
    return JSON.parse(this.#core.stats());
  }

  async #refresh(ifNoneMatch) {
    const headers = { accept: "application/json" };
    if (ifNoneMatch) headers["if-none-match"] = ifNoneMatch;
    let event;
    try {
      const init = { headers };
      if (typeof AbortSignal !== "undefined" && AbortSignal.timeout) init.signal = AbortSignal.timeout(FETCH_TIMEOUT_MS);
      const response = await this.#fetch(this.#jwksUrl, init);
      const body = response.status === 200 ? await response.text() : "";
      event = this.#core.applyResponse(
        response.status,
        response.headers.get("etag") ?? undefined,
        response.headers.get("cache-control") ?? undefined,
        body,
        this.#now(),
      );
    } catch (error) {
      event = this.#core.applyFailure(`${this.#jwksUrl}: ${error?.message ?? error}`, this.#now());
    }
    this.#emit(JSON.parse(event));
  }

  #emit(event) {
    try {
      this.#onEvent(event);
    } catch {
      // A broken hook must not break verification.
    }
  }
}

/** Same as `new Verifier(options)`. */
export function createVerifier(options) {
  return new Verifier(options);
}

/**
 * Express/Connect middleware: sets `req[property]` (default `identity`) to
 * the verified claims and calls `next()`; answers 401 (503 when no keys could
 * ever be fetched) with `{"error": code}` otherwise.
 */
export function middleware(verifier, { property = "identity", onError } = {}) {
  return function signedHeaders(req, res, next) {
    verifier.verifyRequest(req.headers).then(
      (claims) => {
        req[property] = claims;
        next();
      },
      (error) => {
        if (!(error instanceof VerificationError)) return next(error);
        onError?.(error, req);
        res.statusCode = error.code === "keys_unavailable" ? 503 : 401;
        res.setHeader("content-type", "application/json");
        res.setHeader("cache-control", "no-store");
        res.end(JSON.stringify({ error: error.code }));
      },
    );
  };
}
