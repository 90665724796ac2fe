"""The apps the end-to-end test (tests/tests/e2e/verifier.rs) runs behind a
real Envoy: FastAPI under uvicorn and Flask under waitress, each verifying
the assertion with the package's middleware. SIGNED_HEADERS_JWKS_URL and
SIGNED_HEADERS_HOST say where the keys are and which host the app is.

    python apps.py fastapi|flask PORT
"""

import os
import sys

from signed_headers_verifier import Verifier


def verifier() -> Verifier:
    host = os.environ["SIGNED_HEADERS_HOST"]
    return Verifier(jwks_url=os.environ["SIGNED_HEADERS_JWKS_URL"], issuer=host, audience=host)


def fastapi_app():
    from fastapi import Depends, FastAPI

    from signed_headers_verifier.asgi import SignedHeadersMiddleware
    from signed_headers_verifier.fastapi import identity

    app = FastAPI()
    app.add_middleware(SignedHeadersMiddleware, verifier=verifier())

    @app.get("/")
    def whoami(user: dict = Depends(identity)) -> dict:
        return {"sub": user["sub"], "framework": "fastapi"}

    return app


def flask_app():
    from flask import Flask, jsonify, request

    from signed_headers_verifier.wsgi import SignedHeadersMiddleware

    app = Flask(__name__)

    @app.get("/")
    def whoami():
        user = request.environ["signed_headers.identity"]
        return jsonify(sub=user["sub"], framework="flask")

    app.wsgi_app = SignedHeadersMiddleware(app.wsgi_app, verifier())
    return app


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "fastapi":
        import uvicorn

        uvicorn.run(fastapi_app(), host="127.0.0.1", port=port, log_level="warning")
    else:
        import waitress

        waitress.serve(flask_app(), host="127.0.0.1", port=port, _quiet=True)
