"""docs/operations.md, "When it breaks": each failure an operator meets, as it happens.

Real processes only: devpi-server (killed by its PID where a crash is the
case), a loopback relay that stands between a client and the server to decide
*when* (a state: so many bytes of the upload forwarded, the first byte of the
answer), a tmpfs that really fills up (skipped where ``mount`` is not allowed),
``common-utils-ops`` and Debian's openssl with the runbook's own certificate
block. The replica cut off and reconnected is
``test_status_ok_on_a_healthy_pair_warning_when_the_replica_lags``
(tests/e2e/test_operations.py).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from common_utils_platform.devpitools import DevpiServer
from common_utils_platform.devsupport import twine_upload

from .mount_support import mount_tmpfs, unmount
from .test_operations import (
    CA,
    INDEX,
    OWNER,
    OWNER_PW,
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

BIG = "breaks-big"


def big_wheel(dest: Path, version: str, size: int = 4 << 20) -> Path:
    """A valid wheel of ``BIG`` with ``size`` random bytes in it (an upload that takes a while)."""
    dist = BIG.replace("-", "_")
    files = {
        f"{dist}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        f"{dist}/payload.bin": os.urandom(size),
        f"{dist}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {BIG}\nVersion: {version}\n".encode()
        ),
        f"{dist}-{version}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(data)}")
    record.append(f"{dist}-{version}.dist-info/RECORD,,")
    files[f"{dist}-{version}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_STORED) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


def hang_up(sock: socket.socket) -> None:
    """Close ``sock`` for its peer now (a plain close waits for this relay's other reader)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class KillingRelay(Relay):
    """A relay to the server that kills it (SIGKILL, by PID) at a state of one upload.

    ``at="body"``: once ``threshold`` bytes of the request have been forwarded
    (the server has part of the upload, not all of it). ``at="answer"``: when
    the first byte of the server's answer arrives (the upload was processed),
    before that byte is passed on. The client's connection is then closed.
    """

    def __init__(self, server: DevpiServer, *, at: str, threshold: int = 0) -> None:
        super().__init__(server.port)
        self.server = server
        self.at = at
        self.threshold = threshold
        self.forwarded = 0
        self.killed = threading.Event()

    def kill(self) -> None:
        if not self.killed.is_set():
            assert self.server.kill(), "the server was not running"
            self.killed.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client), daemon=True).start()

    def _up(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if self.at == "body" and self.forwarded + len(data) >= self.threshold:
                    dst.sendall(data[: max(self.threshold - self.forwarded, 0)])
                    self.kill()
                    hang_up(src)
                    return
                dst.sendall(data)
                self.forwarded += len(data)

    def _down(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if self.at == "answer":
                    self.kill()
                    hang_up(dst)
                    return
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)


@pytest.fixture
def server() -> Iterator[DevpiServer]:
    primary = DevpiServer.temporary(bases=("root/deps",), role="primary")
    try:
        primary.start()
        primary.bootstrap()
        probe_index(primary)
        yield primary
    finally:
        primary.stop()
        primary.cleanup()


def release_files(server: DevpiServer, project: str) -> dict[str, str]:
    """``{basename: sha256}`` of the project's files on the index, from the JSON API."""
    code, body = server.api(anonymous=True).get(f"/{INDEX}/{project}")
    if code == 404:
        return {}
    assert code == 200, code
    files = {}
    for version in body["result"].values():
        for link in version.get("+links", []):
            if link.get("rel") == "releasefile":
                files[link["href"].rsplit("/", 1)[-1]] = link["hashes"]["sha256"]
    return files


@pytest.mark.parametrize("at", ["body", "answer"])
def test_the_primary_killed_mid_upload_has_the_release_whole_or_not_at_all(
    server: DevpiServer, tmp_path: Path, at: str
) -> None:
    wheel = big_wheel(tmp_path / "wheel", "1.0.0")
    relay = KillingRelay(server, at=at, threshold=wheel.stat().st_size // 2)
    relay.resume()
    try:
        sent = twine_upload(f"{relay.url}/{INDEX}/", [wheel], user=OWNER, password=OWNER_PW)
    finally:
        relay.pause()
    assert relay.killed.is_set(), f"the upload never reached the state {at}"
    assert sent.returncode != 0  # the client never saw a success
    server.start()  # systemd's Restart=on-failure, on the same directory
    listed = release_files(server, BIG)
    stored = (server.serverdir / "+files").rglob(f"{BIG.replace('-', '_')}-*")
    on_disk = {path.name: sha256_file(path) for path in stored}
    if at == "body":  # part of the body: devpi never saw a whole request
        assert listed == {}, listed
    else:  # processed and committed, the answer lost: the release is there, whole
        assert listed == {wheel.name: sha256_file(wheel)}, listed
    # never half: what is listed is on disk with its sha256, and nothing else is
    assert on_disk == listed, (on_disk, listed)
    # the pipeline's retry: lands, or finds the identical file (devpi accepts it again)
    again = twine_upload(f"{server.url}/{INDEX}/", [wheel], user=OWNER, password=OWNER_PW)
    assert again.returncode == 0, again.stdout + again.stderr
    assert release_files(server, BIG) == {wheel.name: sha256_file(wheel)}


def fill(directory: Path) -> Path:
    """Write a file into ``directory`` until the filesystem is full; return it."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 1):  # megabytes, then the rest
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def test_disk_full_on_the_primary_refuses_uploads_keeps_reads_and_recovers(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount (a small tmpfs stands for the full disk)")
    disk = tmp_path / "disk"
    if not mount_tmpfs(disk, "96m"):
        pytest.skip("mount -t tmpfs is not allowed here")
    server = DevpiServer(serverdir=disk / "server", root_password="full-Root-1", role="primary")
    server.password = "full-Team-2"
    server.release_password = "full-Release-3"
    try:
        server.start()
        server.bootstrap()
        probe_index(server)
        upload(server, make_wheel(tmp_path / "w", "1.0.0"))
        filler = fill(disk)
        # the monitoring says it first: the free-space level of the status check
        check = ops("status", "--url", server.url, "--serverdir", str(server.serverdir))
        assert check.returncode == 2, check.stdout
        assert re.search(r"CRITICAL: .*0% \(.*\) free on ", check.stdout), check.stdout
        # an upload fails: devpi answers 500, which the site's @write_to_app turns into
        # 503 with Retry-After; nothing of it is left behind
        wheel = big_wheel(tmp_path / "big", "1.0.0", size=1 << 20)
        direct = twine_upload(f"{server.url}/{INDEX}/", [wheel], user=OWNER, password=OWNER_PW)
        assert direct.returncode != 0
        assert "500 Internal Server Error" in direct.stdout + direct.stderr, direct.stdout
        ca = CA(tmp_path / "tls")
        front = Nginx(tmp_path / "nginx", devpi=server, ca=ca).start()
        try:
            code, headers, body = request_via(f"{front.url}/{INDEX}/", "POST", ca, b"{}")
            assert code == 503, (code, body[:300])
            assert headers.get("Retry-After") == "120", headers
            assert b"cannot store them" in body, body
        finally:
            front.stop()
        assert release_files(server, BIG) == {}
        # reads go on: the release uploaded before installs
        code, body = server.api(anonymous=True).get(f"/{INDEX}/ops-probe")
        assert code == 200, code
        assert server.status() == "running"
        # room again: the next upload lands, no restart needed
        filler.unlink()
        again = big_wheel(tmp_path / "big2", "1.0.1", size=1 << 20)
        landed = twine_upload(f"{server.url}/{INDEX}/", [again], user=OWNER, password=OWNER_PW)
        assert landed.returncode == 0, landed.stdout + landed.stderr
        assert release_files(server, BIG) == {again.name: sha256_file(again)}
        ok = ops("status", "--url", server.url, "--serverdir", str(server.serverdir))
        assert ok.returncode == 0, ok.stdout
    finally:
        server.stop()
        unmount(disk)


def test_a_corrupted_backup_fails_verification_and_the_drill_naming_the_file(
    server: DevpiServer, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path / "w", "1.0.0")
    upload(server, wheel)
    dest = tmp_path / "backups"
    done = ops("backup", "--serverdir", str(server.serverdir), "--dest", str(dest))
    assert done.returncode == 0, done.stdout + done.stderr
    export = next(dest.iterdir())
    assert ops("verify-backup", "--export", str(export)).returncode == 0
    # one flipped byte in a release file of the export (bit rot, a bad copy)
    copy = next(export.rglob(wheel.name))
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    verify = ops("verify-backup", "--export", str(export))
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert wheel.name in verify.stdout + verify.stderr
    drill = ops("restore-drill", "--export", str(export), "--source", server.url)
    assert drill.returncode == 1, drill.stdout + drill.stderr
    assert wheel.name in drill.stdout + drill.stderr
    assert "Traceback" not in drill.stderr + verify.stderr


def test_an_expired_certificate_is_critical_and_the_runbook_block_renews_it(
    server: DevpiServer, tmp_path: Path
) -> None:
    from .test_runbook import DOC, Host, runbook_blocks

    if os.geteuid() != 0 or shutil.which("nginx", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("needs root and nginx (the runbook's certificate blocks)")
    blocks = dict(runbook_blocks(DOC.read_text()))
    host = Host()
    try:
        host.install_packages()
        devpi_etc = host.root / "etc" / "devpi"
        devpi_etc.mkdir(parents=True)
        (devpi_etc / "host.env").write_text(
            host.sub(
                "DEVPI_HOST=devpi.example.internal\nDEVPI_URL=https://devpi.example.internal\n"
            )
        )
        env = {"ROOT": str(host.root), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        made = host.run("team-ca", blocks["team-ca"], env)
        assert made.returncode == 0, made.stdout + made.stderr
        # the documented block, with one change: the certificate ended yesterday
        assert "-days 397" in blocks["certificate"]
        yesterday = blocks["certificate"].replace("-days 397", "-days -1")
        expired = host.run("certificate", yesterday, env)
        # the block itself refuses it (openssl verify: certificate has expired)
        assert expired.returncode != 0
        assert "expired" in expired.stdout + expired.stderr, expired.stdout + expired.stderr

        class Files:  # the runbook's files where the test's Nginx expects a CA's
            bundle = host.root / "root/team-ca/team-ca.crt"
            cert = host.root / "etc/nginx/tls/devpi.crt"
            key = host.root / "etc/nginx/tls/devpi.key"

        front = Nginx(tmp_path / "nginx", devpi=server, ca=Files, host="localhost").start()  # type: ignore[arg-type]
        try:
            status = ["status", "--url", front.url, "--cafile", str(Files.bundle), "--timeout", "5"]
            down = ops(*status)
            assert down.returncode == 2, down.stdout
            assert "certificate has expired" in down.stdout, down.stdout
            # a client sees the same: pip and the replicas refuse the index
            with pytest.raises(Exception, match="certificate has expired"):
                request_via(f"{front.url}/+api", "GET", Files)  # type: ignore[arg-type]
            # renewal: the same block as written, then nginx reloads the files
            renewed = host.run("certificate", blocks["certificate"], env)
            assert renewed.returncode == 0, renewed.stdout + renewed.stderr
            assert front.proc is not None
            os.kill(front.proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + 30
            ok = ops(*status, "--warn-free", "0", "--crit-free", "0")
            while ok.returncode != 0 and time.monotonic() < deadline:
                time.sleep(0.2)  # until the reloaded workers serve the new certificate
                ok = ops(*status, "--warn-free", "0", "--crit-free", "0")
            assert ok.returncode == 0, ok.stdout
            assert re.search(r"expires in 39[67] days", ok.stdout), ok.stdout
        finally:
            front.stop()
    finally:
        host.stop_all()
        host.cleanup()


def test_status_json_names_each_failed_check() -> None:
    """What the alert carries: the worst level first, one line, every check in --json."""
    down = ops("status", "--url", "http://127.0.0.1:1", "--timeout", "1", "--json")
    assert down.returncode == 2
    result = json.loads(down.stdout)
    assert result["status"] == "critical"
    assert any(c["name"] == "primary" and c["status"] == "critical" for c in result["checks"])
