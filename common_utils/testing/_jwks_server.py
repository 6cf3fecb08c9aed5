"""A JWKS endpoint on loopback, for tests of services that fetch their keys."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["JWKSServer"]


class JWKSServer:
    """Serve a JWK Set over HTTP on 127.0.0.1, as UAA serves ``/token_keys``.

    A context manager: the server runs on a free port from ``__enter__`` to
    ``__exit__``. Change `jwks` to rotate keys, set `status` to
    make the endpoint fail, and read `requests` to see how often the
    middleware fetched.

    Args:
        jwks: The key set to serve (``TokenIssuer(...).jwks``).

    Keyword Args:
        path: The path of the endpoint; any other path is 404.

    Examples:
        >>> import json, urllib.request
        >>> from common_utils.testing import JWKSServer, TokenIssuer
        >>> issuer = TokenIssuer()
        >>> with JWKSServer(issuer.jwks) as server:
        ...     with urllib.request.urlopen(server.uri) as response:
        ...         kids = [key["kid"] for key in json.load(response)["keys"]]
        >>> kids, server.requests
        (['test-key-1'], 1)
    """

    def __init__(self, jwks: Mapping[str, Any], *, path: str = "/token_keys") -> None:
        if not path.startswith("/"):
            raise ValueError("path must start with '/'")
        self.jwks = jwks
        self.path = path
        self.status = 200
        self.requests = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.uri if self._server is not None else "stopped"
        return f"JWKSServer({where})"

    @property
    def uri(self) -> str:
        """The endpoint's URL (``http://127.0.0.1:<port><path>``) while it runs."""
        if self._server is None:
            raise RuntimeError("the JWKS server is not running; use it in a with block")
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    def _respond(self) -> tuple[int, bytes]:
        with self._lock:
            self.requests += 1
            status, jwks = self.status, self.jwks
        return status, json.dumps(jwks).encode() if status == 200 else b"{}"

    def __enter__(self) -> JWKSServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != owner.path:
                    self.send_error(404)
                    return
                status, body = owner._respond()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output clean."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="jwks-server", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return  # already stopped
        self._server = self._thread = None
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
