// An app behind Envoy for the rotation test: Express with the middleware and
// one long-lived verifier whose JWKS cache lives through the rotation.
// Usage: node verify-service.mjs JWKS_URL AUDIENCE; prints "listening PORT".
import express from "express";

import { Verifier, middleware } from "../index.js";

const [jwksUrl, audience] = process.argv.slice(2);
const events = [];
const verifier = new Verifier({ jwksUrl, issuer: audience, audience, onEvent: (event) => events.push(event) });

const app = express();
app.get("/stats", (req, res) => res.json({ ...verifier.stats(), events }));
app.use(middleware(verifier, { onError: (error) => console.error(`refused: ${error.code}: ${error.message}`) }));
app.get("/", (req, res) => res.json(req.identity));
const server = app.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
