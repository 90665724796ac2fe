"""WSGI middleware (Flask, and anything WSGI): every request must carry a
valid assertion; its claims go to ``environ["signed_headers.identity"]``.
Refused: ``401`` (``503`` for ``keys_unavailable``) with ``{"error": code}``."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from . import Verifier, VerificationError, status_of

ENVIRON_KEY = "signed_headers.identity"
_REASONS = {401: "401 Unauthorized", 503: "503 Service Unavailable"}


class SignedHeadersMiddleware:
    def __init__(self, app: Callable, verifier: Verifier, environ_key: str = ENVIRON_KEY) -> None:
        self.app = app
        self.verifier = verifier
        self.environ_key = environ_key

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            environ[self.environ_key] = self.verifier.verify_headers(environ)
        except VerificationError as error:
            body = json.dumps({"error": error.code}).encode()
            start_response(
                _REASONS[status_of(error)],
                [("content-type", "application/json"), ("content-length", str(len(body)))],
            )
            return [body]
        return self.app(environ, start_response)
