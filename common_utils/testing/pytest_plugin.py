"""Optional pytest fixtures over `common_utils.testing`.

Enable them in a ``conftest.py``::

    pytest_plugins = ["common_utils.testing.pytest_plugin"]

Fixtures:

- ``token_issuer`` (session): a `TokenIssuer`
  with the defaults (RS256, audience ``test-app``).
- ``jwks_server`` (session): a running `JWKSServer`
  serving ``token_issuer``'s keys; restored to those keys and to status 200
  after every test that uses it.
- ``log_records``: a `LogCapture` installed for the test: ``log_records.records``
  are the JSON lines logged so far, parsed, including those of an app built in
  another fixture. After the test, logging is reset (`reset_logging`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common_utils.testing import JWKSServer, LogCapture, TokenIssuer, reset_logging

__all__ = ["jwks_server", "log_records", "token_issuer"]


@pytest.fixture(scope="session")
def token_issuer() -> TokenIssuer:
    """A token issuer shared by the session (key generation is slow)."""
    return TokenIssuer()


@pytest.fixture(scope="session")
def _jwks_server_session(token_issuer: TokenIssuer) -> Iterator[JWKSServer]:
    with JWKSServer(token_issuer.jwks) as server:
        yield server


@pytest.fixture
def jwks_server(
    _jwks_server_session: JWKSServer, token_issuer: TokenIssuer
) -> Iterator[JWKSServer]:
    """The session's JWKS server, reset to the issuer's keys after the test."""
    yield _jwks_server_session
    _jwks_server_session.jwks = token_issuer.jwks
    _jwks_server_session.status = 200


@pytest.fixture
def log_records() -> Iterator[LogCapture]:
    """The log lines of the test, parsed; logging reset afterwards."""
    with LogCapture() as capture:
        yield capture
    reset_logging()
