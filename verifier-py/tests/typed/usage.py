"""A program that uses the package as an app would, for mypy --strict:
the stubs must describe it (test_types.py)."""

import asyncio
from typing import Any

from signed_headers_verifier import VerificationError, Verifier, header_pairs, status_of


def check(verifier: Verifier, token: str, headers: dict[str, str]) -> str:
    try:
        claims: dict[str, Any] = verifier.verify(token)
        same: dict[str, Any] = verifier.verify_headers(headers)
    except VerificationError as error:
        code: str = error.code
        status: int = status_of(error)
        return f"{status} {code}"
    pairs: list[tuple[str, str]] = header_pairs(headers)
    remembered: int = verifier.remembered()
    fetches: int = verifier.stats()["fetches"]
    return f"{claims['sub']} {same['sub']} {len(pairs)} {remembered} {fetches}"


async def check_async(verifier: Verifier, token: str) -> str:
    claims = await verifier.verify_async(token)
    return str(claims["sub"])


def main() -> None:
    verifier = Verifier(
        jwks_url="https://app.example.com/.well-known/pomerium/jwks.json",
        issuer="app.example.com",
        audience=["app.example.com", "other.example.com"],
        clock_skew_seconds=30,
        memo_bytes=1 << 20,
    )
    print(check(verifier, "token", {"x-pomerium-jwt-assertion": "token"}))
    print(asyncio.run(check_async(verifier, "token")))
