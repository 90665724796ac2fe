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
const UTF8 = new TextEncoder();

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

const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" };
const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" };
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BASE64URL_VALUES = new Int16Array(128).fill(-1);
for (let i = 0; i < BASE64URL.length; i++) BASE64URL_VALUES[BASE64URL.charCodeAt(i)] = i;

/** base64url (no padding) to bytes; `null` for anything else. */
function base64urlBytes(text) {
  if (text.length % 4 === 1) return null;
  const bytes = new Uint8Array((text.length * 3) >> 2);
  let bits = 0;
  let count = 0;
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const value = code < 128 ? BASE64URL_VALUES[code] : -1;
    if (value < 0) return null;
    bits = (bits << 6) | value;
    count += 6;
    if (count >= 8) {
      count -= 8;
      bytes[at++] = (bits >> count) & 0xff;
    }
  }
  return bytes;
}

function hexBytes(hex) {
  const bytes = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** WebCrypto's `subtle`, where the runtime has it (not Node 18 by default). */
function webCrypto() {
  const subtle = globalThis.crypto?.subtle;
  return subtle && typeof subtle.verify === "function" && typeof subtle.importKey === "function" ? subtle : null;
}

export class Verifier {
  /**
   * @param {import("./index.js").VerifierOptions} options
   */
  constructor(options = {}) {
    initVerifier();
    const { jwksUrl, jwks, fetch: fetchImpl, onEvent, now, signatures, ...rest } = options;
    if (!jwksUrl && !jwks) throw new TypeError("jwksUrl or jwks is required");
    if (jwksUrl && jwks) throw new TypeError("give jwksUrl or jwks, not both");
    if (signatures !== undefined && signatures !== "webcrypto" && signatures !== "wasm") {
      throw new TypeError('signatures must be "webcrypto" or "wasm"');
    }
    // Signatures are checked with WebCrypto where the runtime has it
    // (native code, several times faster than p256 in WebAssembly).
    this.#subtle = signatures === "wasm" ? null : webCrypto();
    if (signatures === "webcrypto" && !this.#subtle) throw new TypeError("this runtime has no WebCrypto (crypto.subtle)");
    this.#core = new VerifierCore(
      JSON.stringify({
        ...rest,
        jwks: jwks === undefined ? null : typeof jwks === "string" ? jwks : JSON.stringify(jwks),
        signatures: this.#subtle ? "external" : "wasm",
      }),
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
  #subtle;
  /** Imported WebCrypto keys by their point (hex): at most the JWKS's keys over time. */
  #cryptoKeys = new Map();
  #jwksUrl;
  #fetch;
  #onEvent;
  #now;
  /** The fetch in flight, shared by every verification that needs it. */
  #inflight = null;

  /** Verifies one token; resolves to its claims or rejects with a VerificationError. */
  async verify(token) {
    if (typeof token !== "string") throw new VerificationError("malformed", "the token is not a string");
    // Decide with the keys held once a fetch was made (or one is in flight
    // and the keys held can verify this token).
    let settled = false;
    for (let attempt = 0; attempt < 3; attempt++) {
      const plan = JSON.parse(this.#core.plan(token, this.#now(), settled || attempt === 2));
      if (plan.action === "refuse") throw new VerificationError(plan.error.code, plan.error.message);
      if (plan.action === "suppressed") this.#emit(plan.event);
      // The keys held (or the memo) decided: the plan carries the verification.
      if (plan.result) return claimsOf(plan.result);
      if (plan.action === "check") return claimsOf(await this.#check(token, plan));
      if (this.#inflight) {
        // Stale keys that can verify this token: do not wait for the
        // refresh another verification started.
        if (plan.action === "revalidate") settled = true;
        // Keys that cannot: wait for it, then plan again.
        else await this.#inflight;
        continue;
      }
      this.#inflight = this.#refresh(plan.ifNoneMatch);
      try {
        await this.#inflight;
      } finally {
        this.#inflight = null;
      }
      settled = true;
    }
    return claimsOf(JSON.parse(this.#core.verify(token, this.#now())));
  }

  /** The signature check a `check` plan asks for, with WebCrypto; the core does the rest. */
  async #check(token, plan) {
    let valid;
    try {
      const signature = base64urlBytes(token.slice(plan.signature[0], plan.signature[1]));
      if (signature === null) valid = false;
      else {
        const signed = UTF8.encode(token.slice(plan.signed[0], plan.signed[1]));
        valid = await this.#subtle.verify(ECDSA_SHA256, await this.#cryptoKey(plan.key), signature, signed);
      }
    } catch {
      // WebCrypto could not run the check: the core runs it.
      valid = undefined;
    }
    return JSON.parse(this.#core.accept(token, this.#now(), plan.key, valid));
  }

  async #cryptoKey(pointHex) {
    let key = this.#cryptoKeys.get(pointHex);
    if (!key) {
      key = this.#subtle.importKey("raw", hexBytes(pointHex), ECDSA_P256, false, ["verify"]);
      // Keys leave the JWKS through rotations: keep the latest few.
      if (this.#cryptoKeys.size >= 16) this.#cryptoKeys.delete(this.#cryptoKeys.keys().next().value);
      this.#cryptoKeys.set(pointHex, key);
      key.catch(() => this.#cryptoKeys.delete(pointHex));
    }
    return key;
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

  /** How many verified tokens the memo holds. */
  remembered() {
    return this.#core.remembered();
  }

  /** How signatures are checked: "webcrypto" or "wasm". */
  get signatures() {
    return this.#subtle ? "webcrypto" : "wasm";
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
