"""OpenAPI document, Swagger UI routes and the operation decorator of common_utils.openapi."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from typing import Any, ClassVar

import falcon
import falcon.testing
import pytest
from jsonschema import Draft202012Validator

from common_utils.auth import JWTAuthMiddleware, Secret, require_scopes
from common_utils.openapi import OpenAPI, operation
from common_utils.openapi._swagger import swagger_ui_static_dir
from common_utils.problems import problem_error_serializer
from common_utils.validation import validate

SECRET = "s" * 40


class Orders:
    """Orders of the shop."""

    auth: ClassVar[dict[str, Any]] = {"exempt_methods": ["GET"]}

    @validate(
        body={
            "sku": {"type": "string", "required": True, "regex": "[A-Z0-9-]{3,32}"},
            "quantity": {"type": "integer", "min": 1, "coerce": int},
            "note": {"type": "string", "check_with": lambda f, v, e: None},
        },
        params={"dry_run": {"type": "boolean"}, "shop": {"type": "string", "required": True}},
    )
    @falcon.before(require_scopes("orders.write"))
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Create an order.

        The body is validated.
        """
        resp.media = req.context.body

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = []

    @operation(
        summary="One order",
        description="By id.",
        tags=["orders"],
        response_schema={"type": "object"},
        responses={404: "No such order", 200: "The order"},
        deprecated=True,
    )
    def on_get_item(self, req: falcon.Request, resp: falcon.Response, order_id: int) -> None:
        resp.media = {"id": order_id}

    @operation(responses={201: {"description": "Created"}})
    @validate(body={"a": {}}, update=True, error_status=400)
    def on_patch_item(self, req: falcon.Request, resp: falcon.Response, order_id: int) -> None:
        resp.status = falcon.HTTP_201


class Search:
    @validate(params={"q": {"type": "string"}})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = []


class Empty:
    """A resource without responders: Falcon answers 405 to everything."""


class Files:
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, uid: str, at: str, rest: str
    ) -> None:
        resp.media = {}


def make_app(*, with_auth: bool = True) -> tuple[falcon.App, OpenAPI]:
    auth = (
        JWTAuthMiddleware(
            keys=Secret(SECRET),
            issuer="i",
            audience="a",
            algorithms=["HS256"],
        )
        if with_auth
        else None
    )
    app = falcon.App(middleware=[auth] if auth else [])
    app.set_error_serializer(problem_error_serializer)
    app.add_route("/orders", Orders())
    app.add_route("/orders/{order_id:int(min=1)}", Orders(), suffix="item")
    app.add_route("/search", Search())
    app.add_route("/empty", Empty())
    app.add_route("/files/{uid:uuid}/{at:dt}/{rest}", Files())
    app.add_route("/n/{x:int(3)}/{y:float}/{z:int(max=9)}/{w:int(bad}", Files())
    docs = OpenAPI(
        app,
        title="shop",
        version="1.2.3",
        auth=auth,
        description="The shop.",
        summary="Shop API",
        servers=["https://shop.example", {"url": "/", "description": "here"}],
    )
    docs.register()
    return app, docs


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app, _ = make_app()
    return falcon.testing.TestClient(app).simulate_get("/openapi.json").json


def test_document_is_a_valid_openapi_31_document_with_info_and_servers(document):
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {
        "title": "shop",
        "version": "1.2.3",
        "summary": "Shop API",
        "description": "The shop.",
    }
    assert document["servers"] == [
        {"url": "https://shop.example"},
        {"url": "/", "description": "here"},
    ]
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_own_routes_are_not_documented(document):
    assert set(document["paths"]) == {
        "/orders",
        "/orders/{order_id}",
        "/search",
        "/files/{uid}/{at}/{rest}",
        "/n/{x}/{y}/{z}/{w:int(bad}",
    }


