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


def test_router_find_gives_the_method_map_falcon_will_call() -> None:
    """Pins the method map in ``App._router_search``'s answer: the resource's own responders,
    Falcon's default OPTIONS responder and its 405 responder, told apart by is_own_responder."""
    import sys

    from common_utils._compat import calling_app, is_own_responder, router_find

    seen: dict[str, tuple[bool, bool]] = {}

    class Probe:
        def process_request(self, req: Any, resp: Any) -> None:
            app = calling_app(sys._getframe(1))
            assert app is not None
            resource, template, method_map = router_find(app, req)
            if resource is None:
                seen[req.path] = (False, False)
                return
            assert template == "/items/{item_id}"
            assert method_map is not None
            responder = method_map[req.method]
            seen[req.method] = (True, is_own_responder(resource, responder))

    app = falcon.App(middleware=[Probe()])
    app.add_route("/items/{item_id}", Items())
    app.add_sink(_sink, "/s")
    client = falcon.testing.TestClient(app)
    for method in ("GET", "OPTIONS", "DELETE"):
        client.simulate_request(method, "/items/7")
    client.simulate_get("/s/x")
    # GET is the resource's own; OPTIONS (default responder) and DELETE (405) are Falcon's.
    assert seen == {
        "GET": (True, True),
        "OPTIONS": (True, False),
        "DELETE": (True, False),
        "/s/x": (False, False),
    }


# -- Request._media, for common_utils.validation --------------------------------------------


def test_set_parsed_media_is_what_get_media_returns() -> None:
    """Pins ``Request._media`` (and its ``_UNSET`` default) as ``get_media``'s cache."""
    from common_utils._compat import has_parsed_media, parsed_media, set_parsed_media

    json_type = {"Content-Type": "application/json"}
    req = falcon.testing.create_req(body=b'{"read": "from the stream"}', headers=json_type)
    assert not has_parsed_media(req)
    set_parsed_media(req, {"parsed": "by the validator"})
    assert has_parsed_media(req)
    assert req.get_media() == {"parsed": "by the validator"} == parsed_media(req)

    other = falcon.testing.create_req(body=b'{"a": 1}', headers=json_type)
    assert other.get_media() == {"a": 1}
    assert has_parsed_media(other)
    assert parsed_media(other) == {"a": 1}


# -- Cerberus internals, for common_utils.validation ----------------------------------------


def test_cerberus_still_has_the_internals_the_linear_validator_replaces() -> None:
    """Pins ``_error``, ``_BareValidator__validate_logical``, the overridden rules, ``_errors``,
    ``_config``, ``_schema``, ``document_error_tree`` and ``error_handler`` (ADR 0003)."""
    import cerberus

    for name in ("_error", "_BareValidator__validate_logical", "_validate_anyof"):
        assert callable(getattr(cerberus.Validator, name, None)), name
    # The contributed rules and the hook common_utils.validation.Validator extends (ADR 0003).
    for name in (
        "_validate_allowed",
        "_validate_contains",
        "_validate_forbidden",
        "_validate_items",
        "_validate_schema",
        "_get_child_validator",
    ):
        assert callable(getattr(cerberus.Validator, name, None)), name
    validator = cerberus.Validator({"a": {"type": "integer"}})
    validator.validate({"a": "x"})
    for name in ("_errors", "_config", "_schema", "document_error_tree", "error_handler"):
        assert hasattr(validator, name), name
    assert isinstance(validator.schema.schema, dict)


