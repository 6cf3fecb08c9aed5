"""Installs survive the primary's loss (docs/operations.md, "When the primary is down").

Two "hosts" on loopback, each the committed nginx site (with the documented
substitutions) in front of its devpi-server: the primary's nginx reads
``+simple/`` and ``+f/`` from its devpi-server and falls back to the replica's
nginx when it cannot reach it; writes go to the primary only. A gate between
the primary's nginx and its devpi-server lets requests through until the first
release file of a consumer's hashed install has been served, then kills the
primary by its PID (SIGKILL) before the next request reaches it and refuses
every later connection. The install completes from the replica; an upload gets
nginx's 503 with Retry-After. Every wait is on a state, bounded.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from common_utils_platform.devpitools import DevpiServer, free_port
from common_utils_platform.devsupport import twine_upload

from .conftest import pip_env
from .test_operations import (
    CA,
    INDEX,
    OWNER,
    OWNER_PW,
    TLS_VARIABLES,
    Nginx,
    Relay,
    make_wheel,
    ops,
    probe_index,
    request_via,
    sha256_file,
    upload,
)

pytestmark = pytest.mark.e2e

PACKAGES = ("failover-a", "failover-b")
# an access log line of a release file answered 200 (pip sends "+" as %2B)
WRITES_UNAVAILABLE = (
    b"writes are unavailable: the primary index is not reachable or cannot store them; retry later"
)
FILE_SERVED = re.compile(r'"GET /\S+/(\+|%2B)f/\S+ HTTP/[\d.]+" 200 ')


def gone(pid: int) -> bool:
    """The process ``pid`` has ended (no such process, or a zombie not yet reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


class Gate(Relay):
    """A relay that, once ``ready()`` holds at a new connection, kills ``pid`` first.

    The connection that finds ``ready()`` true is closed unanswered after the
    kill (the request never reached the primary) and the gate stops listening:
    every later connection is refused, as by a dead devpi-server.
    """

    def __init__(self, target_port: int, *, pid: int, ready: Callable[[], bool]) -> None:
        super().__init__(target_port)
        self.pid = pid
        self.ready = ready
        self.killed = threading.Event()
        self.served = 0

    def forward(self, client: socket.socket) -> None:
        if not self.ready():
            super().forward(client)
            return
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not gone(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.killed.set()
        client.close()
        self.pause()

    def connect(self, client: socket.socket, upstream: socket.socket) -> None:
        self.served += 1
        super().connect(client, upstream)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[DevpiServer, DevpiServer, list[Path]]]:
    """A primary with one release of each package and a replica holding their files."""
    wheels = [make_wheel(tmp_path / "wheels", "1.0.0", name=name) for name in PACKAGES]
    primary = DevpiServer.temporary(bases=("root/deps",), role="primary")
    replica = DevpiServer.temporary(
        role="replica", primary_url=primary.url, secretfile=primary.secretfile
    )
    try:
        primary.start()
        primary.bootstrap()
        probe_index(primary)
        for wheel in wheels:
            upload(primary, wheel)
        replica.start()
        replica.wait_for_serial(primary.serial(), timeout=300)
        # the state: every file of the primary is on the replica (devpi's own "in sync")
        deadline = time.monotonic() + 300
        while not all_files_replicated(replica, wheels):
            assert time.monotonic() < deadline, "the replica never had both release files"
            time.sleep(0.2)
        yield primary, replica, wheels
    finally:
        replica.stop()
        replica.cleanup()
        primary.stop()
        primary.cleanup()


def all_files_replicated(replica: DevpiServer, wheels: list[Path]) -> bool:
    """Each wheel is in the replica's ``+files/`` and devpi reports its files in sync."""
    from .test_operations import status_doc

    doc = status_doc(replica)
    names = {path.name for path in (replica.serverdir / "+files").rglob("*.whl")}
    return doc.get("replica-in-sync-at") is not None and {w.name for w in wheels} <= names


def hashed_requirements(path: Path, wheels: list[Path]) -> Path:
    lines = [
        f"{name}==1.0.0 --hash=sha256:{sha256_file(wheel)}"
        for name, wheel in zip(PACKAGES, wheels, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_hashed_install_through_nginx_completes_when_the_primary_dies_in_the_middle(
    pair: tuple[DevpiServer, DevpiServer, list[Path]],
    tmp_path: Path,
) -> None:
    primary, replica, wheels = pair
    ca = CA(tmp_path / "tls")
    primary_port, replica_port = free_port(), free_port()
    primary_pid = primary.pid
    assert primary_pid is not None
    access_log = tmp_path / "front-primary" / "devpi.access.log"

    def first_file_served() -> bool:
        """The state "in the middle": nginx has answered the first +f/ request."""
        lines = access_log.read_text().splitlines() if access_log.exists() else []
        return any(FILE_SERVED.search(line) for line in lines)

    gate = Gate(primary.port, pid=primary_pid, ready=first_file_served)
    gate.resume()
    front = Nginx(
        tmp_path / "front-primary",
        devpi=primary,
        ca=ca,
        host="localhost",
        port=primary_port,
        peer_url=f"https://localhost:{replica_port}",
        app_url=gate.url,
    )
    back = Nginx(
        tmp_path / "front-replica",
        devpi=replica,
        ca=ca,
        host="localhost",
        port=replica_port,
        peer_url=f"https://localhost:{primary_port}",
    )
    assert front.access_log == access_log
    back.start()
    front.start()
    try:
        clean = {k: v for k, v in pip_env().items() if k not in TLS_VARIABLES}
        env = {**clean, "PIP_CERT": str(ca.bundle)}
        requirements = hashed_requirements(tmp_path / "requirements.txt", wheels)
        install = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--no-cache-dir",
                "--no-deps",
                "--require-hashes",
                "--target",
                str(tmp_path / "target"),
                "--index-url",
                f"{front.url}/{INDEX}/+simple/",
                "-r",
                str(requirements),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        # the primary was killed in the middle: after the first file, before the end
        seen = access_log.read_text() + install.stdout + install.stderr
        assert gate.killed.is_set(), f"the install never reached the state of the kill:\n{seen}"
        assert gone(primary_pid)
        assert gate.served >= 1  # the primary answered the first simple page
        assert install.returncode == 0, install.stdout + install.stderr
        for name in PACKAGES:
            assert (tmp_path / "target" / name.replace("-", "_") / "__init__.py").exists()
        # the second simple page came from the replica through the primary's nginx
        log = access_log.read_text()
        assert f"/{INDEX}/+simple/{PACKAGES[1]}/" in log, log
        replica_log = back.access_log.read_text()
        assert f"/{INDEX}/+simple/{PACKAGES[1]}/" in replica_log, replica_log
        code, headers, body = request_via(f"{front.url}/{INDEX}/+simple/{PACKAGES[0]}/", "GET", ca)
        assert code == 200, code
        assert headers.get("X-Devpi-Served-By") == "localhost", headers

        # an upload during the outage: 503 with a retry hint, never a 500
        refused = twine_upload(
            f"{front.url}/{INDEX}/",
            [make_wheel(tmp_path / "later", "1.1.0", name=PACKAGES[0])],
            user=OWNER,
            password=OWNER_PW,
            env={**clean, "REQUESTS_CA_BUNDLE": str(ca.bundle)},
        )
        assert refused.returncode != 0
        assert "503 Service Unavailable" in refused.stdout + refused.stderr, refused.stdout
        code, headers, body = request_via(f"{front.url}/{INDEX}/", "POST", ca, b"{}")
        assert code == 503, (code, body[:300])
        assert headers.get("Retry-After") == "120", headers
        assert body == WRITES_UNAVAILABLE
        # the primary's own status is not read from the replica: the check says CRITICAL
        down = ops("status", "--url", front.url, "--cafile", str(ca.bundle), "--timeout", "5")
        assert down.returncode == 2, down.stdout
        assert down.stdout.startswith(f"CRITICAL: primary {front.url} down"), down.stdout
    finally:
        front.stop()
        back.stop()
        gate.pause()
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.waitpid(primary_pid, os.WNOHANG)