def test_validated_post_documents_body_params_scopes_and_problem_responses(document):
    op = document["paths"]["/orders"]["post"]
    assert op["summary"] == "Create an order."
    assert op["description"] == "The body is validated."
    assert op["tags"] == ["orders"]
    assert op["operationId"] == "post_orders"
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["sku"]
    assert body["additionalProperties"] is False
    assert body["properties"]["sku"]["pattern"] == "^(?:[A-Z0-9-]{3,32}$)"
    assert {"type": "string", "pattern": r"^\s*[+-]?\d[\d_]*\s*$"} in body["properties"][
        "quantity"
    ]["anyOf"]
    assert op["parameters"] == [
        {"name": "dry_run", "in": "query", "schema": {"type": "boolean"}},
        {"name": "shop", "in": "query", "schema": {"type": "string"}, "required": True},
    ]
    assert op["security"] == [{"bearerAuth": ["orders.write"]}]
    assert set(op["responses"]) == {"200", "400", "401", "403", "413", "415", "422"}
    assert op["responses"]["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationProblem"
    }
    assert op["x-dropped-rules"] == ["body.note: check_with"]
    assert document["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_exempt_method_is_public(document):
    op = document["paths"]["/orders"]["get"]
    assert op["security"] == []
    assert op["responses"] == {"200": {"description": "OK"}}


def test_operation_decorator_overrides_summary_tags_and_responses(document):
    op = document["paths"]["/orders/{order_id}"]["get"]
    assert op["summary"] == "One order"
    assert op["description"] == "By id."
    assert op["tags"] == ["orders"]
    assert op["deprecated"] is True
    assert op["responses"]["200"] == {
        "description": "The order",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    assert op["responses"]["404"] == {"description": "No such order"}
    assert op["parameters"][0]["schema"] == {"type": "integer", "minimum": 1}


def test_custom_success_status_replaces_default_200_and_update_drops_required(document):
    op = document["paths"]["/orders/{order_id}"]["patch"]
    assert "200" not in op["responses"]
    assert op["responses"]["201"] == {"description": "Created"}
    assert "422" not in op["responses"]
    assert op["responses"]["400"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationProblem"
    }
    assert "security" not in op  # the document-wide bearer requirement applies


def test_path_converters_become_parameter_schemas(document):
    files = {
        p["name"]: p["schema"]
        for p in document["paths"]["/files/{uid}/{at}/{rest}"]["get"]["parameters"]
    }
    assert files == {
        "uid": {"type": "string", "format": "uuid"},
        "at": {"type": "string"},
        "rest": {"type": "string", "pattern": "^[^/]+$"},
    }
    nums = {
        p["name"]: p["schema"]
        for p in document["paths"]["/n/{x}/{y}/{z}/{w:int(bad}"]["get"]["parameters"]
    }
    assert nums == {
        "x": {"type": "integer"},
        "y": {"type": "number"},
        "z": {"type": "integer", "maximum": 9, "minimum": 0},
    }


def test_document_is_built_once_and_dropped_rules_listed():
    _, docs = make_app()
    assert docs.document() is docs.document()
    assert docs.dropped_rules == ["POST /orders body.note: check_with"]
    assert repr(docs) == "OpenAPI(title='shop', version='1.2.3')"


def test_without_auth_there_is_no_security():
    _, docs = make_app(with_auth=False)
    document = docs.document()
    assert "security" not in document
    assert "securitySchemes" not in document["components"]
    assert "401" not in document["paths"]["/orders"]["post"]["responses"]


def test_resources_defined_in_functions_are_found():
    class Local:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            """Local summary."""

    app = falcon.App()
    app.add_route("/local", Local())
    op = OpenAPI(app, title="t", version="1").document()["paths"]["/local"]["get"]
    assert op["summary"] == "Local summary."


def test_params_only_validation_documents_no_body(document):
    op = document["paths"]["/search"]["get"]
    assert "requestBody" not in op
    assert set(op["responses"]) == {"200", "400", "401", "422"}


GHOST_SOURCE = """
import falcon
from common_utils.auth import require_scopes
from common_utils.validation import validate


class Ghost:
    @validate(body={"name": {"type": "string", "required": True}})
    @falcon.before(require_scopes("ghosts.write"))
    def on_post(self, req, resp):
        \"\"\"Summon a ghost.\"\"\"
"""


def _assert_ghost_documented_in_full(app: falcon.App) -> None:
    auth = JWTAuthMiddleware(keys=Secret(SECRET), issuer="i", audience="a", algorithms=["HS256"])
    op = OpenAPI(app, title="t", version="1", auth=auth).document()["paths"]["/ghosts"]["post"]
    assert op["summary"] == "Summon a ghost."
    assert op["tags"] == ["ghosts"]
    assert op["security"] == [{"bearerAuth": ["ghosts.write"]}]
    assert op["requestBody"]["content"]["application/json"]["schema"]["required"] == ["name"]


def test_resources_compiled_from_a_string_are_documented_in_full():
    namespace: dict[str, Any] = {}
    exec(compile(GHOST_SOURCE, "<repl>", "exec"), namespace)  # noqa: S102 - no source file
    app = falcon.App()
    app.add_route("/ghosts", namespace["Ghost"]())
    _assert_ghost_documented_in_full(app)


def test_resources_deployed_as_bytecode_only_are_documented_in_full(tmp_path: Path):
    source = tmp_path / "ghost_module.py"
    source.write_text(GHOST_SOURCE)
    compiled = tmp_path / "ghost_module.pyc"
    import py_compile

    py_compile.compile(str(source), cfile=str(compiled), doraise=True)
    source.unlink()  # as a droplet built with compileall and stripped of sources
    loader = importlib.machinery.SourcelessFileLoader("ghost_module", str(compiled))
    spec = importlib.util.spec_from_loader("ghost_module", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    app = falcon.App()
    app.add_route("/ghosts", module.Ghost())
    _assert_ghost_documented_in_full(app)


@pytest.mark.parametrize(("kw", "name"), [({"title": ""}, "title"), ({"version": ""}, "version")])
def test_empty_title_or_version_is_refused(kw, name):
    with pytest.raises(ValueError, match=name):
        OpenAPI(falcon.App(), **{"title": "t", "version": "1", **kw})


# --- Swagger UI ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> falcon.testing.TestClient:
    app, _ = make_app()
    return falcon.testing.TestClient(app)


def test_docs_page_is_utf8_html_loading_only_local_files(client):
    resp = client.simulate_get("/docs")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert '<meta charset="utf-8">' in resp.text
    assert "http" not in resp.text.replace("http-equiv", "")
    assert 'src="/docs/swagger-ui-bundle.js"' in resp.text
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert resp.headers["cache-control"] == "no-cache"


def test_docs_page_honours_the_mount_point():
    app, _ = make_app()
    resp = falcon.testing.TestClient(app).simulate_get("/docs", extras={"SCRIPT_NAME": "/api"})
    assert 'href="/api/docs/swagger-ui.css"' in resp.text
    init = falcon.testing.TestClient(app).simulate_get(
        "/docs/swagger-initializer.js", extras={"SCRIPT_NAME": "/api"}
    )
    assert 'url: "/api/openapi.json"' in init.text
    assert init.headers["content-type"] == "text/javascript; charset=utf-8"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("swagger-ui-standalone-preset.js", "text/javascript; charset=utf-8"),
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("favicon-32x32.png", "image/png"),
        ("LICENSE", "text/plain; charset=utf-8"),
    ],
)
def test_static_files_have_type_cache_headers_and_etag(client, name, content_type):
    resp = client.simulate_get(f"/docs/{name}")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == content_type
    assert resp.headers["cache-control"] == "public, max-age=86400"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.content == (swagger_ui_static_dir() / name).read_bytes()
    again = client.simulate_get(f"/docs/{name}", headers={"If-None-Match": resp.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    other = client.simulate_get(f"/docs/{name}", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/docs/..%2f..%2fopenapi.json",
        "/docs/%2e%2e%2fsetup.py",
        "/docs/../../../etc/passwd",
        "/docs/..",
        "/docs/swagger-ui.css%00",
        "/docs/index.html",
        "/docs/swagger-editor.js",
        "/docs/__init__.py",
        "/docs/..%5c__init__.py",
    ],
)
def test_path_traversal_and_unlisted_files_are_never_served(client, path):
    resp = client.simulate_get(path)
    # Unlisted names reach the (public) asset route: 404. Paths that match no route at all
    # (an encoded or literal "/" inside the name) get auth's fail-closed 401 first.
    expected = 404 if path.count("/") == 2 and "%2f" not in path.lower() else 401
    assert resp.status_code == expected
    assert resp.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/docs/swagger-ui.css"])
def test_registered_docs_routes_are_public_without_any_exemption(client, path):
    assert client.simulate_get(path).status_code == 200
    assert client.simulate_post("/orders", json={}).status_code == 401


def test_swagger_ui_is_located_without_importing_it():
    import sys

    sys.modules.pop("swagger_ui", None)
    static = swagger_ui_static_dir()
    assert "swagger_ui" not in sys.modules
    assert b"SwaggerUIBundle" in (static / "swagger-ui-bundle.js").read_bytes()[:2000]


@pytest.mark.parametrize("found", [False, True])
def test_missing_swagger_ui_gives_a_clear_error(monkeypatch, tmp_path, found):
    spec = importlib.machinery.ModuleSpec("swagger_ui", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec if found else None)
    with pytest.raises(RuntimeError, match="install swagger-ui-py"):
        OpenAPI(falcon.App(), title="t", version="1").register()


def test_register_on_custom_routes():
    app = falcon.App()
    OpenAPI(app, title="t", version="1").register(spec_route="/spec", docs_route="/ui/")
    client = falcon.testing.TestClient(app)
    assert client.simulate_get("/spec").json["paths"] == {}
    assert client.simulate_get("/ui/swagger-ui.css").status_code == 200
    assert client.simulate_get("/ui/swagger-initializer.js").text.count('"/spec"') == 1


def test_static_dir_is_a_directory():
    assert isinstance(swagger_ui_static_dir(), Path)


def test_converter_arguments_that_do_not_parse_are_ignored():
    class Numbers:
        def on_get(self, req, resp, a, b, c):
            """Three numbers."""

    app = falcon.App()
    # Falcon evaluates both; the document takes literals only: "1+1" is none, and the
    # nested parenthesis cuts the other at 'min=len("ab"', which does not parse.
    app.add_route('/{a:int}/{b:int(min=1+1)}/{c:int(min=len("ab"))}', Numbers())
    OpenAPI(app, title="t", version="1").register()
    paths = falcon.testing.TestClient(app).simulate_get("/openapi.json").json["paths"]
    assert list(paths) == ["/{a}/{b}/{c}"]
    params = paths["/{a}/{b}/{c}"]["get"]["parameters"]
    assert [p["schema"] for p in params] == [{"type": "integer", "minimum": 0}] * 3


def _first_twin() -> type:
    class Twin:
        @validate(body={"name": {"type": "string"}})
        def on_post(self, req, resp):
            """First twin."""

    return Twin


def _second_twin() -> type:
    class Twin:
        @validate(body={"name": {"type": "string"}})
        def on_post(self, req, resp):
            """Second twin."""

    return Twin


def test_same_named_decorated_classes_resolve_to_the_routed_one():
    """Decorated responders all report the wrapper's location; the class's decides."""
    first, second = _first_twin(), _second_twin()
    assert first.__name__ == second.__name__
    for routed in (first, second):
        app = falcon.App()
        app.add_route("/twins", routed())
        post = OpenAPI(app, title="t", version="1").document()["paths"]["/twins"]["post"]
        assert post["summary"] == routed.on_post.__doc__


# --------------------------------------------------------------------------- issue 31


def test_response_schema_documents_the_one_success_status_given_instead_of_200() -> None:
    """response_schema with responses={201: ...}: the 201 carries the schema (it vanished)."""
    from common_utils.openapi import operation

    class Orders:
        @operation(responses={201: "Order created"}, response_schema={"type": "object"})
        def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
            """Create an order."""

    app = falcon.App()
    app.add_route("/orders", Orders())
    responses = OpenAPI(app, title="t", version="1").document()["paths"]["/orders"]["post"][
        "responses"
    ]
    assert responses == {
        "201": {
            "description": "Order created",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }


def test_response_schema_with_several_success_statuses_is_a_start_up_error() -> None:
    """Which of 201 and 202 the schema describes is not said: refused where it is declared."""
    from common_utils.errors import ConfigurationError
    from common_utils.openapi import operation

    with pytest.raises(ConfigurationError, match="201, 202"):
        operation(responses={201: "Created", 202: "Accepted"}, response_schema={})


def _asgi_and_wsgi_documents() -> tuple[dict[str, Any], dict[str, Any], Any]:
    import falcon.asgi

    from common_utils.resources import HealthResource, VersionResource

    documents = []
    asgi_app = falcon.asgi.App()
    for app, twins in ((asgi_app, {"suffix": "async"}), (falcon.App(), {})):
        app.add_route("/health", HealthResource(), **twins)
        app.add_route("/version", VersionResource(app_name="a", app_version="1"), **twins)
        OpenAPI(app, title="t", version="1").register()
        documents.append(falcon.testing.TestClient(app).simulate_get("/openapi.json").json)
    return documents[0], documents[1], asgi_app


def test_register_on_an_asgi_app_serves_the_document_and_swagger_ui() -> None:
    """OpenAPI(asgi_app).register() works (it raised TypeError) and documents as under WSGI."""
    asgi_doc, wsgi_doc, asgi_app = _asgi_and_wsgi_documents()
    assert asgi_doc == wsgi_doc
    client = falcon.testing.TestClient(asgi_app)
    page = client.simulate_get("/docs")
    assert page.status_code == 200
    assert "swagger" in page.text.lower()
    assert client.simulate_get("/docs/swagger-ui-bundle.js").status_code == 200
    health = asgi_doc["paths"]["/health"]["get"]
    assert health["summary"] == "Run the checks and answer 200 or 503."
    assert "503" in health["responses"]
    assert asgi_doc["paths"]["/version"]["get"]["summary"] == "Answer the version document."


class Thing:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {}


@pytest.mark.parametrize(
    ("route", "tag"),
    [
        ("/orders", "orders"),
        ("/orders/{order_id:int}", "orders"),
        ("/v1/orders/{order_id}", "orders"),
        ("/{tenant}/invoices", "invoices"),
        ("/", "Thing"),
        ("/{thing_id}", "Thing"),
    ],
)
def test_default_tag_is_the_first_literal_path_segment_not_the_class_name(
    route: str, tag: str
) -> None:
    """Swagger UI groups by a readable name; the class name only where the path has none."""
    app = falcon.App()
    app.add_route(route, Thing())
    (item,) = OpenAPI(app, title="t", version="1").document()["paths"].values()
    assert item["get"]["tags"] == [tag]


@pytest.mark.parametrize(
    "regex",
    ["c-[a-z]+", "^c-[a-z]+$", "^c-[a-z]+", "c-[a-z]+$", "^a|b", "^(a|b)c"],
)
def test_regex_pattern_is_anchored_once_and_matches_what_cerberus_matches(regex: str) -> None:
    """``^c-...$`` gives ``^(?:c-...$)``, not ``^(?:^c-...$)``; the same strings pass."""
    import re

    import cerberus

    from common_utils.openapi import cerberus_rules_to_json_schema

    pattern = cerberus_rules_to_json_schema({"type": "string", "regex": regex}).schema["pattern"]
    assert pattern.startswith("^(?:")
    assert not pattern.startswith("^(?:^")
    for value in ["c-ab", "c-ab1", "xc-ab", "a", "ab", "b", "xb", "ac", "bc", "c-", ""]:
        by_cerberus = cerberus.Validator({"v": {"type": "string", "regex": regex}}).validate(
            {"v": value}
        )
        assert (re.search(pattern, value) is not None) == by_cerberus, (regex, value, pattern)