def test_the_linear_validator_records_bounded_errors_and_keeps_its_schema() -> None:
    from common_utils._compat_cerberus import (
        ErrorsCut,
        LinearErrorsValidator,
        keep_expanded_schema,
        recorded_errors,
    )

    validator = LinearErrorsValidator({"sku": {"type": "string"}}, max_errors=3)
    keep_expanded_schema(validator)
    assert not validator.validate({f"k{i}": 0 for i in range(50)})
    errors = recorded_errors(validator)
    assert len(errors) == 4
    assert isinstance(errors[-1], ErrorsCut)
    assert validator.validate({"sku": "A-1"})  # the kept schema still validates
    assert recorded_errors(validator) == []


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        ({"items": [1, "ab", 3], "mode": "x"}, True),
        ({"items": [1, "AB"]}, False),
        ({"mode": "x"}, False),
    ],
    ids=["every-item-matches-a-branch", "an-item-matches-no-branch", "dependency-missing"],
)
def test_the_linear_validator_keeps_cerberus_anyof_semantics(
    document: dict[str, Any], valid: bool
) -> None:
    import cerberus

    from common_utils._compat_cerberus import LinearErrorsValidator

    schema = {
        "items": {
            "type": "list",
            "schema": {"anyof": [{"type": "integer"}, {"type": "string", "regex": "[a-z]+"}]},
        },
        "mode": {"dependencies": "items", "type": "string"},
    }
    ours = LinearErrorsValidator(schema)
    assert ours.validate(document) is cerberus.Validator(schema).validate(document) is valid


def test_cerberus_normalization_pass_is_what_normalization_is_noop_assumes() -> None:
    """Pins ``_normalize_coerce``, ``_normalize_rename``, ``_normalize_rename_handler``,
    ``normalization_rules``, ``validate(normalize=)`` and what the pass copies."""
    import inspect

    import cerberus

    from common_utils._compat_cerberus import keep_expanded_schema, normalization_is_noop

    for name in ("_normalize_coerce", "_normalize_rename", "_normalize_rename_handler"):
        assert callable(getattr(cerberus.Validator, name, None)), name
    assert "normalize" in inspect.signature(cerberus.Validator.validate).parameters
    assert set(cerberus.Validator.normalization_rules) == {
        "coerce",
        "default",
        "default_setter",
        "purge_unknown",
        "rename",
        "rename_handler",
    }
    # Without rules to act on, the pass copies nothing: nested values stay shared.
    document = {"a": {"b": [1]}, "c": [{"d": 1}], "e": 1}
    for normalize in (True, False):
        validator = cerberus.Validator({"a": {"type": "dict"}, "c": {}}, allow_unknown=True)
        keep_expanded_schema(validator)
        assert normalization_is_noop(validator)
        assert validator.validate(document, normalize=normalize)
        assert validator.document == document
        assert validator.document is not document
        assert validator.document["a"] is document["a"]
        assert validator.document["c"] is document["c"]
    # A container rule makes the pass copy the container.
    nested = {"a": {"b": [1]}}
    validator = cerberus.Validator({"a": {"type": "dict", "schema": {"b": {"type": "list"}}}})
    assert not normalization_is_noop(validator)
    assert validator.validate(nested)
    assert validator.document == nested
    assert validator.document["a"] is not nested["a"]
    # Cerberus 1.3 never normalizes inside *of branches.
    schema = {"a": {"type": "dict", "anyof_schema": [{"y": {"rename": "z", "coerce": int}}]}}
    validator = cerberus.Validator(schema)
    assert normalization_is_noop(validator)
    assert validator.validate({"a": {"y": "1"}})
    assert validator.document == {"a": {"y": "1"}}


def test_app_middleware_lists_what_the_app_was_given() -> None:
    """Pins ``App._unprepared_middleware``: the constructor's list, then add_middleware's."""
    from common_utils._compat import app_middleware

    class Middleware:
        def process_request(self, req: Any, resp: Any) -> None:
            """Nothing."""

        async def process_request_async(self, req: Any, resp: Any) -> None:
            """Nothing."""

    first, second, third = Middleware(), Middleware(), Middleware()
    for app in (
        falcon.App(middleware=[first, second]),
        falcon.asgi.App(middleware=[first, second]),
    ):
        app.add_middleware(third)
        assert app_middleware(app) == [first, second, third]
    assert app_middleware(falcon.App()) == []
