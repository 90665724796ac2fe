"""FastAPI: ``def route(user: dict = Depends(identity))`` gives a route the
claims the ASGI middleware (``signed_headers_verifier.asgi``) verified."""

from __future__ import annotations

from starlette.requests import Request


def identity(request: Request) -> dict:
    return request.scope["identity"]
