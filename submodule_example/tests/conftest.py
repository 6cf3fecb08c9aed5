"""Fixtures of the unit tests: the app built from a test environment, tokens, keys.

Tokens come from ``common_utils.testing``: its pytest plugin gives ``token_issuer``
and ``jwks_server``, and this file overrides ``token_issuer`` with the issuer and
audience this service trusts. The jwt service here carries a PEM ``public_key``
(no network in unit tests); the service tests use a ``jwks_uri`` over loopback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import example_app  # noqa: F401 - first: puts submodules/common_utils (if any) first on sys.path
import falcon
import pytest
from falcon import testing
from unit_support import AUDIENCE, ISSUER, SERVICE_ROOT, jwt_service_vcap

from common_utils.testing import TokenIssuer

__all__ = ["AUDIENCE", "ISSUER", "SERVICE_ROOT"]

pytest_plugins = ["common_utils.testing.pytest_plugin"]


@pytest.fixture(scope="session")
def token_issuer() -> TokenIssuer:
    """Tokens as UAA issues them to this service's clients (the plugin's default, overridden)."""
    return TokenIssuer(issuer=ISSUER, audience=AUDIENCE, scopes=["example.filter"])


@pytest.fixture(scope="session")
def public_pem(token_issuer: TokenIssuer) -> str:
    return token_issuer.public_pem


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
def make_token(token_issuer: TokenIssuer) -> Callable[..., str]:
    """Mint an RS256 token the app trusts; ``scopes=[...]`` and claim overrides."""

    def make(*, scopes: list[str] | None = None, **claims: Any) -> str:
        return token_issuer.token(scopes=scopes, **claims)

    return make


@pytest.fixture
def auth_headers(make_token: Callable[..., str]) -> dict[str, str]:
    """Headers of an authorized JSON request to ``POST /``."""
    return {"Authorization": f"Bearer {make_token()}", "Content-Type": "application/json"}
