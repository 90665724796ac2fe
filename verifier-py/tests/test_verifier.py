"""The Python package against assertions a real Envoy minted: every
refusal code, the JWKS cache, headers as each kind of framework hands them,
and the WSGI and ASGI middleware."""

import asyncio
import base64
import json
import threading
import urllib.request

import pytest

from signed_headers_verifier import Verifier, VerificationError, header_pairs
from signed_headers_verifier.asgi import SignedHeadersMiddleware as AsgiMiddleware
from signed_headers_verifier.wsgi import SignedHeadersMiddleware as WsgiMiddleware


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def segment(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def verifier(inputs, **options) -> Verifier:
    return Verifier(jwks_url=inputs["jwksUrl"], issuer=inputs["host"], audience=inputs["host"], **options)


def refusal(call) -> str:
    with pytest.raises(VerificationError) as caught:
        call()
    return caught.value.code


def test_an_envoy_minted_assertion_verifies_with_one_fetch(inputs):
    v = verifier(inputs)
    claims = v.verify(inputs["assertion"])
    assert claims["sub"] == inputs["subject"]
    assert claims["iss"] == inputs["host"] and claims["aud"] == [inputs["host"]]
    assert claims["exp"] - claims["iat"] == 300
    threads = [threading.Thread(target=v.verify, args=(inputs["assertion"],)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert v.stats()["fetches"] == 1


def test_every_refusal_has_its_code(inputs):
    v = verifier(inputs)
    token = inputs["assertion"]
    header, payload, signature = token.split(".")
    altered = b64url(json.dumps({**segment(token, 1), "groups": ["admins"]}).encode())
    assert refusal(lambda: v.verify(f"{header}.{altered}.{signature}")) == "bad_signature"
    none = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": segment(token, 0)["kid"]}).encode())
    assert refusal(lambda: v.verify(f"{none}.{payload}.")) == "unsupported_algorithm"
    no_kid = b64url(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
    assert refusal(lambda: v.verify(f"{no_kid}.{payload}.{signature}")) == "missing_kid"
    assert refusal(lambda: v.verify("not.a-token")) == "malformed"
    assert refusal(lambda: v.verify(inputs["expiredAssertion"])) == "expired"
    assert refusal(lambda: v.verify(inputs["otherHostAssertion"])) == "wrong_audience"
    stranger = b64url(json.dumps({"alg": "ES256", "typ": "JWT", "kid": "forged-kid"}).encode())
    assert refusal(lambda: v.verify(f"{stranger}.{payload}.{signature}")) == "unknown_key"
    wrong_issuer = Verifier(jwks_url=inputs["jwksUrl"], issuer="https://app.example/", audience=inputs["host"])
    assert refusal(lambda: wrong_issuer.verify(token)) == "wrong_issuer"
    unreachable = Verifier(jwks_url="http://127.0.0.1:9/jwks.json", issuer=inputs["host"], audience=inputs["host"])
    assert refusal(lambda: unreachable.verify(token)) == "keys_unavailable"
    lenient = verifier(inputs, clock_skew_seconds=3600)
    assert lenient.verify(inputs["expiredAssertion"])["sub"] == inputs["subject"]
    either = Verifier(
        jwks_url=inputs["jwksUrl"], issuer=[inputs["host"], "other.example"], audience=[inputs["host"], "other.example"]
    )
    assert either.verify(inputs["otherHostAssertion"])["sub"] == inputs["subject"]


def test_a_repeated_assertion_is_remembered_within_the_budget(inputs):
    v = verifier(inputs)
    first = v.verify(inputs["assertion"])
    for _ in range(5):
        assert v.verify(inputs["assertion"]) == first
    assert v.remembered() == 1
    refusal(lambda: v.verify(inputs["expiredAssertion"]))
    assert v.remembered() == 1, "refusals are not remembered"
    off = verifier(inputs, memo_bytes=0)
    assert off.verify(inputs["assertion"]) == first
    assert off.remembered() == 0


def test_async_verification_fetches_off_the_event_loop_and_answers_on_it(inputs):
    v = verifier(inputs)

    async def both():
        first = await v.verify_async(inputs["assertion"])
        headers = {"type": "http", "headers": [(b"x-pomerium-jwt-assertion", inputs["assertion"].encode())]}
        again = await v.verify_headers_async(headers)
        return first, again

    first, again = asyncio.run(both())
    assert first["sub"] == again["sub"] == inputs["subject"]
    assert v.stats()["fetches"] == 1
    # The first call had no keys: the core says so instead of fetching on
    # the loop; with keys held it answers at once.
    fresh = verifier(inputs)
    assert fresh._core.verify_cached(inputs["assertion"]) is None
    assert fresh.stats()["fetches"] == 0
    fresh.verify(inputs["assertion"])
    assert fresh._core.verify_cached(inputs["assertion"])[0] is True
    with pytest.raises(VerificationError) as caught:
        asyncio.run(fresh.verify_async(inputs["otherHostAssertion"]))
    assert caught.value.code == "wrong_audience"


def test_a_static_jwks_verifies_without_fetching(inputs):
    with urllib.request.urlopen(inputs["jwksUrl"]) as response:
        jwks = json.load(response)
    v = Verifier(jwks=jwks, issuer=inputs["host"], audience=inputs["host"])
    assert v.verify(inputs["assertion"])["sub"] == inputs["subject"]
    assert v.stats()["fetches"] == 0
    with pytest.raises(ValueError):
        Verifier(jwks="{not json", issuer="a", audience="a")
    with pytest.raises(ValueError):
        Verifier(jwks=jwks, jwks_url=inputs["jwksUrl"], issuer="a", audience="a")


def test_headers_as_every_kind_of_framework_hands_them(inputs):
    v = verifier(inputs)
    token = inputs["assertion"]
    kinds = {
        "dict": {"X-Pomerium-Jwt-Assertion": token, "Host": "app.example"},
        "wsgi environ": {"HTTP_X_POMERIUM_JWT_ASSERTION": token, "wsgi.version": (1, 0)},
        "asgi scope": {"type": "http", "headers": [(b"x-pomerium-jwt-assertion", token.encode())]},
        "pairs": [("x-pomerium-jwt-assertion", token)],
    }
    for kind, headers in kinds.items():
        assert v.verify_headers(headers)["sub"] == inputs["subject"], kind
    assert refusal(lambda: v.verify_headers({"host": "app.example"})) == "missing_header"
    twice = {"type": "http", "headers": [(b"x-pomerium-jwt-assertion", token.encode())] * 2}
    assert refusal(lambda: v.verify_headers(twice)) == "duplicate_header"
    assert header_pairs({"type": "http", "headers": [(b"a", b"1")]}) == [("a", "1")]


def test_wsgi_middleware_sets_the_identity_or_answers_401(inputs):
    seen = {}

    def app(environ, start_response):
        seen["identity"] = environ["signed_headers.identity"]
        start_response("200 OK", [])
        return [b"ok"]

    wrapped = WsgiMiddleware(app, verifier(inputs))
    statuses = []
    start = lambda status, headers: statuses.append(status)
    assert wrapped({"HTTP_X_POMERIUM_JWT_ASSERTION": inputs["assertion"]}, start) == [b"ok"]
    assert seen["identity"]["sub"] == inputs["subject"]
    body = wrapped({"HTTP_X_POMERIUM_JWT_ASSERTION": inputs["expiredAssertion"]}, start)
    assert statuses[-1] == "401 Unauthorized" and json.loads(b"".join(body)) == {"error": "expired"}
    broken = WsgiMiddleware(app, Verifier(jwks_url="http://127.0.0.1:9/", issuer="a", audience="a"))
    body = broken({"HTTP_X_POMERIUM_JWT_ASSERTION": inputs["assertion"]}, start)
    assert statuses[-1] == "503 Service Unavailable" and json.loads(b"".join(body)) == {"error": "keys_unavailable"}


def test_asgi_middleware_sets_the_identity_or_answers_401(inputs):
    seen = {}

    async def app(scope, receive, send):
        seen["identity"] = scope["state"]["identity"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    wrapped = AsgiMiddleware(app, verifier(inputs))

    async def call(token):
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request", "body": b""}

        scope = {"type": "http", "headers": [(b"x-pomerium-jwt-assertion", token.encode())]}
        await wrapped(scope, receive, send)
        return sent

    sent = asyncio.run(call(inputs["assertion"]))
    assert sent[0]["status"] == 200 and seen["identity"]["sub"] == inputs["subject"]
    sent = asyncio.run(call(inputs["otherHostAssertion"]))
    assert sent[0]["status"] == 401 and json.loads(sent[1]["body"]) == {"error": "wrong_audience"}
