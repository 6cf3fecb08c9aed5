"""Fixtures of the service tests: a real server process, a real JWKS server, real keys.

See ``service_support.py`` for the environment knobs (``SERVICE_SERVERS``,
``SERVICE_ROOT``, ``EXPECT_LIBRARY_SOURCE``, ``EXPECT_LIBRARY_VERSION``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwks_server import serve_jwks
from service_support import (
    AUDIENCE,
    ISSUER,
    KID,
    SERVERS,
    Keys,
    RunningService,
    base_environ,
    spawn,
    vcap_services,
    wait_until_ready,
)

__all__ = ["AUDIENCE", "ISSUER"]


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(rsa.generate_private_key(public_exponent=65537, key_size=2048), KID)


@pytest.fixture(scope="session")
def other_keys() -> Keys:
    """A key the service does not trust, published under the same kid."""
    return Keys(rsa.generate_private_key(public_exponent=65537, key_size=2048), KID)


@pytest.fixture(scope="session")
def jwks_uri(keys: Keys) -> Iterator[str]:
    with serve_jwks(keys.jwks()) as uri:
        yield uri


@pytest.fixture(scope="session", params=SERVERS)
def server(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def service_env(jwks_uri: str) -> dict[str, str]:
    return base_environ(VCAP_SERVICES=vcap_services(jwks_uri), LOG_LEVEL="INFO")


@pytest.fixture(scope="session")
def service(
    server: str, service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    running = spawn(server, service_env, tmp_path_factory.mktemp(server))
    wait_until_ready(running)
    yield running
    running.stop()
