"""JWT bearer authentication for Falcon apps (WSGI and ASGI).

:class:`JWTAuthMiddleware` verifies ``Authorization: Bearer`` tokens against
a JWKS URL, a PEM public key or an HMAC secret, and leaves an
:class:`AuthContext` on ``req.context.auth``; :func:`require_scopes` guards
responders by scope. Errors follow RFC 6750. See ``docs/auth.md``.

Example:
    >>> import falcon
    >>> from common_utils.auth import JWTAuthMiddleware, require_scopes
    >>> auth = JWTAuthMiddleware(secret="0123456789abcdef0123456789abcdef", issuer="https://i",
    ...                          audience="orders", algorithms=["HS256"])
    >>> app = falcon.App(middleware=[auth])
"""

from __future__ import annotations

from common_utils.auth._context import AuthContext
from common_utils.auth._errors import AuthConfigError
from common_utils.auth._middleware import JWTAuthMiddleware
from common_utils.auth._scopes import require_scopes, scopes_required_by

__all__ = [
    "AuthConfigError",
    "AuthContext",
    "JWTAuthMiddleware",
    "require_scopes",
    "scopes_required_by",
]
