"""What the Rust end-to-end test (tests/tests/e2e/verifier.rs) hands these
tests in SIGNED_HEADERS_CHECKS: a running Envoy's JWKS URL, assertions it
minted for two hosts, and an expired one signed with its key."""

import json
import os

import pytest


@pytest.fixture(scope="session")
def inputs():
    text = os.environ.get("SIGNED_HEADERS_CHECKS")
    if not text:
        raise RuntimeError(
            "SIGNED_HEADERS_CHECKS is not set: these tests run against a real Envoy; run them with make test"
        )
    return json.loads(text)
