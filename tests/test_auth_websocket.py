"""WebSocket handshakes are authenticated like HTTP requests (issue 25, item 2).

Under ``falcon.asgi.App`` Falcon runs ``process_request_ws`` instead of
``process_request``; without it every ``on_websocket`` ran with no token check.
These tests drive real handshakes through Falcon's in-process ASGI simulation
(``falcon.testing.ASGIConductor.simulate_ws``).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import falcon
import falcon.asgi
import falcon.testing
import pytest

from common_utils.auth import JWKS, Exempt, JWTAuthMiddleware, Secret, TokenCache, require_scopes
from common_utils.testing import JWKSServer, TokenIssuer
from tests.auth_support import AUDIENCE, ISSUER, SECRET, bearer, token, websocket_handshake

# Falcon closes a refused handshake with 3000 + the HTTP status (falcon.asgi.ws).
CLOSED_401, CLOSED_400, CLOSED_403 = 3401, 3400, 3403


class Chat:
    """Accept, send who the caller is, and wait for the client to hang up."""

    async def on_websocket(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        await ws.accept()
        ctx = getattr(req.context, "auth", None)
        await ws.send_text(json.dumps({"sub": ctx.subject if ctx is not None else None}))
        await ws.receive_text()

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"public": True}


class ScopedChat(Chat):
    on_websocket = falcon.before(require_scopes("chat.join"))(Chat.on_websocket)


class PublicChat(Chat):
    auth: ClassVar[dict[str, Any]] = {"exempt": True}


class GetIsPublic(Chat):
    auth: ClassVar[dict[str, Any]] = {"exempt_methods": ["GET", "HEAD", "OPTIONS"]}


async def _sink(req: falcon.asgi.Request, resp: Any, ws: Any = None, **params: Any) -> None:
    await ws.accept()
    await ws.send_text(json.dumps({"sub": None}))
    await ws.receive_text()


def _app(
    cache: TokenCache | None = None, **kwargs: Any
) -> tuple[falcon.asgi.App, JWTAuthMiddleware]:
    auth = JWTAuthMiddleware(
        keys=Secret(SECRET),
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=["HS256"],
        cache=cache,
        **kwargs,
    )
    app = falcon.asgi.App(middleware=[auth])
    app.add_route("/chat", Chat())
    app.add_route("/scoped", ScopedChat())
    app.add_route("/public", PublicChat())
    app.add_route("/get-is-public", GetIsPublic())
    app.add_route("/listed", Chat())
    app.add_sink(_sink, "/sink")
    return app, auth


def _token(**claims: Any) -> dict[str, str]:
    return bearer(token(SECRET, "HS256", **claims))


@pytest.fixture(params=["cache-on", "cache-off"])
def app(request: pytest.FixtureRequest) -> falcon.asgi.App:
    cache = TokenCache() if request.param == "cache-on" else TokenCache(size=0)
    return _app(cache, exempt=Exempt(routes=["/listed"]))[0]


def test_websocket_handshake_without_a_token_is_closed_with_3401(app):
    """The attack: no Authorization header reached on_websocket before the fix."""
    assert websocket_handshake(app, "/chat") == CLOSED_401


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not.a.token"},
        _token(exp=1),
        _token(iss="https://elsewhere.example"),
        _token(aud="someone-else"),
    ],
    ids=["other scheme", "malformed", "expired", "wrong issuer", "wrong audience"],
)
def test_websocket_handshake_with_a_bad_token_is_closed_with_3401(app, headers):
    assert websocket_handshake(app, "/chat", headers) == CLOSED_401


def test_websocket_handshake_with_a_malformed_header_is_closed_with_3400(app):
    assert websocket_handshake(app, "/chat", {"Authorization": "Bearer"}) == CLOSED_400


def test_websocket_handshake_with_a_valid_token_sets_the_auth_context(app):
    assert websocket_handshake(app, "/chat", _token()) == {"sub": "alice"}


def test_websocket_sinks_and_unrouted_paths_need_a_token(app):
    assert websocket_handshake(app, "/sink/x") == CLOSED_401
    assert websocket_handshake(app, "/nowhere") == CLOSED_401
    assert websocket_handshake(app, "/sink/x", _token()) == {"sub": None}


def test_exempt_routes_and_resources_open_websockets_without_a_token(app):
    assert websocket_handshake(app, "/listed") == {"sub": None}
    assert websocket_handshake(app, "/public") == {"sub": None}


def test_method_exemptions_never_open_a_websocket(app):
    """A handshake is a GET, but exempting GET (or OPTIONS) reads, not a live channel."""
    client = falcon.testing.TestClient(app)
    assert client.simulate_get("/get-is-public").json == {"public": True}
    assert websocket_handshake(app, "/get-is-public") == CLOSED_401
    everything = _app(exempt=Exempt(methods=["GET", "HEAD", "OPTIONS"]))[0]
    assert websocket_handshake(everything, "/chat") == CLOSED_401


def test_require_scopes_on_on_websocket_closes_with_3403_without_the_scope(app):
    assert websocket_handshake(app, "/scoped", _token()) == CLOSED_403
    assert websocket_handshake(app, "/scoped", _token(scope=["chat.join"])) == {"sub": "alice"}


def test_a_repeated_websocket_token_is_answered_from_the_cache():
    app, auth = _app()
    headers = _token()
    assert websocket_handshake(app, "/chat", headers) == {"sub": "alice"}
    assert websocket_handshake(app, "/chat", headers) == {"sub": "alice"}
    assert auth.cache_info().hits == 1


def test_a_websocket_handshake_fetches_the_jwks_on_a_cold_cache():
    """The key fetch path: the first handshake waits for the keys, then verifies."""
    issuer = TokenIssuer(issuer=ISSUER, audience=AUDIENCE)
    with JWKSServer(issuer.jwks) as server:
        auth = JWTAuthMiddleware(
            keys=JWKS(server.uri), issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"]
        )
        app = falcon.asgi.App(middleware=[auth])
        app.add_route("/chat", Chat())
        assert websocket_handshake(app, "/chat", bearer(issuer.token(sub="alice"))) == {
            "sub": "alice"
        }
        assert server.requests == 1
        server.status = 500
        unreachable = JWTAuthMiddleware(
            keys=JWKS(server.uri), issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"]
        )
        cold = falcon.asgi.App(middleware=[unreachable])
        cold.add_route("/chat", Chat())
        assert websocket_handshake(cold, "/chat", bearer(issuer.token())) == 3503
