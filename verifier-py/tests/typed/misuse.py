"""Calls the stubs must refuse (test_types.py checks that mypy does)."""

from signed_headers_verifier import Verifier

verifier = Verifier(issuer="a", audience="a", jwks_url="https://a/jwks", memo_bytes="big")
count: str = verifier.remembered()
verifier.verify(42)
