"""JWT bearer authentication for Falcon apps (WSGI and ASGI).

`JWTAuthMiddleware` verifies ``Authorization: Bearer`` tokens with
keys from one source (`JWKS`, `PublicKey` or `Secret`),
lets the requests `Exempt` names through, and leaves an
`AuthContext` on ``req.context.auth``; `require_scopes` guards
responders by scope. Errors follow RFC 6750. See ``docs/auth.md``.

Examples:
    >>> import falcon
    >>> from common_utils.auth import JWKS, Exempt, JWTAuthMiddleware
    >>> auth = JWTAuthMiddleware(
    ...     keys=JWKS("https://uaa.example.com/token_keys"),
    ...     issuer="https://uaa.example.com/oauth/token",
    ...     audience="orders",
    ...     algorithms=["RS256"],
    ...     exempt=Exempt(routes=["/health"]),
    ... )
    >>> app = falcon.App(middleware=[auth])
"""

from __future__ import annotations

from common_utils.auth._cache import TokenCache, TokenCacheInfo
from common_utils.auth._context import AuthContext
from common_utils.auth._errors import AuthConfigError
from common_utils.auth._exemptions import Exempt
from common_utils.auth._middleware import JWTAuthMiddleware
from common_utils.auth._scopes import ScopeHook, require_scopes, scopes_required_by
from common_utils.auth._sources import JWKS, KeySource, PublicKey, Secret

__all__ = [
    "JWKS",
    "AuthConfigError",
    "AuthContext",
    "Exempt",
    "JWTAuthMiddleware",
    "KeySource",
    "PublicKey",
    "ScopeHook",
    "Secret",
    "TokenCache",
    "TokenCacheInfo",
    "require_scopes",
    "scopes_required_by",
]
