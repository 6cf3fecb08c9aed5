"""A service's use of common_utils, type-checked by ``mypy --strict`` (``tox -e type``).

Not a test module: nothing runs it. It keeps the public API usable from
strictly typed code without ``# type: ignore`` (``[tool.mypy] files`` lists it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import falcon
import falcon.asgi

from common_utils.auth import (
    JWKS,
    AuthConfigError,
    AuthContext,
    Exempt,
    JWTAuthMiddleware,
    PublicKey,
    Secret,
    require_scopes,
)
from common_utils.errors import ConfigurationError


class Orders:
    @falcon.before(require_scopes("orders.write"))
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        ctx: AuthContext = req.context.auth
        claims: Mapping[str, Any] = ctx.claims
        resp.media = {"by": ctx.subject, "client": claims.get("client_id")}


@falcon.before(require_scopes("orders.admin", "orders.read"))
class Admin:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ok": True}


class AsyncOrders:
    @falcon.before(require_scopes("orders.read"))
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"user": req.context.auth.subject}


def create_app(pem: str) -> falcon.App[falcon.Request, falcon.Response]:
    try:
        auth = JWTAuthMiddleware(
            keys=JWKS("https://uaa.example.com/token_keys", ttl=300),
            issuer="https://uaa.example.com/oauth/token",
            audience="orders",
            algorithms=["RS256"],
            exempt=Exempt(routes=["/health"], prefixes=["/static"]),
        )
    except AuthConfigError:
        raise
    auth.keys = PublicKey(pem)
    app = falcon.App(middleware=[auth])
    app.add_route("/orders", Orders())
    app.add_route("/admin", Admin())
    return app


def create_asgi_app(secret: str) -> falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response]:
    try:
        auth = JWTAuthMiddleware(
            keys=Secret(secret), issuer="https://issuer", audience="orders", algorithms=["HS256"]
        )
    except ConfigurationError as ex:
        raise SystemExit(str(ex)) from None
    app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response] = falcon.asgi.App(
        middleware=[auth]
    )
    app.add_route("/orders", AsyncOrders())
    return app
