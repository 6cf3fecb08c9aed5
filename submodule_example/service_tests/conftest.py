"""Fixtures of the service tests: a real server process, a real JWKS server, real keys.

Tokens and the JWKS endpoint come from ``common_utils.testing``; ``example_app`` is
imported first so that a ``submodules/common_utils`` checkout provides it.

See ``service_support.py`` for the environment knobs (``SERVICE_SERVERS``,
``SERVICE_ROOT``, ``EXPECT_LIBRARY_SOURCE``, ``EXPECT_LIBRARY_VERSION``).
"""

from __future__ import annotations

from collections.abc import Iterator

import example_app  # noqa: F401 - first: puts submodules/common_utils (if any) on sys.path
import pytest
from service_support import (
    AUDIENCE,
    ISSUER,
    SERVERS,
    RunningService,
    base_environ,
    spawn,
    vcap_services,
    wait_until_ready,
)

from common_utils.testing import JWKSServer, TokenIssuer

__all__ = ["AUDIENCE", "ISSUER"]


@pytest.fixture(scope="session")
def issuer() -> TokenIssuer:
    """Tokens as UAA issues them to this service's clients, by default with its scope."""
    return TokenIssuer(issuer=ISSUER, audience=AUDIENCE, scopes=["example.filter"])


@pytest.fixture(scope="session")
def jwks_uri(issuer: TokenIssuer) -> Iterator[str]:
    with JWKSServer(issuer.jwks) as server:
        yield server.uri


@pytest.fixture(scope="session", params=SERVERS)
def server(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def service_env(issuer: TokenIssuer, jwks_uri: str) -> dict[str, str]:
    return base_environ(VCAP_SERVICES=vcap_services(issuer, jwks_uri), LOG_LEVEL="INFO")


@pytest.fixture(scope="session")
def service(
    server: str, service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    running = spawn(server, service_env, tmp_path_factory.mktemp(server))
    wait_until_ready(running)
    yield running
    running.stop()
