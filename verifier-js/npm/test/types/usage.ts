// Type-checked by types.test.mjs: the package's declarations describe the
// API as it is used. Each @ts-expect-error must be an error, or tsc fails.
import {
  Verifier,
  VerificationError,
  createVerifier,
  middleware,
  type CacheEvent,
  type Claims,
} from "signed-headers-verifier";

const verifier: Verifier = createVerifier({
  jwksUrl: "https://app.example.com/.well-known/pomerium/jwks.json",
  issuer: "app.example.com",
  audience: ["app.example.com", "www.example.com"],
  clockSkewSeconds: 30,
  onEvent: (event: CacheEvent) => {
    if (event.type === "fetch_failed") console.warn(event.reason, event.keptLastGood);
  },
});

export async function handle(headers: Headers): Promise<string> {
  try {
    const claims: Claims = await verifier.verifyRequest(headers);
    const groups: string[] = claims.groups;
    return `${claims.sub} ${claims.email} ${groups.join(",")} ${claims.exp + 1}`;
  } catch (error) {
    if (error instanceof VerificationError && error.code === "expired") return "expired";
    throw error;
  }
}

export const handler = middleware(verifier, { property: "user" });
export const stats: number = verifier.stats().fetches;

// @ts-expect-error: a token is a string
verifier.verify(42);
// @ts-expect-error: issuer and audience are required
new Verifier({ jwksUrl: "https://app.example.com/jwks.json" });
// @ts-expect-error: not an error code
export const impossible: VerificationError["code"] = "maybe";
