"""ASGI middleware (Starlette, FastAPI, anything ASGI): every HTTP request
must carry a valid assertion; its claims go to ``scope["identity"]`` and
``scope["state"]["identity"]`` (Starlette's ``request.state.identity``).
Refused: ``401`` (``503`` for ``keys_unavailable``) with ``{"error": code}``.
The JWKS fetch runs on a worker thread, never on the event loop. FastAPI
routes take the claims with ``Depends(signed_headers_verifier.fastapi.identity)``."""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from . import Verifier, VerificationError, status_of


class SignedHeadersMiddleware:
    def __init__(self, app: Callable, verifier: Verifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            claims = await self.verifier.verify_headers_async(scope)
        except VerificationError as error:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            body = json.dumps({"error": error.code}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": status_of(error),
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        scope["identity"] = claims
        scope.setdefault("state", {})["identity"] = claims
        await self.app(scope, receive, send)

