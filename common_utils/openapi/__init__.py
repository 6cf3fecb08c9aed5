"""Live API docs: an OpenAPI 3.1 document of a Falcon app and Swagger UI, offline.

Routes come from `falcon.inspect`, request bodies and query parameters
from the ``@validate`` schemas of `common_utils.validation` (converted
from Cerberus to JSON Schema 2020-12), security from the
`JWTAuthMiddleware` and ``require_scopes`` hooks.

Examples:
    >>> import falcon, falcon.testing
    >>> app = falcon.App()
    >>> OpenAPI(app, title="example-app", version="1.0.0").register()
    >>> client = falcon.testing.TestClient(app)
    >>> client.simulate_get("/openapi.json").json["openapi"]
    '3.1.0'
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import falcon
import falcon.asgi

from common_utils.errors import ConfigurationError
from common_utils.openapi._convert import (
    Conversion,
    cerberus_rules_to_json_schema,
    cerberus_to_json_schema,
)
from common_utils.openapi._document import build_document, operation
from common_utils.openapi._swagger import SwaggerUIResource

__all__ = [
    "Conversion",
    "OpenAPI",
    "cerberus_rules_to_json_schema",
    "cerberus_to_json_schema",
    "operation",
]


class OpenAPI:
    """The OpenAPI 3.1 document of a Falcon app, and the routes that serve it.

    The document is built on first use (after every route is added) and
    cached; `register` adds ``GET /openapi.json`` and ``GET /docs``.

    Args:
        app: The Falcon app (WSGI or ASGI) to describe.

    Keyword Args:
        title: The API title.
        version: The API version (your service's version).
        auth: The app's `JWTAuthMiddleware`, if any:
            operations are marked as needing a bearer token with the scopes of
            their ``require_scopes`` hooks, exempt routes as public.
        description: Longer description of the API (CommonMark).
        servers: Server URLs, for example ``["https://orders.example.com"]``.
        summary: Short summary of the API.

    Examples:
        >>> import falcon
        >>> app = falcon.App()
        >>> docs = OpenAPI(app, title="orders", version="1.4.0", servers=["/"])
        >>> docs.document()["info"]
        {'title': 'orders', 'version': '1.4.0'}
    """

    def __init__(
        self,
        app: falcon.App[Any, Any],
        *,
        title: str,
        version: str,
        auth: Any = None,
        description: str | None = None,
        servers: Sequence[str | Mapping[str, Any]] | None = None,
        summary: str | None = None,
    ) -> None:
        if not title:
            raise ConfigurationError("OpenAPI: title must not be empty")
        if not version:
            raise ConfigurationError("OpenAPI: version must not be empty")
        self._app = app
        self._auth = auth
        self._info: dict[str, Any] = {"title": title, "version": version}
        if summary:
            self._info["summary"] = summary
        if description:
            self._info["description"] = description
        self._servers = [{"url": s} if isinstance(s, str) else dict(s) for s in (servers or ())]
        self._own_routes: list[str] = []
        self._document: dict[str, Any] | None = None
        self._body: bytes = b""
        self._dropped: list[str] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAPI(title={self._info['title']!r}, version={self._info['version']!r})"

    def document(self) -> dict[str, Any]:
        """Return the OpenAPI document (built once, then cached).

        Returns:
            The document as a JSON-ready dict. Do not modify it.

        Examples:
            >>> import falcon
            >>> OpenAPI(falcon.App(), title="t", version="1").document()["paths"]
            {}
        """
        with self._lock:
            if self._document is None:
                document, self._dropped = build_document(
                    self._app,
                    info=self._info,
                    servers=self._servers,
                    auth=self._auth,
                    exclude=self._own_routes,
                )
                self._body = json.dumps(document, separators=(",", ":")).encode()
                self._document = document
            return self._document

    @property
    def dropped_rules(self) -> list[str]:
        """List the Cerberus rules the document could not express.

        Each entry reads ``"METHOD /path body.field: rule"``.

        Examples:
            >>> import falcon
            >>> OpenAPI(falcon.App(), title="t", version="1").dropped_rules
            []
        """
        self.document()
        return list(self._dropped)

    def register(self, *, spec_route: str = "/openapi.json", docs_route: str = "/docs") -> None:
        """Add ``GET spec_route`` (the JSON document) and ``GET docs_route`` (Swagger UI).

        Swagger UI's files are served under ``docs_route + "/{name}"``. On a
        ``falcon.asgi.App`` the same routes get coroutine responders, so WSGI
        and ASGI apps register the same way. These routes are public:
        ``JWTAuthMiddleware`` lets requests to them through without a token,
        with no ``exempt_routes`` entry needed.

        Keyword Args:
            spec_route: Route of the JSON document.
            docs_route: Route of the Swagger UI page.

        Raises:
            RuntimeError: The Swagger UI files (``swagger-ui-py``) are missing.

        Examples:
            >>> import falcon, falcon.testing
            >>> app = falcon.App()
            >>> OpenAPI(app, title="t", version="1").register(docs_route="/api-docs")
            >>> falcon.testing.TestClient(app).simulate_get("/api-docs").status_code
            200
        """
        ui = SwaggerUIResource(
            title=self._info["title"], spec_route=spec_route, docs_route=docs_route
        )
        asset_route = docs_route.rstrip("/") + "/{name}"
        # Falcon's ASGI app takes only coroutine responders: mount their async twins.
        asgi = isinstance(self._app, falcon.asgi.App)
        twins: dict[str, str] = {"suffix": "async"} if asgi else {}
        self._app.add_route(spec_route, _SpecResource(self), **twins)
        self._app.add_route(docs_route, ui, **twins)
        self._app.add_route(asset_route, ui, suffix="asset_async" if asgi else "asset")
        self._own_routes.extend([spec_route, docs_route, asset_route])

    def _serialized(self) -> bytes:
        self.document()
        return self._body


class _SpecResource:
    # Read by common_utils.auth: the document is public, whatever the app's settings.
    auth: ClassVar[dict[str, bool]] = {"exempt": True}

    def __init__(self, openapi: OpenAPI) -> None:
        self._openapi = openapi

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._openapi._serialized()
        resp.cache_control = ["no-cache"]

    async def on_get_async(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        # NOTE: the first build walks the routes in memory; no I/O to hand off.
        self.on_get(req, resp)
