"""Helpers the auth test modules share: claims, raw and signed tokens, a test app.

A module of its own (not a test module) so that test_auth.py and
test_auth_jwks.py both import it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import falcon
import falcon.asgi
import falcon.testing
import jwt
from falcon.util import async_to_sync

from common_utils.auth import JWTAuthMiddleware
from common_utils.problems import PROBLEM_JSON, problem_error_serializer

ISSUER = "https://uaa.example.com/oauth/token"
AUDIENCE = "orders"
SECRET = b"k" * 16 + b"0123456789abcdef"  # 32 bytes


# -- helpers shared with test_auth_jwks.py --------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "exp": now + 600,
        "jti": "t-1",
        "scope": ["orders.read", "orders.write"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def token(key: Any, alg: str = "RS256", headers: dict[str, Any] | None = None, **claim: Any) -> str:
    return jwt.encode(claims(**claim), key, algorithm=alg, headers=headers)


def raw_token(header: dict[str, Any], payload: Any, signature: bytes = b"sig") -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)]
    )


def hs256_with(secret: bytes, header: dict[str, Any], payload: dict[str, Any]) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


def rs256_with(key: Any, header: dict[str, Any], payload: Any) -> str:
    """Sign any header (PyJWT refuses to encode some of the bad ones we need)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    sig = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256).sign(
        signing_input.encode(), key
    )
    return f"{signing_input}.{b64(sig)}"


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


class Echo:
    def on_get(self, req: falcon.Request, resp: falcon.Response, **params: Any) -> None:
        ctx = getattr(req.context, "auth", None)
        resp.media = (
            {"sub": ctx.subject, "scopes": sorted(ctx.scopes), "jti": ctx.token_id}
            if ctx is not None
            else {"public": True}
        )

    on_post = on_get


class AsyncEcho:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        ctx = req.context.auth
        resp.media = {"sub": ctx.subject, "scopes": sorted(ctx.scopes)}


def make_app(auth: JWTAuthMiddleware, *, asgi: bool = False) -> falcon.testing.TestClient:
    app: falcon.App = falcon.asgi.App(middleware=[auth]) if asgi else falcon.App(middleware=[auth])
    app.set_error_serializer(problem_error_serializer)
    if asgi:
        app.add_route("/orders", AsyncEcho())
    else:
        app.add_route("/orders", Echo())
        app.add_route("/items/{item_id}", Echo())
        app.add_route("/health", Echo())
    return falcon.testing.TestClient(app)


def assert_challenge(result: falcon.testing.Result, status: int, header: str) -> None:
    assert result.status_code == status, result.text
    assert result.headers["WWW-Authenticate"] == header
    assert result.headers["Content-Type"] == PROBLEM_JSON
    assert result.json["status"] == status


def invalid_token(reason: str) -> str:
    return f'Bearer realm="api", error="invalid_token", error_description="{reason}"'


def websocket_handshake(
    app: falcon.asgi.App, path: str, headers: dict[str, str] | None = None
) -> Any:
    """Open a WebSocket; return what the server sent, or the close code of a refusal."""

    async def run() -> Any:
        async with falcon.testing.ASGIConductor(app) as conductor:
            try:
                async with conductor.simulate_ws(path, headers=headers) as ws:
                    answer = json.loads(await ws.receive_text())
                    await ws.send_text("bye")
                    return answer
            except falcon.WebSocketDisconnected as ex:  # closed before it was accepted
                return ex.code

    # Falcon's own runner: asyncio.run() would unset the loop its TestClient reuses on 3.10.
    return async_to_sync(run)
