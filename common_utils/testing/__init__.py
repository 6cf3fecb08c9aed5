"""Test helpers for services built on common_utils: tokens, a JWKS endpoint, bindings.

What a consuming service's tests need and should not write again: a token
issuer whose tokens its `JWTAuthMiddleware` accepts,
a loopback JWKS endpoint, the service's log lines as parsed records
(`LogCapture`, `reset_logging`), and builders for ``VCAP_SERVICES``,
``VCAP_APPLICATION`` and servicebinding.io directories. Nothing here needs
pytest; ``common_utils.testing.pytest_plugin`` adds optional fixtures.

Examples:
    >>> import json
    >>> from common_utils.testing import TokenIssuer, vcap_services
    >>> issuer = TokenIssuer(audience="orders")
    >>> environ = {"VCAP_SERVICES": vcap_services(issuer.service())}
    >>> json.loads(environ["VCAP_SERVICES"])["user-provided"][0]["tags"]
    ['jwt']
"""

from __future__ import annotations

from common_utils.testing._bindings import (
    service_entry,
    vcap_application,
    vcap_services,
    write_binding_root,
)
from common_utils.testing._jwks_server import JWKSServer
from common_utils.testing._logs import LogCapture, reset_logging
from common_utils.testing._tokens import TokenIssuer

__all__ = [
    "JWKSServer",
    "LogCapture",
    "TokenIssuer",
    "reset_logging",
    "service_entry",
    "vcap_application",
    "vcap_services",
    "write_binding_root",
]
