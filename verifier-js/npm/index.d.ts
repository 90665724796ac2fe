/** The verified claims of an assertion. */
export interface Claims {
  iss: string;
  /** Every audience the token names. */
  aud: string[];
  iat: number;
  exp: number;
  nbf?: number;
  jti: string;
  sub: string;
  user: string;
  email: string;
  groups: string[];
  sid: string;
  name: string;
  /** True when the filter dropped the user's groups to keep the header small. */
  groups_truncated: boolean;
  /** The claims (`email`, `name`, `sid`, extra ones) the filter left out to keep the header small. */
  claims_truncated: string[];
  /** The extra claims the filter was configured to add, with their JSON types. */
  [claim: string]: unknown;
}

export type VerificationErrorCode =
  | "malformed"
  | "unsupported_algorithm"
  | "missing_kid"
  | "unknown_key"
  | "bad_signature"
  | "expired"
  | "not_yet_valid"
  | "wrong_issuer"
  | "wrong_audience"
  | "keys_unavailable"
  | "missing_header"
  | "duplicate_header";

export class VerificationError extends Error {
  readonly code: VerificationErrorCode;
}

export type CacheEvent =
  | { type: "updated"; kids: string[]; message: string }
  | { type: "not_modified"; message: string }
  | { type: "fetch_failed"; reason: string; keptLastGood: boolean; message: string }
  | { type: "refetch_suppressed"; kid: string; message: string };

export interface CacheStats {
  fetches: number;
  updates: number;
  notModified: number;
  failures: number;
  suppressedRefetches: number;
}

export interface VerifierOptions {
  /** The filter's JWKS, e.g. https://app.example.com/.well-known/pomerium/jwks.json. */
  jwksUrl?: string;
  /** A static JWKS (object or JSON text) instead of jwksUrl: never fetched. */
  jwks?: string | { keys: object[] };
  /** Expected `iss` (one or several). The filter's default is the request host. */
  issuer: string | string[];
  /** Expected `aud` (one or several): the host the app is reached by. */
  audience: string | string[];
  /** Forgiven on exp, iat and nbf. Default 60. */
  clockSkewSeconds?: number;
  /** Default "x-pomerium-jwt-assertion". */
  headerName?: string;
  /** An unknown kid (or a failed fetch) refetches at most this often. Default 10. */
  minRefetchIntervalSeconds?: number;
  /** Freshness when the JWKS response has no max-age. Default 60. */
  defaultMaxAgeSeconds?: number;
  /** The fetch to use; the global one by default. */
  fetch?: (url: string, init?: RequestInit) => Promise<Response>;
  /** Cache events, for logs and metrics. */
  onEvent?: (event: CacheEvent) => void;
  /** The clock in Unix milliseconds; Date.now by default. */
  now?: () => number;
  /**
   * Memory for the memo of verified tokens, in bytes. Default 4 MiB; 0 turns
   * it off. A remembered token is accepted again without its signature check
   * until its exp (plus the skew) or until its key leaves the JWKS.
   */
  memoBytes?: number;
  /**
   * Who checks signatures: "webcrypto" (crypto.subtle; an error where the
   * runtime has none) or "wasm" (p256 in the package's WebAssembly). By
   * default WebCrypto where the runtime has it, the WebAssembly otherwise.
   */
  signatures?: "webcrypto" | "wasm";
}

type HeaderSource =
  | Headers
  | Record<string, string | string[] | undefined>
  | Iterable<[string, string]>;

export class Verifier {
  constructor(options: VerifierOptions);
  readonly headerName: string;
  verify(token: string): Promise<Claims>;
  verifyRequest(headers: HeaderSource): Promise<Claims>;
  stats(): CacheStats;
  /** How many verified tokens the memo holds. */
  remembered(): number;
  /** How this verifier checks signatures. */
  readonly signatures: "webcrypto" | "wasm";
}

export function createVerifier(options: VerifierOptions): Verifier;

/** Loads the WebAssembly module; optional (done on first use). */
export function initVerifier(module?: WebAssembly.Module | BufferSource): void;

export interface MiddlewareOptions {
  /** Where the claims go on the request. Default "identity". */
  property?: string;
  onError?: (error: VerificationError, req: unknown) => void;
}

/** Express/Connect middleware: req.identity on success, 401 otherwise. */
export function middleware(
  verifier: Verifier,
  options?: MiddlewareOptions,
): (req: any, res: any, next: (error?: unknown) => void) => void;
