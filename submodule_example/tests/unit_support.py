"""Helpers of the unit tests (a module of its own: both test directories have a conftest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common_utils.testing import service_entry, vcap_services

SERVICE_ROOT = Path(__file__).resolve().parent.parent
# The same values as service_tests/service_support.py: `from conftest import ISSUER`
# gets whichever conftest pytest imported last when both directories run together.
ISSUER = "https://uaa.example-app.test/oauth/token"
AUDIENCE = "example-app"


def jwt_service_vcap(public_pem: str | None = None, **credentials: Any) -> str:
    """``VCAP_SERVICES`` with one user-provided service tagged ``jwt``.

    With ``public_pem`` the service verifies RS256 with that key; otherwise pass
    the key source yourself (``secret=..., algorithms=["HS256"]``).
    """
    key: dict[str, Any] = (
        {"public_key": public_pem, "algorithms": ["RS256"]} if public_pem is not None else {}
    )
    creds = {"issuer": ISSUER, "audience": AUDIENCE, **key, **credentials}
    return vcap_services(service_entry("example-jwt", tags=["jwt"], credentials=creds))
