"""Method exemptions open only what Falcon answers by itself (issue 25, item 3).

The default ``Exempt()`` lets OPTIONS through for CORS preflight. A sink serves
every method and a static route serves files, so an unauthenticated OPTIONS
read a sink before the fix. A global method exemption now applies only to a
routed resource whose responder for that method is Falcon's default (the
default OPTIONS responder, which CORS middleware answers preflight with, or a
405); never to sinks, static routes or unrouted paths. HEAD follows GET's rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import falcon
import falcon.asgi
import falcon.testing
import pytest

from common_utils.auth import Exempt, JWTAuthMiddleware, Secret
from tests.auth_support import AUDIENCE, ISSUER, SECRET, bearer, token


def _sink(req: Any, resp: Any, **params: Any) -> None:
    resp.media = {"secret": "sink data"}


async def _async_sink(req: Any, resp: Any, **params: Any) -> None:
    _sink(req, resp)


class Orders:
    def on_get(self, req: Any, resp: Any) -> None:
        resp.media = {"secret": "orders"}

    on_head = on_get


class OwnOptions:
    def on_options(self, req: Any, resp: Any) -> None:
        resp.media = {"secret": "what on_options tells"}


class Catalog:
    auth: ClassVar[dict[str, Any]] = {"exempt_methods": ["GET"]}

    def on_get(self, req: Any, resp: Any) -> None:
        resp.media = {"public": True}

    on_head = on_get

    def on_put(self, req: Any, resp: Any) -> None:
        resp.media = {"written": True}


class HeadOnly:
    auth: ClassVar[dict[str, Any]] = {"exempt_methods": ["HEAD"]}

    def on_head(self, req: Any, resp: Any) -> None:
        resp.set_header("X-Count", "42")


class AsyncOrders:
    async def on_get(self, req: Any, resp: Any) -> None:
        resp.media = {"secret": "orders"}


def _client(
    tmp_path: Path, *, asgi: bool = False, exempt: Exempt | None = None, cors: bool = False
) -> falcon.testing.TestClient:
    auth = JWTAuthMiddleware(
        keys=Secret(SECRET), issuer=ISSUER, audience=AUDIENCE, algorithms=["HS256"], exempt=exempt
    )
    (tmp_path / "secret.txt").write_text("internal\n")
    app_class = falcon.asgi.App if asgi else falcon.App
    app = app_class(middleware=[auth], cors_enable=cors)
    app.add_sink(_async_sink if asgi else _sink, "/proxy")
    app.add_static_route("/files", str(tmp_path))
    app.add_route("/orders", AsyncOrders() if asgi else Orders())
    if not asgi:
        app.add_route("/own-options", OwnOptions())
        app.add_route("/catalog", Catalog())
        app.add_route("/head-only", HeadOnly())
    return falcon.testing.TestClient(app)


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
@pytest.mark.parametrize("method", ["OPTIONS", "HEAD", "GET"])
@pytest.mark.parametrize("path", ["/proxy/x", "/files/secret.txt", "/nowhere"])
@pytest.mark.parametrize(
    "exempt",
    [None, Exempt(methods=["OPTIONS", "HEAD", "GET"])],
    ids=["default-exemptions", "every-read-method-exempt"],
)
def test_method_exemptions_never_open_sinks_static_routes_or_unrouted_paths(
    tmp_path, asgi, method, path, exempt
):
    """The attack: OPTIONS (the default exemption) read a sink without a token."""
    result = _client(tmp_path, asgi=asgi, exempt=exempt).simulate_request(method, path)
    assert result.status_code == 401, result.text
    assert "sink data" not in result.text
    assert "internal" not in result.text


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
def test_cors_preflight_of_a_routed_resource_still_passes(tmp_path, asgi):
    """Falcon's default OPTIONS responder (and its CORS preflight) needs no token."""
    client = _client(tmp_path, asgi=asgi, cors=True)
    preflight = client.simulate_options(
        "/orders",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Methods"]
    assert "secret" not in preflight.text
    assert client.simulate_get("/orders").status_code == 401


def test_a_resource_answering_options_itself_needs_a_token(tmp_path):
    client = _client(tmp_path)
    assert client.simulate_options("/own-options").status_code == 401
    ok = client.simulate_options("/own-options", headers=bearer(token(SECRET, "HS256")))
    assert ok.json == {"secret": "what on_options tells"}


def test_a_global_method_exemption_opens_only_falcons_own_answers(tmp_path):
    """Exempt(methods=["GET"]) lets a 405 through, never a resource's own on_get."""
    client = _client(tmp_path, exempt=Exempt(methods=["GET", "DELETE"]))
    assert client.simulate_get("/orders").status_code == 401
    assert client.simulate_delete("/orders").status_code == 405  # Falcon's default responder


def test_head_follows_gets_rule(tmp_path):
    """A resource exempting GET exempts HEAD too; exempting HEAD alone exempts nothing."""
    client = _client(tmp_path)
    assert client.simulate_head("/catalog").status_code == 200
    assert client.simulate_get("/catalog").json == {"public": True}
    assert client.simulate_put("/catalog").status_code == 401
    assert client.simulate_head("/head-only").status_code == 401
    assert (
        client.simulate_head("/head-only", headers=bearer(token(SECRET, "HS256"))).headers[
            "X-Count"
        ]
        == "42"
    )
    only_head = _client(tmp_path, exempt=Exempt(methods=["HEAD"]))
    assert only_head.simulate_head("/orders").status_code == 401


def test_is_exempt_applies_the_same_rules_for_tools(tmp_path):
    auth = JWTAuthMiddleware(
        keys=Secret(SECRET), issuer=ISSUER, audience=AUDIENCE, algorithms=["HS256"]
    )
    assert auth.is_exempt("/orders", "OPTIONS", Orders())
    assert not auth.is_exempt("/own-options", "OPTIONS", OwnOptions())
    assert not auth.is_exempt(None, "OPTIONS")  # no routed resource: a sink, a static route
    assert auth.is_exempt("/catalog", "HEAD", Catalog())
    assert not auth.is_exempt("/head-only", "HEAD", HeadOnly())
