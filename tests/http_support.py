"""A loopback HTTP server for the unit tests that need something to answer a request.

A module of its own (not a test module) so that any test module imports it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["QuietHandler", "serving"]


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing; `send_body` answers with a body."""

    def send_body(self, body: bytes, content_type: str) -> None:
        """Answer 200 with ``body`` and its ``Content-Type`` and ``Content-Length``."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Keep test output clean."""


class _ServerQuietOnErrors(ThreadingHTTPServer):
    """A server that prints no traceback when a handler raises."""

    def handle_error(self, request: object, client_address: object) -> None:
        """Tests that hang up mid-answer on purpose (a size cap, a deadline) expect the error."""


@contextlib.contextmanager
def serving(
    handler: type[BaseHTTPRequestHandler], *, quiet_errors: bool = False
) -> Iterator[ThreadingHTTPServer]:
    """Serve ``handler`` on a free 127.0.0.1 port in a thread until the block ends.

    ``quiet_errors`` drops the traceback the server prints when a handler raises,
    for tests whose client stops reading before the answer ends.
    """
    server_class = _ServerQuietOnErrors if quiet_errors else ThreadingHTTPServer
    server = server_class(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
