// An app behind Envoy for the rotation test (and the README's example):
// Express with the middleware and one long-lived verifier whose JWKS cache
// lives through the rotation.
// Usage: node verify-service.mjs JWKS_URL HOST; prints "listening PORT".
import express from "express";
import { Verifier, middleware } from "signed-headers-verifier";

const [jwksUrl, host] = process.argv.slice(2);
const events = [];
// One verifier for the whole app: it caches the JWKS between requests.
const verifier = new Verifier({ jwksUrl, issuer: host, audience: host, onEvent: (event) => events.push(event) });

const app = express();
app.get("/stats", (req, res) => res.json({ ...verifier.stats(), events }));
app.use(middleware(verifier)); // 401 {"error": code} unless the assertion verifies
app.get("/", (req, res) => res.json(req.identity)); // sub, email, groups, name, ...
const server = app.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
