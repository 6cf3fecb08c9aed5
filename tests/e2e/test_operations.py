"""The index run like a database (docs/operations.md): TLS, backups, upgrades, monitoring.

Real processes only: devpi-server (via devpitools), Debian's nginx in the
foreground with a temporary prefix on loopback high ports (ended by its PID),
pip, and ``common-utils-ops``. The certificates come from a throwaway CA made with
``cryptography``. The releases are tiny wheels built here and uploaded to an
index of this module's own, so nothing reaches an outside index.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from common_utils_platform.devpitools import DevpiAPI, DevpiServer, free_port
from common_utils_platform.devsupport import twine_upload

from .conftest import DEVPI_DIR, REPO_ROOT, pip_env, tool

OPS_CMD = tool("common-utils-ops")
DEPLOY = DEVPI_DIR / "deploy"
PROBE = "ops-probe"
OWNER = "opsprobe"
INDEX = f"{OWNER}/release"
OWNER_PW = "probe-Pw-789"


# -- helpers ---------------------------------------------------------------------
def ops(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``common-utils-ops ARGS`` as an operator would."""
    return subprocess.run(
        [*OPS_CMD, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def make_wheel(dest: Path, version: str, name: str = PROBE) -> Path:
    """Write a minimal pure-Python wheel of ``name`` ``version``; return its path."""
    dist = name.replace("-", "_")
    files = {
        f"{dist}/__init__.py": f'__version__ = "{version}"\n',
        f"{dist}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            "Summary: restore drill probe\n"
        ),
        f"{dist}-{version}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}-{version}.dist-info/RECORD,,")
    files[f"{dist}-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


def upload(server: DevpiServer, wheel: Path, index: str = INDEX) -> None:
    """Upload ``wheel`` to ``index`` with twine as the index owner."""
    done = twine_upload(f"{server.url}/{index}/", [wheel], user=OWNER, password=OWNER_PW)
    assert done.returncode == 0, done.stdout + done.stderr


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pip_install(
    index_url: str, requirement: str, target: Path, *, env: dict[str, str], hashes: bool = False
) -> subprocess.CompletedProcess[str]:
    """``pip install --target`` from ``index_url`` only (a requirements file if hashed)."""
    args = [requirement]
    if hashes:
        req = target.with_suffix(".txt")
        req.write_text(requirement + "\n")
        args = ["--require-hashes", "-r", str(req)]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-cache-dir",
            "--no-deps",
            "--target",
            str(target),
            "--index-url",
            index_url,
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def probe_index(server: DevpiServer) -> None:
    """Create the module's owner and non-volatile index as root (idempotent)."""
    root = server.api(as_root=True)
    if root.get(f"/{OWNER}")[0] == 404:
        assert root.put(f"/{OWNER}", {"password": OWNER_PW})[0] == 201
    if root.get(f"/{INDEX}")[0] == 404:
        config = {"type": "stage", "bases": [], "volatile": False, "acl_upload": [OWNER]}
        assert root.put(f"/{INDEX}", config)[0] == 200


def render(text: str, replacements: dict[str, str]) -> str:
    """Replace each production value of a committed file; every one must be there."""
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in the committed file"
        text = text.replace(old, new)
    return text


def render_site(
    text: str,
    *,
    host: str,
    outside_url: str,
    http_port: int,
    https_port: int,
    replacements: dict[str, str],
) -> str:
    """The committed nginx site on loopback ports: the documented substitutions only.

    The index's name (``devpi.example.internal``) becomes ``host`` and its URL
    ``outside_url``; ``listen 80``/``443`` become loopback ports (IPv6 dropped).
    """
    text = render(text, {"https://devpi.example.internal": outside_url})
    text = render(text, {"devpi.example.internal": host})
    text = re.sub(r"^\s*listen \[::\]:\d+.*\n", "", text, flags=re.M)
    text = re.sub(r"listen 80\b", f"listen 127.0.0.1:{http_port}", text)
    text = re.sub(r"listen 443\b", f"listen 127.0.0.1:{https_port}", text)
    return render(text, replacements)


# -- TLS -----------------------------------------------------------------------------
class CA:
    """A throwaway certificate authority and one server certificate for 127.0.0.1."""

    def __init__(self, directory: Path, *, days: int = 365) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = dt.datetime.now(dt.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "common_utils test CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days + 30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        self.bundle = directory / "team-ca.pem"
        self.bundle.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        self.cert = directory / "devpi.crt"
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key = directory / "devpi.key"
        self.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.key.chmod(0o600)


# -- nginx -----------------------------------------------------------------------------
class Nginx:
    """Debian's nginx in the foreground with the committed devpi site, on loopback."""

    def __init__(
        self,
        prefix: Path,
        *,
        devpi: DevpiServer,
        ca: CA,
        host: str = "127.0.0.1",
        port: int = 0,
        peer_url: str = "",
        app_url: str = "",
    ) -> None:
        """The site for ``host`` on ``port`` (free if 0) in front of ``devpi``.

        ``peer_url`` is the other host's nginx (``https://localhost:PORT``) that
        reads fall back to; without one, a loopback port nothing listens on.
        ``app_url`` replaces devpi's address (``http://127.0.0.1:3141``) when
        something stands between nginx and devpi-server.
        """
        self.prefix = prefix
        self.port = port or free_port()
        self.http_port = free_port()
        self.url = f"https://{host}:{self.port}"
        peer_url = peer_url or f"https://localhost:{free_port()}"
        self.access_log = prefix / "devpi.access.log"
        self.proc: subprocess.Popen[bytes] | None = None
        prefix.mkdir(parents=True, exist_ok=True)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        site = render_site(
            (DEPLOY / "nginx-devpi.conf").read_text(),
            host=host,
            outside_url=self.url,
            http_port=self.http_port,
            https_port=self.port,
            replacements={
                "https://devpi-peer.example.internal": peer_url,
                "devpi-peer.example.internal": "localhost",
                "/etc/ssl/certs/ca-certificates.crt": str(ca.bundle),
                "/etc/nginx/tls/devpi.crt": str(ca.cert),
                "/etc/nginx/tls/devpi.key": str(ca.key),
                "/var/log/nginx/devpi/access.log": str(self.access_log),
                "/var/log/nginx/devpi/error.log": str(prefix / "devpi.error.log"),
                "root /srv/devpi/server;": f"root {devpi.serverdir};",
                "http://127.0.0.1:3141": app_url or devpi.url,
                "shared:devpi_tls:10m": "off",
            },
        )
        (prefix / "devpi.conf").write_text(site)
        tmp = prefix / "tmp"
        # NOTE: as root, workers would drop to "nobody", who cannot enter the
        # test's temp directories; production uses www-data and the group
        # permissions of docs/operations.md.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(
            f"""{user}worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {prefix}/devpi.conf;
}}
"""
        )

    def start(self) -> Nginx:
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        conf = str(self.prefix / "nginx.conf")
        check = subprocess.run(
            [exe, "-t", "-p", str(self.prefix), "-e", str(self.prefix / "error.log"), "-c", conf],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(
            [exe, "-p", str(self.prefix), "-e", str(self.prefix / "error.log"), "-c", conf],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.prefix / "error.log").read_text()
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return self
            time.sleep(0.05)
        raise AssertionError("nginx did not listen")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


# -- a cuttable link between a replica and its primary -------------------------------
class Relay:
    """A loopback TCP forwarder that can cut every connection and refuse new ones."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def resume(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def pause(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                if self._listener is not listener:  # paused: this listener is closed
                    return
                time.sleep(0.05)  # e.g. out of descriptors for a moment: keep listening
                continue
            self.forward(client)

    def forward(self, client: socket.socket) -> None:
        """Connect ``client`` to the target; a client the target refuses is closed."""
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            self._conns += [client, upstream]
        self.connect(client, upstream)

    def connect(self, client: socket.socket, upstream: socket.socket) -> None:
        """Copy both ways between ``client`` and ``upstream``, each in a thread of its own."""
        ended: list[socket.socket] = []
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(src, dst, ended), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, ended: list[socket.socket]) -> None:
        """Copy ``src`` to ``dst``; the second direction to end closes both sockets."""
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            with self._lock:
                ended.append(src)
                if len(ended) == 2:  # both directions done: nothing holds the sockets
                    for sock in (src, dst):
                        if sock in self._conns:
                            self._conns.remove(sock)
                        sock.close()


# -- fixtures --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    return CA(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    dest = tmp_path_factory.mktemp("wheels")
    return [make_wheel(dest, "1.0.0"), make_wheel(dest, "1.1.0")]


@pytest.fixture(scope="module")
def primary(wheels: list[Path]) -> Iterator[DevpiServer]:
    """A primary with two releases of the probe on its non-volatile index."""
    server = DevpiServer.temporary(bases=("root/deps",), role="primary")
    try:
        server.start()
        server.bootstrap()
        probe_index(server)
        for wheel in wheels:
            upload(server, wheel)
        yield server
    finally:
        server.stop()
        server.cleanup()


@pytest.fixture(scope="module")
def nginx(
    primary: DevpiServer, ca: CA, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Nginx]:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed (scripts/ensure_system_packages.py nginx)")
    proxy = Nginx(tmp_path_factory.mktemp("nginx"), devpi=primary, ca=ca)
    try:
        yield proxy.start()
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def replica(primary: DevpiServer) -> Iterator[tuple[DevpiServer, Relay]]:
    """A replica that follows the primary through a relay the test can cut."""
    relay = Relay(primary.port)
    relay.resume()
    server = DevpiServer.temporary(
        role="replica", primary_url=relay.url, secretfile=primary.secretfile
    )
    try:
        server.start()
        server.wait_for_serial(primary.serial(), timeout=300)
        # devpi's own state for "every file fetched": its queues are empty
        wait_state(server, replica_in_sync, "the replica's files in sync", timeout=300)
        yield server, relay
    finally:
        server.stop()
        server.cleanup()
        relay.pause()


# -- the committed deployment files ----------------------------------------------------
def test_unit_restarts_on_failure_as_the_service_user_with_hardening() -> None:
    unit = (DEPLOY / "devpi-server.service").read_text()
    for line in (
        "User=devpi",
        "Group=devpi",
        "Restart=on-failure",
        "ExecStart=/opt/devpi/venv/bin/devpi-server --configfile /etc/devpi/devpi-server.yml",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/srv/devpi/server",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "UMask=0027",
        "WantedBy=multi-user.target",
    ):
        assert re.search(rf"^{re.escape(line)}$", unit, re.M), line
    assert "Restart=on-success" not in unit
    assert "User=root" not in unit


def test_config_file_sets_every_promised_option_and_devpi_server_accepts_it(
    tmp_path: Path,
) -> None:
    config = (DEPLOY / "devpi-server.yml").read_text()
    for option in (
        "role: primary",
        "serverdir: /srv/devpi/server",
        "secretfile: /etc/devpi/secret",
        "host: 127.0.0.1",
        "outside-url: https://",
        "restrict-modify: root",
        "mirror-cache-expiry:",
    ):
        assert re.search(rf"^  {re.escape(option)}", config, re.M), option
    replica_config = (DEPLOY / "devpi-replica.yml").read_text()
    for option in ("role: replica", "primary-url: https://", "secretfile: /etc/devpi/secret"):
        assert re.search(rf"^  {re.escape(option)}", replica_config, re.M), option
    # no index host name in the repository (tests/test_no_registry_hosts.py): the mirror URL
    # stays devpi-server's default
    assert "mirror-url" not in config
    # devpi-server itself parses both files without an unknown-option warning
    for name in ("devpi-server.yml", "devpi-replica.yml"):
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "devpi-server"),
                "--configfile",
                str(DEPLOY / name),
                "--version",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "Unknown" not in done.stdout + done.stderr, done.stderr


def test_backup_timer_and_paths_agree_with_the_server_config() -> None:
    service = (DEPLOY / "devpi-backup.service").read_text()
    timer = (DEPLOY / "devpi-backup.timer").read_text()
    assert "--serverdir /srv/devpi/server" in service
    assert "common-utils-ops restore-drill" in service
    assert "User=devpi" in service
    assert "Type=oneshot" in service
    assert re.search(r"^OnCalendar=", timer, re.M)
    assert "Persistent=true" in timer
    assert "SystemMaxUse=" in (DEPLOY / "journald-devpi.conf").read_text()
    assert "maxsize" in (DEPLOY / "logrotate-nginx-devpi").read_text()


# -- the host files, checked by the tools that read them on the host -------------------
def system_tool(name: str) -> str:
    """The path of a Debian tool, or skip (CI installs them: ensure_system_packages.py)."""
    exe = shutil.which(name) or next(
        (f"{d}/{name}" for d in ("/usr/sbin", "/sbin") if Path(f"{d}/{name}").exists()), None
    )
    if exe is None:
        pytest.skip(f"{name} is not installed (scripts/ensure_system_packages.py)")
    return exe


UNITS = ("devpi-server.service", "devpi-backup.service", "devpi-backup.timer")


def unit_sections(text: str) -> dict[str, list[str]]:
    """``{section: [key=value lines]}`` of a unit file, continuation lines joined."""
    sections: dict[str, list[str]] = {}
    current = ""
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, [])
        else:
            sections[current].append(line)
    return sections


def test_every_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` (no running systemd needed) finds nothing to say.

    The units are installed into a scratch root beside Debian's own units, with
    the programs they start present (as install step 2 leaves them), so verify
    checks every key, every dependency and every ExecStart path.
    """
    exe = system_tool("systemd-analyze")
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    for name in UNITS:
        text = (DEPLOY / name).read_text()
        (units / name).write_text(text)
        for program in re.findall(r"^ExecStart=(\S+)", text, re.M):
            stub = root / program.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\n")
            stub.chmod(0o755)
    done = subprocess.run(
        [exe, "verify", f"--root={root}", "--man=no", *UNITS],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""


def test_a_crash_loop_ends_in_failed_within_the_start_limit() -> None:
    """StartLimit* sit in [Unit] and trip before the restarts could outlast them."""
    sections = unit_sections((DEPLOY / "devpi-server.service").read_text())
    unit = dict(line.split("=", 1) for line in sections["Unit"])
    service = dict(line.split("=", 1) for line in sections["Service"])
    assert not any(key.startswith("StartLimit") for key in service)
    interval, burst = int(unit["StartLimitIntervalSec"]), int(unit["StartLimitBurst"])
    restart_sec = int(service["RestartSec"].removesuffix("s"))
    assert service["Restart"] == "on-failure"
    # burst starts, RestartSec apart, fit into the interval: the unit becomes failed
    assert burst * restart_sec < interval


def nginx_log_paths() -> list[str]:
    site = (DEPLOY / "nginx-devpi.conf").read_text()
    return re.findall(r"^\s*(?:access|error)_log\s+(/\S+);", site, re.M)


def test_logrotate_accepts_the_policy_beside_the_nginx_packages_own(tmp_path: Path) -> None:
    """``logrotate -d`` with Debian's /etc/logrotate.d/nginx and ours, on the site's logs."""
    exe = system_tool("logrotate")
    stock = Path("/etc/logrotate.d/nginx")
    if not stock.is_file():
        pytest.skip("the nginx package's /etc/logrotate.d/nginx is not installed")
    ours = (DEPLOY / "logrotate-nginx-devpi").read_text()
    lines = [ln for ln in ours.splitlines() if not ln.lstrip().startswith("#")]
    named = "\n".join(lines).split("{", 1)[0].split()
    assert sorted(named) == sorted(nginx_log_paths())  # the site's logs, no others
    root = tmp_path / "root"
    confd = tmp_path / "logrotate.d"
    confd.mkdir()
    # the package's own logs and the site's, as nginx leaves them
    for path in [*named, "/var/log/nginx/access.log", "/var/log/nginx/error.log"]:
        log = root / path.lstrip("/")
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("GET / 200\n" * 10)
    for name, text in (("nginx", stock.read_text()), ("nginx-devpi", ours)):
        (confd / name).write_text(text.replace("/var/log/nginx", f"{root}/var/log/nginx"))
    main = tmp_path / "logrotate.conf"
    main.write_text(f"include {confd}\n")
    done = subprocess.run(
        [exe, "-d", "-s", str(tmp_path / "state"), str(main)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "duplicate" not in out
    assert "error:" not in out
    # the documented policy is the one applied to the site's logs
    assert re.search(
        rf"rotating pattern: {re.escape(str(root))}/var/log/nginx/devpi/\S+ .*"
        r"after 1 days \(30 rotations\)",
        out,
    ), out


def documented_layout(root: Path) -> None:
    """Run install step 1's ``useradd`` and ``install -d`` lines under ``root``."""
    doc = (REPO_ROOT / "docs" / "operations.md").read_text()
    lines = [
        ln.split("  #", 1)[0].strip()
        for ln in doc.splitlines()
        if re.match(r"(id -u devpi .*\|\| useradd |install -d -o )", ln) and "server-new" not in ln
    ]
    assert any("/srv/devpi/server/+files" in ln for ln in lines), lines
    script = "\n".join(re.sub(r"(?<= )/(srv|mnt|etc|var)/", f"{root}/\\1/", ln) for ln in lines)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, script + done.stderr


def scratch_root(tmp_path: Path) -> Path:
    """A directory standing for ``/`` that users other than root can traverse."""
    root = tmp_path / "root"
    root.mkdir()
    for parent in (root, *root.parents):
        if parent == Path("/tmp") or parent == Path("/"):
            break
        parent.chmod(0o755)
    return root


def as_user(user: str, *args: str, group: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args),
        user=user,
        group=group or user,
        extra_groups=[],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_nginx_reads_release_files_and_nothing_else_with_the_documented_modes(
    tmp_path: Path,
) -> None:
    """The directory modes of install step 1: www-data reads +files/, lists nothing."""
    if os.geteuid() != 0:
        pytest.skip("needs root (useradd, chown)")
    root = scratch_root(tmp_path)
    documented_layout(root)
    srv = root / "srv" / "devpi"
    # a release file as devpi-server writes it: user devpi, the unit's UMask=0027
    release = (
        srv / "server" / "+files" / "team" / "release" / "+f" / "abc" / "x-1.0-py3-none-any.whl"
    )
    done = subprocess.run(
        ["bash", "-c", f"mkdir -p {release.parent} && echo wheel > {release}"],
        user="devpi",
        group="devpi",
        extra_groups=[],
        umask=0o027,
        check=False,
    )
    assert done.returncode == 0
    (srv / "server" / ".sqlite").write_text("password hashes")
    os.chown(srv / "server" / ".sqlite", pwd_uid("devpi"), pwd_uid("devpi"))
    (srv / "server" / ".sqlite").chmod(0o640)
    assert as_user("www-data", "cat", str(release)).stdout == "wheel\n"
    for private in (srv, srv / "server", srv / "backups"):
        assert as_user("www-data", "ls", str(private)).returncode != 0, private
    assert as_user("www-data", "cat", str(srv / "server" / ".sqlite")).returncode != 0
    assert as_user("nobody", "cat", str(release), group="nogroup").returncode != 0


def pwd_uid(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid


def test_nginx_t_accepts_the_site_beside_debian_stock_configuration(tmp_path: Path, ca: CA) -> None:
    """``nginx -t`` with the package's own nginx.conf, conf.d and the site enabled."""
    exe = system_tool("nginx")
    if not Path("/etc/nginx/nginx.conf").is_file():
        pytest.skip("the nginx package's /etc/nginx is not installed")
    root = scratch_root(tmp_path)
    etc = root / "etc" / "nginx"
    shutil.copytree("/etc/nginx", etc, symlinks=True)
    (root / "var" / "log" / "nginx").mkdir(parents=True)
    (root / "run").mkdir()
    documented_layout(root)

    def rooted(text: str) -> str:
        for path in ("/etc/nginx/", "/var/log/nginx/", "/srv/devpi/", "/run/nginx.pid"):
            text = text.replace(path, f"{root}{path}")
        # the peer's name resolves on a real pair of hosts (nginx resolves it at start)
        return text.replace("devpi-peer.example.internal", "localhost")

    conf = etc / "nginx.conf"
    conf.write_text(rooted(conf.read_text()))
    (etc / "tls").mkdir()
    shutil.copy(ca.cert, etc / "tls" / "devpi.crt")
    shutil.copy(ca.key, etc / "tls" / "devpi.key")
    (etc / "sites-available" / "devpi").write_text(
        rooted((DEPLOY / "nginx-devpi.conf").read_text())
    )
    (etc / "sites-enabled" / "default").unlink(missing_ok=True)  # install step 5
    (etc / "sites-enabled" / "devpi").symlink_to(etc / "sites-available" / "devpi")
    done = subprocess.run(
        [exe, "-t", "-c", str(conf)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "[warn]" not in done.stderr, done.stderr
    assert "[emerg]" not in done.stderr


# -- the site's hardening, against the running nginx -------------------------------------
def raw_http(port: int, request: bytes, *, tls: ssl.SSLContext | None = None) -> bytes:
    """Send one raw request to 127.0.0.1:port; return everything the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        conn = tls.wrap_socket(sock, server_hostname="127.0.0.1") if tls else sock
        conn.sendall(request)
        chunks = []
        while data := conn.recv(65536):
            chunks.append(data)
        return b"".join(chunks)


def test_nginx_answers_only_for_its_own_name_and_pins_the_outside_url(nginx: Nginx, ca: CA) -> None:
    context = ssl.create_default_context(cafile=str(ca.bundle))
    own = raw_http(
        nginx.port,
        f"GET /{INDEX}/{PROBE}/1.0.0 HTTP/1.1\r\nHost: 127.0.0.1:{nginx.port}\r\n"
        "Accept: application/json\r\nConnection: close\r\n\r\n".encode(),
        tls=context,
    )
    assert own.startswith(b"HTTP/1.1 200"), own[:200]
    # another Host header: the default server closes the connection, no answer (444)
    for port, tls in ((nginx.port, context), (nginx.http_port, None)):
        other = raw_http(
            port,
            b"GET /+api HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
            tls=tls,
        )
        assert other == b"", other[:200]
    # devpi's links use the pinned outside URL, whatever the client sends
    spoofed = raw_http(
        nginx.port,
        f"GET /{INDEX}/{PROBE}/1.0.0 HTTP/1.1\r\nHost: 127.0.0.1:{nginx.port}\r\n"
        "X-outside-url: https://evil.example\r\nX-Forwarded-Proto: http\r\n"
        "Accept: application/json\r\nConnection: close\r\n\r\n".encode(),
        tls=context,
    )
    body = spoofed.split(b"\r\n\r\n", 1)[1]
    assert b"evil.example" not in body
    assert f"{nginx.url}/{INDEX}/".encode() in body


def test_nginx_tls_modern_ciphers_only_and_no_session_tickets(nginx: Nginx, ca: CA) -> None:
    legacy = ssl.create_default_context(cafile=str(ca.bundle))
    legacy.maximum_version = ssl.TLSVersion.TLSv1_2
    legacy.set_ciphers("ECDHE-ECDSA-AES256-SHA")  # CBC with SHA-1: not in the list
    with pytest.raises(ssl.SSLError):
        raw_http(nginx.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", tls=legacy)
    modern = ssl.create_default_context(cafile=str(ca.bundle))
    modern.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", nginx.port), timeout=10) as sock,
        modern.wrap_socket(sock, server_hostname="127.0.0.1") as conn,
    ):
        conn.sendall(
            f"GET /+api HTTP/1.1\r\nHost: 127.0.0.1:{nginx.port}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        while conn.recv(65536):
            pass
        cipher = conn.cipher()
        session = conn.session
    assert cipher is not None
    assert cipher[0].startswith("ECDHE-"), cipher
    assert "GCM" in cipher[0] or "CHACHA20" in cipher[0], cipher
    assert session is not None
    assert not session.has_ticket


def test_nginx_rate_limits_logins(nginx: Nginx, ca: CA) -> None:
    context = ssl.create_default_context(cafile=str(ca.bundle))
    body = json.dumps({"user": OWNER, "password": "wrong-password"}).encode()
    codes = []
    for _ in range(12):
        answer = raw_http(
            nginx.port,
            f"POST /+login HTTP/1.1\r\nHost: 127.0.0.1:{nginx.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body,
            tls=context,
        )
        codes.append(int(answer.split(b" ", 2)[1]))
    assert 401 in codes
    assert 429 in codes, codes
    assert set(codes) <= {401, 429}


def test_server_lock_pins_the_installed_devpi_server_with_hashes() -> None:
    from importlib.metadata import version

    lock = (REPO_ROOT / "requirements" / "devpi-server.lock").read_text()
    assert f"devpi-server=={version('devpi-server')} \\" in lock
    pins = re.findall(r"^[A-Za-z0-9_.-]+==\S+ \\$", lock, re.M)
    hashed = re.findall(r"^[A-Za-z0-9_.-]+==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}", lock, re.M)
    assert len(pins) > 10
    assert len(hashed) == len(pins)
    # no index or find-links option: the host's pip configuration decides where from
    assert not re.search(r"^--(extra-)?index-url|^--find-links|^-f ", lock, re.M)


# -- TLS and nginx -----------------------------------------------------------------------
def test_pip_installs_over_https_with_the_team_ca_and_fails_cleanly_without(
    nginx: Nginx, ca: CA, tmp_path: Path
) -> None:
    index_url = f"{nginx.url}/{INDEX}/+simple/"
    # a machine's own CA variables would decide instead of ours: start without any
    clean = {k: v for k, v in pip_env().items() if k not in TLS_VARIABLES}
    for variable in ("PIP_CERT", "REQUESTS_CA_BUNDLE"):
        env = {**clean, variable: str(ca.bundle)}
        done = pip_install(index_url, f"{PROBE}==1.1.0", tmp_path / variable, env=env)
        assert done.returncode == 0, variable + ": " + done.stdout + done.stderr
        assert (tmp_path / variable / "ops_probe" / "__init__.py").is_file()

    done = pip_install(index_url, f"{PROBE}==1.1.0", tmp_path / "without", env=clean)
    assert done.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "without" / "ops_probe").exists()

    # REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) wins over PIP_CERT: a bundle without
    # the team CA there makes pip fail although PIP_CERT is right
    other = {**clean, "PIP_CERT": str(ca.bundle), "REQUESTS_CA_BUNDLE": certifi_bundle()}
    done = pip_install(index_url, f"{PROBE}==1.1.0", tmp_path / "both", env=other)
    assert done.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in done.stdout + done.stderr


def test_pip_against_an_index_that_is_down_fails_and_names_it(tmp_path: Path) -> None:
    """What a service sees when its one index URL is down (docs: failover)."""
    dead = f"http://127.0.0.1:{free_port()}/{INDEX}/+simple/"
    env = {**pip_env(), "PIP_RETRIES": "1", "PIP_TIMEOUT": "3"}
    done = pip_install(dead, f"{PROBE}==1.0.0", tmp_path / "t", env=env)
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert "Connection refused" in out
    assert f"No matching distribution found for {PROBE}==1.0.0" in out
    assert "Traceback" not in done.stderr


TLS_VARIABLES = (
    "PIP_CERT",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


def certifi_bundle() -> str:
    """The CA bundle pip ships (public CAs only)."""
    from pip._vendor import certifi

    return str(certifi.where())


def test_release_files_are_served_by_nginx_from_the_data_directory(
    nginx: Nginx, ca: CA, primary: DevpiServer, wheels: list[Path]
) -> None:
    import ssl

    context = ssl.create_default_context(cafile=str(ca.bundle))
    api = DevpiAPI(primary.url)
    digests = api.release_digests(INDEX, PROBE, "1.0.0")
    status, body = api.get(f"/{INDEX}/{PROBE}/1.0.0")
    assert status == 200
    href = next(link["href"] for link in body["result"]["+links"] if link["rel"] == "releasefile")
    path = "/" + href.split("://", 1)[-1].split("/", 1)[1].split("#", 1)[0]
    assert "/+f/" in path
    with urllib.request.urlopen(nginx.url + path, context=context, timeout=10) as resp:
        data = resp.read()
        assert resp.headers["X-Devpi-Served-By"] == "nginx"
    assert hashlib.sha256(data).hexdigest() == next(iter(digests.values()))
    assert hashlib.sha256(data).hexdigest() == sha256_file(wheels[0])
    # the simple page is devpi-server's (proxied), and its links point at nginx
    with urllib.request.urlopen(
        f"{nginx.url}/{INDEX}/+simple/{PROBE}/", context=context, timeout=10
    ) as resp:
        page = resp.read().decode()
        assert resp.headers["X-Devpi-Served-By"] is None
    assert "+f/" in page
    assert path.rsplit("/", 1)[-1] in page
    log = nginx.access_log.read_text()
    assert re.search(rf'"GET {re.escape(path)} HTTP/1\.1" 200', log), log[-500:]
    # plain http is redirected to https
    plain = http_status(f"http://127.0.0.1:{nginx.http_port}/{INDEX}/+simple/")
    assert plain == 301


def http_status(url: str) -> int:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as ex:
        return ex.code


# -- backup and restore drill ----------------------------------------------------------
def test_backup_keeps_n_copies_elsewhere_and_the_drill_restores_identical_files(
    primary: DevpiServer, tmp_path: Path
) -> None:
    dest, offsite = tmp_path / "backups", tmp_path / "offsite"
    outputs = []
    for _ in range(3):
        done = ops(
            "backup",
            "--serverdir",
            str(primary.serverdir),
            "--dest",
            str(dest),
            "--keep",
            "2",
            "--copy-to",
            str(offsite),
            "--source",
            primary.url,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
        time.sleep(1.05)  # one export per second: the name carries the time
    assert "backup: " in outputs[-1]
    assert "removed 1" in outputs[-1]
    kept = sorted(p.name for p in dest.iterdir())
    assert len(kept) == 2
    assert all(name.startswith("devpi-export-") for name in kept)
    assert sorted(p.name for p in offsite.iterdir()) == kept
    newest = dest / kept[-1]
    assert oct(newest.stat().st_mode & 0o777) == "0o700"
    inventory = json.loads((newest / "inventory.json").read_text())
    assert {k.rsplit("/", 1)[-1] for k in inventory if k.startswith(INDEX)} == {
        "ops_probe-1.0.0-py3-none-any.whl",
        "ops_probe-1.1.0-py3-none-any.whl",
    }

    drill = ops("restore-drill", "--exports", str(dest))
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "restore-drill: OK:" in drill.stdout
    assert "identical sha256" in drill.stdout
    live = ops("restore-drill", "--export", str(newest), "--source", primary.url)
    assert live.returncode == 0, live.stdout + live.stderr

    # a file lost from the export: the drill fails, naming it
    lost = next(newest.rglob("ops_probe-1.0.0-py3-none-any.whl"))
    lost.unlink()
    broken = ops("restore-drill", "--exports", str(dest))
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "restore-drill: FAILED" in broken.stderr or "error:" in broken.stderr
    assert "Traceback" not in broken.stderr


def test_backup_of_a_wrong_directory_is_one_line(tmp_path: Path) -> None:
    done = ops("backup", "--serverdir", str(tmp_path), "--dest", str(tmp_path / "b"))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: --serverdir {tmp_path} is not a devpi-server directory (no .nodeinfo)"
    )


# -- upgrade rehearsal ----------------------------------------------------------------------
def test_upgrade_rehearsal_export_import_same_secret_primary_role_replica_follows(
    primary: DevpiServer, wheels: list[Path], tmp_path: Path
) -> None:
    from importlib.metadata import version

    lock = (REPO_ROOT / "requirements" / "devpi-server.lock").read_text()
    assert f"devpi-server=={version('devpi-server')} " in lock  # export with the locked one
    token = primary.api().request(
        "POST", "/+login", {"user": OWNER, "password": OWNER_PW}, anonymous=True
    )[1]["result"]["password"]

    backups = tmp_path / "backups"
    assert (
        ops("backup", "--serverdir", str(primary.serverdir), "--dest", str(backups)).returncode == 0
    )
    export = next(backups.iterdir())
    newdir = tmp_path / "srv-new" / "server"
    started = time.monotonic()
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "devpi-import"),
            "--serverdir",
            str(newdir),
            "--no-root-pypi",
            str(export),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 0, done.stderr
    import_seconds = time.monotonic() - started

    # the new primary runs from the committed config: role primary comes from it
    port = free_port()
    config = tmp_path / "devpi-server.yml"
    config.write_text(
        render(
            (DEPLOY / "devpi-server.yml").read_text(),
            {
                "serverdir: /srv/devpi/server": f"serverdir: {newdir}",
                "secretfile: /etc/devpi/secret": f"secretfile: {primary.secretfile}",
                "port: 3141": f"port: {port}",
                "outside-url: https://devpi.example.internal": f"outside-url: http://127.0.0.1:{port}",
            },
        )
    )
    new = DevpiServer(
        serverdir=newdir,
        port=port,
        role="standalone",  # no --role on the command line: the config file decides
        secretfile=primary.secretfile,
        extra_args=("--configfile", str(config)),
    )
    new.detach = False
    replica = DevpiServer.temporary(
        role="replica", primary_url=new.url, secretfile=primary.secretfile
    )
    try:
        new.start()
        assert json.loads((newdir / ".nodeinfo").read_text())["role"] == "primary"
        # same secret: a login token of the old server is valid on the new one
        assert DevpiAPI(new.url, user=OWNER, password=token).get(f"/{OWNER}")[0] == 200
        # both releases install from the new primary with the old hashes
        for wheel in wheels:
            ver = wheel.name.split("-")[1]
            req = f"{PROBE}=={ver} --hash=sha256:{sha256_file(wheel)}"
            got = pip_install(
                f"{new.url}/{INDEX}/+simple/",
                req,
                tmp_path / f"new-{ver}",
                env=pip_env(),
                hashes=True,
            )
            assert got.returncode == 0, got.stdout + got.stderr
        # a fresh replica follows the new primary (replication needs the primary role)
        started = time.monotonic()
        replica.start()
        # NOTE: a new replica's first sync waits for devpi's initial change-log
        # stream to end (about 30-70 s here, docs/operations.md "Figures")
        replica.wait_for_serial(new.serial(), timeout=300)
        sync_seconds = time.monotonic() - started
        digests = DevpiAPI(replica.url).release_digests(INDEX, PROBE, "1.1.0")
        assert list(digests.values()) == [sha256_file(wheels[1])]
        print(
            f"upgrade rehearsal: import {import_seconds:.1f} s, "
            f"new replica in sync {sync_seconds:.1f} s"
        )
    finally:
        replica.stop()
        replica.cleanup()
        new.stop()
    # the new primary is down now: the monitor says critical, in one line
    down = ops("status", "--url", new.url, "--timeout", "2")
    assert down.returncode == 2, down.stdout
    assert down.stdout.startswith(f"CRITICAL: primary {new.url} down")
    assert len(down.stdout.strip().splitlines()) == 1


# -- monitoring ---------------------------------------------------------------------------
def status_doc(server: DevpiServer) -> dict[str, Any]:
    """The server's ``/+status`` result."""
    code, body = DevpiAPI(server.url, timeout=5).get("/+status")
    assert code == 200, code
    return dict(body["result"])


def replica_in_sync(doc: dict[str, Any]) -> bool:
    """devpi's ``replica-in-sync-at`` is set (metadata and files) and no fetch is failing."""
    return doc.get("replica-in-sync-at") is not None and not doc.get("replication-errors")


def wait_state(
    server: DevpiServer, holds: Callable[[dict[str, Any]], bool], what: str, timeout: float = 120
) -> dict[str, Any]:
    """Poll ``/+status`` of ``server`` until ``holds(doc)``; fail naming ``what`` at ``timeout``."""
    deadline = time.monotonic() + timeout
    doc = status_doc(server)
    while not holds(doc):
        assert time.monotonic() < deadline, f"{server.url} never reached: {what}; last {doc}"
        time.sleep(0.2)
        doc = status_doc(server)
    return doc


# the link and behind-for rules are checked by tests/test_ops_levels.py; here they are
# set out of reach so that only the states the test establishes decide the level
QUIET = ["--warn-link", "86400", "--crit-link", "86400", "--warn-free", "0", "--crit-free", "0"]
NOT_BEHIND = ["--warn-behind", "86400", "--crit-behind", "86400"]


def test_status_ok_on_a_healthy_pair_warning_when_the_replica_lags(
    primary: DevpiServer, replica: tuple[DevpiServer, Relay], tmp_path: Path
) -> None:
    server, relay = replica
    target = primary.serial()
    wait_state(
        server,
        lambda d: (
            d["serial"] >= target
            and d.get("update-from-primary-at") is not None
            and replica_in_sync(d)
        ),
        f"serial {target}, heard from the primary, files in sync, no replication errors",
    )
    args = ["status", "--url", primary.url, "--replica", server.url, *QUIET]
    # A replica's background file fetch can fail once and be retried (a replication error
    # for a moment, under load): wait, bounded, for the state the check calls OK.
    deadline = time.monotonic() + 240
    healthy = ops(*args, "--serverdir", str(primary.serverdir))
    while healthy.returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.5)
        healthy = ops(*args, "--serverdir", str(primary.serverdir))
    if healthy.returncode != 0:  # what the replica says about it, for whoever reads the failure
        errors = status_doc(server).get("replication-errors")
        log = server.logfile.read_text(errors="replace").splitlines()[-30:]
        pytest.fail(f"{healthy.stdout}{healthy.stderr}replica errors: {errors}\n" + "\n".join(log))
    assert healthy.stdout.startswith("OK: ")
    assert "lags 0 serials" in healthy.stdout
    as_json = json.loads(ops(*args, "--serverdir", str(primary.serverdir), "--json").stdout)
    assert as_json["status"] == "ok"
    assert {c["name"] for c in as_json["checks"]} == {"primary", "replica", "disk"}

    # A replica fetches release files in the background: one install through it first, so
    # the file is on the replica (a state) before the link is cut, whatever the machine's load.
    warm = pip_install(
        server.simple_url(INDEX), f"{PROBE}==1.0.0", tmp_path / "warm-replica", env=pip_env()
    )
    assert warm.returncode == 0, warm.stdout + warm.stderr
    # the replica is cut off from the primary while the primary changes by 3 serials
    relay.pause()
    try:
        before = status_doc(server)["serial"]
        root = primary.api(as_root=True)
        for n in range(3):
            assert root.put(f"/{OWNER}/lag{n}-{time.monotonic_ns()}", {"type": "stage"})[0] == 200
        lag = primary.serial() - before
        assert lag >= 3
        assert status_doc(server)["serial"] == before  # the state: cut off, so still behind
        lagging = ops(*args, *NOT_BEHIND, "--warn-lag", str(lag), "--crit-lag", str(lag + 1))
        assert lagging.returncode == 1, lagging.stdout
        assert lagging.stdout.startswith(f"WARNING: replica {server.url} lags {lag} serials")
        critical = ops(*args, *NOT_BEHIND, "--warn-lag", "1", "--crit-lag", str(lag))
        assert critical.returncode == 2, critical.stdout
        assert critical.stdout.startswith(f"CRITICAL: replica {server.url} lags {lag} serials")
        # lagging at all is "behind": --warn-behind 0 makes it a WARNING by itself
        behind = ops(*args, "--warn-lag", "1000", "--crit-lag", "1000", "--warn-behind", "0")
        assert behind.returncode == 1, behind.stdout
        assert re.search(r"lags \d+ serials, behind for \d+ s", behind.stdout), behind.stdout
        # while the primary is unreachable the replica serves installs, but an
        # upload (which the replica forwards to the primary) fails
        env = pip_env()
        served = pip_install(
            server.simple_url(INDEX), f"{PROBE}==1.0.0", tmp_path / "from-replica", env=env
        )
        assert served.returncode == 0, served.stdout + served.stderr
        refused = twine_upload(
            f"{server.url}/{INDEX}/",
            [make_wheel(tmp_path / "w", "9.9.9")],
            user=OWNER,
            password=OWNER_PW,
        )
        assert refused.returncode != 0
    finally:
        relay.resume()
    started = time.monotonic()
    target = primary.serial()
    wait_state(server, lambda d: d["serial"] >= target, f"serial {target} after the link returned")
    print(f"replica catch-up after the link returned: {time.monotonic() - started:.1f} s")
    back = ops(*args)
    assert back.returncode == 0, back.stdout
    assert "lags 0 serials" in back.stdout


def request_via(
    url: str, method: str, ca: CA, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request through nginx with the test CA; (status, headers, body)."""
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Content-Type", "application/json")
    ctx = ssl.create_default_context(cafile=str(ca.bundle))
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as ex:
        return ex.code, dict(ex.headers), ex.read()


def test_writes_to_a_replica_whose_primary_is_down_are_503_with_retry_after(
    primary: DevpiServer,
    replica: tuple[DevpiServer, Relay],
    ca: CA,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server, relay = replica
    front = Nginx(tmp_path_factory.mktemp("nginx-replica"), devpi=server, ca=ca).start()
    try:
        target = primary.serial()
        wait_state(server, lambda d: d["serial"] >= target, f"serial {target}")
        relay.pause()  # the replica's primary is unreachable (connection refused)
        try:
            wait_state(
                server,
                lambda d: d["serial"] == target,
                "the replica answers its /+status while cut off",
            )
            for method, path in (("PUT", f"/{OWNER}/new-{os.getpid()}"), ("POST", f"/{INDEX}/")):
                code, headers, body = request_via(front.url + path, method, ca, b"{}")
                assert code == 503, (method, code, body[:300])
                assert headers.get("Retry-After") == "120", headers
                assert b"primary index is not reachable" in body
            # reads are served by the replica itself
            code, _, body = request_via(front.url + f"/{INDEX}/+simple/{PROBE}/", "GET", ca)
            assert code == 200, code
            assert b"ops_probe-1.0.0" in body
        finally:
            relay.resume()
        # with the primary back, a write error of the primary's own passes through unchanged
        code, headers, _ = request_via(front.url + f"/{OWNER}/new-{os.getpid()}", "PUT", ca, b"{}")
        assert code in (401, 403), code
        assert "Retry-After" not in headers
    finally:
        front.stop()


def test_status_low_free_space_by_threshold(primary: DevpiServer) -> None:
    base = ["status", "--url", primary.url, "--serverdir", str(primary.serverdir)]
    warn = ops(*base, "--warn-free", "100", "--crit-free", "0")
    assert warn.returncode == 1, warn.stdout
    assert warn.stdout.startswith("WARNING: ")
    assert "free on" in warn.stdout
    crit = ops(*base, "--warn-free", "100", "--crit-free", "100", "--json")
    assert crit.returncode == 2
    disk = next(c for c in json.loads(crit.stdout)["checks"] if c["name"] == "disk")
    assert disk["status"] == "critical"
    assert 0 <= disk["value"] <= 100


def test_status_through_nginx_reads_the_certificate_expiry(nginx: Nginx, ca: CA) -> None:
    base = [
        "status",
        "--url",
        nginx.url,
        "--cafile",
        str(ca.bundle),
        "--crit-free",
        "0",
        "--warn-free",
        "0",
    ]
    ok = ops(*base)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.search(r"certificate of 127\.0\.0\.1:\d+ expires in 36[45] days", ok.stdout)
    soon = ops(*base, "--warn-days", "400", "--crit-days", "7")
    assert soon.returncode == 1
    untrusted = ops("status", "--url", nginx.url, "--timeout", "3")
    assert untrusted.returncode == 2
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stdout


def test_status_bad_configuration_is_unknown_in_one_line() -> None:
    done = ops("status", "--url", "https://user:secret-Pw@127.0.0.1:1")
    assert done.returncode == 3
    assert done.stdout.strip() == (
        "UNKNOWN: --url must not carry credentials (the password is a setting of its own), "
        "got 'https://127.0.0.1:1'"
    )
    assert "secret-Pw" not in done.stdout + done.stderr
