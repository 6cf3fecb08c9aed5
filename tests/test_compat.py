"""The readers of third-party private attributes still work with the installed versions.

Each test here names the attribute it pins; a Falcon upgrade that moves one fails
the test of that name rather than silently dropping a feature.
"""

from __future__ import annotations

from typing import Any

import falcon
import falcon.asgi
import falcon.inspect
import falcon.routing
import falcon.testing
import pytest

from common_utils._compat import routes


class Items:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Create."""

    def on_get_item(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        """One."""


class Hooked:
    @falcon.before(lambda req, resp, resource, params: None)
    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Hooked."""


class Falsy:
    def __len__(self) -> int:
        return 0

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Falsy."""


def sample_app(app: Any) -> Any:
    items = Items()
    app.add_route("/items", items)
    app.add_route("/items/{item_id:int}", items, suffix="item")
    app.add_route("/hooked", Hooked())
    app.add_route("/falsy", Falsy())
    return app


def test_routes_reads_router_roots_nodes_and_method_maps() -> None:
    """Pins ``App._router._roots`` and ``CompiledRouterNode.raw_segment/resource/method_map/children``."""  # noqa: E501
    app = sample_app(falcon.App())
    found = {r.template: r for r in routes(app)}
    assert list(found) == [r.path for r in falcon.inspect.inspect_routes(app)]
    assert found["/items"].responders == {"GET": Items.on_get, "POST": Items.on_post}
    assert found["/items/{item_id:int}"].responders == {"GET": Items.on_get_item}
    assert found["/hooked"].responders["PUT"].__doc__ == "Hooked."
    assert isinstance(found["/falsy"].resource, Falsy)
    assert isinstance(found["/items"].resource, Items)


class AsyncItems:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """List."""


def test_routes_reads_an_asgi_apps_router_the_same_way() -> None:
    app = falcon.asgi.App()
    app.add_route("/v1/items", AsyncItems())
    (route,) = routes(app)
    assert (route.template, route.responders) == ("/v1/items", {"GET": AsyncItems.on_get})


def test_routes_refuses_a_router_it_cannot_walk_with_a_clear_error() -> None:
    class OwnRouter:
        def add_route(self, *args: Any, **kwargs: Any) -> None:
            pass

        def find(self, *args: Any, **kwargs: Any) -> None:
            return None

    app = falcon.App(router=OwnRouter())
    with pytest.raises(TypeError, match="cannot read the routes of a OwnRouter"):
        routes(app)


# -- the app and its router, for common_utils.auth ---------------------------------------------


def _sink(req: falcon.Request, resp: falcon.Response, **params: Any) -> None:
    resp.media = {}


async def _async_sink(req: falcon.asgi.Request, resp: falcon.asgi.Response, **params: Any) -> None:
    resp.media = {}


def test_calling_app_and_router_search_see_the_route_falcon_will_take() -> None:
    """Pins ``App.__call__`` calling ``process_request`` directly and ``App._router_search``."""
    import sys

    from common_utils._compat import calling_app, router_search

    seen: list[Any] = []

    class Probe:
        def process_request(self, req: Any, resp: Any) -> None:
            app = calling_app(sys._getframe(1))
            seen.append(router_search(app, req) if app is not None else "no app")

        async def process_request_async(self, req: Any, resp: Any) -> None:
            app = calling_app(sys._getframe(1))
            seen.append(router_search(app, req) if app is not None else "no app")

    expected: list[Any] = []
    apps: list[Any] = [falcon.App(middleware=[Probe()]), falcon.asgi.App(middleware=[Probe()])]
    for app in apps:
        asgi = isinstance(app, falcon.asgi.App)
        resource: object = AsyncItems() if asgi else Items()
        app.add_route("/items/{item_id}", resource)
        app.add_sink(_async_sink if asgi else _sink, "/s")
        client = falcon.testing.TestClient(app)
        client.simulate_get("/items/7")
        client.simulate_get("/s/x")
        expected += [(resource, "/items/{item_id}"), (None, None)]
    assert seen == expected
    assert calling_app(None) is None
    assert calling_app(sys._getframe()) is None  # a frame whose self is no app


def test_router_search_handles_routers_without_a_template() -> None:
    """A custom router may answer a 3-tuple (Falcon accepts it); the template is then None."""
    import sys

    from common_utils._compat import calling_app, router_search

    class OldRouter(falcon.routing.CompiledRouter):
        def find(self, uri: str, req: Any = None) -> Any:
            found = super().find(uri, req)
            return None if found is None else found[:3]

    seen: list[Any] = []

    class Probe:
        def process_request(self, req: Any, resp: Any) -> None:
            app = calling_app(sys._getframe(1))
            assert app is not None
            seen.append(router_search(app, req))

    app = falcon.App(middleware=[Probe()], router=OldRouter())
    resource = Items()
    app.add_route("/x", resource)
    falcon.testing.TestClient(app).simulate_get("/x")
    falcon.testing.TestClient(app).simulate_get("/nothing")
    assert seen == [(resource, None), (None, None)]
