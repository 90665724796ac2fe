"""The Django middleware, in a minimal Django configured here: a request
with a valid assertion gets ``request.identity``; others 401/503 with
``{"error": code}``."""

import json

import django
import pytest
from django.conf import settings

from signed_headers_verifier import Verifier


@pytest.fixture(scope="module")
def factory(inputs):
    if not settings.configured:
        settings.configure(
            SIGNED_HEADERS_VERIFIER=lambda: Verifier(
                jwks_url=inputs["jwksUrl"], issuer=inputs["host"], audience=inputs["host"]
            ),
            ALLOWED_HOSTS=["*"],
            DEFAULT_CHARSET="utf-8",
        )
        django.setup()
    from django.test import RequestFactory

    return RequestFactory()


def test_django_middleware_sets_request_identity_or_refuses(inputs, factory):
    from django.http import JsonResponse

    from signed_headers_verifier.django import SignedHeadersMiddleware

    middleware = SignedHeadersMiddleware(lambda request: JsonResponse({"sub": request.identity["sub"]}))
    ok = middleware(factory.get("/", HTTP_X_POMERIUM_JWT_ASSERTION=inputs["assertion"]))
    assert ok.status_code == 200 and json.loads(ok.content) == {"sub": inputs["subject"]}
    refused = middleware(factory.get("/", HTTP_X_POMERIUM_JWT_ASSERTION=inputs["expiredAssertion"]))
    assert refused.status_code == 401 and json.loads(refused.content) == {"error": "expired"}
    missing = middleware(factory.get("/"))
    assert missing.status_code == 401 and json.loads(missing.content) == {"error": "missing_header"}
