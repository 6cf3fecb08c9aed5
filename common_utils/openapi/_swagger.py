"""Serve Swagger UI 5 offline from the files the ``swagger-ui-py`` package ships."""

from __future__ import annotations

import hashlib
import html
import importlib.util
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import falcon

if TYPE_CHECKING:
    import falcon.asgi

__all__ = ["ASSETS", "SwaggerUIResource", "swagger_ui_static_dir"]

# The only files served: a fixed allow-list, so no request path reaches the file system.
ASSETS: dict[str, str] = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
    "LICENSE": "text/plain; charset=utf-8",
}
_INIT = "swagger-initializer.js"
_ASSET_CACHE = "public, max-age=86400"
# Swagger UI sets inline styles; scripts come only from this origin; no outside fetch.
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; font-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'self'"
)
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{base}/swagger-ui.css">
<link rel="icon" type="image/png" href="{base}/favicon-32x32.png" sizes="32x32">
<style>body {{ margin: 0; font-family: sans-serif; }}</style>
</head>
<body>
<div id="swagger-ui"></div>
<script src="{base}/swagger-ui-bundle.js" charset="utf-8"></script>
<script src="{base}/swagger-ui-standalone-preset.js" charset="utf-8"></script>
<script src="{base}/{init}" charset="utf-8"></script>
</body>
</html>
"""
_INIT_JS = """window.onload = function () {{
  window.ui = SwaggerUIBundle({{
    url: {spec_url},
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "BaseLayout",
    validatorUrl: null
  }});
}};
"""


def swagger_ui_static_dir() -> Path:
    """Locate the Swagger UI static files without importing ``swagger_ui``.

    Returns:
        The ``static`` directory of the installed ``swagger-ui-py`` package.

    Raises:
        RuntimeError: ``swagger-ui-py`` is not installed or lacks its files.

    Examples:
        >>> (swagger_ui_static_dir() / "swagger-ui-bundle.js").is_file()
        True
    """
    # find_spec on a top-level package locates it without running its __init__.
    spec = importlib.util.find_spec("swagger_ui")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        static = Path(location) / "static"
        if all((static / name).is_file() for name in ASSETS):
            return static
    raise RuntimeError(
        "common_utils.openapi: the Swagger UI files were not found; install swagger-ui-py"
    )


class SwaggerUIResource:
    """Falcon resource for the docs page (``on_get``) and its files (``on_get_asset``).

    Examples:
        >>> app = falcon.App()
        >>> ui = SwaggerUIResource(title="api", spec_route="/openapi.json", docs_route="/docs")
        >>> app.add_route("/docs", ui)
        >>> app.add_route("/docs/{name}", ui, suffix="asset")

    The page and its files are public: ``JWTAuthMiddleware`` lets every
    request to this resource through (its ``auth`` override).
    """

    # Read by common_utils.auth: documentation is public, whatever the app's settings.
    auth: ClassVar[dict[str, bool]] = {"exempt": True}

    def __init__(self, *, title: str, spec_route: str, docs_route: str) -> None:
        self._title = title
        self._spec_route = spec_route
        self._docs_route = docs_route.rstrip("/")
        self._static = swagger_ui_static_dir()
        self._files: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Serve the Swagger UI page."""
        resp.content_type = "text/html; charset=utf-8"
        resp.text = _PAGE.format(
            title=html.escape(self._title),
            base=html.escape(req.root_path + self._docs_route),
            init=_INIT,
        )
        resp.cache_control = ["no-cache"]
        resp.set_header("Content-Security-Policy", _CSP)
        resp.set_header("X-Content-Type-Options", "nosniff")

    def on_get_asset(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        """Serve one Swagger UI file from the allow-list, with an ETag."""
        if name == _INIT:
            body = _INIT_JS.format(spec_url=json.dumps(req.root_path + self._spec_route))
            data, etag, content_type = body.encode(), None, "text/javascript; charset=utf-8"
            resp.cache_control = ["no-cache"]
        elif name in ASSETS:
            data, etag = self._load(name)
            content_type = ASSETS[name]
            resp.cache_control = [_ASSET_CACHE]
        else:
            raise falcon.HTTPNotFound()
        resp.set_header("X-Content-Type-Options", "nosniff")
        if etag is not None:
            resp.etag = etag
            if req.if_none_match and any(str(tag) == etag for tag in req.if_none_match):
                resp.status = falcon.HTTP_304
                return
        resp.content_type = content_type
        resp.data = data

    async def on_get_async(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """Serve the Swagger UI page (``falcon.asgi.App``)."""
        self.on_get(req, resp)

    async def on_get_asset_async(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, name: str
    ) -> None:
        """Serve one Swagger UI file (``falcon.asgi.App``); read from disk once, then cached."""
        self.on_get_asset(req, resp, name)

    def _load(self, name: str) -> tuple[bytes, str]:
        with self._lock:
            if name not in self._files:
                data = (self._static / name).read_bytes()
                self._files[name] = (data, hashlib.sha256(data).hexdigest()[:32])
            return self._files[name]
