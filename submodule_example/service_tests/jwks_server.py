"""A loopback JWKS server: publishes a key set at ``/token_keys`` like UAA does.

Shared by the service tests, the load benchmark and the demo; it needs only the
standard library.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def serve_jwks(jwks: Mapping[str, Any]) -> Iterator[str]:
    """Serve ``jwks`` on 127.0.0.1 (a free port) and yield its ``jwks_uri``."""
    body = json.dumps(jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/token_keys":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token_keys"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
