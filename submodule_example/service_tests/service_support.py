"""Helpers of the service tests: server processes, keys and tokens, HTTP.

The service runs as Cloud Foundry runs it: ``uwsgi --ini uwsgi.ini --http
...`` from the service root, configured only through environment variables
(``VCAP_SERVICES`` with a user-provided service tagged ``jwt`` whose ``jwks_uri``
points at a loopback JWKS server started here). gunicorn is the second server,
uvicorn (the ASGI app, ``example_app:asgi_app``) the third.

Environment knobs (used by the end-to-end tests, which run these tests inside a
freshly built virtualenv):

- ``SERVICE_SERVERS``: comma-separated servers to test (default ``uwsgi,gunicorn,uvicorn``).
- ``SERVICE_ROOT``: directory holding ``example_app/`` (default: this file's parent's parent).
- ``EXPECT_LIBRARY_SOURCE`` / ``EXPECT_LIBRARY_VERSION``: what ``/version`` must report.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from common_utils.testing import TokenIssuer
from common_utils.testing import vcap_services as testing_vcap_services

SERVICE_ROOT = Path(os.environ.get("SERVICE_ROOT") or Path(__file__).resolve().parent.parent)
_SERVERS = os.environ.get("SERVICE_SERVERS", "uwsgi,gunicorn,uvicorn")
SERVERS = [s.strip() for s in _SERVERS.split(",") if s]
ISSUER = "https://uaa.example-app.test/oauth/token"
AUDIENCE = "example-app"
START_TIMEOUT_S = 60.0


# --------------------------------------------------------------------------- tokens


def vcap_services(issuer: TokenIssuer, jwks_uri: str) -> str:
    """The service's binding: a user-provided ``jwt`` service fetching ``issuer``'s keys."""
    return testing_vcap_services(issuer.service("example-jwt", jwks_uri=jwks_uri))


# --------------------------------------------------------------------------- server processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_executable(name: str) -> str:
    """Find a server next to this Python first (a venv's bin/), then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (pip install -r requirements-server.txt)")
    return found


def server_command(server: str, port: int) -> list[str]:
    bind = f"127.0.0.1:{port}"
    if server == "uwsgi":
        # The same settings as manifest.yml; only the socket differs (loopback here).
        return [server_executable("uwsgi"), "--ini", "uwsgi.ini", "--http", bind]
    if server == "gunicorn":
        # --preload builds the app once in the arbiter: a configuration error is
        # reported once and stops gunicorn, instead of every worker failing in turn.
        # gunicorn.conf.py (read from the service root) makes gunicorn's own lines JSON.
        return [
            server_executable("gunicorn"),
            "--config=gunicorn.conf.py",
            "--preload",
            "--workers=2",
            "--worker-class=gthread",
            "--threads=4",
            f"--bind={bind}",
            "example_app:app",
        ]
    if server == "uvicorn":
        # uvicorn-logging.json is common_utils.logs.server_logging_config() as a file:
        # uvicorn's own lines as JSON on stdout; the app's access log is the request line.
        host, _, port_text = bind.partition(":")
        return [
            server_executable("uvicorn"),
            "--log-config=uvicorn-logging.json",
            "--no-access-log",
            f"--host={host}",
            f"--port={port_text}",
            "example_app:asgi_app",
        ]
    raise ValueError(f"unknown server {server!r}")


def server_environ(server: str, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for ``server``; uvicorn on the submodule approach gets the submodule on PYTHONPATH.

    uvicorn applies ``--log-config`` (whose handler is ``common_utils.logs.setup_logging``)
    before it imports the app, so before ``example_app`` can put ``submodules/common_utils``
    on ``sys.path``: with the library only in the submodule, it must be on the path already.
    """
    submodule = SERVICE_ROOT / "submodules" / "common_utils"
    if server != "uvicorn" or not submodule.is_dir():
        return dict(env)
    path = [str(submodule), *filter(None, [env.get("PYTHONPATH")])]
    return {**env, "PYTHONPATH": os.pathsep.join(path)}


def base_environ(**extra: str) -> dict[str, str]:
    """A clean environment: no VCAP_* or LOG_* from the developer's shell."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class RunningService:
    server: str
    port: int
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    _connections: list[http.client.HTTPConnection] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connection(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self._connections.append(conn)
        return conn

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        conn: http.client.HTTPConnection | None = None,
    ) -> Response:
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            resp = conn.getresponse()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            if own:
                conn.close()

    def stdout_lines(self) -> list[str]:
        return self.stdout_path.read_text(encoding="utf-8").splitlines()

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        for conn in self._connections:
            conn.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return int(self.process.returncode)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


def spawn(server: str, env: Mapping[str, str], workdir: Path) -> RunningService:
    """Start ``server`` on a free loopback port with ``env``; do not wait for it."""
    port = free_port()
    stdout_path = workdir / f"{server}-{port}.stdout"
    stderr_path = workdir / f"{server}-{port}.stderr"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            server_command(server, port),
            cwd=SERVICE_ROOT,
            env={**server_environ(server, env), "PORT": env.get("PORT", str(port))},
            stdout=out,
            stderr=err,
        )
    return RunningService(server, port, process, stdout_path, stderr_path)


def wait_until_ready(service: RunningService) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            pytest.fail(
                f"{service.server} exited with {service.process.returncode}:\n"
                + service.stderr_text()[-3000:]
            )
        try:
            if service.request("GET", "/health").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    service.stop()
    pytest.fail(f"{service.server} not ready after {START_TIMEOUT_S} s:\n{service.stderr_text()}")


def run_to_exit(server: str, env: Mapping[str, str], workdir: Path) -> RunningService:
    """Start ``server`` expecting it to refuse to start; wait for its exit."""
    service = spawn(server, env, workdir)
    try:
        service.process.wait(timeout=START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        service.stop()
        pytest.fail(f"{server} kept running with a bad configuration:\n{service.stderr_text()}")
    return service
