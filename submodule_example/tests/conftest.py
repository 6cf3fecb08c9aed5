"""Fixtures of the unit tests: the app built from a test environment, tokens, keys.

The jwt service here carries a PEM ``public_key`` (no network in unit tests); the
service tests use a ``jwks_uri`` served over loopback instead.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import example_app  # noqa: F401 - first: puts submodules/common_utils (if any) first on sys.path
import falcon
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from falcon import testing
from unit_support import AUDIENCE, ISSUER, SERVICE_ROOT, jwt_service_vcap

__all__ = ["AUDIENCE", "ISSUER", "SERVICE_ROOT"]


@pytest.fixture(scope="session")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def public_pem(private_key: rsa.RSAPrivateKey) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture
def environ(public_pem: str) -> dict[str, str]:
    return {"VCAP_SERVICES": jwt_service_vcap(public_pem), "LOG_FORMAT": "json", "PORT": "8080"}


@pytest.fixture
def app(environ: dict[str, str]) -> falcon.App:
    from example_app.app import create_app

    return create_app(environ)


@pytest.fixture
def client(app: falcon.App) -> testing.TestClient:
    return testing.TestClient(app)


@pytest.fixture
def make_token(private_key: rsa.RSAPrivateKey) -> Callable[..., str]:
    """Mint an RS256 token the app trusts; ``scopes=[...]`` and claim overrides."""

    def make(*, scopes: list[str] | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "aud": [AUDIENCE],
            "sub": "unit-tests",
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "scope": ["example.filter"] if scopes is None else scopes,
        }
        payload.update(claims)
        return jwt.encode(payload, private_key, algorithm="RS256")

    return make


@pytest.fixture
def auth_headers(make_token: Callable[..., str]) -> dict[str, str]:
    """Headers of an authorized JSON request to ``POST /``."""
    return {"Authorization": f"Bearer {make_token()}", "Content-Type": "application/json"}
