"""How the middleware finds the app and its routes: ``protect(app)`` and the verdict cache (#30).

Exemptions are decided before routing with the app's own router. The app is known
from ``protect(app)``, or found once from the calling frame; verdicts are kept per
route and method, never per path, so a route added later, another app sharing the
middleware and a path under an exempt prefix each get their own answer.
"""

from __future__ import annotations

from typing import Any, ClassVar

import falcon
import falcon.asgi
import falcon.testing
import pytest

from common_utils.auth import AuthConfigError, Exempt, JWTAuthMiddleware, Secret
from tests.auth_support import AUDIENCE, ISSUER, SECRET, bearer, token, websocket_handshake


def _auth(**exempt: Any) -> JWTAuthMiddleware:
    return JWTAuthMiddleware(
        keys=Secret(SECRET),
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=["HS256"],
        exempt=Exempt(**exempt),
    )


class Private:
    def on_get(self, req: Any, resp: Any, **params: Any) -> None:
        resp.media = {"private": True}


class Public(Private):
    auth: ClassVar[dict[str, Any]] = {"exempt": True}


class AsyncPrivate:
    async def on_get(self, req: Any, resp: Any, **params: Any) -> None:
        resp.media = {"private": True}

    async def on_websocket(self, req: Any, ws: Any, **params: Any) -> None:
        await ws.accept()
        await ws.send_media({"private": True})
        await ws.receive_text()
        await ws.close()


class AsyncPublic(AsyncPrivate):
    auth: ClassVar[dict[str, Any]] = {"exempt": True}


def _app(auth: JWTAuthMiddleware, asgi: bool, routes: dict[str, type]) -> Any:
    app: Any = falcon.asgi.App(middleware=[auth]) if asgi else falcon.App(middleware=[auth])
    for template, resource in routes.items():
        if asgi and resource in (Private, Public):
            resource = AsyncPublic if resource is Public else AsyncPrivate
        app.add_route(template, resource())
    return app


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
@pytest.mark.parametrize("bound", [False, True], ids=["found", "protected"])
def test_a_middleware_shared_by_two_apps_answers_each_by_its_own_routes(
    asgi: bool, bound: bool
) -> None:
    """The same path is public in one app and private in the other, requests interleaved."""
    auth = _auth()
    first = _app(auth, asgi, {"/items": Public})
    second = _app(auth, asgi, {"/items": Private})
    if bound:
        assert auth.protect(first) is first
        auth.protect(second)
    one, two = falcon.testing.TestClient(first), falcon.testing.TestClient(second)
    for _ in range(3):
        assert one.simulate_get("/items").status_code == 200
        assert two.simulate_get("/items").status_code == 401
    assert two.simulate_get("/items", headers=bearer(token(SECRET, "HS256"))).status_code == 200


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
def test_a_route_added_or_replaced_after_the_first_request_gets_its_own_verdict(
    asgi: bool,
) -> None:
    """Verdicts are per route: a later add_route is never answered with an earlier one's."""
    auth = _auth()
    app = auth.protect(_app(auth, asgi, {"/items/{id}": Private}))
    client = falcon.testing.TestClient(app)
    assert client.simulate_get("/items/1").status_code == 401
    assert client.simulate_get("/later").status_code == 401  # unrouted: 401 before 404
    app.add_route("/later", (AsyncPublic if asgi else Public)())
    assert client.simulate_get("/later").status_code == 200
    app.add_route("/items/{id}", (AsyncPublic if asgi else Public)())  # replaces the route
    assert client.simulate_get("/items/1").status_code == 200
    app.add_route("/later", (AsyncPrivate if asgi else Private)())
    assert client.simulate_get("/later").status_code == 401


def test_an_exempt_prefix_is_decided_per_path_on_one_route() -> None:
    """One templated route, many paths: only those under the prefix pass."""
    auth = _auth(prefixes=["/files/public"])
    client = falcon.testing.TestClient(auth.protect(_app(auth, False, {"/files/{name}": Private})))
    for n in range(3):
        assert client.simulate_get("/files/public").status_code == 200
        assert client.simulate_get(f"/files/secret{n}").status_code == 401
        assert client.simulate_get("/files/publicity").status_code == 401


def test_method_exemptions_are_decided_per_method_on_one_route() -> None:
    """OPTIONS (Falcon's default responder) passes; GET and a 405 method do not, repeatedly."""
    auth = _auth(methods=["OPTIONS", "DELETE"])
    client = falcon.testing.TestClient(auth.protect(_app(auth, False, {"/items": Private})))
    for _ in range(2):
        assert client.simulate_options("/items").status_code == 200
        assert client.simulate_get("/items").status_code == 401
        assert client.simulate_delete("/items").status_code == 405  # Falcon answers: exempt
        assert client.simulate_head("/items").status_code == 401


def test_two_apps_sharing_their_request_options_are_still_told_apart() -> None:
    """Requests of apps that share one req_options object are routed by the calling app."""
    auth = _auth()
    first = _app(auth, False, {"/items": Public})
    second = _app(auth, False, {"/items": Private})
    second.req_options = first.req_options
    auth.protect(first)
    auth.protect(second)
    one, two = falcon.testing.TestClient(first), falcon.testing.TestClient(second)
    for _ in range(2):
        assert one.simulate_get("/items").status_code == 200
        assert two.simulate_get("/items").status_code == 401


def test_websocket_handshakes_of_a_protected_app_follow_the_same_routes() -> None:
    """A protected ASGI app: a private route's handshake is refused, a public one accepted."""
    auth = _auth()
    app = falcon.asgi.App(middleware=[auth])
    app.add_route("/private", AsyncPrivate())
    app.add_route("/public", AsyncPublic())
    auth.protect(app)
    for _ in range(2):
        assert websocket_handshake(app, "/public") == {"private": True}
        assert websocket_handshake(app, "/private") == 3401


@pytest.mark.parametrize(
    ("app", "message"),
    [
        (lambda auth: falcon.App(), "not in the app's middleware"),
        (lambda auth: object(), "give a falcon.App"),
    ],
    ids=["middleware-missing", "not-an-app"],
)
def test_protect_refuses_what_it_could_not_protect(app: Any, message: str) -> None:
    """Binding to an app that does not run the middleware would protect nothing."""
    auth = _auth()
    with pytest.raises(AuthConfigError, match=message):
        auth.protect(app(auth))


def test_protect_accepts_middleware_added_later() -> None:
    """app.add_middleware(auth) counts as well as falcon.App(middleware=[auth])."""
    auth = _auth()
    app = falcon.App()
    app.add_middleware(auth)
    app.add_route("/items", Private())
    client = falcon.testing.TestClient(auth.protect(app))
    assert client.simulate_get("/items").status_code == 401
