"""Verify the ``x-pomerium-jwt-assertion`` header that the signed-headers
Envoy filter (or Pomerium) adds to requests.

The checks and the JWKS cache policy are the Rust crate
``signed-headers-verifier`` (compiled in, ``_core``), the same as the npm
package's: ES256 by ``kid``, ``iss``/``aud``/``exp``/``iat`` with a clock
skew, a JWKS cache that refetches on an unknown ``kid`` at most once per
interval and keeps serving through a key rotation. One ``Verifier`` per
application; it is thread-safe, and a JWKS fetch never holds the GIL.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from ._core import CoreVerifier

__all__ = ["Verifier", "VerificationError", "header_pairs"]

HEADER = "x-pomerium-jwt-assertion"


class VerificationError(Exception):
    """A refused assertion. ``code`` is stable: ``malformed``,
    ``unsupported_algorithm``, ``missing_kid``, ``unknown_key``,
    ``bad_signature``, ``expired``, ``not_yet_valid``, ``wrong_issuer``,
    ``wrong_audience``, ``keys_unavailable``, ``missing_header``,
    ``duplicate_header`` (the Rust crate's and the npm package's)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _text(value: Union[str, bytes]) -> str:
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


def header_pairs(headers: Any) -> list:
    """The request's headers as ``(name, value)`` pairs, from whatever a
    framework hands over: a ``dict`` or any mapping (Flask's, Django's
    ``request.headers``), a WSGI ``environ`` (``HTTP_*`` keys), an ASGI
    scope (its ``headers``), Starlette's ``Headers``, or a list of pairs
    (``bytes`` or ``str``). A repeated header stays repeated, so that a
    second assertion is refused rather than ignored."""
    if isinstance(headers, Mapping) and "headers" in headers and "type" in headers:
        return [(_text(name), _text(value)) for name, value in headers["headers"]]
    raw = getattr(headers, "raw", None)
    if isinstance(raw, list):
        return [(_text(name), _text(value)) for name, value in raw]
    if isinstance(headers, Mapping) and any(
        isinstance(key, str) and key.startswith("HTTP_") for key in headers
    ):
        return [
            (key[5:].replace("_", "-").lower(), _text(value))
            for key, value in headers.items()
            if isinstance(key, str) and key.startswith("HTTP_")
        ]
    if isinstance(headers, Mapping) or hasattr(headers, "items"):
        getlist = getattr(headers, "getlist", None) or getattr(headers, "get_all", None)
        pairs = []
        for name in list(headers.keys()):
            values = getlist(name) if getlist else [headers[name]]
            pairs.extend((_text(name), _text(value)) for value in values)
        return pairs
    return [(_text(name), _text(value)) for name, value in headers]


def _result(outcome: tuple) -> dict:
    ok, first, second = outcome
    if ok:
        return json.loads(first)
    raise VerificationError(first, second)


def _strings(value: Union[str, Sequence[str]], what: str) -> list:
    strings = [value] if isinstance(value, str) else list(value)
    if not strings or not all(isinstance(item, str) and item for item in strings):
        raise ValueError(f"{what} must be a non-empty string or list of strings")
    return strings


class Verifier:
    """Verifies assertions for one application.

    Exactly one key source: ``jwks_url`` (fetched, cached and refetched as
    the filter's JWKS says), ``jwks`` (a JWKS document, ``str`` or ``dict``)
    or ``bundle`` (PEM public keys). ``issuer`` and ``audience`` are what
    the filter signs for the app's host (a string, or a list of accepted
    ones).

    A verified token is remembered (within ``memo_bytes``, 4 MiB unless
    set; 0 turns it off) and accepted again without its signature check
    until its ``exp`` plus the skew, or until its key leaves the key set:
    the filter reuses a user's token for half its lifetime."""

    def __init__(
        self,
        *,
        issuer: Union[str, Sequence[str]],
        audience: Union[str, Sequence[str]],
        jwks_url: Optional[str] = None,
        jwks: Union[str, Mapping[str, Any], None] = None,
        bundle: Optional[str] = None,
        clock_skew_seconds: Optional[int] = None,
        header_name: str = HEADER,
        memo_bytes: Optional[int] = None,
    ) -> None:
        if jwks is not None and not isinstance(jwks, str):
            jwks = json.dumps(jwks)
        self.header_name = header_name.lower()
        self._core = CoreVerifier.create(
            _strings(issuer, "issuer"),
            _strings(audience, "audience"),
            jwks_url=jwks_url,
            jwks=jwks,
            bundle=bundle,
            clock_skew_seconds=clock_skew_seconds,
            header_name=header_name,
            memo_bytes=memo_bytes,
        )

    def verify(self, token: str) -> dict:
        """The claims of ``token``, or ``VerificationError``."""
        return _result(self._core.verify(token))

    def verify_headers(self, headers: Any) -> dict:
        """The claims of the one assertion among ``headers`` (see
        ``header_pairs``), or ``VerificationError`` (``missing_header``,
        ``duplicate_header``, or the token's own)."""
        return _result(self._core.verify_headers(header_pairs(headers)))

    async def verify_async(self, token: str) -> dict:
        """``verify`` for an event loop: answered at once when the keys held
        decide (almost always), on a worker thread when the JWKS must be
        fetched, so the loop never waits on one."""
        outcome = self._core.verify_cached(token)
        if outcome is None:
            outcome = await asyncio.get_running_loop().run_in_executor(
                None, self._core.verify, token
            )
        return _result(outcome)

    async def verify_headers_async(self, headers: Any) -> dict:
        pairs = header_pairs(headers)
        outcome = self._core.verify_headers_cached(pairs)
        if outcome is None:
            outcome = await asyncio.get_running_loop().run_in_executor(
                None, self._core.verify_headers, pairs
            )
        return _result(outcome)

    def remembered(self) -> int:
        """How many verified tokens the memo holds."""
        return self._core.remembered()

    def stats(self) -> dict:
        """The JWKS cache's counters."""
        fetches, updates, not_modified, failures, suppressed = self._core.stats()
        return {
            "fetches": fetches,
            "updates": updates,
            "not_modified": not_modified,
            "failures": failures,
            "suppressed_refetches": suppressed,
        }


def status_of(error: VerificationError) -> int:
    """The HTTP status a refusal answers with: 503 when the keys could not
    be fetched (the app cannot tell), 401 otherwise."""
    return 503 if error.code == "keys_unavailable" else 401
