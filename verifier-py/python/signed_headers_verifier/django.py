"""Django middleware: add
``"signed_headers_verifier.django.SignedHeadersMiddleware"`` to
``MIDDLEWARE`` and set ``SIGNED_HEADERS_VERIFIER`` to a ``Verifier`` (or a
callable returning one). Each request gets ``request.identity``; refused
requests get ``401`` (``503`` for ``keys_unavailable``) with
``{"error": code}``."""

from __future__ import annotations

from typing import Any, Callable

from . import VerificationError, status_of


class SignedHeadersMiddleware:
    def __init__(self, get_response: Callable) -> None:
        from django.conf import settings

        configured = settings.SIGNED_HEADERS_VERIFIER
        self.verifier = configured() if callable(configured) else configured
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        from django.http import JsonResponse

        try:
            request.identity = self.verifier.verify_headers(request.META)
        except VerificationError as error:
            return JsonResponse({"error": error.code}, status=status_of(error))
        return self.get_response(request)
