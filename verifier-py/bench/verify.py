"""The Python half of ``make bench-verifier`` (see
tests/src/bin/bench_verifier.rs): verifications per second on one core of
this package next to PyJWT with ``PyJWKClient`` keys, on the fixture's
tokens. Prints its measurements as one JSON array."""

import json
import sys
import time

import jwt

from signed_headers_verifier import Verifier


def ours(fixture):
    verifier = Verifier(
        jwks_url=fixture["jwksUrl"],
        issuer=fixture["issuer"],
        audience=fixture["audience"],
    )
    verifier.verify(fixture["warmup"])
    return verifier.verify


def pyjwt(fixture):
    """PyJWT as its documentation shows it: a PyJWKClient (which caches the
    JWKS) picks the key by the token's kid, ``jwt.decode`` checks."""
    client = jwt.PyJWKClient(fixture["jwksUrl"], cache_keys=True)
    issuer, audience = fixture["issuer"], fixture["audience"]

    def verify(token):
        key = client.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=["ES256"],
            audience=audience,
            issuer=issuer,
            leeway=60,
            options={"require": ["exp", "iat", "iss", "aud"]},
        )

    verify(fixture["warmup"])
    return verify


def main():
    with open(sys.argv[1]) as file:
        fixture = json.load(file)
    mixes = {
        "distinct": fixture["distinct"],
        "repeat": fixture["users"] * fixture["repeats"],
    }
    libraries = [
        ("signed-headers-verifier (wheel)", ours),
        (f"PyJWT {jwt.__version__}", pyjwt),
    ]
    rows = {}
    for _ in range(fixture["rounds"]):
        for mix, tokens in mixes.items():
            for name, make in libraries:
                verify = make(fixture)
                cpu = time.process_time()
                started = time.perf_counter()
                for token in tokens:
                    verify(token)
                rate = len(tokens) / (time.perf_counter() - started)
                cpu_micros = (time.process_time() - cpu) * 1e6 / len(tokens)
                row = rows.setdefault((name, mix), ([], []))
                row[0].append(rate)
                row[1].append(cpu_micros)
    print(
        json.dumps(
            [
                {
                    "language": f"Python {sys.version_info[0]}.{sys.version_info[1]}",
                    "library": name,
                    "mix": mix,
                    "rounds": rates,
                    "cpuMicros": cpu,
                }
                for (name, mix), (rates, cpu) in rows.items()
            ]
        )
    )


if __name__ == "__main__":
    main()
